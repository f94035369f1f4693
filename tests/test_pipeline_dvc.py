"""The project's DVC pipeline in scratch copies of the working tree (uncommitted edits included): it runs end to end,
a second repro runs nothing, a parameter change re-runs only the stages that read it, two fresh repros in two folders
write the same bytes, the featurized tables are those of the committed dvc.lock, push -> wipe -> pull restores every
output byte for byte, and a damaged cache file is reported and never used. One `dvc repro` per session (short
training, small cross-validation; tests/dvc_tree.py); each test works in its own copy of its result."""
import json
import math
import shutil
import subprocess

import pytest
from dvc.repo import Repo

from dvc_tree import (BIN, REPOSITORY, SHORTENED, cached_outputs, changed_dependencies, copy_tree, copy_working_tree,
                      dvc_environment,
                      locked_outputs, md5, read_yaml, repro, reproduced_tree, set_params, status,
                      subprocess_environment)
from mlops_tutorial.lessons.dvc_scores import check_cache

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600),  # the first test of a session waits for the one repro
              pytest.mark.filterwarnings("ignore:_NoneStep.value:DeprecationWarning")]  # DVC's use of pygtrie
STAGES = list(read_yaml(REPOSITORY / "dvc.yaml")["stages"])
PATHS = read_yaml(REPOSITORY / "params.yaml")["paths"]


@pytest.fixture(name="pipeline")
def reproduced(tmp_path_factory, red_wine_file):
    "The session's reproduced copy of the working tree (`root`, the stages that `ran`, the `committed` dvc.lock)."
    return reproduced_tree(tmp_path_factory, red_wine_file.parent)


@pytest.fixture(name="tree")
def scratch_tree(pipeline, tmp_path):
    "This test's own copy of the reproduced tree: outputs, DVC cache and dvc.lock, every stage up to date."
    return copy_tree(pipeline.root, tmp_path / "tree")


def output_files(root) -> dict:
    "Output path -> md5 of the file on disk, for every output in dvc.lock."
    return {path: md5(root / path) for path in locked_outputs(root)}


def numbers(metrics) -> list:
    "Every number in a (nested) metrics mapping."
    if isinstance(metrics, dict):
        return [number for value in metrics.values() for number in numbers(value)]
    return [metrics] if isinstance(metrics, (int, float)) and not isinstance(metrics, bool) else []


def stages_reading(sections: set) -> list:
    "The stages of dvc.yaml that read one of `sections` of params.yaml, or an output of such a stage."
    stages, found, produced = read_yaml(REPOSITORY / "dvc.yaml")["stages"], [], set()
    for name, stage in stages.items():  # dvc.yaml lists a stage after the stages it reads from
        sections_read = {entry for entry in stage.get("params", []) if isinstance(entry, str)}  # of params.yaml
        if sections_read & sections or set(stage.get("deps", [])) & produced:
            found.append(name)
            produced |= {next(iter(out)) if isinstance(out, dict) else out
                         for kind in ("outs", "metrics", "plots") for out in stage.get(kind, [])}
    return found


def lock_inputs(entry: dict) -> tuple:
    "What a dvc.lock entry records a stage read: its command, its deps' hashes and its parameters."
    return entry.get("cmd"), {dep["path"]: dep.get("md5") for dep in entry.get("deps", [])}, entry.get("params")


def lock_outputs(entry: dict) -> dict:
    "Output path -> md5, for one dvc.lock entry."
    return {out["path"]: out["md5"] for out in entry.get("outs", [])}


SHORTENED_STAGES = stages_reading(set(SHORTENED))  # the stages the short training and cross-validation change


def make_pipeline(root) -> subprocess.CompletedProcess:
    "`make pipeline` in `root`, with this environment (never reinstalling it)."
    return subprocess.run(["make", "--no-print-directory", "-o", "install", "pipeline", f"VENV={BIN.parent}"],
                          cwd=root, env=subprocess_environment(root), capture_output=True, text=True, check=False,
                          timeout=300)


def push_to_local_remote(root, remote) -> int:
    "Make `remote` (a folder) the default DVC remote of `root` and push the cache there; return the files pushed."
    subprocess.run([BIN / "dvc", "remote", "add", "--local", "--default", "scratch", remote], cwd=root,
                   env=subprocess_environment(root), check=True, capture_output=True, timeout=120)
    with dvc_environment(root), Repo(root) as repo:
        return repo.push()


def pull(root) -> dict:
    "`dvc pull` in `root`: what it fetched and checked out."
    with dvc_environment(root), Repo(root) as repo:
        return repo.pull()


def test_every_stage_runs_once_and_a_second_repro_runs_none(pipeline, tree):
    assert sorted(pipeline.ran) == sorted(STAGES)
    assert all((tree / path).is_file() for path in locked_outputs(tree))
    for name in ("test_metrics", "train_metrics", "evaluation"):
        fresh, committed = (json.loads((root / PATHS[name]).read_text()) for root in (tree, REPOSITORY))
        assert fresh.keys() == committed.keys(), f"{PATHS[name]} has the committed report's keys"
        assert all(math.isfinite(value) for value in numbers(fresh)), f"{PATHS[name]}: every number is finite"
    assert not status(tree)
    again = repro(tree)
    assert again.reproduced == [] and again.ran == []


