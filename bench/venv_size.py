"""How much disk the project's environment takes, and how much of it only the optional `ui` extra (MLflow) brings.

Run with the environment's Python: `.venv/bin/python bench/venv_size.py`. It reads the installed distributions'
file lists (importlib.metadata), follows the requirements of `mlops-tutorial` with and without extras, and prints the
installed size of each set, the distributions only `ui` needs (largest first), and the size of the whole folder.
"""
import argparse
import functools
import re
import sys
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement

PROJECT = "mlops-tutorial"
MIB = 2**20


def normalized(name: str) -> str:
    "A distribution name as pip compares them (PEP 503)."
    return re.sub(r"[-_.]+", "-", name).lower()


INSTALLED = {normalized(dist.metadata["Name"]): dist for dist in metadata.distributions()}


@functools.cache
def installed_size(name: str) -> int:
    "Bytes of the files a distribution installed (0 if it is not installed); each distribution's files are read once."
    dist = INSTALLED.get(name)
    if dist is None:
        return 0
    paths = (Path(dist.locate_file(file)) for file in dist.files or [])
    return sum(path.stat().st_size for path in paths if path.is_file())


def closure(name: str, extras: tuple = ()) -> set:
    "`name` and every installed distribution its requirements (with `extras`) pull in, recursively."
    seen, pending = set(), [(normalized(name), tuple(extras))]
    while pending:
        current, current_extras = pending.pop()
        if current in seen or current not in INSTALLED:
            continue
        seen.add(current)
        for line in INSTALLED[current].requires or []:
            requirement = Requirement(line)
            marker = requirement.marker
            if marker is None or any(marker.evaluate({"extra": extra}) for extra in ("", *current_extras)):
                pending.append((normalized(requirement.name), tuple(requirement.extras)))
    return seen


def folder_size(folder: Path) -> int:
    "Bytes of every file under `folder` (what `du` counts, near enough)."
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file() and not path.is_symlink())


def main() -> None:
    "Print the sizes."
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="accepted like every benchmark's; this one is quick")
    parser.parse_args()
    if normalized(PROJECT) not in INSTALLED:
        raise SystemExit(f"error: {PROJECT} is not installed in {sys.prefix}; run `make install` first")
    sets = {"runtime": closure(PROJECT), "dev": closure(PROJECT, ("dev",)), "dev+ui": closure(PROJECT, ("dev", "ui"))}
    for label, names in sets.items():
        print(f"{PROJECT}[{label}]: {len(names)} distributions, {sum(map(installed_size, names)) / MIB:.0f} MiB")
    only_ui = sets["dev+ui"] - sets["dev"]
    print(f"only for the ui extra: {len(only_ui)} distributions, {sum(map(installed_size, only_ui)) / MIB:.0f} MiB")
    for name in sorted(only_ui, key=installed_size, reverse=True)[:8]:
        print(f"  {name:28} {installed_size(name) / MIB:7.1f} MiB")
    print(f"the environment folder {sys.prefix}: {folder_size(Path(sys.prefix)) / MIB:.0f} MiB")


if __name__ == "__main__":
    main()
