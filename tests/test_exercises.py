"""Every exercise of the lessons: its reference solution is accepted, its wrong answer refused, and no check raises."""

import json
import re
import shutil
import types

import pytest

from mlops_tutorial.beyond import cluster  # pylint: disable=unused-import
from mlops_tutorial.lessons import clearml_datasets as datasets
from mlops_tutorial.lessons import exercises
from mlops_tutorial.beyond import mlflow_runs
from mlops_tutorial.beyond import dvc_remote as remote
from mlops_tutorial.lessons.exercises import EXERCISES, Exercise, NotYet, exercise, get
from project import ROOT

# The lessons 03c, 03d, 04c and 05b register their exercises when their modules (imported above) are imported.
LESSON_EXERCISES = {"slurm-job", "per-node-flags", "tracking-uri", "server-env", "endpoint", "to-push", "stale-files",
                    "restore-command"}

pytestmark = pytest.mark.timeout(180)


def needs_tools(name: str):
    "Skip the Makefile exercises where GNU make is absent."
    if name.startswith("makefile-") and shutil.which("make") is None:
        pytest.skip("GNU make is not on PATH: install it (apt-get install make, brew install make)")


@pytest.mark.parametrize("name", list(EXERCISES))
def test_reference_solution_is_accepted(name):
    needs_tools(name)
    verdict = get(name).verdict(get(name).solution)
    assert verdict.passed and verdict.message == "right", verdict.message


@pytest.mark.parametrize("name", list(EXERCISES))
def test_wrong_answer_is_refused_with_a_hint(name):
    needs_tools(name)
    verdict = get(name).verdict(get(name).wrong)
    assert not verdict.passed
    assert verdict.message.startswith("not yet: ") and len(verdict.message) > len("not yet: ") + 10


@pytest.mark.parametrize("name", list(EXERCISES))
@pytest.mark.parametrize("answer", [None, 42, "", "this is not what was asked\n"])
def test_a_check_never_raises(name, answer, capsys):
    needs_tools(name)
    get(name).check(answer)
    assert capsys.readouterr().out.startswith("not yet: ")


def test_every_exercise_a_notebook_uses_exists():
    used = {name for path in sorted((ROOT / "nbs").glob("*.ipynb"))
            for cell in json.loads(path.read_text(encoding="utf-8"))["cells"] if cell["cell_type"] == "code"
            for name in re.findall(r"exercises\.get\(\"([^\"]+)\"\)", "".join(cell["source"]))}
    assert used, "no notebook uses an exercise"
    assert LESSON_EXERCISES <= used & set(EXERCISES), "a lesson's own exercises did not register on import"
    assert used <= set(EXERCISES), f"unknown exercises in notebooks: {sorted(used - set(EXERCISES))}"


def test_unknown_name_lists_the_known_ones():
    with pytest.raises(KeyError, match="makefile-lint"):
        get("no-such-exercise")


def test_the_same_judge_registered_again_replaces_the_first():
    "A notebook cell run twice, or a lesson's cell and then its module, defines the same judge again: no error."
    first = get("per-node-flags")
    again = types.FunctionType(first.judge.__code__, first.judge.__globals__)  # a new function, the same qualname
    try:
        exercise("per-node-flags", first.task, solution=first.solution, wrong=first.wrong)(again)
        assert get("per-node-flags").judge is again and get("per-node-flags").verdict(first.solution).passed
    finally:
        EXERCISES["per-node-flags"] = first


def test_a_name_cannot_be_registered_twice():
    with pytest.raises(ValueError, match="defined twice"):
        exercise("makefile-lint", "again", solution="", wrong="")(lambda answer: None)
    assert EXERCISES["makefile-lint"].task.startswith("Add a `lint` target")


def test_verdict_reports_the_hint_and_errors_of_the_judge():
    def judge(answer):
        if answer != "yes":
            raise NotYet("say yes")

    toy = Exercise("toy", "Say yes.", judge, solution="yes", wrong="no")
    assert toy.verdict("yes").passed and toy.verdict("no").message == "not yet: say yes"
    broken = Exercise("broken", "Anything.", lambda answer: 1 / 0, solution=None, wrong=None)
    assert broken.verdict("x").message \
        == "not yet: the check could not use this answer (ZeroDivisionError: division by zero)"


@pytest.mark.skipif(shutil.which("make") is None, reason="GNU make is not on PATH: install it (apt-get install make)")
def test_spaces_instead_of_a_tab_get_the_tab_hint():
    verdict = get("makefile-lint").verdict(exercises.LINT_SOLUTION.replace("\t", "    "))
    assert not verdict.passed and "missing separator" in verdict.message and "start with a tab" in verdict.message


def test_ruff_hint_names_the_missing_codes():
    verdict = get("lint-ruff").verdict("E")
    assert not verdict.passed and "D100, D103, F401" in verdict.message
