"""The train stage's training against the floor: the same math as a plain-PyTorch loop (a benchmark, not a test).

Usage: python bench/train_floor.py [--quick] [--params params.yaml] [--data data/features/train.csv] [--repeats 1]
                                   [--threads 1] [--kernels portable|native] [--no-scaling]

In one process, on the table the train stage reads (`paths.train_table`, data/features/train.csv) and with the
`train:` section of params.yaml, it times four ways of doing the same training:
- stage: `train_model(table, config)`, the training the train stage runs (split, scaler, model, `Trainer.fit`, the
  metrics on the validation rows); what the command does besides (imports, reading the CSV, writing the checkpoint)
  is not counted;
- lightning: the `Trainer.fit` inside it (timed by a callback);
- module loop: the same LitWineModel, same seed, same WineDataModule, trained by bench/lightning_overhead.py's
  hand-written loop (the model's loss and torchmetrics updates, a validation pass per epoch, no Lightning);
- floor: the same math written here in plain PyTorch, without the project's model code: the members' weights stacked
  in (members, in, out) tensors multiplied with `torch.baddbmm`, ReLU and dropout as one mask (a unit is kept where
  its input is positive and a uniform draw is >= p, then scaled by 1/(1-p); the cheapest way found to write it; with
  nn.ReLU + nn.Dropout the same training takes about 25 % longer), the objective, AdamW with the same learning rate
  and weight decay, the same epochs and rows per step, and one validation pass per epoch (its MAD).
It prints the seconds, `stage / floor` (goal <= 2) and `lightning / module loop` (goal <= 1.3), and then stage and
floor against the number of training rows on the red, the white and both wines, each validated and featurized as
the pipeline does (mlops_tutorial.core.data, mlops_tutorial.core.features; the red table is checked against the
stage's file, and stands in for it where `dvc repro featurize` has not written it).
Every timing runs after an uncounted two-epoch warm-up of the same kind, with one torch thread and, unless
`--kernels native`, the portable CPU kernels the training commands pin
(mlops_tutorial.core.train.use_portable_cpu_kernels).
`--quick` (what CI runs: the same steps in a few seconds) trains 2 epochs after a one-epoch warm-up, on the first
quarter of the stage's table and, for the scaling table (still measured and printed), tables featurized from the first
quarter of each colour's wines: its figures weigh start-up costs, not epochs.
"""
import argparse
import logging
import os
import platform
import statistics
import time
import warnings
from pathlib import Path

import pandas as pd
import pytorch_lightning as pl
import torch
from torch import nn

from lightning_overhead import new_model, plain_loop
from mlops_tutorial.core.config import TrainConfig, load_params
from mlops_tutorial.core.data import WineDataError, fetch_wine, read_wine_csv
from mlops_tutorial.core.features import featurize
from mlops_tutorial.core.ensemble import MAX_QUALITY, median_score
from mlops_tutorial.core.model import WineDataModule, train_model
from mlops_tutorial.core.train import read_table, use_portable_cpu_kernels

QUICK = {"epochs": 2, "warm_up_epochs": 1, "fraction": 0.25}  # what --quick trains: epochs, warm-up, share of rows


class FitTimer(pl.Callback):
    "Seconds from the start to the end of `Trainer.fit`."

    def __init__(self):
        self.started = self.seconds = 0.0

    def on_fit_start(self, trainer, pl_module):
        self.started = time.perf_counter()

    def on_fit_end(self, trainer, pl_module):
        self.seconds = time.perf_counter() - self.started


def time_stage(table: pd.DataFrame, config: TrainConfig) -> dict:
    "Seconds of `train_model(table, config)` and of the `Trainer.fit` inside it."
    timer = FitTimer()
    started = time.perf_counter()
    _, metrics = train_model(table, config, callbacks=[timer])
    return {"stage": time.perf_counter() - started, "lightning": timer.seconds, "stage_mad": metrics["mad"]}


def split_data(table: pd.DataFrame, config: TrainConfig) -> WineDataModule:
    "The training and validation rows and feature statistics that `train_model` uses for `config`."
    data = WineDataModule(table, batch_size=config.batch_size, validation_folds=config.validation_folds,
                          seed=config.seed, group_duplicates=config.group_duplicates)
    data.setup("fit")
    return data


def time_module_loop(data: WineDataModule, config: TrainConfig) -> float:
    "Seconds of the hand-written loop over a fresh LitWineModel (bench/lightning_overhead.py)."
    started = time.perf_counter()
    plain_loop(new_model(data, config), data, config.max_epochs)
    return time.perf_counter() - started


def stacked_layers(n_features: int, n_outputs: int, config: TrainConfig) -> list:
    "(weight, bias) per layer, stacked over the members: (members, in, out) and (members, 1, out); nn.Linear's init."
    widths = [n_features] + [config.hidden_units] * config.hidden_layers + [n_outputs]
    layers = []
    for width_in, width_out in zip(widths, widths[1:]):
        bound = width_in ** -0.5
        weight = torch.empty(config.ensemble_size, width_in, width_out).uniform_(-bound, bound)
        bias = torch.empty(config.ensemble_size, 1, width_out).uniform_(-bound, bound)
        layers.append((weight.requires_grad_(), bias.requires_grad_()))
    return layers


