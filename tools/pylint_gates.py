"""pylint the package and the notebooks in one process, each against its own threshold: `make lint` runs it through
nbqa, which hands it the notebooks' code as temporary .py files and maps its messages back to notebook cells.

    nbqa "python tools/pylint_gates.py --package mlops_tutorial --package-fail-under 9.5 --notebook-fail-under 9.0 --"
        nbs --nbqa-shell

Why one process: pylint's time goes into astroid building and inferring torch, Lightning, pandas, scikit-learn,
networkx... once per process (each --jobs worker builds its own copy). The notebooks import the same libraries and the
package itself, so their run reuses the package run's astroid cache: the two runs cost about 100 s of CPU instead of
about 165 s apart (and more with --jobs=2). Each run is an ordinary pylint run with its own options, score and
threshold, the same messages as `pylint mlops_tutorial` and `nbqa pylint nbs` (whose options, [tool.nbqa.addopts]
pylint in pyproject.toml, are read from there).
"""
import argparse
import os
import sys
import tomllib
from pathlib import Path

from pylint.lint import Run


def run_pylint(arguments: list) -> int:
    "One pylint run, as the `pylint` command would do it; its exit status."
    try:
        Run(arguments)
    except SystemExit as stop:
        return stop.code if isinstance(stop.code, int) else 1
    return 0


def notebook_options(pyproject: Path) -> list:
    "The pylint options nbqa adds for notebooks ([tool.nbqa.addopts] pylint)."
    settings = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    return list(settings.get("tool", {}).get("nbqa", {}).get("addopts", {}).get("pylint", []))


def main() -> int:
    "Lint the package, then the notebooks' files; fail if either is under its threshold or pylint failed."
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--package", required=True)
    parser.add_argument("--package-fail-under", required=True)
    parser.add_argument("--notebook-fail-under", required=True)
    parser.add_argument("notebooks", nargs="*", help="the notebooks' .py files (nbqa's temporary copies)")
    args, extra = parser.parse_known_args()
    sys.path[0] = os.getcwd()  # as `python -m pylint` (which nbqa runs) sees it, not this script's folder
    print(f"pylint {args.package}{'/' if Path(args.package).is_dir() else ''} (fail under {args.package_fail_under})",
          flush=True)
    package = run_pylint([args.package, f"--fail-under={args.package_fail_under}", *extra])
    if not args.notebooks:
        print("no notebooks to lint", file=sys.stderr)
        return 1
    print(f"nbqa pylint {Path(args.notebooks[0]).parent}/ (fail under {args.notebook_fail_under})", flush=True)
    notebooks = run_pylint([*args.notebooks, *notebook_options(Path("pyproject.toml")),
                            f"--fail-under={args.notebook_fail_under}", *extra])
    return package or notebooks


if __name__ == "__main__":
    sys.exit(main())
