"""mlops_tutorial.core.model on the real red wines: determinism, resuming from the last checkpoint, tables other than the raw
wine file, feature statistics from training rows only, members of the batched ensemble that never mix.
(TrainConfig's refusals: tests/test_config.py.)"""
import numpy as np
import pandas as pd
import pytest
import torch
from pytorch_lightning.callbacks import Callback

from mlops_tutorial.core.config import TrainConfig
from mlops_tutorial.core.data import TARGET, WineDataError, read_wine_csv
from mlops_tutorial.core.metrics import METRIC_NAMES, quality_metrics
from mlops_tutorial.core.ensemble import predict_quality
from mlops_tutorial.core.model import LitWineModel, WineDataModule, train_model


pytestmark = pytest.mark.slow  # each test trains on the full red wine file


@pytest.fixture(scope="module")
def wine(red_wine_file) -> pd.DataFrame:
    "The validated red wine table."
    return read_wine_csv(red_wine_file)


@pytest.fixture(autouse=True)
def one_thread():
    "One torch thread, as the CLIs use (several threads only slow a model this small down)."
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


class EpochRecorder(Callback):
    "Records the index of every training epoch that starts."

    def __init__(self):
        self.epochs = []

    def on_train_epoch_start(self, trainer, pl_module):
        self.epochs.append(trainer.current_epoch)


def assert_valid_metrics(metrics: dict) -> None:
    "The paper's five metrics, each a fraction in its range."
    assert list(metrics) == METRIC_NAMES
    assert 0 < metrics["mad"] < 3
    assert 0 <= metrics["acc_t025"] <= metrics["acc_t05"] <= metrics["acc_t1"] <= 1
    assert -1 <= metrics["kappa"] <= 1


def test_same_seed_gives_identical_metrics_and_weights(wine):
    config = TrainConfig(seed=3, max_epochs=8, batch_size=256, ensemble_size=2)
    first, first_metrics = train_model(wine, config)
    second, second_metrics = train_model(wine, config)
    assert first_metrics == second_metrics
    for (name, weight), (_, other) in zip(first.state_dict().items(), second.state_dict().items()):
        assert torch.equal(weight, other), name
    _, other_seed_metrics = train_model(wine, config.replace(seed=4))
    assert other_seed_metrics != first_metrics


def test_resume_from_last_checkpoint(wine, tmp_path):
    config = TrainConfig(seed=1, max_epochs=3)
    train_model(wine, config, checkpoint_dir=tmp_path)
    assert (tmp_path / "last.ckpt").is_file()
    recorder = EpochRecorder()
    model, metrics = train_model(wine, config.replace(max_epochs=6), checkpoint_dir=tmp_path,
                                 resume=True, callbacks=[recorder])
    assert recorder.epochs == [3, 4, 5], "did not continue from the saved epoch"
    assert model.trainer.current_epoch == 6
    assert_valid_metrics(metrics)


def test_featurized_table_uses_every_column_except_quality(wine):
    table = wine.assign(log_sulphates=np.log(wine["sulphates"]),
                        acid_ratio=wine["fixed_acidity"] / wine["volatile_acidity"]).drop(columns=["density"])
    model, metrics = train_model(table, TrainConfig(max_epochs=5))
    assert model.hparams.feature_names == [name for name in table.columns if name != TARGET]
    assert_valid_metrics(metrics)
    assert predict_quality(model, table.drop(columns=TARGET)).shape == (len(table),)
    with pytest.raises(WineDataError, match="'acid_ratio'"):
        predict_quality(model, table.drop(columns="acid_ratio"))


def test_table_problems_name_the_column(wine):
    with pytest.raises(WineDataError, match="'quality'"):
        WineDataModule(wine.drop(columns=TARGET)).setup("fit")
    with pytest.raises(WineDataError, match="'grape'"):
        WineDataModule(wine.assign(grape="touriga")).setup("fit")


def test_scaler_is_fitted_on_training_rows_only(wine):
    data = WineDataModule(wine, validation_folds=5, seed=0)
    data.setup("fit")
    train_features = data.datasets["train"].tensors[0].numpy()
    assert np.allclose(data.feature_mean, train_features.mean(axis=0), atol=1e-4)
    assert not np.allclose(data.feature_mean, wine[data.feature_names].mean().to_numpy(), atol=1e-6)


