"""The models must beat trivial predictors on wines they never saw: always the most common grade of the training rows
(the majority class) and always their mean grade. Both for a short `train_model` run and for the model `make pipeline`
trained (its committed reports/test.json against the same held-out wines)."""
import json

import numpy as np
import pandas as pd
import pytest
import yaml

from mlops_tutorial.core import cli
from mlops_tutorial.core.config import TrainConfig, load_params
from mlops_tutorial.core.data import TARGET, read_wine_csv, write_table
from mlops_tutorial.core.features import featurize
from mlops_tutorial.core.metrics import quality_metrics
from mlops_tutorial.core.ensemble import predict_quality
from mlops_tutorial.core.model import train_model
from mlops_tutorial.core.split import split_wine
from project import ROOT

MARGIN = {"mad": 0.1, "acc_t05": 0.1}  # at least this much better than each trivial predictor
pytestmark = pytest.mark.slow  # trains on the full red wine file, or reads the whole file for the baselines


def trivial_predictors(train: pd.DataFrame, test: pd.DataFrame) -> dict:
    "The paper's metrics on `test` of always predicting the training rows' most common grade, and their mean."
    constants = {"majority class": train[TARGET].mode().iloc[0], "constant mean": train[TARGET].mean()}
    return {name: quality_metrics(test[TARGET], np.full(len(test), value)) for name, value in constants.items()}


def assert_beats_trivial_predictors(metrics: dict, train: pd.DataFrame, test: pd.DataFrame) -> None:
    "Fail unless `metrics` beat every trivial predictor by `MARGIN` on MAD and on accuracy within 0.5."
    for name, baseline in trivial_predictors(train, test).items():
        assert metrics["mad"] <= baseline["mad"] - MARGIN["mad"], (name, metrics, baseline)
        assert metrics["acc_t05"] >= baseline["acc_t05"] + MARGIN["acc_t05"], (name, metrics, baseline)


def test_trivial_predictors_do_not_pass_the_check(red_wine_file):
    wine = read_wine_csv(red_wine_file)
    train, test = split_wine(wine, n_folds=5, seed=0, group_duplicates=True)
    for metrics in trivial_predictors(train, test).values():
        with pytest.raises(AssertionError):
            assert_beats_trivial_predictors(metrics, train, test)
    always_six = quality_metrics(test[TARGET], np.full(len(test), 6.0))
    with pytest.raises(AssertionError):
        assert_beats_trivial_predictors(always_six, train, test)


def test_a_short_training_beats_trivial_predictors(red_wine_file):
    wine = read_wine_csv(red_wine_file)
    train, test = split_wine(wine, n_folds=5, seed=0, group_duplicates=True)
    model, _ = train_model(train, TrainConfig(max_epochs=80, ensemble_size=2, validation_folds=0))
    assert_beats_trivial_predictors(quality_metrics(test[TARGET], predict_quality(model, test)), train, test)


def test_the_pipelines_model_beats_trivial_predictors(red_wine_file):
    params = load_params(ROOT / "params.yaml")
    split = params.featurize
    train, test = split_wine(read_wine_csv(red_wine_file), split.holdout_folds, split.seed, split.group_duplicates)
    metrics = json.loads((ROOT / params.paths.test_metrics).read_text(encoding="utf-8"))
    assert_beats_trivial_predictors(metrics, train, test)


def test_a_fresh_holdout_of_the_committed_model_gives_the_committed_scores(red_wine_file, run, tmp_path):
    """The holdout job run now on the checkpoint dvc.lock records (read from the project's DVC remote, dvc-store/)
    and on a freshly featurized test table: its scores beat the trivial predictors and are the committed
    reports/test.json (a holdout that scored the wrong table or the wrong model fails here)."""
    params = load_params(ROOT / "params.yaml")
    train, test = featurize(read_wine_csv(red_wine_file), params.featurize)
    write_table(test, tmp_path / "test.csv")
    locked = yaml.safe_load((ROOT / "dvc.lock").read_text(encoding="utf-8"))["stages"]["train"]["outs"][0]["md5"]
    checkpoint = ROOT / "dvc-store" / "files" / "md5" / locked[:2] / locked[2:]
    assert checkpoint.is_file(), f"dvc-store/ lacks the checkpoint dvc.lock records ({locked}): run `make retrain`"
    scored = run(cli.main, ["holdout", "--checkpoint", checkpoint, "--data", tmp_path / "test.csv",
                            "--metrics", tmp_path / "test.json", "--plot", tmp_path / "rec.csv"])
    assert scored.code == 0, scored.stderr
    fresh = json.loads((tmp_path / "test.json").read_text(encoding="utf-8"))
    assert_beats_trivial_predictors(fresh, train, test)
    assert fresh == json.loads((ROOT / params.paths.test_metrics).read_text(encoding="utf-8"))
