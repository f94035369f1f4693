"""`pip install mlops-tutorial` without extras can import every module of the package: each module's top-level
imports come from the standard library, the package itself or the closure of [project.dependencies]; a package of an
extra (pylint, httpx, mlflow, …) is imported inside the function that uses it. Read statically from the source (ast)
and the installed distributions' metadata, so it needs no second environment."""
import ast
import re
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from project import ROOT

PACKAGE = ROOT / "mlops_tutorial"
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
MODULES = sorted(path for path in PACKAGE.rglob("*.py") if not path.name.startswith("_"))


def normalized(name: str) -> str:
    "A distribution name as pip compares them (PEP 503)."
    return re.sub(r"[-_.]+", "-", name).lower()


def core_closure() -> set:
    "The distributions `pip install mlops-tutorial` brings: the core dependencies and theirs, recursively."
    seen, pending = set(), [Requirement(line) for line in PROJECT["dependencies"]]
    while pending:
        requirement = pending.pop()
        name = normalized(requirement.name)
        if name in seen:
            continue
        seen.add(name)
        try:
            requires = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue
        for line in requires:
            nested = Requirement(line)
            extras = requirement.extras or {""}
            if nested.marker is None or any(nested.marker.evaluate({"extra": extra}) for extra in extras):
                pending.append(nested)
    return seen


CORE = core_closure()
DISTRIBUTIONS = {name: {normalized(dist) for dist in dists} for name, dists in metadata.packages_distributions().items()}


def top_level_imports(path: Path) -> set:
    "The top-level names a module imports when it is imported (not inside functions or classes)."
    names = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names - set(sys.stdlib_module_names) - {"mlops_tutorial", "__future__"}


@pytest.mark.parametrize("module", MODULES, ids=lambda path: path.relative_to(ROOT).as_posix())
def test_the_module_imports_only_core_dependencies_at_its_top(module):
    extra_only = {name: sorted(DISTRIBUTIONS.get(name, {name})) for name in top_level_imports(module)
                  if not DISTRIBUTIONS.get(name, {name}) & CORE}
    assert not extra_only, (f"{module.name} imports {extra_only} at its top, which `pip install mlops-tutorial` "
                            "does not install: import it inside the function that needs it, or make it a dependency")
