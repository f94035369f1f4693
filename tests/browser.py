"""The one place that finds and launches Chromium for the browser tests (Python Playwright).

One setting picks the browser: ``MLOPS_TUTORIAL_CHROMIUM`` is the path of a Chromium executable (default
``/usr/bin/chromium``, Debian's ``chromium`` package), or ``playwright`` for Playwright's own build
(``.venv/bin/playwright install chromium``, what the GitHub workflow uses). Where no browser is found, the tests that
need one skip and say how to get one; with ``MLOPS_TUTORIAL_REQUIRE_BROWSER=1`` (set by ``.ci/run``) they fail.

In a test module, import the fixtures you use (pytest finds fixtures imported into a module)::

    from browser import chromium, browser_page  # pylint: disable=unused-import

``chromium`` is one headless Browser for the session, ``browser_page`` a fresh page whose console errors and
uncaught exceptions are collected in ``page.errors``. To use pytest-playwright's own ``browser``/``context``/``page``
fixtures instead, import ``launch_browser`` from here: they then launch the same Chromium and skip the same way.
"""
# Fixtures take other fixtures as arguments of the same name: that is how pytest wires them.
# pylint: disable=redefined-outer-name
from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM_SETTING = "MLOPS_TUTORIAL_CHROMIUM"
REQUIRE_SETTING = "MLOPS_TUTORIAL_REQUIRE_BROWSER"
DEFAULT_CHROMIUM = "/usr/bin/chromium"
PLAYWRIGHT_BUILD = "playwright"  # the setting's value that selects Playwright's own downloaded Chromium
# Headless and quiet: no sandbox (root in CI containers), no GPU, and nothing that phones home at start-up.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
HOW_TO_GET_ONE = (
    "install Debian's with `apt-get install -y chromium` (or set MLOPS_TUTORIAL_CHROMIUM to a Chromium executable), "
    "or run `.venv/bin/playwright install chromium` and set MLOPS_TUTORIAL_CHROMIUM=playwright"
)


def browser_required() -> bool:
    "True where a missing browser must fail the run instead of skipping (MLOPS_TUTORIAL_REQUIRE_BROWSER=1, CI)."
    return os.environ.get(REQUIRE_SETTING, "") == "1"


def no_browser(why: str) -> None:
    "Skip the calling test because no browser can run (fail instead where one is required); never returns."
    message = f"no browser: {why}; {HOW_TO_GET_ONE}"
    if browser_required():
        pytest.fail(f"{message} ({REQUIRE_SETTING}=1)", pytrace=False)
    pytest.skip(message)


def chromium_executable() -> str | None:
    "The Chromium executable the setting names (None: Playwright's own build); skips or fails when it is absent."
    setting = os.environ.get(CHROMIUM_SETTING, "").strip() or DEFAULT_CHROMIUM
    if setting == PLAYWRIGHT_BUILD:
        return None
    found = shutil.which(setting) if os.sep not in setting else setting
    if not found or not Path(found).is_file() or not os.access(found, os.X_OK):
        no_browser(f"{CHROMIUM_SETTING}={setting} is not an executable file")
    return found


def launch_options() -> dict[str, Any]:
    "Keyword arguments for `playwright.chromium.launch` (headless, the flags above, the executable)."
    options: dict[str, Any] = {"headless": True, "args": list(CHROMIUM_ARGS)}
    executable = chromium_executable()
    if executable is not None:
        options["executable_path"] = executable
    return options


def launch_chromium(playwright, **overrides: Any) -> Any:
    "Launch the configured Chromium with `playwright` (a sync Playwright); skips or fails when it cannot start."
    from playwright.sync_api import Error  # pylint: disable=import-outside-toplevel

    options = {**launch_options(), **overrides}
    try:
        return playwright.chromium.launch(**options)
    except Error as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        no_browser(f"Chromium ({options.get('executable_path', PLAYWRIGHT_BUILD)}) did not start: {first_line}")
        raise  # unreachable: no_browser skips or fails


@pytest.fixture(scope="session")
def launch_browser(playwright) -> Any:
    "pytest-playwright's launcher, replaced: its `browser`, `context` and `page` fixtures get the configured Chromium."
    return lambda **overrides: launch_chromium(playwright, **overrides)


@pytest.fixture(scope="session")
def chromium(playwright) -> Iterator[Any]:
    "One headless Chromium for the whole session, on pytest-playwright's Playwright instance."
    browser = launch_chromium(playwright)
    yield browser
    browser.close()


@pytest.fixture
def browser_page(chromium) -> Iterator[Any]:
    "A fresh page in its own context; console errors and uncaught page exceptions collect in `page.errors`."
    context = chromium.new_context()
    page = context.new_page()
    page.errors = []

    def on_console(message) -> None:
        if message.type == "error":
            page.errors.append(f"console error: {message.text} ({message.location.get('url', '')})")

    page.on("console", on_console)
    page.on("pageerror", lambda error: page.errors.append(f"uncaught exception: {error}"))
    yield page
    context.close()
