"""The browser the browser tests get from pytest-playwright, chosen by two settings (tests/conftest.py imports these).

The tests use pytest-playwright's own fixtures: ``browser`` (one headless Chromium per session), ``page`` (a fresh
page in a fresh context) and ``browser_context_args``. Here ``browser_type_launch_args`` adds the executable to
pytest-playwright's launch arguments, and ``page_errors`` collects a page's console errors and uncaught exceptions.

``MLOPS_TUTORIAL_CHROMIUM`` is the path of a Chromium executable (default ``/usr/bin/chromium``, Debian's
``chromium`` package), or ``playwright`` for Playwright's own build (``.venv/bin/playwright install chromium``, what
the GitHub workflow uses). Where it is not there, the tests that need a browser skip and say how to get one; with
``MLOPS_TUTORIAL_REQUIRE_BROWSER=1`` (set by ``.ci/run``) they fail.
"""
# Fixtures take other fixtures as arguments of the same name: that is how pytest wires them.
# pylint: disable=redefined-outer-name
from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest

CHROMIUM_SETTING = "MLOPS_TUTORIAL_CHROMIUM"
REQUIRE_SETTING = "MLOPS_TUTORIAL_REQUIRE_BROWSER"
DEFAULT_CHROMIUM = "/usr/bin/chromium"
PLAYWRIGHT_BUILD = "playwright"  # the setting's value that selects Playwright's own downloaded Chromium
HOW_TO_GET_ONE = (
    "install Debian's with `apt-get install -y chromium` (or set MLOPS_TUTORIAL_CHROMIUM to a Chromium executable), "
    "or run `.venv/bin/playwright install chromium` and set MLOPS_TUTORIAL_CHROMIUM=playwright"
)


def no_browser(why: str) -> None:
    "Skip the calling test because no browser can run (fail instead where one is required); never returns."
    message = f"no browser: {why}; {HOW_TO_GET_ONE}"
    if os.environ.get(REQUIRE_SETTING, "") == "1":
        pytest.fail(f"{message} ({REQUIRE_SETTING}=1)", pytrace=False)
    pytest.skip(message)


def chromium_executable(playwright) -> str:
    "The Chromium executable the setting names (Playwright's own build: where it installs it); skips when absent."
    setting = os.environ.get(CHROMIUM_SETTING, "").strip() or DEFAULT_CHROMIUM
    if setting == PLAYWRIGHT_BUILD:
        found = playwright.chromium.executable_path
    else:
        found = shutil.which(setting) if os.sep not in setting else setting
    if not found or not Path(found).is_file() or not os.access(found, os.X_OK):
        no_browser(f"{CHROMIUM_SETTING}={setting}: {found or setting} is not an executable file")
    return found


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args, playwright) -> dict[str, Any]:
    "pytest-playwright's launch arguments (headless unless --headed) with the configured Chromium's executable."
    return {**browser_type_launch_args, "executable_path": chromium_executable(playwright)}


@pytest.fixture
def page_errors(page) -> list[str]:
    "The console errors and uncaught exceptions of pytest-playwright's `page`, collected while the test runs."
    errors: list[str] = []

    def on_console(message) -> None:
        if message.type == "error":
            errors.append(f"console error: {message.text} ({message.location.get('url', '')})")

    page.on("console", on_console)
    page.on("pageerror", lambda error: errors.append(f"uncaught exception: {error}"))
    return errors
