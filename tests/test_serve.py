"""The model server of tutorial 06 (mlops_tutorial.beyond.serve), as a client sees it: a real server process on a free
port of 127.0.0.1, real HTTP (httpx). The HTTP contract, the model's identity against dvc.lock, every kind of bad
input of the issue (each a 4xx naming the field, the server still serving), the start-up failures (one line, exit 2),
a bounded load that leaves one log line per answer, and a log that survives kill -9. Every server is stopped by its
fixture or `serving`, even when a test fails."""
import json
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
import yaml

from mlops_tutorial.beyond.serve import (MAX_BODY_BYTES, Featurizer, load_test, pipeline_outputs, read_request_log,
                                         serving)
from mlops_tutorial.beyond.serve import main as serve_main
from mlops_tutorial.core.config import load_params
from mlops_tutorial.core.data import FEATURES
from project import ROOT, assert_refused

PARAMS = load_params(ROOT / "params.yaml").paths
SERVE = [sys.executable, "-m", "mlops_tutorial.beyond.serve"]


@pytest.fixture(scope="module")
def outputs(tmp_path_factory) -> dict:
    "The pipeline's checkpoint and tables, or stand-ins made in a scratch folder when `make pipeline` has not run."
    return pipeline_outputs(ROOT, tmp_path_factory.mktemp("outputs"))


@pytest.fixture(scope="module")
def red_wines(outputs) -> list:
    "The held-out red wines, as request bodies (dicts of the eleven features)."
    return pd.read_csv(outputs["test"])[FEATURES].to_dict("records")


def server_command(outputs: dict, log: Path, *extra: str) -> list:
    "The serve command on a free port with `log` as its request log."
    return SERVE + ["--checkpoint", str(outputs["checkpoint"]), "--featurizer", str(outputs["featurizer"]),
                    "--lock", str(ROOT / "dvc.lock"), "--port", "0", "--log", str(log), *extra]


@pytest.fixture(scope="module")
def server(outputs, tmp_path_factory):
    "One server for the contract and bad-input tests; it must stop with exit code 0 on SIGTERM (as on Ctrl-C)."
    log = tmp_path_factory.mktemp("server") / "requests.jsonl"
    with serving(server_command(outputs, log), cwd=ROOT) as running:
        yield running
    assert running.process.returncode == 0, "the server did not stop cleanly on SIGTERM"


def test_predict_answers_a_grade_and_names_the_model(server, red_wines):
    answer = httpx.post(f"{server.url}/predict", json=red_wines[0])
    assert answer.status_code == 200, answer.text
    quality = answer.json()["quality"]
    assert 0 <= quality <= 10 and quality == round(quality)
    model = httpx.get(f"{server.url}/model").json()
    assert answer.json()["model"] == model and answer.headers["x-model-md5"] == model["md5"]
    assert httpx.get(f"{server.url}/health").json() == {"status": "ok"}


def test_the_server_predicts_what_the_holdout_stage_predicts(server, outputs, red_wines):
    from mlops_tutorial.core.holdout import load_model  # pylint: disable=import-outside-toplevel
    from mlops_tutorial.core.ensemble import predict_quality  # pylint: disable=import-outside-toplevel
    table = pd.read_csv(outputs["test"]).head(40)
    expected = predict_quality(load_model(outputs["checkpoint"]), table)
    served = [httpx.post(f"{server.url}/predict", json=wine).json()["quality"] for wine in red_wines[:40]]
    assert np.mean(np.array(served) == expected) >= 0.95, (served, expected.tolist())


def test_served_features_equal_the_pipeline_table_rows(outputs):
    table = pd.read_csv(outputs["test"])
    featurizer = Featurizer.from_file(outputs["featurizer"])
    served = featurizer.transform(table[FEATURES].to_numpy())
    assert featurizer.names == [column for column in table.columns if column != "quality"]
    np.testing.assert_allclose(served, table[featurizer.names].to_numpy(), rtol=1e-5, atol=1e-5)


def test_model_identity_is_the_checkpoint_hash_in_dvc_lock_and_the_commit(server, outputs):
    """The served model is the committed one: made by `make pipeline` (then the server finds it in dvc.lock by its
    path) or restored from the DVC remote into a scratch folder (a fresh clone: a path dvc.lock does not name)."""
    locked = committed_checkpoint_md5()
    model = httpx.get(f"{server.url}/model").json()
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True)
    assert model["md5"] == locked, "models/wine.ckpt is not the checkpoint dvc.lock records: run `make pipeline`"
    in_place = outputs["checkpoint"] == ROOT / PARAMS.checkpoint
    assert model["dvc_lock_md5"] == (locked if in_place else None) and model["matches_dvc_lock"] == in_place
    assert model["commit"] == commit.stdout.strip()


