"""`python -m mlops_tutorial.core.evaluate` and the cross-validation routine it shares with the ClearML pipeline: both
protocols written with their settings, three models, five metrics; grouped folds never split a duplicated wine."""
import json

import numpy as np
import pytest

from mlops_tutorial.core.data import TARGET, read_wine_csv
from mlops_tutorial.core.evaluate import fit_predict_svr, main
from mlops_tutorial.core.metrics import METRIC_NAMES, cross_validate
from mlops_tutorial.core.split import duplicate_groups


@pytest.mark.slow
def test_command_writes_both_protocols(run, red_sample_file, tmp_path):
    params = tmp_path / "params.yaml"
    params.write_text("evaluate:\n  folds: 3\n  trees: 10\ntrain:\n  max_epochs: 5\n  ensemble_size: 1\n")
    out = tmp_path / "reports" / "evaluation.json"
    result = run(main, ["--params", params, "--data", red_sample_file, "--out", out])
    assert result.code == 0, result.stderr
    results = json.loads(out.read_text(encoding="utf-8"))
    assert set(results) == {"all_rows", "grouped"}
    for protocol, grouped in (("all_rows", False), ("grouped", True)):
        models = results[protocol]
        assert models.pop("protocol") == {"folds": 3, "seed": 0, "group_duplicates": grouped,
                                          "scores": "pooled out-of-fold predictions"}
        assert set(models) == {"lightning", "svr", "random_forest"}, protocol
        for name, metrics in models.items():
            assert list(metrics) == METRIC_NAMES, (protocol, name)
    assert "Cortez 2009 SVM" in result.stdout and str(out) in result.stdout


def test_cross_validation_predicts_each_row_once_from_a_model_that_never_saw_its_copies(red_wine_file):
    wine = read_wine_csv(red_wine_file)
    groups = duplicate_groups(wine)
    seen = []

    def fit_predict(train, test, seed):
        "Record the fold; predict with an SVR."
        assert not set(groups.loc[train.index]) & set(groups.loc[test.index]), "a copy of a test wine was trained on"
        seen.append(test.index)
        return fit_predict_svr(train, test, seed)

    result = cross_validate(wine, fit_predict, n_folds=3, group_duplicates=True)
    assert sorted(np.concatenate(seen)) == list(wine.index), "some wine was predicted twice or never"
    assert len(result["per_fold"]) == 3 and result["protocol"]["group_duplicates"] is True
    assert result["pooled"]["mad"] < np.abs(wine[TARGET] - wine[TARGET].mean()).mean() - 0.1
