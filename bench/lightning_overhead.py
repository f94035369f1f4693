"""What PyTorch Lightning's Trainer costs over a hand-written loop doing the same work (a benchmark, not a test).

Usage: python bench/lightning_overhead.py [--quick] [--epochs 100] [--repeats 3] [--batch-size B]
                                          [--ensemble-size K] [--threads 1] [--kernels portable|native]

Both sides train the same LitWineModel (TrainConfig's defaults unless overridden; same seed, so the same initial
weights) on the same WineDataModule (1279 training and 320 validation red wines), with the same optimizer, batch size
and number of epochs, and update and compute the same torchmetrics objects every epoch for the training and the
validation split. The plain loop calls the model's own `loss` (training and validation) and `update_metrics`; the
Trainer runs them through `training_step`/`validation_step` and logs them with
`self.log_dict(..., on_step=False, on_epoch=True)`, with no logger, checkpoint, progress bar or model summary. Both
report the same final validation MAD, which shows they did the same work. The two alternate `--repeats` times in
this process after one uncounted warm-up round; the script prints each median and, last, `ratio: X.XX`
(Lightning / plain). Both run on the portable CPU kernels that the training commands pin
(mlops_tutorial.core.train.use_portable_cpu_kernels) unless `--kernels native`. `--quick` (2 epochs, one repeat after
the warm-up round: a few seconds, most of them importing torch and Lightning) is what CI runs; its ratio is dominated
by the Trainer's fixed start-up cost, not its cost per epoch.
"""
import argparse
import logging
import statistics
import time
import warnings

import pytorch_lightning as pl
import torch

from mlops_tutorial.core.config import TrainConfig
from mlops_tutorial.core.model import LitWineModel, WineDataModule, make_trainer
from mlops_tutorial.core.train import use_portable_cpu_kernels

DEFAULTS = TrainConfig()  # pydantic keeps field defaults on instances, not as class attributes


def new_model(data: WineDataModule, config: TrainConfig) -> LitWineModel:
    "A freshly initialised model with `config`'s hyperparameters (seeded)."
    pl.seed_everything(config.seed, verbose=False)
    return LitWineModel(data.feature_names, data.feature_mean, data.feature_std, config.objective, config.prediction,
                        config.hidden_units, config.hidden_layers, config.dropout, config.learning_rate,
                        config.weight_decay, config.ensemble_size)


def epoch_metrics(model: LitWineModel, stage: str) -> dict:
    "Compute and reset the stage's metrics, as Lightning does at the end of an epoch."
    metrics = getattr(model, f"{stage}_metrics")
    values = {name: metric.compute() for name, metric in metrics.items()}
    for metric in metrics.values():
        metric.reset()
    return values


def plain_loop(model: LitWineModel, data: WineDataModule, epochs: int) -> dict:
    "Train with a hand-written loop: the same steps, metric updates and per-epoch validation as the Trainer."
    optimizer = model.configure_optimizers()
    train_loader, val_loader = data.train_dataloader(), data.val_dataloader()
    for _ in range(epochs):
        model.train()
        for features, quality in train_loader:
            outputs = model(features)
            loss = model.loss(outputs, quality)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            model.update_metrics(outputs.detach(), quality, "train")
        epoch_metrics(model, "train")
        model.eval()
        with torch.no_grad():
            for features, quality in val_loader:
                outputs = model(features)
                model.loss(outputs, quality)  # the Trainer logs val_loss, so compute it here too
                model.update_metrics(outputs, quality, "val")
        validation = epoch_metrics(model, "val")
    return {name: float(value) for name, value in validation.items()}


def lightning_fit(model: LitWineModel, data: WineDataModule, epochs: int) -> dict:
    "Train with the Trainer as `train_model` configures it (no logger, checkpoints, progress bar or summary)."
    trainer = make_trainer(TrainConfig(max_epochs=epochs), deterministic=False)
    trainer.fit(model, datamodule=data)
    return {name: float(value) for name, value in trainer.callback_metrics.items() if name.startswith("val_")}


def timed(function, *args) -> tuple:
    "Seconds `function(*args)` took, and its result."
    started = time.perf_counter()
    result = function(*args)
    return time.perf_counter() - started, result


def main() -> None:
    "Alternate the two loops, print the medians and the ratio."
    parser = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    parser.add_argument("--quick", action="store_true", help="2 epochs, one repeat: a few seconds (for CI)")
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=DEFAULTS.batch_size,
                        help=f"rows per step (default {DEFAULTS.batch_size}: one step per epoch)")
    parser.add_argument("--ensemble-size", type=int, default=DEFAULTS.ensemble_size,
                        help=f"networks in the model (default {DEFAULTS.ensemble_size})")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--kernels", choices=("portable", "native"), default="portable",
                        help="portable: the kernels the training commands pin (default); native: the CPU's best")
    args = parser.parse_args()
    if args.quick:
        args.epochs, args.repeats = 2, 1
    if args.kernels == "portable":
        use_portable_cpu_kernels()  # before the first tensor operation, as the training commands do
    torch.set_num_threads(args.threads)
    logging.getLogger("pytorch_lightning").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", ".*does not have many workers.*|.*LeafSpec.*")
    config = TrainConfig(batch_size=args.batch_size, ensemble_size=args.ensemble_size)
    data = WineDataModule(batch_size=config.batch_size, seed=config.seed)
    data.prepare_data()
    data.setup("fit")
    timings = {"plain": [], "lightning": []}
    for repeat in range(args.repeats + 1):  # the first round warms up both and is not counted
        for name, loop in (("plain", plain_loop), ("lightning", lightning_fit)):
            seconds, validation = timed(loop, new_model(data, config), data, args.epochs)
            if repeat:
                timings[name].append(seconds)
                print(f"{name:9s} run {repeat}: {seconds:6.2f} s, val_mad {validation['val_mad']:.4f}", flush=True)
    plain, lightning = statistics.median(timings["plain"]), statistics.median(timings["lightning"])
    print(f"{args.epochs} epochs, batch size {config.batch_size}, ensemble of {config.ensemble_size}, "
          f"{len(data.datasets['train'])} training rows, {args.threads} thread(s), {args.kernels} kernels")
    print(f"median plain: {plain:.2f} s ({1000 * plain / args.epochs:.1f} ms/epoch)")
    print(f"median lightning: {lightning:.2f} s ({1000 * lightning / args.epochs:.1f} ms/epoch)")
    print(f"ratio: {lightning / plain:.2f}")


if __name__ == "__main__":
    main()