def stacked_forward(layers: list, features: torch.Tensor, dropout: float, training: bool) -> torch.Tensor:
    "Every member's outputs, (members, rows, outputs): batched matrix products, ReLU and dropout between them."
    hidden = features.expand(len(layers[0][0]), *features.shape)
    for number, (weight, bias) in enumerate(layers):
        hidden = torch.baddbmm(bias, hidden, weight)
        if number < len(layers) - 1 and training and dropout:  # ReLU, then dropout, as one mask
            hidden = hidden * torch.rand_like(hidden).ge_(dropout).mul_(hidden > 0).div_(1 - dropout)
        elif number < len(layers) - 1:
            hidden = hidden.relu()
    return hidden


def objective_loss(outputs: torch.Tensor, quality: torch.Tensor, objective: str) -> torch.Tensor:
    "Cross-entropy over the grades or squared error, averaged over members and rows."
    every_quality = quality.repeat(len(outputs))
    if objective == "score_distribution":
        return nn.functional.cross_entropy(outputs.flatten(0, 1), every_quality)
    return nn.functional.mse_loss(outputs.flatten(), every_quality.float())


def floor_predictions(outputs: torch.Tensor, objective: str) -> torch.Tensor:
    "The median of the members' mean distribution, or their mean regression output."
    if objective == "score_distribution":
        return median_score(outputs.softmax(dim=-1).mean(dim=0))
    return outputs.squeeze(-1).mean(dim=0)


def floor_loop(data: WineDataModule, config: TrainConfig) -> float:
    "Train the stacked ensemble with a plain loop on `data`'s rows; return the last validation MAD (nan if none)."
    mean, std = torch.tensor(data.feature_mean), torch.tensor(data.feature_std)
    features, quality = data.datasets["train"].tensors
    features = (features - mean) / std
    validation = data.datasets.get("validation")
    torch.manual_seed(config.seed)
    n_outputs = MAX_QUALITY + 1 if config.objective == "score_distribution" else 1
    layers = stacked_layers(features.shape[1], n_outputs, config)
    optimizer = torch.optim.AdamW([tensor for layer in layers for tensor in layer], lr=config.learning_rate,
                                  weight_decay=config.weight_decay)
    mad = float("nan")
    for _ in range(config.max_epochs):
        for rows in torch.randperm(len(quality)).split(config.batch_size):
            loss = objective_loss(stacked_forward(layers, features[rows], config.dropout, True), quality[rows],
                                  config.objective)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        if validation is not None:
            with torch.no_grad():
                outputs = stacked_forward(layers, (validation.tensors[0] - mean) / std, config.dropout, False)
                mad = float((floor_predictions(outputs, config.objective) - validation.tensors[1]).abs().mean())
    return mad


def time_floor(data: WineDataModule, config: TrainConfig) -> tuple:
    "Seconds of `floor_loop` and its validation MAD."
    started = time.perf_counter()
    mad = floor_loop(data, config)
    return time.perf_counter() - started, mad


def measure(table: pd.DataFrame, config: TrainConfig, repeats: int, module_loop: bool = True,
            warm_up_epochs: int = 2) -> dict:
    "Median seconds of each way of training, after an uncounted warm-up of each (`warm_up_epochs`), `repeats` times."
    data = split_data(table, config)
    warm_up = config.replace(max_epochs=warm_up_epochs, min_epochs=min(config.min_epochs, warm_up_epochs))
    time_stage(table, warm_up)
    time_floor(data, warm_up)
    if module_loop:
        time_module_loop(data, warm_up)
    runs = []
    for _ in range(repeats):
        run = time_stage(table, config)
        if module_loop:
            run["module loop"] = time_module_loop(data, config)
        run["floor"], run["floor_mad"] = time_floor(data, config)
        runs.append(run)
    return {name: statistics.median(run[name] for run in runs) for name in runs[0]} | {
        "rows": len(data.datasets["train"])}


def first_rows(table: pd.DataFrame, fraction: float) -> pd.DataFrame:
    "The first `fraction` of `table`'s rows (all of them for 1)."
    return table if fraction >= 1 else table.head(round(len(table) * fraction))


def featurized_table(colours: tuple, params, fraction: float = 1.0) -> pd.DataFrame:
    """The featurize stage's training table for the wines of `colours` (validated, split, derived features, PCA),
    made from the first `fraction` of each colour's wines."""
    wine = pd.concat([first_rows(read_wine_csv(fetch_wine(colour)), fraction) for colour in colours],
                     ignore_index=True)
    return featurize(wine, params.featurize)[0]


def stage_table(path: Path, params) -> pd.DataFrame:
    "The train stage's table at `path`, checked against the red wines featurized here; those if `path` is missing."
    red = featurized_table(("red",), params)
    if not path.exists():
        print(f"{path} is missing (`dvc repro featurize` writes it): the red wines are featurized here instead")
        return red
    table = read_table(path)
    if table.shape != red.shape or list(table.columns) != list(red.columns):
        raise SystemExit(f"{path}: {table.shape} with other columns than the red wines featurized with "
                         f"params.yaml {red.shape}: is it up to date (`dvc repro featurize`)?")
    return table


