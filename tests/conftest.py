"""Shared fixtures: the real red wine file (mirror or UCI, then the data dir), a small checksum-pinned sample of it
committed under tests/data for fast tests, and an in-process runner for the package's command lines."""
import contextlib
import hashlib
import io
from pathlib import Path
from types import SimpleNamespace

import pytest

from mlops_tutorial import cli
from mlops_tutorial.data import fetch_wine

SAMPLE = Path(__file__).parent / "data" / "winequality-red-sample.csv"  # every 8th red wine, the UCI layout
SAMPLE_SHA256 = "a393ca00cf0912caa1beb360d46a7070dda3dc3515b4035700de0077df61d568"


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
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        try:
            cli.run(main, [str(argument) for argument in argv])
        except SystemExit as stop:
            code = stop.code if isinstance(stop.code, int) else 1
    return SimpleNamespace(code=code, stdout=stdout.getvalue(), stderr=stderr.getvalue())


@pytest.fixture
def run():
    "The in-process command runner (`run(main, argv)` -> code, stdout, stderr)."
    return run_command
