"""The tracking UIs of tutorials 03d and 03e, opened in headless Chromium: TensorBoard on a training run's logs, and the
MLflow UI of a tracking server a Lightning run logged to over HTTP. Each server is started on a free port and must
leave no process behind; the foreground command behind `make mlflow-ui` stops on Ctrl-C."""
# pylint: disable=redefined-outer-name  # pytest fixtures are parameters named like the fixture functions
import functools
import io
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mlops_tutorial.beyond.cluster import tensorboard_command
from mlops_tutorial.core.servers import answers, background_server, free_port, group_alive

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]
REPO = Path(__file__).resolve().parents[1]
SHORT_RUN = ["--max-epochs", "12", "--ensemble-size", "1"]


def processes_mentioning(text: str) -> list:
    "The command lines of running processes that contain `text` (to prove a server left nothing behind)."
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:  # the process ended while we looked
                continue
            if text in command:
                found.append(command.strip())
    return found


def dark_pixels(png: bytes) -> int:
    "How many pixels of a screenshot are dark (a drawn line or text on a light background)."
    from PIL import Image  # pylint: disable=import-outside-toplevel

    return sum(1 for red, green, blue in Image.open(io.BytesIO(png)).convert("RGB").get_flattened_data()
               if red + green + blue < 400)


@pytest.fixture(scope="module")
def tensorboard_logs(tmp_path_factory, red_wine_file) -> Path:
    "TensorBoard event files of a short run of the training command (`--log-dir`)."
    folder = tmp_path_factory.mktemp("tensorboard-run")
    result = subprocess.run([sys.executable, "-m", "mlops_tutorial.core.train", "--data", str(red_wine_file), *SHORT_RUN,
                             "--log-dir", str(folder / "logs"), "--checkpoint", str(folder / "model.ckpt"),
                             "--metrics", str(folder / "metrics.json")],
                            cwd=REPO, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr
    return folder / "logs"


def test_tensorboard_shows_the_run_and_its_loss_curve(tensorboard_logs, page):
    port = free_port()
    with background_server("tensorboard", tensorboard_command(tensorboard_logs, port),
                           f"http://127.0.0.1:{port}/") as server:
        page.goto(f"{server.url}#timeseries")
        page.get_by_text("tensorboard/version_0").first.wait_for(timeout=120_000)
        page.get_by_role("combobox", name="Filter tags (regex)").fill("^train_loss$")
        page.keyboard.press("Escape")
        card = page.locator("scalar-card").filter(has_text="train_loss").first
        card.locator("line-chart canvas").first.wait_for(timeout=60_000)
        time.sleep(1)  # the chart draws on the next animation frames
        row = card.locator("tb-data-table-content-row").first.inner_text().split()
        drawn = dark_pixels(card.locator("line-chart canvas").first.screenshot())
        group = server.process.pid
    assert row[0] == "tensorboard/version_0" and row[3] == "11", f"the card's table shows {row}"  # last step
    assert drawn > 100, f"the train_loss chart has {drawn} dark pixels: no curve drawn"
    assert not answers(server.url) and not group_alive(group)
    assert not processes_mentioning(str(tensorboard_logs))


def test_mlflow_ui_shows_a_run_logged_over_http(tmp_path, page, red_wine_file):
    from mlops_tutorial.beyond.mlflow_runs import mlflow_server, server_url, train_logged  # pylint: disable=import-outside-toplevel

    with mlflow_server(tmp_path / "mlflow.db", tmp_path / "artifacts") as server:
        tracking_uri = server_url(server)
        run_id = train_logged(tracking_uri, ["--data", str(red_wine_file), *SHORT_RUN], run_name="browser-check")
        from mlflow import MlflowClient  # pylint: disable=import-outside-toplevel

        run = MlflowClient(tracking_uri).get_run(run_id)
        page.goto(f"{tracking_uri}/#/experiments/{run.info.experiment_id}/runs/{run_id}/model-metrics")
        page.get_by_role("heading", name="browser-check").wait_for(timeout=120_000)
        page.get_by_text("train_loss", exact=True).first.wait_for(timeout=60_000)
        page.locator("path.js-line").first.wait_for(timeout=60_000)
        curves = page.locator("path.js-line").count()
        group = server.process.pid
    assert run.info.run_name == "browser-check" and "train_loss" in run.data.metrics
    assert curves >= 1, "no metric curve drawn"
    assert not answers(tracking_uri) and not group_alive(group)
    assert not processes_mentioning(str(tmp_path)), "mlflow server left a process behind"


def test_mlflow_ui_command_serves_until_ctrl_c(tmp_path, red_wine_file):
    port = free_port()
    command = [sys.executable, "-m", "mlops_tutorial.beyond.mlflow_runs", "serve", "--store", str(tmp_path / "mlflow.db"),
               "--port", str(port), "--train", "--run-name", "from-make", "--", "--data", str(red_wine_file),
               *SHORT_RUN]
    # A shell that runs this suite in the background (`make test &`) hands its children SIGINT ignored, and Python
    # then installs no Ctrl-C handler: the server gets the default one back, as in a terminal.
    with subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          preexec_fn=functools.partial(signal.signal, signal.SIGINT, signal.SIG_DFL)) as serving:
        lines = []
        for line in serving.stdout:
            lines.append(line)
            if line.startswith("MLflow UI at"):
                break
        assert answers(f"http://127.0.0.1:{port}/health"), "".join(lines)
        serving.send_signal(signal.SIGINT)  # what Ctrl-C in the terminal sends
        rest, _ = serving.communicate(timeout=60)
    assert serving.returncode == 0 and rest.strip().endswith("stopped"), "".join(lines) + rest
    assert any(line.startswith("logged run ") for line in lines)
    assert not answers(f"http://127.0.0.1:{port}/health")
    assert not processes_mentioning(str(tmp_path)), "the server outlived Ctrl-C"


@pytest.mark.parametrize("arguments, message", [
    (["serve", "--store", "{tmp}"], "--store: {tmp} is a folder"),
    (["serve", "--store", "{tmp}/m.db", "--port", "80"], "not a whole number from 1024 to 65535"),
    (["serve", "--store", "{tmp}/m.db", "--", "--max-epochs", "3"], "need --train"),
])
def test_mlflow_ui_command_refuses_bad_input(tmp_path, arguments, message):
    result = subprocess.run([sys.executable, "-m", "mlops_tutorial.beyond.mlflow_runs",
                             *(part.format(tmp=tmp_path) for part in arguments)],
                            cwd=REPO, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 2 and result.stderr.startswith("error: ")
    assert message.format(tmp=tmp_path) in result.stderr and len(result.stderr.splitlines()) == 1
