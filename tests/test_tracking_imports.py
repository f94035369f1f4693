"""The train stage's command, `python -m mlops_tutorial.lessons.clearml_tracking train`, imports ClearML only when tracking is on
(tutorials 05 and 05a): a fresh interpreter trains and reports which packages it loaded. ClearML takes seconds to import,
and the pipeline's train stage runs this command whether or not $MLOPS_TUTORIAL_CLEARML asks for a record. The same
runs check what the command leaves behind: a checkpoint and metrics always, an offline session only when asked."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mlops_tutorial.lessons.clearml_tracking import offline_sessions, read_artifacts, read_parameters, read_scalars
from project import ROOT

pytestmark = pytest.mark.slow  # fresh interpreters that import torch and Lightning and train
TRAIN_AND_REPORT = """
import json, sys
from mlops_tutorial.lessons.clearml_tracking import main
main(sys.argv[1:])
print("loaded:", json.dumps({package: package in sys.modules for package in ("clearml", "pytorch_lightning")}))
"""


def train_in_fresh_interpreter(folder: Path, data: Path, tracking: str | None, epochs: int = 1) -> dict:
    "Train `epochs` epochs through the tracking wrapper in a child process; which of clearml and Lightning it loaded."
    env = {key: value for key, value in os.environ.items()
           if key != "MLOPS_TUTORIAL_CLEARML" and not key.startswith("CLEARML_")}
    env["CLEARML_CACHE_DIR"] = str(folder / "clearml-cache")  # a tracked run records here, not in ~/.clearml
    if tracking is not None:
        env["MLOPS_TUTORIAL_CLEARML"] = tracking
    arguments = ["train", "--data", data, "--max-epochs", epochs, "--ensemble-size", 1,
                 "--checkpoint", folder / "model.ckpt", "--metrics", folder / "metrics.json"]
    result = subprocess.run([sys.executable, "-c", TRAIN_AND_REPORT, *map(str, arguments)], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert (folder / "model.ckpt").is_file() and (folder / "metrics.json").is_file()
    (line,) = [line for line in result.stdout.splitlines() if line.startswith("loaded: ")]
    return json.loads(line.removeprefix("loaded: "))


@pytest.mark.parametrize("tracking", [None, "off"])
def test_training_without_tracking_does_not_import_clearml(red_sample_file, tmp_path, tracking):
    loaded = train_in_fresh_interpreter(tmp_path, red_sample_file, tracking)
    assert loaded == {"clearml": False, "pytorch_lightning": True}, "clearml was imported with tracking off"
    assert not (tmp_path / "clearml-cache").exists()


def test_tracked_training_imports_clearml_and_records(red_sample_file, tmp_path):
    "The other side: the check sees ClearML when tracking is on (so it would see a top-level import); the run is recorded."
    loaded = train_in_fresh_interpreter(tmp_path, red_sample_file, "offline", epochs=3)
    assert loaded == {"clearml": True, "pytorch_lightning": True}
    (session,) = offline_sessions(tmp_path / "clearml-cache")
    assert len(read_scalars(session).query("metric == 'val_mad'")) == 3, "no per-epoch curve captured"
    assert set(read_artifacts(session)) >= {"checkpoint", "metrics"}
    assert read_parameters(session)["train/max_epochs"] == "3"
