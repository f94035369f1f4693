"""`python -m mlops_tutorial.core.train` as DVC runs it, in-process: params file plus flags, the files it writes, bad values
refused before training, a featurized table, resuming; and two-process DDP in a real `python -m` launch."""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from mlops_tutorial.core.data import read_wine_csv
from mlops_tutorial.core.metrics import read_metrics
from mlops_tutorial.core.ensemble import predict_quality
from mlops_tutorial.core.model import LitWineModel
from mlops_tutorial.core.train import main
from project import ROOT

QUICK = ["--max-epochs", 3, "--ensemble-size", 1]


def outputs(folder: Path) -> list:
    "The checkpoint and metrics flags for files in `folder`."
    return ["--checkpoint", folder / "model.ckpt", "--metrics", folder / "metrics.json"]


def test_params_file_then_flags(run, red_sample_file, tmp_path):
    params = tmp_path / "params.yaml"
    params.write_text("featurize:\n  n_components: 4\ntrain:\n  seed: 7\n  max_epochs: 50\n  hidden_units: 16\n"
                      "  ensemble_size: 1\n")
    result = run(main, ["--data", red_sample_file, "--params", params, "--max-epochs", 4, *outputs(tmp_path / "out")])
    assert result.code == 0, result.stderr
    read_metrics(tmp_path / "out/metrics.json")
    model = LitWineModel.load_from_checkpoint(tmp_path / "out/model.ckpt")
    assert model.hparams.hidden_units == 16, "the params file was not read"
    assert torch.load(tmp_path / "out/model.ckpt", weights_only=False)["epoch"] == 4, "--max-epochs did not win"
    wine = read_wine_csv(red_sample_file)
    assert predict_quality(model, wine).shape == (len(wine),)
    assert sorted(path.name for path in (tmp_path / "out").iterdir()) == ["metrics.json", "model.ckpt"]


def test_featurized_csv(run, red_sample_file, tmp_path):
    wine = read_wine_csv(red_sample_file)
    table = wine.assign(log_chlorides=np.log(wine["chlorides"])).drop(columns=["chlorides", "density"])
    table.to_csv(tmp_path / "features.csv", index=False)
    result = run(main, ["--data", tmp_path / "features.csv", *QUICK, *outputs(tmp_path)])
    assert result.code == 0, result.stderr
    read_metrics(tmp_path / "metrics.json")
    assert "log_chlorides" in LitWineModel.load_from_checkpoint(tmp_path / "model.ckpt").hparams.feature_names


def test_resume_from_the_command_line(run, red_sample_file, tmp_path):
    common = ["--data", red_sample_file, "--ensemble-size", 1, "--checkpoint-dir", tmp_path / "epochs",
              *outputs(tmp_path)]
    assert run(main, [*common, "--max-epochs", 2]).code == 0
    result = run(main, [*common, "--max-epochs", 4, "--resume"])
    assert result.code == 0, result.stderr
    assert torch.load(tmp_path / "model.ckpt", weights_only=False)["epoch"] == 4
    read_metrics(tmp_path / "metrics.json")


def test_log_dir_gets_csv_and_tensorboard_logs(run, red_sample_file, tmp_path):
    result = run(main, ["--data", red_sample_file, *QUICK, "--log-dir", tmp_path / "logs", *outputs(tmp_path)])
    assert result.code == 0, result.stderr
    assert len(list((tmp_path / "logs" / "csv").rglob("metrics.csv"))) == 1
    assert list((tmp_path / "logs" / "tensorboard").rglob("events.out.tfevents.*"))


@pytest.mark.slow
def test_ddp_on_two_cpu_processes(red_sample_file, tmp_path):
    result = subprocess.run([sys.executable, "-m", "mlops_tutorial.core.train", "--data", str(red_sample_file),
                             "--strategy", "ddp", "--devices", "2", "--accelerator", "cpu", *map(str, QUICK),
                             *map(str, outputs(tmp_path))], cwd=ROOT, capture_output=True, text=True, timeout=300,
                            check=False)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "GLOBAL_RANK: 1, MEMBER: 2/2" in output and "trained 3 epochs in 2 process(es) (gloo)" in output
    read_metrics(tmp_path / "metrics.json")
    assert not list(tmp_path.glob("*.partial")), "a temporary checkpoint was left behind"


# Two CPUs as PyTorch and MKL would see them: without the pin the same training gives different weights under these.
SIMULATED_CPUS = {"AVX2": {"ATEN_CPU_CAPABILITY": "avx2", "MKL_CBWR": "AVX2"},
                  "AVX-512": {"ATEN_CPU_CAPABILITY": "avx512", "MKL_CBWR": "AVX512"}}


@pytest.mark.slow
def test_the_same_weights_on_every_cpu(red_sample_file, tmp_path):
    "The pipeline's training command (train, through the ClearML wrapper) pins the kernels: tutorial 03b."
    probe = [sys.executable, "-c", "import torch; print(torch.backends.cpu.get_cpu_capability())"]
    capability = subprocess.run(probe, env={**os.environ, **SIMULATED_CPUS["AVX-512"]}, capture_output=True,
                                text=True, check=True).stdout.strip()
    if capability != "AVX512":  # a CPU without AVX-512 runs its best kernels for both: two runs of one CPU
        pytest.skip(f"this CPU runs {capability} kernels, not AVX-512: it cannot simulate two CPUs")
    weights = {}
    for cpu, variables in SIMULATED_CPUS.items():
        environment = {**os.environ, **variables, "MLOPS_TUTORIAL_CLEARML": "offline"}
        command = [sys.executable, "-m", "mlops_tutorial.lessons.clearml_tracking", "train", "--data", red_sample_file, *QUICK,
                   *outputs(tmp_path / cpu)]
        result = subprocess.run(list(map(str, command)), cwd=ROOT, env=environment, capture_output=True, text=True,
                                timeout=300, check=False)
        assert result.returncode == 0, result.stdout + result.stderr
        weights[cpu] = torch.load(tmp_path / cpu / "model.ckpt", weights_only=False)["state_dict"]
    assert weights["AVX2"].keys() == weights["AVX-512"].keys()
    for name, tensor in weights["AVX2"].items():
        assert torch.equal(tensor, weights["AVX-512"][name]), f"{name} differs between the simulated CPUs"
