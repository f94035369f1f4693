"""Shared fixtures: the real red wine file, found the way the project finds it (mirror or UCI, then the data dir)."""
from pathlib import Path

import pytest

from mlops_tutorial.data import fetch_wine


@pytest.fixture(scope="session")
def red_wine_file() -> Path:
    "The verified red wine CSV (fetched once per session)."
    return fetch_wine("red")


@pytest.fixture(scope="session")
def red_wine_text(red_wine_file: Path) -> str:
    "The red wine CSV's text, to derive malformed copies from."
    return red_wine_file.read_text(encoding="utf-8")
