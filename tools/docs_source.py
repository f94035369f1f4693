"""Assemble the Sphinx source of the site: docs/ plus the executed notebooks, with nbdev's directives taken out.

myst-nb does not know nbdev's cell directives, so this does what nbdev's own (Quarto) docs build does with them:
a cell marked `#| hide` or `#| include: false` is left out, `#| echo: false` hides the code and keeps the output
(myst-nb's `remove-input` tag), `#| output: false` the reverse (`remove-output`), and the `#|` lines themselves
(`#| export`, `#| default_exp data`, ...) are stripped from the code a reader sees. A cell left empty is dropped.

The 99 notebooks hold the exercises' reference solutions: every code cell of a notebook whose name starts with `99`
gets myst-nb's `hide-input` tag, so the site shows its code folded behind a toggle (its outputs stay visible) and a
learner sees a solution only by asking for it. The tag is added here, in the site's copy: nbdev-clean strips cell
tags from nbs/.

The API reference is not written here: sphinx-autoapi generates it from the package's source (docs/conf.py).

Every notebook nbdev-test would run must have an executed copy (tools/execute_notebooks.py); a missing one is an
error, not a missing page. Files are written only when their content changes, so Sphinx rebuilds only what changed.

    python tools/docs_source.py --executed _build/executed --docs docs --out _build/site-src
"""
from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
from pathlib import Path

DIRECTIVE = re.compile(r"^\s*#\|\s*(?P<name>[\w-]+)\s*:?\s*(?P<value>.*?)\s*$")
LESSONS = "lessons"  # the folder of the notebook pages inside the site
FOLDED = "99"  # notebooks whose names start with this show their code folded (the exercises' solutions)
PACKAGE = Path(__file__).resolve().parents[1] / "mlops_tutorial"  # the package sphinx-autoapi documents into api/


class OneLineParser(argparse.ArgumentParser):
    "An argument parser whose usage errors are one line, `error: <flag>: <what is wrong>`, with exit status 2."

    def error(self, message: str):
        self.exit(2, f"error: {message}\n")


def split_directives(source: str) -> tuple[dict[str, str], str]:
    "The `#|` lines at the top of a code cell as {name: value}, and the code without them."
    lines = source.splitlines()
    directives = {}
    while lines and (match := DIRECTIVE.match(lines[0])):
        directives[match["name"]] = match["value"]
        lines.pop(0)
    return directives, "\n".join(lines).strip("\n")


def reader_cell(cell: dict, fold_code: bool = False) -> dict | None:
    "The cell as a reader of the site sees it, or None when nbdev's directives leave it out; `fold_code` folds code."
    if cell["cell_type"] != "code":
        return cell
    directives, code = split_directives("".join(cell["source"]))
    if "hide" in directives or directives.get("include") == "false":
        return None
    tags = set(cell.get("metadata", {}).get("tags", []))
    if directives.get("echo") == "false":
        tags.add("remove-input")
    if directives.get("output") == "false":
        tags.add("remove-output")
    if fold_code and "remove-input" not in tags:
        tags.add("hide-input")
    if not code and not cell.get("outputs"):
        return None
    # execnb records run times as numbers in metadata.execution, where nbformat's schema allows only strings.
    metadata = {key: value for key, value in cell.get("metadata", {}).items() if key != "execution"}
    metadata.update({"tags": sorted(tags)} if tags else {})
    return {**cell, "source": code, "metadata": metadata}


def reader_notebook(notebook: dict, fold_code: bool = False) -> dict:
    "The notebook without the cells nbdev hides, and without `#|` lines; `fold_code` folds every code cell."
    cells = [kept for cell in notebook["cells"] if (kept := reader_cell(cell, fold_code)) is not None]
    return {**notebook, "cells": cells}


def write_if_changed(path: Path, text: str) -> bool:
    "Write `text` to `path` unless it already holds exactly that (keeps the mtime Sphinx compares); True if written."
    if path.exists() and path.read_text(encoding="utf-8") == text:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return True


def lesson_names(nbs: Path) -> list[str]:
    "The notebooks of nbs/ that nbdev runs (its glob skips names starting with `_` or `.`), in reading order."
    return sorted(path.name for path in nbs.glob("*.ipynb") if not path.name.startswith(("_", ".")))


def read_notebook(path: Path) -> dict:
    "A notebook's JSON, or a ValueError that names the file."
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: not a notebook ({error})") from None


def assemble(executed: Path, docs: Path, nbs: Path, out: Path) -> list[str]:
    "Write the site's source into `out`; return the paths written (relative to `out`)."
    missing = [name for name in lesson_names(nbs) if not (executed / name).is_file()]
    if missing:
        raise FileNotFoundError(f"{executed}: no executed copy of {', '.join(missing)} "
                                "(run `make notebooks`; a notebook that fails is not saved)")
    wanted = {}
    for page in sorted(docs.glob("*.md")):
        wanted[page.name] = page.read_text(encoding="utf-8")
    for name in lesson_names(nbs):
        notebook = read_notebook(executed / name)
        folded = reader_notebook(notebook, fold_code=name.startswith(FOLDED))
        wanted[f"{LESSONS}/{name}"] = json.dumps(folded, indent=1, ensure_ascii=False) + "\n"
    written = [relative for relative, text in wanted.items() if write_if_changed(out / relative, text)]
    for stale in [*out.glob("*.md"), *out.glob(f"{LESSONS}/*.ipynb")]:
        if stale.relative_to(out).as_posix() not in wanted:
            stale.unlink()
    prune_api_pages(out, PACKAGE)
    return written


def prune_api_pages(out: Path, package: Path) -> None:
    """Remove the API pages that sphinx-autoapi kept (`autoapi_keep_files`) for modules `package` no longer has: a
    removed or renamed module would otherwise leave a page in no toctree, which `sphinx-build -W` refuses."""
    api = out / "api" / package.name
    for page in sorted(api.rglob("index.rst")):
        module = package / page.parent.relative_to(api)
        if page.is_file() and not (module.with_suffix(".py").is_file() or (module / "__init__.py").is_file()):
            shutil.rmtree(page.parent)


def main(argv: list[str] | None = None) -> int:
    "Assemble the site source; print what changed."
    parser = OneLineParser(prog="tools/docs_source.py", description=__doc__.split("\n", 1)[0])
    parser.add_argument("--executed", type=Path, required=True, help="folder of executed notebooks")
    parser.add_argument("--docs", type=Path, default=Path("docs"), help="folder of the hand-written pages (*.md)")
    parser.add_argument("--nbs", type=Path, default=Path("nbs"), help="the notebooks every page comes from")
    parser.add_argument("--out", type=Path, required=True, help="the Sphinx source folder to write")
    args = parser.parse_args(argv)
    for flag in ("executed", "docs", "nbs"):
        if not getattr(args, flag).is_dir():
            parser.error(f"--{flag}: {getattr(args, flag)} is not a folder")
    try:
        written = assemble(args.executed, args.docs, args.nbs, args.out)
    except (FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"{args.out}: {len(written)} file(s) updated" + (f" ({', '.join(written)})" if written else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
