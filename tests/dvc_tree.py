"""Scratch copies of the working tree for the DVC tests (test_dvc_graph.py, test_pipeline_dvc.py).

A copy holds what `git status` would commit: the tracked files and the untracked ones git does not ignore, as they are
on disk now (uncommitted edits included), plus a fresh `git init` for DVC. `reproduced_tree` runs `dvc repro` once per
pytest run in such a copy, with a short training (and, at the same time, in a twin copy, to compare their bytes), and
every test copies that tree again, so the tests share one repro yet depend neither on each other nor on their order.
Under pytest-xdist the first worker to ask builds it and the others wait and read its record (xdist's recipe "Making
session-scoped fixtures execute only once": a file lock in the folder the workers share), so the DVC tests may run in
any worker. DVC runs in-process (`dvc.repo.Repo`); its answers are read from its return values, never from its console
text, and the stages whose commands ran from the `$DVC_STAGE` that DVC sets for a stage's command.
"""
import hashlib
import json
import os
import shutil
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from filelock import FileLock

REPOSITORY = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
SHORT_TRAINING = {"max_epochs": 3, "min_epochs": 1, "ensemble_size": 1}  # lowered train: keys (where they exist)
SHORT_EVALUATION = {"folds": 2, "trees": 10}  # lowered evaluate: keys (where they exist)
SHORTENED = {"train": SHORT_TRAINING, "evaluate": SHORT_EVALUATION}  # the params.yaml sections reproduced_tree changes
STAGE_LOG = "MLOPS_TUTORIAL_STAGE_LOG"  # where the `mlops-tutorial` of stage_recorder() notes the stages it runs for
_SESSION = {}  # this process's record of the run's one reproduced tree, and the mirror


def working_tree_files(root: Path = REPOSITORY) -> list:
    "Relative paths of the files `git status` would commit: tracked and untracked-not-ignored ones that exist."
    if shutil.which("git") is None:
        pytest.skip("git is needed to list the working tree (git ls-files); install git")
    listing = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=root,
                             capture_output=True, check=True, timeout=60).stdout.decode()
    return sorted(Path(name) for name in set(listing.split("\0")) if name and (root / name).is_file())


def copy_working_tree(destination: Path) -> Path:
    "Copy the working tree's files to `destination`, a new git repository; return it."
    for relative in working_tree_files():
        (destination / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPOSITORY / relative, destination / relative)
    subprocess.run(["git", "init", "--quiet", destination], check=True, timeout=60)
    return destination


def copy_tree(source: Path, destination: Path) -> Path:
    "A copy of a scratch tree (DVC cache, outputs and dvc.lock included); return it."
    shutil.copytree(source, destination, symlinks=True)
    return destination


def read_yaml(path: Path) -> dict:
    "A YAML file as a dict."
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def set_params(root: Path, section: str, values: dict, only_existing: bool = False) -> None:
    "Set keys of one section of `root`'s params.yaml (with `only_existing`, only the keys the section already has)."
    params = read_yaml(root / "params.yaml")
    params[section].update({key: value for key, value in values.items()
                            if not only_existing or key in params[section]})
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False), encoding="utf-8")


def md5(path: Path) -> str:
    "The md5 of a file's bytes (DVC's hash of a file)."
    return hashlib.md5(path.read_bytes()).hexdigest()


def locked_outputs(root: Path) -> dict:
    "Output path -> md5, for every output of every stage recorded in `root`'s dvc.lock."
    stages = read_yaml(root / "dvc.lock")["stages"]
    return {out["path"]: out["md5"] for stage in stages.values() for out in stage.get("outs", [])}


def stage_outputs(root: Path) -> dict:
    "Stage name -> the paths of its outputs, from dvc.lock."
    return {name: [out["path"] for out in stage.get("outs", [])]
            for name, stage in read_yaml(root / "dvc.lock")["stages"].items()}


def cached_outputs(root: Path) -> list:
    "The outputs DVC keeps in its cache (metrics and plots are `cache: false`, kept in git)."
    from dvc.repo import Repo  # pylint: disable=import-outside-toplevel
    with dvc_environment(root), Repo(root) as repo:
        return sorted(str(out) for stage in repo.index.stages for out in stage.outs if out.use_cache)


@contextmanager
def dvc_environment(root: Path):
    """The environment a stage needs, set around in-process DVC calls: `root` as working directory, bin/ first on
    PATH, analytics and tracking off, and a data mirror (without `$WINE_QUALITY_MIRROR`: the session's fetched file's
    folder)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)  # DVC resolves targets and names stages relative to the working directory
        recorder = stage_recorder(root.parent / f"{root.name}-bin")
        patch.setenv("PATH", os.pathsep.join([str(recorder), str(BIN), os.environ.get("PATH", "")]))
        patch.setenv("DVC_NO_ANALYTICS", "1")
        patch.setenv("DVC_SITE_CACHE_DIR", str(root.parent / f"{root.name}-dvc-site-cache"))
        patch.setenv("WINE_QUALITY_DATA_DIR", str(root / "data/raw"))
        patch.setenv("CLEARML_CACHE_DIR", str(root / ".clearml"))
        patch.delenv("MLOPS_TUTORIAL_CLEARML", raising=False)
        if not os.environ.get("WINE_QUALITY_MIRROR") and "mirror" in _SESSION:
            patch.setenv("WINE_QUALITY_MIRROR", str(_SESSION["mirror"]))  # the folder of the session's verified file
        yield


def subprocess_environment(root: Path) -> dict:
    "The same environment for a `make` or `dvc` subprocess."
    with dvc_environment(root):
        return dict(os.environ)


def stage_recorder(folder: Path) -> Path:
    """A folder holding an `mlops-tutorial` that appends `$DVC_STAGE` (the stage DVC runs a command for) to
    `$MLOPS_TUTORIAL_STAGE_LOG`, when both are set, then runs the environment's own; first on PATH, it records which
    stages' commands ran (every command of dvc.yaml is `mlops-tutorial ...`)."""
    script = folder / "mlops-tutorial"
    if not script.is_file():
        folder.mkdir(parents=True, exist_ok=True)
        script.write_text(f"""#!/bin/sh
if [ -n "${{{STAGE_LOG}:-}}" ] && [ -n "${{DVC_STAGE:-}}" ]; then echo "$DVC_STAGE" >> "${STAGE_LOG}"; fi
exec "{BIN / 'mlops-tutorial'}" "$@"
""", encoding="utf-8")
        script.chmod(0o755)
    return folder


