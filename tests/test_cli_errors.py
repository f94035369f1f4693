"""Bad input to every job of the console script `mlops-tutorial` (mlops_tutorial.core.cli.main), in-process: one line
`error: <file or flag>: …`, exit code 2 (see nbs/94_cli.ipynb), no traceback, and nothing written where the outputs
would go."""
from pathlib import Path

import numpy as np
import pytest

from mlops_tutorial.core import data
from mlops_tutorial.core import evaluate
from mlops_tutorial.core import features
from mlops_tutorial.core import holdout
from mlops_tutorial.lessons import clearml_pipeline as pipeline
from mlops_tutorial.lessons import dvc_scores as scores
from mlops_tutorial.lessons import clearml_tracking as tracking
from mlops_tutorial.core import train
from mlops_tutorial.core import cli
from mlops_tutorial.core.data import read_wine_csv
from project import assert_refused

GOOD_PARAMS = "featurize:\n  n_components: 2\ntrain:\n  max_epochs: 2\n  ensemble_size: 1\n"


@pytest.fixture(scope="module")
def inputs(tmp_path_factory, red_sample_file) -> Path:
    "A folder of good and bad inputs, built once: tables, params files, a trained checkpoint."
    folder = tmp_path_factory.mktemp("inputs")
    wine = read_wine_csv(red_sample_file)
    tables = {"good": wine, "no_quality": wine.drop(columns="quality"),
              "nan": wine.assign(alcohol=wine.alcohol.where(wine.index != 3)),
              "inf": wine.assign(alcohol=wine.alcohol.where(wine.index != 4, np.inf)),
              "quality_11": wine.assign(quality=wine.quality.where(wine.index != 5, 11)),
              "half_grade": wine.assign(quality=wine.quality.astype(float).where(wine.index != 6, 5.5)),
              "text": wine.assign(grape="touriga")}
    for name, table in tables.items():
        table.to_csv(folder / f"{name}.csv", index=False)
        if name != "good":  # the same defect in a featurized table (an extra feature column: not the raw layout)
            table.assign(pc1=0.5).to_csv(folder / f"featurized_{name}.csv", index=False)
    (folder / "not_a_table.csv").write_bytes(b"\xff\xfe\x00garbage")
    (folder / "empty.csv").write_bytes(b"")
    (folder / "ph_15.csv").write_text(red_sample_file.read_text().replace(";3.51;", ";15.2;", 1))
    params = {"good": GOOD_PARAMS, "malformed": "train:\n  seed: 0\n  - 1\n", "list": "- train\n",
              "unknown_key": "train:\n  learnig_rate: 0.1\n", "string_int": "featurize:\n  n_components: '4'\n",
              "one_fold": "featurize:\n  holdout_folds: 1\n", "string_bool": "featurize:\n  group_duplicates: 'false'\n",
              "wrong_type": "train:\n  max_epochs: ten\n", "negative_lr": "train:\n  learning_rate: -1\n",
              "evaluate_one_fold": "evaluate:\n  folds: 1\n", "evaluate_unknown": "evaluate:\n  repeats: 20\n",
              "no_paths": GOOD_PARAMS, "bad_metrics": "paths: PATHS\n"}
    for name, text in params.items():
        (folder / f"{name}.yaml").write_text(text)
    (folder / "model.txt").write_text("not a checkpoint")
    assert train.main(["--data", str(folder / "good.csv"), "--params", str(folder / "good.yaml"),
                       "--checkpoint", str(folder / "model.ckpt"), "--metrics", str(folder / "train.json")]) is None
    (folder / "metrics_text.json").write_text('{"mad": "low"}')
    return folder


# The console command that runs each module's job: data and features take their own subcommand (fetch, validate,
# featurize) as the first argument, which is also the console script's.
CONSOLE_PREFIX = {data: [], features: [], train: ["train"], holdout: ["holdout"], evaluate: ["evaluate"],
                  scores: ["scores"], tracking: ["tracking"], pipeline: ["pipeline"]}


def case(command, argv: str, message: str, env: dict | None = None):
    "One bad input: the module whose `main` runs, its arguments (`{in}` = the inputs folder, `{out}` = outputs)."
    return pytest.param(command, argv, message, env or {}, id=f"{command.__name__.rsplit('.', 1)[-1]}: {argv[:60]}")