def print_scaling(red: dict, config: TrainConfig, params, repeats: int, warm_up_epochs: int = 2,
                  fraction: float = 1.0) -> None:
    "Stage and floor seconds against training rows on the red, white and both wines (the first `fraction` of each)."
    rows = {"red": red}
    try:
        tables = {name: featurized_table(colours, params, fraction) for name, colours in
                  {"white": ("white",), "both": ("red", "white")}.items()}
    except WineDataError as error:
        print(f"\nno rows against time: the white wines are unavailable ({error})")
        return
    for name, table in tables.items():
        rows[name] = measure(table, config, repeats, module_loop=False, warm_up_epochs=warm_up_epochs)
    scaling = pd.DataFrame(rows).T[["rows", "stage", "floor"]]
    scaling["stage ms per epoch per 1000 rows"] = 1e6 * scaling["stage"] / config.max_epochs / scaling["rows"]
    scaling["floor ms per epoch per 1000 rows"] = 1e6 * scaling["floor"] / config.max_epochs / scaling["rows"]
    scaling["stage / floor"] = scaling["stage"] / scaling["floor"]
    share = "" if fraction >= 1 else f", made from the first {fraction:.0%} of the rows"
    print(f"\nrows against time ({config.max_epochs} epochs; training rows of the featurized table{share}, "
          "validation rows a fifth more):")
    print(scaling.astype({"rows": int}).to_string(float_format=lambda value: f"{value:.2f}"))


def machine() -> str:
    "The CPU's model name (Linux) or architecture, and its number of cores."
    cpuinfo = Path("/proc/cpuinfo")
    names = [line.split(":", 1)[1].strip() for line in cpuinfo.read_text(encoding="utf-8").splitlines()
             if line.startswith("model name")] if cpuinfo.exists() else []
    return f"{names[0] if names else platform.machine()}, {os.cpu_count()} cores"


def main() -> None:
    "Time the stage, Lightning, the module loop and the floor; print them, the ratios and the scaling table."
    parser = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    # argparse formats help with %: %% prints one
    parser.add_argument("--quick", action="store_true",
                        help=f"{QUICK['epochs']} epochs after a {QUICK['warm_up_epochs']}-epoch warm-up, on the first "
                        f"{round(100 * QUICK['fraction'])}%% of the rows (for the scaling table: of each colour's "
                        "wines): a few seconds (CI's run)")
    parser.add_argument("--params", type=Path, default=Path("params.yaml"), help="params.yaml (train:, featurize:)")
    parser.add_argument("--data", type=Path, help="the train stage's table (default: params.yaml's paths.train_table)")
    parser.add_argument("--repeats", type=int, default=1, help="timed runs of each kind; medians are printed")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (the train stage uses 1)")
    parser.add_argument("--kernels", choices=("portable", "native"), default="portable",
                        help="portable: the kernels the training commands pin (default); native: the CPU's best")
    parser.add_argument("--no-scaling", action="store_true", help="only the red wines: no white or both")
    args = parser.parse_args()
    if args.kernels == "portable":
        use_portable_cpu_kernels()  # before the first tensor operation, as the training commands do
    torch.set_num_threads(args.threads)
    logging.getLogger("pytorch_lightning").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", ".*does not have many workers.*|.*LeafSpec.*|.*least populated class.*")
    params = load_params(args.params)
    config = params.train.replace(max_epochs=QUICK["epochs"], min_epochs=1) if args.quick else params.train
    warm_up_epochs, fraction = (QUICK["warm_up_epochs"], QUICK["fraction"]) if args.quick else (2, 1.0)
    table = first_rows(stage_table(args.data or Path(params.paths.train_table), params), fraction)
    red = measure(table, config, args.repeats, warm_up_epochs=warm_up_epochs)
    print(f"{machine()}, torch {torch.__version__}, {args.threads} thread(s), "
          f"{args.kernels} kernels; {config.ensemble_size} members of {config.hidden_layers} x "
          f"{config.hidden_units} units, {config.max_epochs} epochs, batch size {config.batch_size}, "
          f"{red['rows']} training rows (red)")
    for name in ("stage", "lightning", "module loop", "floor"):
        print(f"{name:12s} {red[name]:7.2f} s ({1000 * red[name] / config.max_epochs:6.1f} ms per epoch)")
    print(f"validation MAD: stage {red['stage_mad']:.3f}, floor {red['floor_mad']:.3f} (other random draws)")
    if not args.no_scaling:
        print_scaling(red, config, params, args.repeats, warm_up_epochs, fraction)
    print(f"\nlightning / module loop: {red['lightning'] / red['module loop']:.2f} (goal <= 1.3)")
    print(f"stage / floor: {red['stage'] / red['floor']:.2f} (goal <= 2)")


if __name__ == "__main__":
    main()
