"""Every checked exercise (nbs/99_exercises.ipynb, the framework; nbs/99a-99f, each tool's judges and solutions):
the reference solution is accepted; the registered mistake is refused with a hint that names what it missed; no hint
gives the solution away; each exercise has one task cell in a lesson, followed by a neutral starter that ends with its
check; no lesson shows a solution; `get` finds an exercise in a fresh interpreter; a missing package or program is its
own verdict, "not installed"; and the site shows the solutions' code folded."""
import ast
import functools
import importlib
import json
import linecache
import pkgutil
import re
import shutil
import subprocess
import sys
import types
from pathlib import Path

import pytest

import mlops_tutorial.exercises as package
from mlops_tutorial.exercises import registry
from mlops_tutorial.exercises.registry import EXERCISES, Exercise, NotYet, exercise, get
from project import ROOT, tool

# Discovered, not listed: every module of the package but the framework is a tool's judge module.
JUDGE_MODULES = sorted(f"{package.__name__}.{info.name}" for info in pkgutil.iter_modules(package.__path__)
                       if info.name != "registry")
for judge_module in JUDGE_MODULES:
    importlib.import_module(judge_module)
NAMES = sorted(EXERCISES)
# Judges that run a tool (make install, pylint, DVC, MLflow, ClearML) or import torch take seconds, not milliseconds.
SLOW = {"makefile-stamp", "lint-ten", "lightning-resume", "lightning-accumulate", "lightning-median",
        "lightning-ddp-rows", "dvc-add-files", "dvc-stage-params", "dvc-describe-version", "clearml-report-figure",
        "clearml-best-epoch", "clearml-step-kwargs", "cluster-slurm-job", "cluster-node-command",
        "mlflow-logger-store", "mlflow-best-run", "remote-endpoint", "datasets-restore-first"}
LESSONS = [path for path in sorted((ROOT / "nbs").glob("[!_]*.ipynb")) if not path.name.startswith("99")]
TASK = re.compile(r"\*\*Exercise `([^`]+)`\.\*\*")

pytestmark = pytest.mark.timeout(300)


def by_speed(names):
    "The names as pytest parameters, the slow ones marked slow."
    return [pytest.param(name, marks=pytest.mark.slow) if name in SLOW else name for name in names]


def needs_tools(name: str):
    "Skip the Makefile exercises where GNU make is absent."
    if name.startswith("makefile-") and shutil.which("make") is None:
        pytest.skip("GNU make is not on PATH: install it (apt-get install make, brew install make)")


def source(cell: dict) -> str:
    "A notebook cell's text."
    return "".join(cell["source"])


@functools.cache
def cells(path: Path) -> list:
    "The cells of a notebook."
    return json.loads(path.read_text(encoding="utf-8"))["cells"]


@functools.cache
def task_cells() -> dict:
    "Exercise name -> [(lesson, index of its task cell)] over the notebooks outside 99*."
    found: dict = {}
    for path in LESSONS:
        for index, cell in enumerate(cells(path)):
            if cell["cell_type"] == "markdown":
                for name in TASK.findall(source(cell)):
                    found.setdefault(name, []).append((path, index))
    return found


def solution_texts(solution) -> list:
    "The text of a solution that no hint and no lesson may show: a string itself, or the definition of a function."
    if isinstance(solution, str):
        return [solution.strip()]
    if isinstance(solution, types.FunctionType) and solution.__name__ != "<lambda>":
        return [f"def {solution.__name__}("]
    return []


def gives_away(message: str, solution) -> bool:
    "Whether `message` holds the solution: a string solution, or every string of a dict, set or list solution."
    if isinstance(solution, str):
        return solution.strip() in message
    if isinstance(solution, dict):
        texts = [str(key) for key in solution] + [value for value in solution.values() if isinstance(value, str)]
    elif isinstance(solution, (set, list, tuple)):
        texts = [item for item in solution if isinstance(item, str)]
    else:
        return False
    return bool(texts) and all(text in message for text in texts)


@functools.cache
def wrong_verdict(name: str):
    "The verdict on exercise `name`'s registered mistake (judged once per test run)."
    return get(name).verdict(get(name).wrong)