TRAIN_OUT = "--checkpoint {out}/m.ckpt --metrics {out}/m.json"
FEATURIZE = "featurize --data {in}/good.csv --train {out}/train.csv --test {out}/test.csv --params"
HOLDOUT = "--checkpoint {in}/model.ckpt --data {in}/good.csv --metrics {out}/t.json --plot {out}/rec.csv"
CASES = [
    case(data, "validate {in}/missing.csv", "missing.csv: no such file"),
    case(data, "validate {in}", "is a directory"),
    case(data, "validate {in}/ph_15.csv", "column 'ph'"),
    case(data, "fetch --colour purple", "argument --colour: invalid choice"),
    case(data, "validate {in}/missing.csv --out {out}/clean.csv", "missing.csv: no such file"),
    case(data, "validate {in} --out {out}/clean.csv", "is a directory, not a file"),
    case(data, "validate {in}/ph_15.csv --out {out}/clean.csv", "column 'ph'"),
    case(data, "validate {in}/good.csv --out {in}/good.csv/clean.csv", "cannot be written"),
    case(data, "validate {in}/good.csv {in}/good.csv --out {out}/clean.csv", "--out: give one wine file"),
    case(features, FEATURIZE + " {in}/missing.yaml", "missing.yaml: no such file"),
    case(features, FEATURIZE + " {in}/malformed.yaml", "malformed YAML at line 3"),
    case(features, FEATURIZE + " {in}/list.yaml", "must be a mapping of sections"),
    case(features, FEATURIZE + " {in}/unknown_key.yaml", "train.learnig_rate: unknown key"),
    case(features, FEATURIZE + " {in}/string_int.yaml", "featurize.n_components: '4' is not allowed"),
    case(features, FEATURIZE + " {in}/one_fold.yaml", "featurize.holdout_folds: 1 is not allowed"),
    case(features, FEATURIZE + " {in}/string_bool.yaml", "featurize.group_duplicates: 'false' is not allowed"),
    case(features, "featurize --data {in}/no_quality.csv --train {out}/a.csv --test {out}/b.csv --params {in}/good.yaml",
         "missing column(s) 'quality'"),
    case(features, "featurize --data {in}/nan.csv --train {out}/a.csv --test {out}/b.csv --params {in}/good.yaml",
         "column 'alcohol'"),
    case(features, "featurize --data {in}/inf.csv --train {out}/a.csv --test {out}/b.csv --params {in}/good.yaml",
         "finite number"),
    case(features, "featurize --data {in}/quality_11.csv --train {out}/a.csv --test {out}/b.csv --params "
         "{in}/good.yaml", "column 'quality'"),
    case(train, "--params {in}/missing.yaml " + TRAIN_OUT, "missing.yaml: no such file"),
    case(train, "--params {in} " + TRAIN_OUT, "is a directory, not a params file"),
    case(train, "--params {in}/malformed.yaml " + TRAIN_OUT, "malformed YAML"),
    case(train, "--params {in}/unknown_key.yaml " + TRAIN_OUT, "train.learnig_rate: unknown key"),
    case(train, "--params {in}/wrong_type.yaml " + TRAIN_OUT, "train.max_epochs: 'ten' is not allowed"),
    case(train, "--params {in}/negative_lr.yaml " + TRAIN_OUT, "train.learning_rate: -1 is not allowed"),
    case(train, "--learning-rate -0.5 " + TRAIN_OUT, "--learning-rate: learning_rate: -0.5 is not allowed"),
    case(train, "--min-epochs 9 --max-epochs 3 " + TRAIN_OUT, "max_epochs: 3 is below min_epochs (9)"),
    case(train, "--precision 16 " + TRAIN_OUT, "argument --precision: invalid choice"),
    case(train, "--threads 0 " + TRAIN_OUT, "argument --threads: invalid choice"),
    case(train, "--strategy ddp_spawn " + TRAIN_OUT, "use --strategy ddp"),
    case(train, "--resume " + TRAIN_OUT, "--resume: needs --checkpoint-dir holding a last.ckpt"),
    case(train, "--resume --checkpoint-dir {out}/epochs " + TRAIN_OUT, "--resume: needs --checkpoint-dir"),
    case(train, "--data {in}/missing.csv " + TRAIN_OUT, "missing.csv: no such file"),
    case(train, "--data {in}/inf.csv " + TRAIN_OUT, "column 'alcohol': 1 value(s) fail finite number"),
    case(train, "--data {in}/featurized_nan.csv " + TRAIN_OUT, "not finite"),
    case(train, "--data {in}/featurized_inf.csv " + TRAIN_OUT, "not finite"),
    case(train, "--data {in}/featurized_quality_11.csv " + TRAIN_OUT, "quality must be a whole grade from 0 to 10"),
    case(train, "--data {in}/featurized_half_grade.csv " + TRAIN_OUT, "quality must be a whole grade from 0 to 10"),
    case(train, "--data {in}/featurized_text.csv " + TRAIN_OUT, "'grape' hold text"),
    case(train, "--data {in}/featurized_no_quality.csv " + TRAIN_OUT, "needs a 'quality' column"),
    case(train, "--data {in}/not_a_table.csv " + TRAIN_OUT, "not_a_table.csv: cannot read a CSV table"),
    case(train, "--data {in}/empty.csv " + TRAIN_OUT, "empty.csv: is empty (0 bytes)"),
    case(train, "--data {in}/good.csv --checkpoint {in} --metrics {out}/m.json", "is a directory; give a file name"),
    case(train, "--data {in}/good.csv --checkpoint {out}/m.ckpt --metrics {in}/good.csv/m.json", "cannot be written"),
    case(train, "--bogus " + TRAIN_OUT, "unrecognized arguments: --bogus"),
    case(holdout, HOLDOUT.replace("{in}/model.ckpt", "{in}/missing.ckpt"), "missing.ckpt: no such file"),
    case(holdout, HOLDOUT.replace("{in}/model.ckpt", "{in}/model.txt"), "not a LitWineModel checkpoint"),
    case(holdout, HOLDOUT.replace("{in}/good.csv", "{in}/featurized_nan.csv"), "not finite"),
    case(holdout, HOLDOUT.replace("{in}/good.csv", "{in}/nan.csv"), "fail not_nullable"),
    case(holdout, HOLDOUT.replace("{in}/good.csv", "{in}/empty.csv"), "empty.csv: is empty (0 bytes)"),
    case(holdout, HOLDOUT.replace("{out}/t.json", "{in}"), "is a directory; give a file name"),
    case(evaluate, "--params {in}/evaluate_one_fold.yaml --out {out}/e.json", "evaluate.folds: 1 is not allowed"),
    case(evaluate, "--params {in}/evaluate_unknown.yaml --out {out}/e.json", "evaluate.repeats: unknown key"),
    case(evaluate, "--params {in}/good.yaml --data {in}/missing.csv --out {out}/e.json", "no such file"),
    case(evaluate, "--params {in}/good.yaml --max-epochs 0 --out {out}/e.json", "max_epochs: 0 is not allowed"),
    case(evaluate, "--params {in}/good.yaml --out {in}", "is a directory; give a file name"),
    case(scores, "report --params {in}/missing.yaml", "missing.yaml: no such file"),
    case(scores, "report --params {in}/no_paths.yaml", "has no paths: section"),
    case(scores, "check-cache {in}/no/such/cache", "no such DVC cache folder"),
    case(tracking, "show {in}/not-a-session", "not-a-session"),
    case(tracking, "train --data {in}/good.csv " + TRAIN_OUT, "$MLOPS_TUTORIAL_CLEARML: 'online' is not allowed",
         {"MLOPS_TUTORIAL_CLEARML": "online"}),
    case(tracking, "train --data {in}/featurized_nan.csv " + TRAIN_OUT, "not finite", {"MLOPS_TUTORIAL_CLEARML": "offline"}),
    case(pipeline, "run --params {in}/missing.yaml --model-dir {out}/model", "missing.yaml: no such file"),
    case(pipeline, "run --folds 1 --model-dir {out}/model", "argument --folds: invalid choice"),
]


@pytest.mark.parametrize("command, argv, message, env", CASES)
def test_bad_input_is_one_line_and_exit_code_2(run, inputs, tmp_path, monkeypatch, command, argv, message, env):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("CLEARML_CACHE_DIR", str(tmp_path / "clearml"))
    out = tmp_path / "out"
    arguments = argv.replace("{in}", str(inputs)).replace("{out}", str(out)).split()
    result = run(cli.main, [*CONSOLE_PREFIX[command], *arguments])
    assert_refused(result.code, result.stderr, message)
    assert not out.exists() or not any(path.is_file() for path in out.rglob("*")), "something was written"
    assert not (tmp_path / "clearml").exists(), "a ClearML session was started for input that was refused"


def test_the_battery_is_large_enough():
    assert len(CASES) >= 40 and len({command for command, *_ in (case.values for case in CASES)}) >= 8