@contextmanager
def commands_run(root: Path):
    """Collect, on leaving, the names of the stages whose commands DVC ran in `root` (a stage restored from the run
    cache runs none), in order; inside dvc_environment(root)."""
    names, log = [], root.parent / f"{root.name}-stages.log"
    log.unlink(missing_ok=True)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(STAGE_LOG, str(log))
        yield names
    names.extend(log.read_text(encoding="utf-8").split() if log.is_file() else [])


def repro(root: Path, *targets: str, **options) -> SimpleNamespace:
    "`dvc repro` in `root`: the stages DVC reproduced (`reproduced`) and those whose command ran (`ran`), in order."
    from dvc.repo import Repo  # pylint: disable=import-outside-toplevel
    with dvc_environment(root), commands_run(root) as ran, Repo(root) as repo:
        stages = repo.reproduce(list(targets) or None, **options)
    return SimpleNamespace(reproduced=[stage.addressing for stage in stages], ran=ran)


def status(root: Path) -> dict:
    "`dvc status` in `root`: stage name -> what changed (an empty dict: everything is up to date)."
    from dvc.repo import Repo  # pylint: disable=import-outside-toplevel
    with dvc_environment(root), Repo(root) as repo:
        return repo.status()


def changed_dependencies(entries: list) -> dict:
    "Path -> how it changed, for the 'changed deps' entries of one stage's status (params files map to their keys)."
    return {path: change for entry in entries if isinstance(entry, dict)
            for path, change in entry.get("changed deps", {}).items()}


def shortened_copy(destination: Path) -> Path:
    "A copy of the working tree whose params.yaml asks for a short training and a small cross-validation."
    root = copy_working_tree(destination)
    for section, values in SHORTENED.items():
        set_params(root, section, values, only_existing=True)
    return root


def reproduced_tree(tmp_path_factory, mirror: Path) -> SimpleNamespace:
    """The run's copy of the working tree after one `dvc repro` with a short training and a small cross-validation:
    `root`, the stages whose commands ran, the dvc.lock the working tree holds (`committed`) and `twin`, a second copy
    elsewhere reproduced at the same time by the `dvc repro` command (on the other core), whose outputs must be the
    same bytes. Built once per pytest run: under pytest-xdist in the folder all workers share, by the first worker to
    take the lock."""
    _SESSION["mirror"] = mirror
    if "record" not in _SESSION:
        shared = tmp_path_factory.getbasetemp()
        if os.environ.get("PYTEST_XDIST_WORKER"):  # each worker has its own basetemp; their parent is the run's
            shared = shared.parent
        with FileLock(shared / "dvc-repro.lock"):
            _SESSION["record"] = read_or_reproduce(shared / "dvc-repro")
    record = _SESSION["record"]
    if "failure" in record:
        pytest.fail(f"the run's dvc repro failed (see the first test that used it): {record['failure']}")
    return SimpleNamespace(root=Path(record["root"]), ran=record["ran"], committed=record["committed"],
                           twin=Path(record["twin"]))


def read_or_reproduce(base: Path) -> dict:
    """The record of the reproduced tree in `base` (root, ran, committed, twin), reproducing it first when `base`
    has none; a failure is recorded too (later callers fail at once instead of trying again) and raised."""
    record_file = base / "record.json"
    if record_file.is_file():
        return json.loads(record_file.read_text(encoding="utf-8"))
    if shutil.which("make") is None:
        pytest.skip("make is needed for the DVC pipeline tests (apt-get install make)")
    base.mkdir()
    try:
        record = reproduce_twins(base)
    except Exception as error:
        record_file.write_text(json.dumps({"failure": f"{type(error).__name__}: {error}"}), encoding="utf-8")
        raise
    record_file.write_text(json.dumps(record), encoding="utf-8")
    return record


def reproduce_twins(base: Path) -> dict:
    "`dvc repro` in two shortened copies in `base` at once: in-process in `pristine`, by the dvc command in `twin`."
    root, twin = shortened_copy(base / "pristine"), shortened_copy(base / "twin")
    committed = read_yaml(root / "dvc.lock") if (root / "dvc.lock").is_file() else {"stages": {}}
    with open(base / "twin.log", "w", encoding="utf-8") as log, subprocess.Popen(
            [BIN / "dvc", "repro"], cwd=twin, env=subprocess_environment(twin), stdout=log,
            stderr=subprocess.STDOUT) as twin_run:
        try:
            first = repro(root)
            if twin_run.wait(timeout=600):
                raise AssertionError(f"dvc repro in {twin} failed:\n{(base / 'twin.log').read_text()[-3000:]}")
        except BaseException:
            twin_run.kill()
            raise
    return {"root": str(root), "ran": first.ran, "committed": committed, "twin": str(twin)}