# ---- each exercise: its solution, its registered mistake, its hint ----

@pytest.mark.parametrize("name", by_speed(NAMES))
def test_reference_solution_is_accepted(name):
    needs_tools(name)
    verdict = get(name).verdict(get(name).solution)
    assert verdict.passed and verdict.message == "right", verdict.message


@pytest.mark.parametrize("name", by_speed(NAMES))
def test_wrong_answer_gets_a_hint_naming_what_it_missed(name):
    needs_tools(name)
    verdict, missed = wrong_verdict(name), get(name).missed
    assert not verdict.passed and verdict.message.startswith("not yet: "), verdict.message
    assert missed.strip() and missed in verdict.message, (missed, verdict.message)


@pytest.mark.parametrize("name", by_speed(NAMES))
def test_the_hint_does_not_give_the_solution_away(name):
    needs_tools(name)
    assert not gives_away(wrong_verdict(name).message, get(name).solution), wrong_verdict(name).message


@pytest.mark.parametrize("name", by_speed(NAMES))
@pytest.mark.parametrize("answer", [None, 42, "", "this is not what was asked\n"])
def test_a_check_never_raises(name, answer, capsys):
    needs_tools(name)
    get(name).check(answer)
    assert capsys.readouterr().out.startswith("not yet: ")


def test_every_judge_lives_where_get_looks_for_it():
    "The prefix table of `get` leads to the module that registers each exercise, and every module registers some."
    assert {name: registry.judge_module(name) for name in NAMES} == {name: get(name).judge.__module__ for name in NAMES}
    assert {get(name).judge.__module__ for name in NAMES} == set(JUDGE_MODULES)


# ---- the lessons: a visible task, a neutral starter, no solution ----

def test_every_exercise_has_one_task_in_a_lesson_followed_by_its_check():
    assert set(task_cells()) == set(NAMES), sorted(set(task_cells()) ^ set(NAMES))
    for name, places in task_cells().items():
        assert len(places) == 1, (name, [path.name for path, _ in places])
        path, index = places[0]
        following = cells(path)[index + 1]
        assert following["cell_type"] == "code" and f'exercises.get("{name}").check(' in source(following), \
            (name, path.name, source(following))


def test_every_check_in_a_notebook_names_a_registered_exercise():
    checks = re.compile(r"""exercises\.get\(["']([^"']+)["']\)""")
    used = {name for path in sorted((ROOT / "nbs").glob("[!_]*.ipynb")) for cell in cells(path)
            if cell["cell_type"] == "code" for name in checks.findall(source(cell))}
    assert used == set(NAMES), sorted(used ^ set(NAMES))


class Capture:  # pylint: disable=too-few-public-methods  # it stands in for one function of the registry
    "Stands in for the registry in a lesson's exercise cell: `get(name).check(answer)` records the answer."

    def __init__(self):
        self.answers = {}

    def get(self, name: str):
        "An object whose `check(answer)` records `answer` under `name`."
        return types.SimpleNamespace(check=lambda answer: self.answers.__setitem__(name, answer))


def is_import_cell(text: str) -> bool:
    "Whether a code cell only imports (directives aside)."
    try:
        body = ast.parse(text).body
    except SyntaxError:
        return False
    return bool(body) and all(isinstance(statement, (ast.Import, ast.ImportFrom)) for statement in body)


@functools.cache
def lesson_namespace(path: Path) -> dict:
    "What a lesson's exercise cells can see without running the lesson: its imports and its exported module's names."
    namespace: dict = {}
    for cell in cells(path):
        if cell["cell_type"] == "code" and is_import_cell(source(cell)):
            exec(source(cell), namespace)  # pylint: disable=exec-used  # the lesson's own import cells
        if match := re.match(r"#\| default_exp (\S+)", source(cell)):
            exec(f"from mlops_tutorial.{match[1]} import *", namespace)  # pylint: disable=exec-used
    return namespace


