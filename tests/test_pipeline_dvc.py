"""The project's DVC pipeline on a fresh clone: it runs end to end, a parameter change re-runs only the stages that
depend on it, push -> wipe -> pull restores every output byte for byte, and a damaged cache file is reported and never
used. Each test runs real git, dvc and make commands in one clone (tests run in file order and share it)."""
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from mlops_tutorial.features import main as features_main
from mlops_tutorial.scores import METRIC_NAMES, check_cache
from mlops_tutorial.scores import main as scores_main

REPOSITORY = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
STAGES = ["fetch", "validate", "featurize", "train", "evaluate"]
SHORT_TRAINING = 5  # epochs: the stages are the project's own, only the training is short



def run(command: list, cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
    "Run `command` in `cwd` with the environment's bin/ first on PATH and DVC analytics off."
    environment = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "DVC_NO_ANALYTICS": "1"}
    result = subprocess.run(command, cwd=cwd, env=environment, capture_output=True, text=True, check=False)
    if check and result.returncode:
        raise AssertionError(f"{' '.join(map(str, command))} failed ({result.returncode}):\n"
                             f"{result.stdout}\n{result.stderr}")
    return result


def repro(clone: Path) -> list:
    "Run `dvc repro` in `clone`; return the names of the stages it ran."
    output = run([BIN / "dvc", "repro"], clone).stdout
    return re.findall(r"Running stage '(\w+)'", output)


def md5(path: Path) -> str:
    "The md5 of a file's bytes."
    return hashlib.md5(path.read_bytes()).hexdigest()


def cached_outputs(clone: Path) -> dict:
    "Path -> md5 of every output in dvc.lock that DVC caches (metrics and plot files are kept in git instead)."
    paths = yaml.safe_load((clone / "params.yaml").read_text())["paths"]
    in_git = {paths[name] for name in ("train_metrics", "test_metrics", "rec_curve")}
    stages = yaml.safe_load((clone / "dvc.lock").read_text())["stages"]
    return {out["path"]: out["md5"] for stage in stages.values() for out in stage.get("outs", [])
            if out["path"] not in in_git}


def set_param(clone: Path, section: str, key: str, value) -> None:
    "Change one parameter in the clone's params.yaml."
    params = yaml.safe_load((clone / "params.yaml").read_text())
    params[section][key] = value
    (clone / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory) -> SimpleNamespace:
    "A fresh clone of the committed repository (`root`), with a short training, and the stages its first repro ran."
    if shutil.which("git") is None or shutil.which("make") is None:
        pytest.skip("git and make are needed to clone the repository and run `make pipeline`")
    root = tmp_path_factory.mktemp("pipeline") / "clone"
    run(["git", "clone", "--quiet", REPOSITORY, root], REPOSITORY)
    set_param(root, "train", "max_epochs", SHORT_TRAINING)
    return SimpleNamespace(root=root, first_run=repro(root))


@pytest.mark.slow
def test_fresh_clone_runs_every_stage(pipeline):
    clone = pipeline.root
    assert pipeline.first_run == STAGES
    test_metrics = json.loads((clone / "reports/test.json").read_text())
    assert list(test_metrics) == METRIC_NAMES
    assert 0 < test_metrics["mad"] < 1.5 and 0.5 < test_metrics["acc_t1"] <= 1
    assert all((clone / path).is_file() for path in cached_outputs(clone))
    assert repro(clone) == [], "a second dvc repro with nothing changed must run nothing"


@pytest.mark.slow
def test_parameter_change_reruns_only_dependent_stages(pipeline):
    clone = pipeline.root
    set_param(clone, "train", "max_epochs", SHORT_TRAINING + 1)
    assert repro(clone) == ["train", "evaluate"], "fetch, validate and featurize do not read train:"
    set_param(clone, "train", "max_epochs", SHORT_TRAINING)
    restored = run([BIN / "dvc", "repro"], clone).stdout
    assert restored.count("is cached - skipping run") == 2, "the run cache should bring back the earlier results"
    assert repro(clone) == []


@pytest.mark.slow
def test_push_wipe_pull_is_byte_identical(pipeline, tmp_path):
    clone = pipeline.root
    outputs = cached_outputs(clone)
    before = {path: md5(clone / path) for path in outputs}
    assert before == outputs
    run([BIN / "dvc", "remote", "add", "--local", "--default", "scratch", tmp_path / "remote"], clone)
    run([BIN / "dvc", "push"], clone)
    shutil.rmtree(clone / ".dvc/cache")
    for path in outputs:
        (clone / path).unlink()
    run([BIN / "dvc", "pull"], clone)
    assert {path: md5(clone / path) for path in outputs} == before
    assert "up to date" in run([BIN / "dvc", "status"], clone).stdout


@pytest.mark.slow
def test_corrupted_cache_is_reported_and_never_used(pipeline):
    clone = pipeline.root
    checkpoint = next(path for path in cached_outputs(clone) if path.endswith(".ckpt"))
    good = cached_outputs(clone)[checkpoint]
    cached = clone / ".dvc/cache/files/md5" / good[:2] / good[2:]
    mode = cached.stat().st_mode
    cached.chmod(0o644)
    content = bytearray(cached.read_bytes())
    content[len(content) // 2] ^= 0xFF
    cached.write_bytes(bytes(content))
    cached.chmod(mode)
    (clone / checkpoint).unlink()

    pipeline = run(["make", "-o", "install", "pipeline", f"VENV={BIN.parent}"], clone, check=False)
    assert pipeline.returncode != 0 and f"corrupted DVC cache file: .dvc/cache/files/md5/{good[:2]}" in pipeline.stderr
    assert not (clone / checkpoint).exists(), "the damaged checkpoint must not be restored"

    assert check_cache(clone / ".dvc/cache", remove=True) == [cached]
    run([BIN / "dvc", "pull"], clone)
    assert md5(clone / checkpoint) == good
    report = run(["make", "-o", "install", "pipeline", f"VENV={BIN.parent}"], clone)
    assert "Running stage" not in report.stdout and "Cortez 2009 SVM" in report.stdout


def test_featurize_refuses_unknown_parameters(tmp_path, red_wine_file, capsys):
    (tmp_path / "params.yaml").write_text("featurize:\n  n_components: 3\n  n_component: 4\n")
    with pytest.raises(SystemExit) as exit_info:
        features_main(["featurize", "--data", str(red_wine_file), "--params", str(tmp_path / "params.yaml"),
                       "--train", str(tmp_path / "train.csv"), "--test", str(tmp_path / "test.csv")])
    assert exit_info.value.code == 1
    assert "params.yaml: unknown key(s) in featurize: n_component" in capsys.readouterr().err
    assert not (tmp_path / "train.csv").exists()


def test_report_names_a_missing_metrics_file(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        scores_main(["report", "--metrics", str(tmp_path / "absent.json")])
    assert exit_info.value.code == 1 and "absent.json: cannot read metrics" in capsys.readouterr().err
