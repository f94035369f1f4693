"""The drift monitor of tutorial 06 (mlops_tutorial.beyond.monitor): Holm's correction against its textbook rule, the
false-alarm rate on held-out red batches and the detection rate on white batches (fixed seeds, real wines), the
command's report and exit codes (0 with or without drift, 2 with one line on bad input), and the log as input."""
import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from mlops_tutorial.beyond.monitor import alarm_rates, drift_report, holm, mixed_batches, read_features
from mlops_tutorial.beyond.monitor import main as monitor_main
from mlops_tutorial.core.config import load_params
from mlops_tutorial.core.data import FEATURES, fetch_wine, load_wine
from mlops_tutorial.core.features import main as featurize_main
from project import ROOT, assert_refused

MONITOR = [sys.executable, "-m", "mlops_tutorial.beyond.monitor"]


@pytest.fixture(scope="module")
def tables(tmp_path_factory) -> dict:
    "The pipeline's training and held-out tables, or the featurize command's when `make pipeline` has not run."
    paths = load_params(ROOT / "params.yaml").paths
    found = {"train": ROOT / paths.train_table, "test": ROOT / paths.test_table}
    if all(path.exists() for path in found.values()):
        return found
    folder = tmp_path_factory.mktemp("tables")
    made = {"train": folder / "train.csv", "test": folder / "test.csv"}
    featurize_main(["featurize", "--data", str(fetch_wine("red")), "--params", str(ROOT / "params.yaml"),
                    "--train", str(made["train"]), "--test", str(made["test"])])
    return made


def holm_rejections(p_values: np.ndarray, alpha: float) -> np.ndarray:
    "Holm's rule as stated: in ascending order, reject while p(i) <= alpha / (m - i); stop at the first that is not."
    rejected = np.zeros(len(p_values), dtype=bool)
    for rank, index in enumerate(np.argsort(p_values)):
        if p_values[index] > alpha / (len(p_values) - rank):
            break
        rejected[index] = True
    return rejected


def test_holm_adjusted_p_values_reject_exactly_what_holms_rule_rejects():
    rng = np.random.default_rng(0)
    for _ in range(500):
        p_values = rng.uniform(0, 0.05, 11) ** rng.uniform(0.5, 2)
        for alpha in (0.01, 0.05, 0.1):
            assert np.array_equal(holm(p_values) <= alpha, holm_rejections(p_values, alpha))


def test_held_out_rows_are_not_training_rows(tables):
    train, test = (pd.read_csv(tables[name])[FEATURES] for name in ("train", "test"))
    assert not set(map(tuple, test.to_numpy())) & set(map(tuple, train.to_numpy()))


@pytest.mark.slow
def test_false_alarms_on_red_and_detection_of_white_over_200_batches_of_50(tables):
    reference, held_out = read_features(tables["train"]), read_features(tables["test"])
    white = load_wine("white")[FEATURES]
    rates = alarm_rates(reference, held_out, white, shares=(0, 0.1, 0.25, 0.5, 1), batches=200, size=50, seed=0)
    assert rates[0] <= 0.05, f"false-alarm rate {rates[0]:.3f} on held-out red batches"
    assert rates[1] >= 0.95, f"detection rate {rates[1]:.3f} on white batches"
    assert rates[0] <= rates[0.25] <= rates[0.5] <= rates[1], rates


def test_batches_mix_the_share_of_white_asked_for(tables):
    red, white = read_features(tables["test"]), load_wine("white")[FEATURES]
    for batch in mixed_batches(red.assign(colour=0), white.assign(colour=1), 0.25, batches=5, size=50, seed=1):
        drawn = batch.reset_index()
        assert len(batch) == 50 and batch["colour"].sum() == round(50 * 0.25)
        assert not drawn.duplicated(["index", "colour"]).any(), "a wine was drawn twice into one batch"


def run_monitor(*arguments) -> subprocess.CompletedProcess:
    "The monitor's command line."
    return subprocess.run(MONITOR + [str(argument) for argument in arguments], capture_output=True, text=True,
                          timeout=120, check=False, cwd=ROOT)


def test_check_exits_0_with_and_without_drift_and_writes_the_report(tables, tmp_path, run):
    red_batch = pd.read_csv(tables["test"]).sample(50, random_state=3)
    red_batch.to_csv(tmp_path / "red.csv", index=False)
    white = load_wine("white").sample(50, random_state=3)
    white.to_csv(tmp_path / "white.csv", sep=";", index=False)
    for name, drifts in (("red", False), ("white", True)):
        ran = run(monitor_main, ["check", "--reference", tables["train"], "--current", tmp_path / f"{name}.csv",
                                 "--out", tmp_path / f"{name}.json"])
        report = json.loads((tmp_path / f"{name}.json").read_text(encoding="utf-8"))
        assert ran.code == 0 and report["drift"] is drifts, ran.stdout + ran.stderr
        assert set(report["features"]) == set(FEATURES) and report["current_rows"] == 50
        assert all({"statistic", "p_value", "adjusted_p_value", "drift"} <= set(entry)
                   for entry in report["features"].values())
    assert report == drift_report(read_features(tables["train"]), read_features(tmp_path / "white.csv"))


@pytest.mark.slow  # a fresh interpreter: the command as `make monitor` runs it (about 4 s)
def test_check_reads_the_request_log_and_skips_a_torn_last_line(tables, tmp_path):
    wines = load_wine("white")[FEATURES].head(60).to_dict("records")
    log = tmp_path / "requests.jsonl"
    log.write_text("".join(json.dumps({"features": wine, "quality": 6.0}) + "\n" for wine in wines)
                   + '{"features": {"fixed_ac', encoding="utf-8")
    ran = run_monitor("check", "--reference", tables["train"], "--current", log, "--out", tmp_path / "r.json")
    assert ran.returncode == 0 and "torn last line" in ran.stderr, ran.stderr
    assert json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))["current_rows"] == 60


def test_bad_input_is_one_line_and_exit_2(tables, tmp_path, run):
    "In this process, through the command's `main` (`run`): each mistake is one line naming it, exit 2, no report."
    red = load_wine("red").head(20)
    red.drop(columns="alcohol").to_csv(tmp_path / "no_alcohol.csv", index=False)
    red.astype({"ph": object}).assign(ph="acid").to_csv(tmp_path / "text.csv", index=False)
    (tmp_path / "middle.jsonl").write_text('{"features": {}}\nnot json\n{"features": {}}\n', encoding="utf-8")
    cases = {"missing.csv": ["--current", tmp_path / "missing.csv"],
             "no_alcohol.csv": ["--current", tmp_path / "no_alcohol.csv"],
             "text.csv": ["--current", tmp_path / "text.csv"],
             "line 2": ["--current", tmp_path / "middle.jsonl"],
             "--alpha": ["--current", tmp_path / "text.csv", "--alpha", "2"]}
    for named, arguments in cases.items():
        ran = run(monitor_main, ["check", "--reference", tables["train"], "--out", tmp_path / "out.json", *arguments])
        assert_refused(ran.code, ran.stderr, named)
        assert not (tmp_path / "out.json").exists()