def with_value(wine: dict, name: str, value) -> bytes:
    "The wine's JSON with `name` set to `value`, written as given (a raw JSON token)."
    fields = [f'"{key}": {json.dumps(item)}' for key, item in wine.items() if key != name]
    return ("{" + ", ".join(fields + [f'"{name}": {value}']) + "}").encode()


BAD_INPUTS = {  # case -> (body from a red wine, status, field named in the answer)
    "malformed JSON": (lambda wine: json.dumps(wine).encode()[:-5], 422, "body"),
    "empty body": (lambda wine: b"", 422, "body"),
    "an array": (lambda wine: json.dumps(list(wine.values())).encode(), 422, "body"),
    "a number": (lambda wine: b"7.4", 422, "body"),
    "missing feature": (lambda wine: json.dumps({k: v for k, v in wine.items() if k != "ph"}).encode(), 422, "ph"),
    "unknown feature": (lambda wine: json.dumps({**wine, "colour": 1}).encode(), 422, "colour"),
    "a string": (lambda wine: with_value(wine, "alcohol", '"9.4"'), 422, "alcohol"),
    "null": (lambda wine: with_value(wine, "sulphates", "null"), 422, "sulphates"),
    "a boolean": (lambda wine: with_value(wine, "chlorides", "true"), 422, "chlorides"),
    "NaN": (lambda wine: with_value(wine, "density", "NaN"), 422, "body"),
    "Infinity": (lambda wine: with_value(wine, "citric_acid", "Infinity"), 422, "body"),
    "-Infinity": (lambda wine: with_value(wine, "citric_acid", "-Infinity"), 422, "body"),
    "overflowing number": (lambda wine: with_value(wine, "residual_sugar", "1e400"), 422, "residual_sugar"),
    "negative alcohol": (lambda wine: with_value(wine, "alcohol", "-1"), 422, "alcohol"),
    "pH 20": (lambda wine: with_value(wine, "ph", "20"), 422, "ph"),
    "total SO2 of 0": (lambda wine: with_value(wine, "total_sulfur_dioxide", "0"), 422, "total_sulfur_dioxide"),
    "not UTF-8": (lambda wine: b"\xff\xfe{", 422, "body"),
    "over 1 MB": (lambda wine: json.dumps({**wine, "note": "x" * MAX_BODY_BYTES}).encode(), 413, "body"),
}


@pytest.mark.parametrize("case", BAD_INPUTS)
def test_bad_input_gets_one_4xx_naming_the_field_and_the_server_keeps_serving(server, red_wines, case):
    make_body, status, field = BAD_INPUTS[case]
    answer = httpx.post(f"{server.url}/predict", content=make_body(red_wines[0]),
                        headers={"content-type": "application/json"})
    assert answer.status_code == status, answer.text
    problems = answer.json()["detail"]
    assert field in [problem["field"] for problem in problems] and all(problem["reason"] for problem in problems)
    assert httpx.post(f"{server.url}/predict", json=red_wines[1]).status_code == 200


