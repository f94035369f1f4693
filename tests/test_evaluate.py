"""`python -m mlops_tutorial.evaluate`: the JSON it writes has both protocols, three models and five metrics, and
grouped folds never split a duplicated wine (a short run: few epochs, few trees)."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mlops_tutorial.data import duplicate_groups, fold_indices, read_wine_csv
from mlops_tutorial.evaluate import cross_validated_predictions, fit_predict_svr

REPO = Path(__file__).resolve().parents[1]
METRIC_NAMES = {"mad", "acc_t025", "acc_t05", "acc_t1", "kappa"}


@pytest.mark.slow
def test_command_writes_both_protocols(red_wine_file, tmp_path):
    out = tmp_path / "reports" / "evaluation.json"
    result = subprocess.run([sys.executable, "-m", "mlops_tutorial.evaluate", "--data", str(red_wine_file),
                             "--folds", "3", "--max-epochs", "5", "--ensemble-size", "1", "--trees", "10",
                             "--out", str(out)], cwd=REPO, capture_output=True, text=True, timeout=600, check=False,
                            env=os.environ | {"PYTHONWARNINGS": "ignore"})
    assert result.returncode == 0, result.stderr
    results = json.loads(out.read_text(encoding="utf-8"))
    assert set(results) == {"all_rows", "grouped"}
    for protocol, models in results.items():
        assert set(models) == {"lightning", "svr", "random_forest"}, protocol
        for name, metrics in models.items():
            assert set(metrics) == METRIC_NAMES, (protocol, name)
            assert 0 <= metrics["acc_t025"] <= metrics["acc_t05"] <= metrics["acc_t1"] <= 1, (protocol, name)
    assert "Cortez 2009 SVM" in result.stdout and str(out) in result.stdout


def test_bad_override_is_refused(tmp_path):
    result = subprocess.run([sys.executable, "-m", "mlops_tutorial.evaluate", "--max-epochs", "0",
                             "--out", str(tmp_path / "e.json")], cwd=REPO, capture_output=True, text=True,
                            timeout=120, check=False)
    assert result.returncode == 2 and "TrainConfig.max_epochs" in result.stderr
    assert not (tmp_path / "e.json").exists()


def test_out_of_fold_predictions_cover_every_row_once(red_wine_file):
    wine = read_wine_csv(red_wine_file)
    predictions = cross_validated_predictions(wine, fit_predict_svr, n_folds=3, group_duplicates=True)
    assert predictions.shape == (len(wine),) and not np.isnan(predictions).any()
    groups = duplicate_groups(wine)
    for train, test in fold_indices(wine, n_folds=3, group_duplicates=True):
        assert not set(groups.iloc[train]) & set(groups.iloc[test])
