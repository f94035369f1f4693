"""`python -m mlops_tutorial.train` as the shell (and DVC) runs it: params file plus flags, the files it writes, bad
values refused before training, a featurized table, and two-process DDP training on the CPU."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from mlops_tutorial.data import read_wine_csv
from mlops_tutorial.model import LitWineModel, predict_quality

METRIC_NAMES = {"mad", "acc_t025", "acc_t05", "acc_t1", "kappa"}
REPO = Path(__file__).resolve().parents[1]


def run_train(*args, timeout: int = 300) -> subprocess.CompletedProcess:
    "Run the training CLI in a fresh interpreter from the repository root."
    return subprocess.run([sys.executable, "-m", "mlops_tutorial.train", *map(str, args)], cwd=REPO, timeout=timeout,
                          capture_output=True, text=True, env=os.environ | {"PYTHONWARNINGS": "ignore"}, check=False)


def read_metrics(path: Path) -> dict:
    "The metrics JSON, checked for the five names and fractions in range."
    metrics = json.loads(path.read_text(encoding="utf-8"))
    assert set(metrics) == METRIC_NAMES
    assert 0 <= metrics["acc_t025"] <= metrics["acc_t05"] <= metrics["acc_t1"] <= 1
    return metrics


def test_params_file_then_flags(red_wine_file, tmp_path):
    params = tmp_path / "params.yaml"
    params.write_text("featurize:\n  n_components: 4\ntrain:\n  seed: 7\n  max_epochs: 50\n  hidden_units: 16\n")
    result = run_train("--data", red_wine_file, "--params", params, "--max-epochs", 4,
                       "--checkpoint", tmp_path / "out/model.ckpt", "--metrics", tmp_path / "out/metrics.json")
    assert result.returncode == 0, result.stderr
    read_metrics(tmp_path / "out/metrics.json")
    model = LitWineModel.load_from_checkpoint(tmp_path / "out/model.ckpt")
    assert model.hparams.hidden_units == 16, "the params file was not read"
    checkpoint = torch.load(tmp_path / "out/model.ckpt", weights_only=False)
    assert checkpoint["epoch"] == 4, "the --max-epochs flag did not override the params file"  # epochs done
    wine = read_wine_csv(red_wine_file)
    assert predict_quality(model, wine).shape == (len(wine),)


@pytest.mark.parametrize("flag, value, field", [
    ("--learning-rate", "-0.5", "learning_rate"), ("--batch-size", "0", "batch_size"),
    ("--precision", "16", "precision"), ("--min-epochs", "9", "max_epochs"),
])
def test_bad_value_is_refused_before_training(red_wine_file, tmp_path, flag, value, field):
    result = run_train("--data", red_wine_file, "--max-epochs", 3, flag, value,
                       "--checkpoint", tmp_path / "model.ckpt", "--metrics", tmp_path / "metrics.json")
    assert result.returncode == 2
    assert f"TrainConfig.{field}" in result.stderr
    assert not list(tmp_path.iterdir())


def test_unknown_key_in_params_file_is_refused(tmp_path):
    params = tmp_path / "params.yaml"
    params.write_text("train:\n  epochs: 3\n")
    result = run_train("--params", params, "--checkpoint", tmp_path / "m.ckpt", "--metrics", tmp_path / "m.json")
    assert result.returncode == 2 and "'epochs'" in result.stderr


def test_featurized_csv(red_wine_file, tmp_path):
    wine = read_wine_csv(red_wine_file)
    table = wine.assign(log_chlorides=np.log(wine["chlorides"])).drop(columns=["chlorides", "density"])
    table.to_csv(tmp_path / "features.csv", index=False)
    result = run_train("--data", tmp_path / "features.csv", "--max-epochs", 3,
                       "--checkpoint", tmp_path / "model.ckpt", "--metrics", tmp_path / "metrics.json")
    assert result.returncode == 0, result.stderr
    read_metrics(tmp_path / "metrics.json")
    assert "log_chlorides" in LitWineModel.load_from_checkpoint(tmp_path / "model.ckpt").hparams.feature_names


def test_damaged_wine_file_is_refused_with_its_name(red_wine_file, tmp_path):
    lines = red_wine_file.read_text(encoding="utf-8").splitlines(keepends=True)
    damaged = tmp_path / "winequality-red.csv"
    damaged.write_text(lines[0] + lines[1].replace(";3.51;", ";15.2;") + "".join(lines[2:]))
    result = run_train("--data", damaged, "--checkpoint", tmp_path / "m.ckpt", "--metrics", tmp_path / "m.json")
    assert result.returncode == 2 and str(damaged) in result.stderr and "'ph'" in result.stderr


def test_resume_from_the_command_line(red_wine_file, tmp_path):
    common = ["--data", red_wine_file, "--checkpoint-dir", tmp_path / "epochs",
              "--checkpoint", tmp_path / "model.ckpt", "--metrics", tmp_path / "metrics.json"]
    assert run_train(*common, "--max-epochs", 2).returncode == 0
    result = run_train(*common, "--max-epochs", 4, "--resume")
    assert result.returncode == 0, result.stderr
    checkpoint = torch.load(tmp_path / "model.ckpt", weights_only=False)
    assert checkpoint["epoch"] == 4
    read_metrics(tmp_path / "metrics.json")


@pytest.mark.slow
def test_ddp_on_two_cpu_processes(red_wine_file, tmp_path):
    result = run_train("--data", red_wine_file, "--strategy", "ddp", "--devices", 2, "--accelerator", "cpu",
                       "--max-epochs", 3, "--checkpoint", tmp_path / "model.ckpt",
                       "--metrics", tmp_path / "metrics.json")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "GLOBAL_RANK: 1, MEMBER: 2/2" in output and "trained 3 epochs in 2 process(es) (gloo)" in output
    read_metrics(tmp_path / "metrics.json")
    assert LitWineModel.load_from_checkpoint(tmp_path / "model.ckpt").hparams.feature_names


def test_log_dir_gets_csv_and_tensorboard_logs(red_wine_file, tmp_path):
    result = run_train("--data", red_wine_file, "--max-epochs", 3, "--log-dir", tmp_path / "logs",
                       "--checkpoint", tmp_path / "model.ckpt", "--metrics", tmp_path / "metrics.json")
    assert result.returncode == 0, result.stderr
    assert len(list((tmp_path / "logs" / "csv").rglob("metrics.csv"))) == 1
    assert list((tmp_path / "logs" / "tensorboard").rglob("events.out.tfevents.*"))


def test_spawning_strategy_is_refused_before_training(tmp_path):
    result = run_train("--strategy", "ddp_spawn", "--checkpoint", tmp_path / "m.ckpt", "--metrics", tmp_path / "m.json")
    assert result.returncode == 2 and "use --strategy ddp" in result.stderr
    assert not list(tmp_path.iterdir())