def starter(name: str):
    """The answer that exercise `name`'s cell in its lesson starts from, as the cell hands it to the check. The cell's
    text is registered with linecache, as Jupyter registers a cell's, so that `inspect.getsource` finds a function it
    defines (the ClearML judges send a function's source to a fresh Python)."""
    path, index = task_cells()[name][0]
    capture = Capture()
    namespace = {**lesson_namespace(path), "exercises": capture}
    text, filename = source(cells(path)[index + 1]), f"<{path.name} cell {index + 1}>"
    linecache.cache[filename] = (len(text), None, text.splitlines(keepends=True), filename)
    exec(compile(text, filename, "exec"), namespace)  # pylint: disable=exec-used  # the starter cell, unchanged
    return capture.answers[name]


@pytest.mark.slow  # runs each lesson's imports (torch, ClearML, MLflow) and each judge on its starter
@pytest.mark.parametrize("name", NAMES)
def test_a_lesson_starts_from_a_neutral_answer(name):
    "The starter is neither the solution nor the registered mistake (nor behaves like it); its hint gives nothing away."
    needs_tools(name)
    task, answer = get(name), starter(name)
    verdict = task.verdict(answer)
    assert not verdict.passed, f"{name}: the lesson's starter is already right"
    assert not gives_away(verdict.message, task.solution), verdict.message
    if callable(answer) or callable(task.wrong):
        assert verdict.message != wrong_verdict(name).message, f"{name}: the starter behaves like the mistake"
    else:
        assert answer != task.wrong, f"{name}: the lesson's starter is the registered mistake"


@pytest.mark.parametrize("name", NAMES)
def test_no_lesson_shows_the_solution(name):
    texts = solution_texts(get(name).solution)
    shown = sorted({path.name for path in LESSONS for cell in cells(path) for text in texts if text in source(cell)})
    assert not shown, f"{name}: its solution appears in {shown}"


# ---- the framework: get in a fresh interpreter, the three verdicts, registration ----

PROBE = """
import json, sys
from mlops_tutorial.exercises import registry
before = sorted(module for module in sys.modules if module.startswith("mlops_tutorial.exercises."))
found = {name: registry.get(name).judge.__module__ for name in sys.argv[1:]}
print(json.dumps({"before": before, "found": found,
                  "judges": sorted(module for module in sys.modules if module.startswith("mlops_tutorial.exercises.")
                                   and module != "mlops_tutorial.exercises.registry"),
                  "heavy": sorted(set(sys.modules) & {"torch", "pytorch_lightning", "clearml", "mlflow", "pylint", "dvc"})}))
"""


@pytest.mark.parametrize("module", JUDGE_MODULES)
def test_get_works_in_a_fresh_interpreter(module):
    """Nothing imported first: `get` imports the one judge module, which imports no heavy library (a missing one is
    a verdict, not an import error)."""
    names = [name for name in NAMES if registry.judge_module(name) == module]
    fresh = subprocess.run([sys.executable, "-c", PROBE, *names], capture_output=True, text=True, check=True,
                           timeout=120, cwd=ROOT)
    loaded = json.loads(fresh.stdout)
    assert loaded == {"before": ["mlops_tutorial.exercises.registry"], "found": dict.fromkeys(names, module),
                      "judges": [module], "heavy": []}, loaded


def test_unknown_names_say_what_exists():
    with pytest.raises(KeyError, match="makefile-, lint-, lightning-"):
        get("pandas-merge")
    with pytest.raises(KeyError, match="makefile-lint, makefile-python, makefile-stamp"):
        get("makefile-nope")
    with pytest.raises(KeyError, match="exercise names start with"):
        exercise("toy-even", solution=2, wrong=3, missed="even")


def test_the_same_judge_registered_again_replaces_the_first():
    "A judge's notebook cell run twice, or run and then its module imported, registers the same judge again."
    first = get("remote-to-push")
    again = types.FunctionType(first.judge.__code__, first.judge.__globals__)  # a new function, the same qualname
    try:
        exercise(first.name, solution=first.solution, wrong=first.wrong, missed=first.missed)(again)
        assert get(first.name).judge is again and get(first.name).verdict(first.solution).passed
    finally:
        EXERCISES[first.name] = first


def test_a_name_cannot_be_registered_twice():
    with pytest.raises(ValueError, match="defined twice"):
        exercise("makefile-lint", solution="", wrong="", missed="")(lambda answer: None)
    assert EXERCISES["makefile-lint"].judge.__name__ == "judge_lint_target"


