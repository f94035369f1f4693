"""dvc.yaml follows the code: each stage depends on exactly the package modules its command imports (the import
closure, read from the source with `ast` by tools/layers.py), fetch depends on the pinned checksum and on no code,
and an edit to a module in a scratch copy of the working tree makes `dvc status` report exactly the stages that
import it."""
import ast
import re
from pathlib import Path

import pytest
import yaml
from dvc.utils.serialize import load_py

from dvc_tree import REPOSITORY, changed_dependencies, copy_tree, reproduced_tree, status
from mlops_tutorial.core.cli import COMMANDS
from project import tool

pytestmark = pytest.mark.filterwarnings("ignore:_NoneStep.value:DeprecationWarning")  # DVC's use of pygtrie
PACKAGE = "mlops_tutorial"
layers = tool("layers")  # the package's import graph, read from the source
CONSOLE_COMMAND = re.compile(r"(?:^|\s)mlops-tutorial ([\w-]+)")  # `mlops-tutorial NAME`, the project's console script
PINNED_BY_CHECKSUM = {"fetch"}  # stages whose output is verified by a sha256: they depend on it, not on the loader
SPLIT_CODE = ("core.split", "split_wine")  # module and function of the train/test split


def module_file(module: str, root: Path = REPOSITORY) -> Path:
    "The source file of a package module (`mlops_tutorial.core.data` -> mlops_tutorial/core/data.py)."
    return root.joinpath(*module.split(".")).with_suffix(".py")


def imported_modules(module: str, root: Path = REPOSITORY) -> set:
    "The package modules that `module`'s source imports directly, at any depth (read by tools/layers.py)."
    known = {layers.module_name(path, root) for path in (root / PACKAGE).rglob("*.py") if path.name != "__init__.py"}
    return layers.imported_modules(module_file(module, root), known, root)


def import_closure(module: str, root: Path = REPOSITORY) -> set:
    "`module` and every package module it imports, transitively."
    closure, pending = set(), [module]
    while pending:
        current = pending.pop()
        if current not in closure:
            closure.add(current)
            pending.extend(imported_modules(current, root))
    return closure


def stages(root: Path = REPOSITORY) -> dict:
    "dvc.yaml's stages, as written (before DVC fills in ${…})."
    return yaml.safe_load((root / "dvc.yaml").read_text(encoding="utf-8"))["stages"]


def command_modules(stage: dict) -> list:
    "The package modules a stage's command runs: `mlops-tutorial NAME` runs mlops_tutorial.core.cli and NAME's module."
    commands = stage["cmd"] if isinstance(stage["cmd"], list) else [stage["cmd"]]
    names = [name for command in commands for name in CONSOLE_COMMAND.findall(" ".join(command.split()))]
    return [module for name in names for module in (f"{PACKAGE}.core.cli", f"{PACKAGE}.{COMMANDS[name][0]}")]


def module_dependencies(stage: dict) -> set:
    "The package source files a stage lists in its deps."
    return {dep for dep in stage.get("deps", []) if dep.startswith(f"{PACKAGE}/") and dep.endswith(".py")}


def required_modules(stage: dict, root: Path = REPOSITORY) -> set:
    "The package source files a stage's commands import, as paths relative to the repository."
    closure = set().union(*(import_closure(module, root) for module in command_modules(stage)))
    return {module_file(module, root).relative_to(root).as_posix() for module in closure}


def importing_stages(module: str, root: Path = REPOSITORY) -> set:
    "The stages whose commands import `module` (fetch excepted: it depends on the checksum, not on the code)."
    path = module_file(module, root).relative_to(root).as_posix()
    return {name for name, stage in stages(root).items()
            if name not in PINNED_BY_CHECKSUM and path in required_modules(stage, root)}


def edit_function(path: Path, function: str) -> None:
    "Edit `function` in the module at `path`: insert a line (a comment, so the code still runs) in its body."
    source = path.read_text(encoding="utf-8")
    definition = next(node for node in ast.parse(source).body
                      if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and node.name == function)
    lines = source.splitlines(keepends=True)
    first = definition.body[0]
    lines.insert(first.lineno - 1, " " * first.col_offset + "# edited by tests/test_dvc_graph.py\n")
    path.write_text("".join(lines), encoding="utf-8")


