"""ClearML, offline and for real: the shipped configuration, reading sessions back, the pipeline CLI
failing loudly with the step's name, and the silent offline failure of PipelineController.start_locally.

ClearML patches a process globally (argparse, torch.save, stdout), so every task runs in a child process with its
own temporary CLEARML_CACHE_DIR; nothing is written under ~/.clearml.
"""
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from mlops_tutorial.lessons.clearml_tracking import (OFFLINE_CONFIG, clearml_settings, describe_session, offline_sessions,
                                                     read_artifacts, read_parameters, read_plot, read_scalars,
                                                     read_task_record, restore_settings, tracked_training)
from project import ROOT, assert_refused

STEP_NAMES = ["load_wine", "split_folds", "test_folds", "aggregate_metrics", "train_final_model"]
pytestmark = pytest.mark.slow  # real ClearML sessions in fresh interpreters that import torch


def clearml_env(cache_dir: Path) -> dict:
    "The environment of a child process: a private ClearML cache, no config file or server chosen by the caller."
    env = {key: value for key, value in os.environ.items() if not key.startswith("CLEARML_")}
    return {**env, "CLEARML_CACHE_DIR": str(cache_dir)}


def run_python(code: str, cache_dir: Path, *args, timeout: float = 300) -> subprocess.CompletedProcess:
    "Run Python `code` (or `-m module args` when code is '-m') in a child process with a private ClearML cache."
    command = [sys.executable, *(["-m", *args] if code == "-m" else ["-c", textwrap.dedent(code), *args])]
    return subprocess.run(command, cwd=ROOT, env=clearml_env(cache_dir), capture_output=True, text=True,
                          timeout=timeout, check=False)


def test_shipped_config_reports_without_subprocess_and_holds_no_credentials():
    text = OFFLINE_CONFIG.read_text(encoding="utf-8")
    assert "report_use_subprocess: false" in text
    settings = [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]
    assert not [line for line in settings if any(word in line for word in ("key", "api", "host", "server"))]


@pytest.fixture(scope="module")
def tracked_session(tmp_path_factory) -> dict:
    "A real offline session: parameters, scalars, a confusion matrix and an artifact (close time: bench/clearml_close.py)."
    cache_dir = tmp_path_factory.mktemp("clearml-cache")
    code = """
        import json, sys, time
        from pathlib import Path
        from mlops_tutorial.lessons.clearml_tracking import record_results, report_confusion, tracked_training
        metrics_file = Path(sys.argv[1]) / "metrics.json"
        metrics_file.write_text(json.dumps({"mad": 0.5}))
        with tracked_training("close timing", {"learning_rate": 0.01, "max_epochs": 3}, enabled=True) as task:
            for epoch, loss in enumerate([0.9, 0.7, 0.6]):
                task.get_logger().report_scalar("loss", "train", loss, iteration=epoch)
            report_confusion(task, [5, 6, 6, 7], [5.2, 6.6, 6.4, 6.6])
            record_results(task, {"mad": 0.5}, {"metrics": metrics_file})
            started = time.perf_counter()
        print(json.dumps({"close_s": time.perf_counter() - started, "session": str(task.get_offline_mode_folder())}))
    """
    result = run_python(code, cache_dir, str(cache_dir))
    assert result.returncode == 0, result.stderr[-3000:]
    return {**json.loads(result.stdout.strip().splitlines()[-1]), "cache_dir": cache_dir}


def test_offline_session_can_be_read_back(tracked_session):
    session = Path(tracked_session["session"])
    assert offline_sessions(tracked_session["cache_dir"]) == [session]
    assert Path(f"{session}.zip").is_file()
    assert read_task_record(session)["name"] == "close timing"
    assert read_parameters(session) == {"train/learning_rate": "0.01", "train/max_epochs": "3"}
    losses = read_scalars(session).query("metric == 'loss'")
    assert losses.sort_values("iteration")["value"].tolist() == [0.9, 0.7, 0.6]
    assert read_plot(session, "confusion matrix", "test")["data"][0]["z"] == [[1, 0, 0], [0, 1, 1], [0, 0, 1]]
    assert json.loads(read_artifacts(session)["metrics"].read_text()) == {"mad": 0.5}
    assert "scalar Summary/mad = 0.5" in describe_session(session)


def test_reading_a_folder_that_is_no_session_names_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="not an offline ClearML session"):
        read_task_record(tmp_path)


