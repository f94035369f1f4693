"""Shared fixtures: the real red wine file (mirror or UCI, then the data dir), a small checksum-pinned sample of it
committed under tests/data for fast tests, and an in-process runner for the package's command lines."""
import contextlib
import hashlib
import io
import os
from pathlib import Path
from types import SimpleNamespace
from unittest import mock

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


# The DVC tests (tests/dvc_tree.py) share one `dvc repro` per test process, about two minutes of both cores: under
# `pytest -n 2 --dist loadgroup` (make test) they must all run in one worker, or each worker runs it again. pytest-xdist's
# own grouping, the xdist_group mark, does nothing with pytest 9 (it renames item._nodeid, which pytest 9 no longer reads),
# so this scheduler groups them by file; a test id with xdist's "@group" suffix still goes to its group.
SHARED_REPRO_GROUPS = {"tests/test_dvc_graph.py": "dvc-repro", "tests/test_pipeline_dvc.py": "dvc-repro"}


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    "--dist loadgroup: the tests of SHARED_REPRO_GROUPS in one worker each group, every other test balanced alone."
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadScopeScheduling  # pylint: disable=import-outside-toplevel

    class SharedReproScheduling(LoadScopeScheduling):
        "loadgroup, with the groups of SHARED_REPRO_GROUPS."

        def _split_scope(self, nodeid: str) -> str:
            if "@" in nodeid:
                return nodeid.rsplit("@", 1)[-1]
            return SHARED_REPRO_GROUPS.get(nodeid.split("::", 1)[0], nodeid)

    return SharedReproScheduling(config, log)
