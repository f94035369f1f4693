"""mlops_tutorial.core.config: every bad hyperparameter, unknown key or rule that joins two fields is refused with the
source, the key, the value and the rule, before any training; a validated config cannot be changed."""
import re

import pytest

from mlops_tutorial.core.config import ConfigError, TrainConfig, load_params, read_yaml, validated
from project import ROOT



def validated_train(values: dict) -> TrainConfig:
    "A `TrainConfig` validated from `values` as the commands do, errors naming the source 'test'."
    return validated(TrainConfig, values, "test")


@pytest.mark.parametrize("field, value", [
    ("learning_rate", -0.01), ("learning_rate", 0.0), ("learning_rate", float("nan")), ("batch_size", 0),
    ("batch_size", 2.5), ("precision", "16"), ("precision", "fp8"), ("max_epochs", 0), ("dropout", 1.0),
    ("validation_folds", 1), ("validation_folds", 0.2), ("num_nodes", 0), ("group_duplicates", "false"),
    ("ensemble_size", 0), ("objective", "ordinal"), ("devices", 0),
])
def test_bad_hyperparameter_is_refused_with_its_name(field, value):
    with pytest.raises(ConfigError, match=f"^test: {field}: {re.escape(repr(value))} is not allowed"):
        validated_train({field: value})


def test_max_epochs_below_min_epochs_is_refused():
    with pytest.raises(ConfigError, match=r"max_epochs: 2 is below min_epochs \(5\)"):
        validated_train({"min_epochs": 5, "max_epochs": 2})


def test_early_stopping_needs_a_validation_split():
    with pytest.raises(ConfigError, match="patience: 5 needs a validation split"):
        validated_train({"patience": 5, "validation_folds": 0})


def test_unknown_params_key_is_refused_by_name():
    with pytest.raises(ConfigError, match="epochs: unknown key"):
        validated_train({"epochs": 3})


def test_a_config_cannot_be_changed_after_it_was_validated():
    config = TrainConfig(max_epochs=2)
    with pytest.raises(ValueError, match="frozen"):
        config.batch_size = 0
    assert config.batch_size == TrainConfig().batch_size


def test_the_projects_params_file_holds_every_training_hyperparameter():
    params = read_yaml(ROOT / "params.yaml")
    assert set(params["train"]) == set(TrainConfig.model_fields), "a hyperparameter DVC cannot see"
    assert load_params(ROOT / "params.yaml").train == TrainConfig.model_validate(params["train"])
