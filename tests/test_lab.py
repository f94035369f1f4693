"""JupyterLab in a real browser: `make lab` starts, a notebook opens, its kernel starts, "Run All Cells" completes,
and the saved notebook has outputs and no error.

`make test` runs one short notebook (LAB_SHORT); `make test-lab` runs every notebook (MLOPS_TUTORIAL_LAB_NOTEBOOKS=all,
or a space-separated list of names) and pytest reports each. The notebook run is a copy, nbs/_lab_<name>, so the
kernel's working directory is nbs/ as in a reader's JupyterLab while the real notebook stays untouched; nbdev skips
names starting with `_`, git ignores them, and the copy is removed afterwards.

JupyterLab is configured through its own files in a temporary JUPYTER_CONFIG_DIR, not through `make lab`'s command:
the app is exposed to page scripts (`LabApp.expose_app_in_browser`, to read the kernel's state), and the news
announcement is switched off (it would otherwise cover the page with "Would you like to get notified…").
"""
# Fixtures take other fixtures as arguments of the same name: that is how pytest wires them.
# pylint: disable=redefined-outer-name
from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NBS = ROOT / "nbs"
LAB_SHORT = "92_config.ipynb"  # the notebook `make test` runs in JupyterLab: quick there (8 s against 17 s for 94_cli)
NOTEBOOKS_SETTING = "MLOPS_TUTORIAL_LAB_NOTEBOOKS"
ANSI = re.compile(r"\x1b\[[0-9;]*m")  # the colours of a traceback as the kernel sends it
SERVER_START_S = 180
KERNEL_START_S = 180
NOTEBOOK_RUN_S = 900
# The notebook widget's kernel, through the app object that expose_app_in_browser puts on window.
KERNEL_READY = """() => {
  const widget = window.jupyterapp && window.jupyterapp.shell.currentWidget;
  const kernel = widget && widget.sessionContext && widget.sessionContext.session
    && widget.sessionContext.session.kernel;
  return Boolean(kernel && kernel.status === 'idle' && kernel.connectionStatus === 'connected'
    && widget.sessionContext.kernelDisplayName !== 'No Kernel');
}"""
RUN_STATE = """() => {
  const widget = window.jupyterapp.shell.currentWidget;
  const prompts = [...widget.node.querySelectorAll('.jp-CodeCell .jp-InputPrompt')].map(p => p.textContent.trim());
  return {kernel: widget.sessionContext.session.kernel.status, prompts: prompts, dirty: widget.context.model.dirty};
}"""


def notebooks_to_run() -> list[str]:
    "The notebooks this run opens in JupyterLab: the short one, every one (`all`), or the ones named."
    setting = os.environ.get(NOTEBOOKS_SETTING, "").strip()
    every = sorted(path.name for path in NBS.glob("*.ipynb") if not path.name.startswith(("_", ".")))
    if setting == "all":
        return every
    if not setting:
        return [LAB_SHORT]
    names = [name if name.endswith(".ipynb") else f"{name}.ipynb" for name in setting.split()]
    unknown = sorted(set(names) - set(every))
    if unknown:
        raise pytest.UsageError(f"{NOTEBOOKS_SETTING}: no notebook {', '.join(unknown)} in nbs/; "
                                f"give `all` or names from: {' '.join(every)}")
    return names


def free_port() -> int:
    "A TCP port nothing listens on now."
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def write_json(path: Path, content: dict) -> None:
    "Write `content` as JSON, creating the folders."
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(content, indent=1), encoding="utf-8")


def jupyter_config(folder: Path) -> dict[str, str]:
    "JupyterLab's configuration for the test in `folder`; the environment variables that point Jupyter at it."
    write_json(folder / "config" / "jupyter_server_config.json", {"LabApp": {"expose_app_in_browser": True}})
    write_json(folder / "config" / "labconfig" / "page_config.json",
               {"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": True}})
    write_json(folder / "settings" / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings",
               {"fetchNews": "false", "checkForUpdates": False})
    return {"JUPYTER_CONFIG_DIR": str(folder / "config"), "JUPYTERLAB_SETTINGS_DIR": str(folder / "settings"),
            "JUPYTERLAB_WORKSPACES_DIR": str(folder / "workspaces"), "JUPYTER_RUNTIME_DIR": str(folder / "runtime")}


@dataclass
class LabServer:
    "A running `make lab`: its address and token, and its log."
    url: str
    token: str
    log: Path

    def tail(self, lines: int = 30) -> str:
        "The last lines of the server's log, for a failure message."
        return "\n".join(self.log.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])


def wait_until_up(process: subprocess.Popen, server: LabServer) -> None:
    "Poll JupyterLab's status API until it answers; fail with the log if `make lab` exits or never answers."
    deadline = time.monotonic() + SERVER_START_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"`make lab` exited with status {process.returncode}:\n{server.tail()}", pytrace=False)
        try:
            with urllib.request.urlopen(f"{server.url}api/status?token={server.token}", timeout=5) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(1)
    pytest.fail(f"`make lab` did not answer within {SERVER_START_S} s:\n{server.tail()}", pytrace=False)