def test_a_parameter_change_reruns_only_the_stages_that_read_it(tree):
    before = output_files(tree)
    seed = read_yaml(tree / "params.yaml")["featurize"]["seed"]
    set_params(tree, "featurize", {"seed": seed + 1})
    assert set(status(tree)) == {"featurize"}
    assert repro(tree, "featurize").ran == ["featurize"], "fetch and validate do not read featurize:"
    assert {name: changed_dependencies(entries) for name, entries in status(tree).items()} == {
        "train": {PATHS["train_table"]: "modified"}, "holdout": {PATHS["test_table"]: "modified"}}, \
        "the new tables make train and holdout out of date; evaluate reads the clean data, not the tables"
    set_params(tree, "featurize", {"seed": seed})
    restored = repro(tree, "featurize")
    assert restored.reproduced == ["featurize"] and restored.ran == [], \
        "the run cache brings back the first tables without running the command"
    assert output_files(tree) == before and not status(tree)


@pytest.mark.parametrize("stage", STAGES)
def test_a_second_fresh_repro_elsewhere_gives_the_same_bytes(pipeline, stage):
    """Two copies in two folders, reproduced at the same time by two processes: each stage read the same inputs and
    must have written the same bytes (no path, time or thread count in any output)."""
    first, second = (read_yaml(root / "dvc.lock")["stages"][stage] for root in (pipeline.root, pipeline.twin))
    assert lock_inputs(first) == lock_inputs(second)
    assert lock_outputs(first) == lock_outputs(second), f"{stage} must be deterministic"
    assert {path: md5(pipeline.twin / path) for path in lock_outputs(second)} == lock_outputs(second)


def test_stages_with_the_committed_inputs_give_the_committed_bytes(pipeline):
    """The stages the copy does not shorten (fetch, validate, featurize) see the code, data and parameters that the
    working tree's dvc.lock records, so a fresh repro must write the bytes it records, the featurized tables included
    (the SHORTENED_STAGES are compared between two fresh repros above instead)."""
    fresh, committed = read_yaml(pipeline.root / "dvc.lock")["stages"], pipeline.committed["stages"]
    unchanged = [name for name in STAGES if name not in SHORTENED_STAGES]
    stale = [name for name in unchanged if lock_inputs(fresh[name]) != lock_inputs(committed.get(name, {}))]
    assert not stale, f"dvc.lock is not current for {stale}: run `make pipeline` and commit dvc.lock"
    for name in unchanged:
        assert lock_outputs(fresh[name]) == lock_outputs(committed[name]), f"{name} wrote other bytes than dvc.lock's"


def test_a_fresh_clone_restores_the_committed_model_instead_of_training(red_wine_file, tmp_path):
    """The README's first command on a fresh clone: `make pipeline` pulls the checkpoint that dvc.lock records from
    the repository's own DVC remote (dvc-store/), so it never trains (training rounds differently on other CPUs)
    and leaves dvc.lock, the checkpoint and reports/ as committed: the README's second command then passes."""
    root = copy_working_tree(tmp_path / "clone")
    committed = {path: md5(root / path) for path in ["dvc.lock", *(f"reports/{name.name}" for name in
                                                                   (root / "reports").iterdir())]}
    environment = subprocess_environment(root)
    environment["WINE_QUALITY_MIRROR"] = environment.get("WINE_QUALITY_MIRROR") or str(red_wine_file.parent)
    made = subprocess.run(["make", "--no-print-directory", "-o", "install", "pipeline", f"VENV={BIN.parent}"],
                          cwd=root, env=environment, capture_output=True, text=True, check=False, timeout=300)
    assert made.returncode == 0, made.stdout[-2000:] + made.stderr[-2000:]
    ran = [line for line in made.stdout.splitlines() if line.startswith("Running stage")]
    assert "Running stage 'train':" not in ran, (
        f"make pipeline trained instead of restoring the committed model (ran {ran}): run `make retrain` and commit "
        "dvc.lock, reports/ and dvc-store/")
    assert md5(root / PATHS["checkpoint"]) == locked_outputs(root)[PATHS["checkpoint"]]
    assert {path: md5(root / path) for path in committed} == committed


def test_push_wipe_pull_is_byte_identical(tree, tmp_path):
    cached = cached_outputs(tree)
    before = {path: md5(tree / path) for path in cached}
    assert before == {path: locked_outputs(tree)[path] for path in cached}
    assert push_to_local_remote(tree, tmp_path / "remote") == len(cached)
    shutil.rmtree(tree / ".dvc/cache")
    for path in cached:
        (tree / path).unlink()
    assert sorted(pull(tree)["added"]) == cached
    assert {path: md5(tree / path) for path in cached} == before
    assert not status(tree)


def test_a_damaged_cache_file_is_reported_and_never_used(tree, tmp_path):
    push_to_local_remote(tree, tmp_path / "remote")
    checkpoint = tree / PATHS["checkpoint"]
    good = locked_outputs(tree)[PATHS["checkpoint"]]
    cached = tree / ".dvc/cache/files/md5" / good[:2] / good[2:]
    mode = cached.stat().st_mode
    cached.chmod(0o644)
    content = bytearray(cached.read_bytes())
    content[len(content) // 2] ^= 0xFF
    cached.write_bytes(bytes(content))
    cached.chmod(mode)  # read-only again: DVC 3 trusts such a file without hashing it
    checkpoint.unlink()

    refused = make_pipeline(tree)
    assert refused.returncode != 0, refused.stdout + refused.stderr
    assert f"corrupted DVC cache file: .dvc/cache/files/md5/{good[:2]}" in refused.stderr
    assert not checkpoint.exists(), "the damaged checkpoint must not be restored"

    assert check_cache(tree / ".dvc/cache", remove=True) == [cached]
    pull(tree)
    assert md5(checkpoint) == good
    written = {path: (tree / path).stat().st_mtime_ns for path in locked_outputs(tree)}
    rerun = make_pipeline(tree)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert {path: (tree / path).stat().st_mtime_ns for path in locked_outputs(tree)} == written, "no stage ran"
    assert not status(tree)