def test_a_streamed_body_over_the_limit_is_refused(server):
    chunks = (b" " * 65536 for _ in range(MAX_BODY_BYTES // 65536 + 2))  # no content-length: chunked
    answer = httpx.post(f"{server.url}/predict", content=chunks)
    assert answer.status_code == 413 and answer.json()["detail"][0]["field"] == "body"




def start_failure(run, arguments: list) -> tuple:
    "Run the serve command's `main` in-process expecting it to fail at start-up: (exit code, stderr)."
    ran = run(serve_main, arguments)
    return ran.code, ran.stderr


def test_startup_failures_are_one_line_naming_the_file_or_port_and_exit_2(outputs, tmp_path, run):
    "In-process, through `cli.run` as the console script runs it: each start-up failure is one line and exit 2."
    real = Path(outputs["checkpoint"]).read_bytes()
    (tmp_path / "garbage.ckpt").write_bytes(b"not a checkpoint at all")
    (tmp_path / "truncated.ckpt").write_bytes(real[: len(real) // 2])
    (tmp_path / "featurizer.json").write_text('{"features": [')
    common = ["--log", str(tmp_path / "log.jsonl"), "--port", "0", "--featurizer", str(outputs["featurizer"])]
    cases = {str(tmp_path / "missing.ckpt"): ["--checkpoint", str(tmp_path / "missing.ckpt")],
             str(tmp_path / "garbage.ckpt"): ["--checkpoint", str(tmp_path / "garbage.ckpt")],
             str(tmp_path / "truncated.ckpt"): ["--checkpoint", str(tmp_path / "truncated.ckpt")]}
    for named, arguments in cases.items():
        assert_refused(*start_failure(run, common + arguments), named)
    assert_refused(*start_failure(run, ["--checkpoint", outputs["checkpoint"], "--featurizer",
                                        tmp_path / "featurizer.json", "--port", "0", "--log", tmp_path / "log.jsonl"]),
                   "featurizer.json")


def test_a_busy_port_is_one_line_naming_the_port_and_exit_2(server, outputs, tmp_path, run):
    port = server.url.rsplit(":", 1)[1]
    assert_refused(*start_failure(run, ["--checkpoint", outputs["checkpoint"], "--featurizer", outputs["featurizer"],
                                        "--port", port, "--log", tmp_path / "log.jsonl"]), f"127.0.0.1:{port}")
    assert httpx.get(f"{server.url}/health").status_code == 200


@pytest.mark.slow
def test_a_bounded_load_gets_no_errors_and_one_log_line_per_answer(outputs, red_wines, tmp_path):
    log = tmp_path / "requests.jsonl"
    bodies = [json.dumps(wine).encode() for wine in red_wines]
    with serving(server_command(outputs, log), cwd=ROOT) as running:
        result = load_test(f"{running.url}/predict", bodies, requests=2000, clients=16)
    assert result["errors"] == 0 and running.process.returncode == 0, result
    records = read_request_log(log)
    assert len(records) == 2000 and len(log.read_bytes().splitlines()) == 2000
    assert {record["model_md5"] for record in records} == {md5_of(outputs["checkpoint"])}
    assert all(set(record["features"]) == set(FEATURES) and "time" in record for record in records)


def md5_of(path: Path) -> str:
    "The md5 of a file, computed here (not by the server)."
    import hashlib  # pylint: disable=import-outside-toplevel
    return hashlib.md5(Path(path).read_bytes()).hexdigest()


@pytest.mark.slow
def test_kill_9_in_the_middle_of_a_load_leaves_a_log_whose_every_complete_line_parses(outputs, red_wines, tmp_path):
    log = tmp_path / "requests.jsonl"
    bodies = [json.dumps(wine).encode() for wine in red_wines]
    with serving(server_command(outputs, log), cwd=ROOT) as running:
        # 2,000 requests: the log reaches 100 kB after about 200, so the kill lands in the middle of the load
        loader = threading.Thread(target=load_test, args=(f"{running.url}/predict", bodies, 2000, 16), daemon=True)
        loader.start()
        deadline = time.monotonic() + 60
        while (not log.exists() or log.stat().st_size < 100_000) and time.monotonic() < deadline:
            time.sleep(0.05)
        running.process.send_signal(signal.SIGKILL)
        running.process.wait(10)
        loader.join(120)
    assert running.process.returncode == -signal.SIGKILL and not loader.is_alive()
    lines = log.read_bytes().split(b"\n")
    complete = lines[:-1]  # everything before the last newline
    assert 100 < len(complete) < 2000, f"{len(complete)} answers logged: the kill did not land in the middle of the load"
    assert all(json.loads(line)["features"] for line in complete)
    with pytest.warns(UserWarning, match="torn last line") if lines[-1] else _no_warning():
        assert len(read_request_log(log)) == len(complete)


class _no_warning:  # pylint: disable=invalid-name,too-few-public-methods
    "A context manager that expects nothing (the kill happened between two lines)."

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        return False



def committed_checkpoint_md5() -> str:
    "The md5 that dvc.lock records for the train stage's checkpoint."
    outs = yaml.safe_load((ROOT / "dvc.lock").read_text(encoding="utf-8"))["stages"]["train"]["outs"]
    return next(out["md5"] for out in outs if out["path"] == PARAMS.checkpoint)


@pytest.mark.slow  # a DVC repository and a pull from dvc-store/ (about 3.5 s)
def test_a_fresh_clone_gets_the_committed_model_from_the_dvc_remote(tmp_path, monkeypatch):
    """Without `make pipeline` (no models/ in the copy), `pipeline_outputs` restores the checkpoint dvc.lock records
    from dvc-store/ without training and without writing into the copy, also from nbs/ (where the notebooks run);
    without the remote it says what to run."""
    from dvc_tree import copy_working_tree  # pylint: disable=import-outside-toplevel

    clone = copy_working_tree(tmp_path / "clone")
    monkeypatch.chdir(clone / "nbs")
    outputs = pipeline_outputs(clone, tmp_path / "made")
    assert outputs["checkpoint"].parent == tmp_path / "made" and not (clone / PARAMS.checkpoint).exists()
    assert md5_of(outputs["checkpoint"]) == committed_checkpoint_md5()
    shutil.rmtree(clone / "dvc-store")
    with pytest.raises(FileNotFoundError, match=r"wine\.ckpt: missing, and DVC cannot restore it .*make pipeline"):
        pipeline_outputs(clone, tmp_path / "again")
    assert not (tmp_path / "again" / "wine.ckpt").exists(), "a failed restore left a file behind"