def test_tracking_is_off_unless_asked(tmp_path, monkeypatch):
    "In this process: with tracking off no task starts, so nothing of ClearML is patched or written."
    monkeypatch.setenv("CLEARML_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("MLOPS_TUTORIAL_CLEARML", raising=False)
    with tracked_training("not recorded", {"seed": 0}) as task:
        assert task is None
    assert not (tmp_path / "offline").exists()


def test_a_failing_tracked_run_is_still_closed_and_the_error_propagates(tmp_path):
    code = """
        from mlops_tutorial.lessons.clearml_tracking import tracked_training
        with tracked_training("doomed run", {"seed": 0}, enabled=True):
            raise RuntimeError("training diverged")
    """
    result = run_python(code, tmp_path)
    assert result.returncode == 1 and "RuntimeError: training diverged" in result.stderr
    (session,) = offline_sessions(tmp_path)
    assert Path(f"{session}.zip").is_file() and read_task_record(session)["name"] == "doomed run"


@pytest.mark.parametrize("arguments, message", [(["--folds", "1"], "argument --folds: invalid choice"),
                                               (["--max-epochs", "0"], "--max-epochs: max_epochs: 0 is not allowed")])
def test_bad_pipeline_input_is_refused_before_a_session_starts(tmp_path, monkeypatch, run, arguments, message):
    "In this process (the refusal comes before any ClearML call that would patch it): one line, exit 2, no session."
    from mlops_tutorial.lessons.clearml_pipeline import main  # pylint: disable=import-outside-toplevel  # imports ClearML
    monkeypatch.setenv("CLEARML_CACHE_DIR", str(tmp_path))
    result = run(main, ["run", "--model-dir", tmp_path / "model", *arguments])
    assert_refused(result.code, result.stderr, message)
    assert not offline_sessions(tmp_path), "a ClearML session was started for input that was refused"
    assert not (tmp_path / "model").exists(), "the model folder was made for input that was refused"


def test_offline_controller_runs_no_step_and_the_check_says_so(tmp_path):
    code = """
        from clearml import Task
        import networkx as nx
        from mlops_tutorial.lessons.clearml_pipeline import (PipelineStepError, build_controller, step_graph,
                                                             verify_controller_run)
        Task.set_offline(True)
        pipe = build_controller(n_folds=2)
        print("order:", " ".join(nx.topological_sort(step_graph(pipe))))
        pipe.start_locally(run_pipeline_steps_locally=True)
        print("start_locally returned")
        try:
            verify_controller_run(pipe)
        except PipelineStepError as error:
            print("check:", error)
    """
    result = run_python(code, tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "order: " + " ".join(STEP_NAMES) + "\n" in result.stdout, "the steps' graph allows one order only, a chain"
    assert "start_locally returned" in result.stdout, "offline start_locally raised (ClearML changed: update notebook 05b)"
    assert "check: pipeline steps " + ", ".join(STEP_NAMES) + " did not run" in result.stdout


def test_restore_settings_puts_back_set_and_unset_variables(monkeypatch, tmp_path):
    monkeypatch.setenv("CLEARML_CACHE_DIR", str(tmp_path / "kernel-cache"))
    monkeypatch.delenv("CLEARML_CONFIG_FILE", raising=False)
    monkeypatch.delenv("CLEARML_OFFLINE_MODE", raising=False)
    saved = clearml_settings()
    assert saved == {"CLEARML_CACHE_DIR": str(tmp_path / "kernel-cache"), "CLEARML_CONFIG_FILE": None,
                     "CLEARML_OFFLINE_MODE": None}
    monkeypatch.setenv("CLEARML_CACHE_DIR", str(tmp_path / "notebook-cache"))
    monkeypatch.setenv("CLEARML_CONFIG_FILE", str(OFFLINE_CONFIG))
    monkeypatch.setenv("CLEARML_OFFLINE_MODE", "True")  # what Task.set_offline(True) leaves in the environment
    restore_settings(saved)
    assert clearml_settings() == saved and not {"CLEARML_CONFIG_FILE", "CLEARML_OFFLINE_MODE"} & set(os.environ)


@pytest.mark.slow
def test_pipeline_cli_runs_offline_and_reports_every_fold(tmp_path):
    result = run_python("-m", tmp_path, "mlops_tutorial.lessons.clearml_pipeline", "run", "--folds", "2", "--max-epochs", "2",
                        "--model-dir", str(tmp_path / "model"), timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    session = offline_sessions(tmp_path)[-1]
    assert f"ClearML offline session: {session}" in result.stdout and Path(f"{session}.zip").is_file()
    fold_rows = [line.split() for line in result.stdout.splitlines() if line.split()[:1] in (["0"], ["1"])]
    assert len(fold_rows) == 2
    assert set(json.loads((tmp_path / "model" / "cv_metrics.json").read_text())) == {
        "mad", "acc_t025", "acc_t05", "acc_t1", "kappa"}
    from mlops_tutorial.core.data import load_wine  # pylint: disable=import-outside-toplevel  # torch only when it runs
    from mlops_tutorial.core.ensemble import predict_quality  # pylint: disable=import-outside-toplevel
    from mlops_tutorial.core.model import LitWineModel  # pylint: disable=import-outside-toplevel
    predicted = predict_quality(LitWineModel.load_from_checkpoint(tmp_path / "model" / "last.ckpt"), load_wine().head())
    assert ((predicted > 2) & (predicted < 9)).all()