def stop(process: subprocess.Popen) -> None:
    "Stop `make lab` and the server it started (their own process group): SIGTERM, then SIGKILL after a grace period."
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory, browser) -> Iterator[LabServer]:  # pylint: disable=unused-argument
    "`make lab` on a free port with a random token (started only once a browser is known to work)."
    folder = tmp_path_factory.mktemp("lab")
    port, token = free_port(), secrets.token_hex(16)
    server = LabServer(url=f"http://127.0.0.1:{port}/", token=token, log=folder / "lab.log")
    env = {**os.environ, **jupyter_config(folder)}
    with server.log.open("w", encoding="utf-8") as log:
        # Not a `with` block: the server outlives this statement and is stopped in the finally below.
        process = subprocess.Popen(  # pylint: disable=consider-using-with
            ["make", "--no-print-directory", "lab", f"JUPYTER_PORT={port}", f"JUPYTER_TOKEN={token}"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_until_up(process, server)
        yield server
    finally:
        stop(process)


@pytest.fixture
def notebook_copy(request: pytest.FixtureRequest) -> Iterator[Path]:
    "nbs/_lab_<name>, a copy of the notebook under test, removed afterwards (with JupyterLab's checkpoint of it)."
    copy = NBS / f"_lab_{request.param}"
    shutil.copyfile(NBS / request.param, copy)
    yield copy
    copy.unlink(missing_ok=True)
    (NBS / ".ipynb_checkpoints" / f"{copy.stem}-checkpoint.ipynb").unlink(missing_ok=True)


def dismiss_dialogs(page) -> None:
    "Answer what JupyterLab may still ask: the news question (no) and a kernel choice (the notebook's own)."
    for button in ("No", "Select"):
        target = page.locator(".jp-Dialog, .jp-Notification-Toast").get_by_role("button", name=button, exact=True)
        if target.count():
            target.first.click()


def run_all_cells(page, timeout_s: float) -> dict:
    "Click Run → Run All Cells and wait until no cell is queued or running and the kernel is idle."
    page.locator("#jp-MainMenu").get_by_role("menuitem", name="Run", exact=True).click()
    page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
    deadline = time.monotonic() + timeout_s
    started, quiet_polls, state = False, 0, {}
    while time.monotonic() < deadline:
        state = page.evaluate(RUN_STATE)
        busy = state["kernel"] != "idle" or any("*" in prompt for prompt in state["prompts"])
        started = started or busy or any(prompt not in ("[ ]:", "") for prompt in state["prompts"])
        quiet_polls = quiet_polls + 1 if started and not busy else 0
        if quiet_polls >= 3:
            return state
        page.wait_for_timeout(1000)
    pytest.fail(f"Run All Cells did not finish within {timeout_s:.0f} s: {state}", pytrace=False)
    return state  # unreachable: pytest.fail raises


def save(page) -> None:
    "Save the notebook (Ctrl+S) and wait until JupyterLab reports it clean."
    page.locator(".jp-Notebook").first.click()
    page.keyboard.press("Control+s")
    page.wait_for_function("() => !window.jupyterapp.shell.currentWidget.context.model.dirty", timeout=60_000)


def saved_outputs(path: Path) -> tuple[int, int, list[str]]:
    "Code cells, outputs, and error outputs (code cell number, ename: evalue, traceback's end) of a saved notebook."
    cells = [cell for cell in json.loads(path.read_text(encoding="utf-8"))["cells"] if cell["cell_type"] == "code"]
    outputs = [output for cell in cells for output in cell.get("outputs", [])]
    errors = [f"cell {number}: {output.get('ename')}: {output.get('evalue')} at "
              + " / ".join(" ".join(ANSI.sub("", line).split()) for line in output.get("traceback", [])[-2:])[-400:]
              for number, cell in enumerate(cells, 1) for output in cell.get("outputs", [])
              if output["output_type"] == "error"]
    return len(cells), len(outputs), errors


@pytest.mark.slow
@pytest.mark.timeout(NOTEBOOK_RUN_S + KERNEL_START_S + SERVER_START_S + 120)
@pytest.mark.parametrize("notebook_copy", notebooks_to_run(), indirect=True)
def test_notebook_runs_in_jupyterlab(lab: LabServer, page, notebook_copy: Path):
    "Open the notebook in JupyterLab, wait for its kernel, Run All Cells, save: outputs, no error, no stuck cell."
    started = time.monotonic()
    page.goto(f"{lab.url}lab/tree/{notebook_copy.name}?token={lab.token}", wait_until="domcontentloaded")
    page.locator(".jp-Notebook").first.wait_for(timeout=KERNEL_START_S * 1000)
    dismiss_dialogs(page)
    page.wait_for_function(KERNEL_READY, timeout=KERNEL_START_S * 1000, polling=500)
    kernel_name = page.evaluate("() => window.jupyterapp.shell.currentWidget.sessionContext.kernelDisplayName")
    kernel_s = time.monotonic() - started
    state = run_all_cells(page, NOTEBOOK_RUN_S)
    assert page.locator(".jp-OutputArea-output").count() > 0, "no cell output on the page"
    save(page)
    cells, outputs, errors = saved_outputs(notebook_copy)
    unrun = [prompt for prompt in state["prompts"] if prompt in ("[ ]:", "")]
    print(f"{notebook_copy.name.removeprefix('_lab_')}: kernel {kernel_name!r} ready in {kernel_s:.0f} s, "
          f"{cells} code cells, {outputs} outputs, {len(errors)} errors, {len(unrun)} not run, "
          f"{time.monotonic() - started:.0f} s in all" + "".join(f"\n  {error}" for error in errors))
    page.evaluate("() => window.jupyterapp.shell.currentWidget.sessionContext.shutdown()")
    assert not errors, f"error outputs: {errors}"
    assert not unrun, f"{len(unrun)} code cell(s) never ran (Run All stops at an error)"
    assert outputs > 0, "the saved notebook has no outputs"