def test_checkpoint_restores_the_same_predictions(wine, tmp_path):
    model, _ = train_model(wine, TrainConfig(max_epochs=3), checkpoint_dir=tmp_path)
    restored = LitWineModel.load_from_checkpoint(tmp_path / "last.ckpt")
    assert np.array_equal(predict_quality(model, wine), predict_quality(restored, wine))
    checkpoint = torch.load(tmp_path / "last.ckpt")  # torch's default since 2.6: weights_only=True
    assert checkpoint["hyper_parameters"]["ensemble_size"] == TrainConfig().ensemble_size
    assert checkpoint["state_dict"]["ensemble.0.weight"].shape[0] == TrainConfig().ensemble_size


def new_ensemble(wine, members: int = 4, objective: str = "score_distribution") -> tuple:
    "A freshly initialised LitWineModel of `members` members (seeded) and the training rows' features and quality."
    data = WineDataModule(wine)
    data.setup("fit")
    torch.manual_seed(0)
    model = LitWineModel(data.feature_names, data.feature_mean, data.feature_std, objective=objective,
                         ensemble_size=members)
    return model, *data.datasets["train"].tensors


def shift_member(model: LitWineModel, member: int) -> None:
    "Add noise to every weight and bias of one member, in place."
    with torch.no_grad():
        for parameter in model.ensemble.parameters():
            parameter[member] += torch.randn_like(parameter[member])


def test_changing_one_member_changes_only_its_outputs(wine):
    model, features, _ = new_ensemble(wine)
    model.eval()
    with torch.inference_mode():
        before = model(features)
        shift_member(model, 2)
        after = model(features)
    assert before.shape == (4, len(features), 11)
    assert torch.equal(before[[0, 1, 3]], after[[0, 1, 3]]), "another member's outputs changed"
    assert not torch.allclose(before[2], after[2])


@pytest.mark.parametrize("objective", ["score_distribution", "regression"])
def test_each_member_gets_only_its_own_gradient(wine, objective):
    model, features, quality = new_ensemble(wine, objective=objective)
    outputs = model.train()(features)  # one forward pass: the same dropout masks for every gradient below
    own_losses = [model.loss(outputs[member:member + 1], quality) for member in range(4)]
    loss = model.loss(outputs, quality)
    assert torch.allclose(loss, torch.stack(own_losses).mean()), "the loss is not the mean of the members' losses"
    parameters = list(model.ensemble.parameters())
    gradients = torch.autograd.grad(loss, parameters, retain_graph=True)
    for member, own_loss in enumerate(own_losses):
        others = [other for other in range(4) if other != member]
        own_gradients = torch.autograd.grad(own_loss, parameters, retain_graph=True)
        for gradient, own_gradient in zip(gradients, own_gradients):
            assert not own_gradient[others].any(), f"member {member}'s loss reaches another member"
            assert own_gradient[member].any()
            assert torch.allclose(gradient[member], own_gradient[member] / 4, atol=1e-7)


def test_training_one_member_does_not_move_the_others(wine):
    "Two ensembles that differ in member 2 only, trained alike (seeded dropout, AdamW): members 0, 1, 3 stay equal."
    trained = []
    for shifted in (False, True):
        model, features, quality = new_ensemble(wine)
        if shifted:
            shift_member(model, 2)
        optimizer = model.configure_optimizers()
        torch.manual_seed(1)
        for _ in range(5):
            loss = model.loss(model.train()(features), quality)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        trained.append([parameter.detach().clone() for parameter in model.ensemble.parameters()])
    for first, second in zip(*trained):
        assert torch.equal(first[[0, 1, 3]], second[[0, 1, 3]]), "training moved another member differently"
        assert not torch.equal(first[2], second[2])


def test_quality_metrics_follow_the_paper_definitions():
    metrics = quality_metrics([5, 6, 7, 5], [5.2, 6.6, 7.0, 4.0])
    assert metrics["mad"] == pytest.approx((0.2 + 0.6 + 0.0 + 1.0) / 4)
    assert (metrics["acc_t025"], metrics["acc_t05"], metrics["acc_t1"]) == (0.5, 0.5, 1.0)
    assert quality_metrics([5, 6, 7], [5, 6, 7])["kappa"] == 1.0