def first_function(module: str) -> str:
    "The name of the first top-level function of a package module."
    tree = ast.parse(module_file(module).read_text(encoding="utf-8"))
    return next(node.name for node in tree.body if isinstance(node, ast.FunctionDef))


CODE_STAGES = [name for name in stages() if name not in PINNED_BY_CHECKSUM]
IMPORTED = sorted(set().union(*(import_closure(module) for stage in stages().values()
                                for module in command_modules(stage))))


def test_every_stage_runs_a_package_module():
    assert all(command_modules(stage) for stage in stages().values()), "each stage runs `mlops-tutorial COMMAND`"


@pytest.mark.parametrize("name", CODE_STAGES)
def test_stage_depends_on_exactly_the_modules_it_imports(name):
    stage = stages()[name]
    required, listed = required_modules(stage), module_dependencies(stage)
    assert not required - listed, f"dvc.yaml stage {name!r} misses deps it imports: {sorted(required - listed)}"
    assert not listed - required, f"dvc.yaml stage {name!r} lists deps it does not import: {sorted(listed - required)}"


def test_the_package_init_runs_no_code():
    """Every command executes mlops_tutorial/__init__.py and its layer's __init__.py; they are no stage deps because
    they hold only a docstring and the version. Code or an import added there would have to become a dep of every
    stage."""
    for init in sorted((REPOSITORY / PACKAGE).rglob("__init__.py")):
        body = ast.parse(init.read_text(encoding="utf-8")).body
        assert all(isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
                   or isinstance(node, ast.Assign) and [target.id for target in node.targets] == ["__version__"]
                   for node in body), init


def test_fetch_depends_on_the_pinned_checksum_only():
    fetch = stages()["fetch"]
    colour = re.search(r"--colour (\w+)", fetch["cmd"]).group(1)
    assert not fetch.get("deps"), "fetch verifies its output by sha256; it must not depend on any code"
    assert fetch["params"] == [{f"{PACKAGE}/core/data.py": [f"WINE_FILES.{colour}"]}]


@pytest.fixture(name="tree")
def scratch_tree(tmp_path_factory, tmp_path, red_wine_file):
    "A copy of the session's reproduced copy of the working tree: every stage up to date."
    return copy_tree(reproduced_tree(tmp_path_factory, red_wine_file.parent).root, tmp_path / "tree")


@pytest.mark.slow
@pytest.mark.timeout(600)
@pytest.mark.parametrize("module", IMPORTED)
def test_an_edit_makes_exactly_the_importing_stages_out_of_date(tree, module):
    function = SPLIT_CODE[1] if module == f"{PACKAGE}.{SPLIT_CODE[0]}" else first_function(module)
    path = module_file(module, tree)
    edit_function(path, function)
    report = status(tree)
    assert set(report) == importing_stages(module, tree), f"an edit to {module}.{function}"
    relative = path.relative_to(tree).as_posix()
    assert all(changed_dependencies(entries) == {relative: "modified"} for entries in report.values())


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_an_edit_elsewhere_changes_nothing(tree):
    edit_function(tree / PACKAGE / "lessons" / "linters.py", first_function(f"{PACKAGE}.lessons.linters"))
    assert f"{PACKAGE}.lessons.linters" not in IMPORTED and not status(tree)


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_an_edit_to_the_split_code_reports_featurize_and_below(tree):
    module, function = SPLIT_CODE
    edit_function(module_file(f"{PACKAGE}.{module}", tree), function)
    assert set(status(tree)) == {"featurize", "train", "holdout", "evaluate"}, \
        "featurize, the stages below it, and evaluate (its folds are the split code); not fetch nor validate"


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_an_edit_to_the_loader_does_not_fetch_again_but_a_new_checksum_does(tree):
    data = tree / PACKAGE / "core" / "data.py"
    edit_function(data, "read_wine_csv")
    assert "fetch" not in status(tree) and "validate" in status(tree)
    pinned = load_py(str(data))["WINE_FILES"]["red"][1]
    data.write_text(data.read_text(encoding="utf-8").replace(pinned, "0" * len(pinned)), encoding="utf-8")
    assert changed_dependencies(status(tree)["fetch"]) == {f"{PACKAGE}/core/data.py": {"WINE_FILES.red": "modified"}}