def test_the_three_verdicts(tmp_path):
    def judge(answer):
        if answer != "yes":
            raise NotYet("say yes")

    def needs_a_package(answer):
        importlib.import_module(f"wine_tasting_toolkit{answer}")

    def needs_a_program(answer):
        subprocess.run(["wine-taster", str(answer)], check=True)

    def reads_the_answers_file(answer):
        Path(answer).read_text(encoding="utf-8")

    def runs_in_the_answers_folder(answer):
        subprocess.run(["true"], cwd=answer, check=True)

    def verdict(check, answer):
        return Exercise("toy-check", check, solution=None, wrong=None, missed="").verdict(answer).message

    assert (verdict(judge, "yes"), verdict(judge, "no")) == ("right", "not yet: say yes")
    assert verdict(lambda answer: 1 / 0, "x") \
        == "not yet: the check could not use this answer (ZeroDivisionError: division by zero)"
    assert verdict(needs_a_package, "") == "not installed: wine_tasting_toolkit (run make install)"
    assert verdict(needs_a_program, "x") == "not installed: wine-taster (run make install)"
    # A missing file or folder that the answer names is the answer's problem, not an installation's.
    assert verdict(reads_the_answers_file, str(tmp_path / "no.csv")).startswith("not yet: the check could not use")
    assert verdict(runs_in_the_answers_folder, str(tmp_path / "no")).startswith("not yet: the check could not use")


@pytest.mark.skipif(shutil.which("make") is None, reason="GNU make is not on PATH: install it (apt-get install make)")
def test_a_real_check_without_make_says_so(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty folder: make is nowhere on PATH
    message = get("makefile-lint").verdict(get("makefile-lint").solution).message
    assert message == "not installed: make (install GNU make: apt-get install make, or brew install make)", message


def test_a_real_check_without_dvc_says_so(monkeypatch, tmp_path):
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python"))  # the DVC judges run dvc beside the interpreter
    message = get("dvc-add-files").verdict(get("dvc-add-files").solution).message
    assert message == "not installed: dvc (run make install)", message


def test_a_real_check_without_torch_says_so(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` now fails as if torch were not installed
    message = get("lightning-median").verdict(get("lightning-median").solution).message
    assert message == "not installed: torch (run make install)", message


# ---- a few hints in detail ----

@pytest.mark.skipif(shutil.which("make") is None, reason="GNU make is not on PATH: install it (apt-get install make)")
def test_spaces_instead_of_a_tab_get_the_tab_hint():
    makefile = importlib.import_module("mlops_tutorial.exercises.makefile")
    verdict = get("makefile-lint").verdict(makefile.LINT_SOLUTION.replace("\t", "    "))
    assert not verdict.passed and "missing separator" in verdict.message and "start with a tab" in verdict.message


def test_ruff_hint_names_the_missing_codes():
    verdict = get("lint-ruff").verdict("E")
    assert not verdict.passed and "D100, D103, F401" in verdict.message


# ---- the site ----

def test_the_site_folds_the_code_of_the_solutions(tmp_path):
    "tools/docs_source.py gives every code cell of a 99 notebook myst-nb's hide-input tag, and a lesson's none."
    docs_source = tool("docs_source")
    nbs = tmp_path / "nbs"
    nbs.mkdir()
    (tmp_path / "docs").mkdir()
    for name in ("01_makefile.ipynb", "99a_makefile.ipynb"):
        shutil.copy(ROOT / "nbs" / name, nbs / name)
    docs_source.assemble(nbs, tmp_path / "docs", nbs, tmp_path / "out")
    pages = {name: json.loads((tmp_path / "out" / "lessons" / name).read_text(encoding="utf-8"))
             for name in ("01_makefile.ipynb", "99a_makefile.ipynb")}
    site = {name: [cell for cell in page["cells"] if cell["cell_type"] == "code"] for name, page in pages.items()}
    assert site["99a_makefile.ipynb"] and all("hide-input" in cell["metadata"].get("tags", [])
                                               for cell in site["99a_makefile.ipynb"])
    assert not any("hide-input" in cell["metadata"].get("tags", []) for cell in site["01_makefile.ipynb"])
