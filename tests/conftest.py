"""Shared fixtures: the real red wine file (mirror or UCI, then the data dir), a small checksum-pinned sample of it
committed under tests/data for fast tests, an in-process runner for the package's command lines, and the browser
settings of pytest-playwright's fixtures (tests/browser.py)."""
import contextlib
import hashlib
import io
import os
from pathlib import Path
from types import SimpleNamespace
from unittest import mock

import pytest

# pytest-playwright's launch arguments, set for every test here (pytest finds fixtures imported into a conftest).
from browser import browser_type_launch_args, page_errors  # pylint: disable=unused-import
from mlops_tutorial.core import cli
from mlops_tutorial.core.data import fetch_wine

# pytest-playwright 0.10 defines `base_url` (which its browser_context_args reads) as a session-scoped fixture method
# of a class, which pytest 9 deprecates: their warning, not this project's.
PLAYWRIGHT_BASE_URL_WARNING = ("ignore:Session-scoped fixtures defined as instance methods are deprecated"
                               ":pytest.PytestRemovedIn10Warning")
SAMPLE = Path(__file__).parent / "data" / "winequality-red-sample.csv"  # every 8th red wine, the UCI layout
SAMPLE_SHA256 = "a393ca00cf0912caa1beb360d46a7070dda3dc3515b4035700de0077df61d568"


def pytest_configure(config):
    "Filters of third-party warnings that tests here trigger."
    config.addinivalue_line("filterwarnings", PLAYWRIGHT_BASE_URL_WARNING)


@pytest.fixture(scope="session")
def red_wine_file() -> Path:
    "The verified red wine CSV (fetched once per session)."
    return fetch_wine("red")


@pytest.fixture(scope="session")
def red_wine_text(red_wine_file: Path) -> str:
    "The red wine CSV's text, to derive malformed copies from."
    return red_wine_file.read_text(encoding="utf-8")


@pytest.fixture(scope="session")
def red_sample_file() -> Path:
    "200 red wines committed with the tests, verified against their pinned sha256."
    assert hashlib.sha256(SAMPLE.read_bytes()).hexdigest() == SAMPLE_SHA256, f"{SAMPLE} was changed"
    return SAMPLE


def run_command(main, argv: list) -> SimpleNamespace:
    "Run a command's `main` in-process as `python -m` would (through `cli.run`); capture exit code and output."
    stdout, stderr = io.StringIO(), io.StringIO()
    code = 0
    # patch.dict restores os.environ afterwards: the training commands set PyTorch's kernel switches in it (the
    # kernels this process already chose stay; tests/test_train_cli.py checks the pin in fresh processes)
    with mock.patch.dict(os.environ), contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        try:
            cli.run(main, [str(argument) for argument in argv])
        except SystemExit as stop:
            code = stop.code if isinstance(stop.code, int) else 1
    return SimpleNamespace(code=code, stdout=stdout.getvalue(), stderr=stderr.getvalue())


@pytest.fixture
def run():
    "The in-process command runner (`run(main, argv)` -> code, stdout, stderr)."
    return run_command
