"""The scratch DVC repository of tutorials 04, 98 and 04d (`mlops_tutorial.lessons.dvc_scratch`, notebook 98):
`ScratchRepository` runs, prints and masks; `wine_pipeline` rebuilds in one call the repository tutorial 04 builds
cell by cell, with the same DVC commands, so that 04d can start from it: up to date, committed, and pushed."""
import ast
import os
from pathlib import Path

import nbformat
import pytest
import yaml

from mlops_tutorial.lessons.dvc_scratch import (EVALUATE_SCRIPT, FEATURIZE_PARAMS, FOREST_PARAMS, REC_PLOT,
                                                TRAIN_SCRIPT, ScratchRepository, md5, wine_pipeline)
from project import ROOT


@pytest.fixture
def repository():
    "An empty scratch repository, removed afterwards."
    scratch = ScratchRepository("test-scratch-", secrets_to_mask=("hunter2",))
    yield scratch
    scratch.remove()


def test_commands_print_themselves_and_their_output_with_secrets_masked(repository, capsys):
    output = repository.shell("echo the key is hunter2")
    printed = capsys.readouterr().out
    assert output == "the key is SECRET"
    assert printed == "$ echo the key is SECRET\nthe key is SECRET\n"


def test_a_failing_command_raises_with_its_exit_code_and_masked_output(repository):
    with pytest.raises(RuntimeError, match=r"`echo SECRET >&2; exit 3` exited with code 3: SECRET") as raised:
        repository.shell("echo hunter2 >&2; exit 3")
    assert "hunter2" not in str(raised.value)
    assert repository.shell("exit 4", expect_failure=True) == ""
    with pytest.raises(RuntimeError, match="exited with code 0"):
        repository.shell("true", expect_failure=True)


def test_inside_gives_the_repository_its_environment_and_restores_the_callers(repository):
    before_cwd, before_environment = Path.cwd(), dict(os.environ)
    with repository.inside() as folder:
        assert Path.cwd() == folder == repository.path
        assert os.environ["DVC_NO_ANALYTICS"] == "1" and os.environ["GIT_AUTHOR_NAME"] == "Tutorial"
        os.environ["SET_INSIDE"] = "1"
    assert Path.cwd() == before_cwd and dict(os.environ) == before_environment


def test_quiet_prints_nothing_and_still_returns_the_output(capsys):
    scratch = ScratchRepository("test-scratch-", quiet=True)
    try:
        assert scratch.shell("echo hello") == "hello"
        scratch.shell("git init --quiet")
        scratch.dvc("init")
        assert capsys.readouterr().out == ""
    finally:
        scratch.remove()


@pytest.mark.slow
def test_wine_pipeline_is_the_repository_of_tutorial_04_up_to_date_committed_and_pushed(red_wine_file, tmp_path):
    remote = tmp_path / "remote"
    scratch = wine_pipeline(red_wine_file, remote)
    try:
        assert scratch.status() == {}, "every stage is up to date"
        assert scratch.status(cloud=True) == {}, "the remote holds every cached file"
        assert scratch.shell("git status --porcelain") == "", "everything is committed"
        pipeline = yaml.safe_load((scratch.path / "dvc.yaml").read_text())["stages"]
        assert list(pipeline) == ["featurize", "train", "evaluate"]
        assert pipeline["evaluate"]["plots"] == [REC_PLOT]
        assert yaml.safe_load((scratch.path / "params.yaml").read_text()) == {"featurize": FEATURIZE_PARAMS}
        assert yaml.safe_load((scratch.path / "forest.yaml").read_text()) == FOREST_PARAMS
        assert (scratch.path / "train.py").read_text() == TRAIN_SCRIPT
        assert (scratch.path / "evaluate.py").read_text() == EVALUATE_SCRIPT
        assert md5(scratch.path / "data/red_wine.csv") == md5(red_wine_file)
        tracked = set(scratch.shell("git ls-files").split())
        assert {"data/red_wine.csv.dvc", "dvc.lock", "metrics.json", "plots/rec.csv"} <= tracked
        assert not {"data/red_wine.csv", "data/train.csv", "model.joblib"} & tracked, "DVC's outputs stay out of git"
        metrics = yaml.safe_load((scratch.path / "metrics.json").read_text())
        assert set(metrics) == {"mad", "acc_t025", "acc_t05", "acc_t1", "kappa"} and 0.5 < metrics["acc_t05"] < 0.9
    finally:
        scratch.remove()


def argument_text(node: ast.expr) -> str:
    "The text of a string or f-string argument; an f-string's fields are written `{name}`, as in the source."
    if isinstance(node, ast.Constant):
        return node.value
    return "".join(part.value if isinstance(part, ast.Constant) else "{" + ast.unparse(part.value) + "}"
                   for part in node.values)


def dvc_calls(notebook: Path) -> set:
    "The string arguments of the `….dvc(…)` calls in the code cells of `notebook` (plain Python, no IPython magics)."
    calls = set()
    for cell in nbformat.read(notebook, as_version=4).cells:
        if cell.cell_type == "code":
            for node in ast.walk(ast.parse(cell.source)):
                if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "dvc"
                        and node.args and isinstance(node.args[0], (ast.Constant, ast.JoinedStr))):
                    calls.add(argument_text(node.args[0]))
    return calls


@pytest.mark.slow
def test_tutorial_04_types_every_dvc_command_that_wine_pipeline_runs(red_wine_file, tmp_path, monkeypatch):
    ran, dvc = [], ScratchRepository.dvc

    def recording(scratch, arguments):
        ran.append(arguments)
        return dvc(scratch, arguments)

    monkeypatch.setattr(ScratchRepository, "dvc", recording)
    remote = tmp_path / "remote"
    wine_pipeline(red_wine_file, remote).remove()
    assert len(ran) >= 8, ran
    missing = {arguments.replace(str(remote), "{remote}") for arguments in ran} - dvc_calls(ROOT / "nbs/04_dvc.ipynb")
    assert not missing, f"wine_pipeline runs DVC commands that tutorial 04 does not show: {missing}"
