"""Execute the notebooks once, each in a fresh Jupyter kernel (nbclient), and keep the executed copies for the site.

`make test` and `make notebooks` run this instead of `nbdev-test`. It runs what nbdev-test would run, asking nbdev's
public API: the notebooks `nbglob` finds (names starting with `_` or `.` skipped, and folders holding a `.notest`
file), and in each the cells `nbdev.test.nb_test_cells` lists (cells flagged with a `tst_flags` flag of [tool.nbdev],
such as `#| notest`, left out unless `--flags` forces them; nbclient skips them by its `skip-execution` tag). Each
notebook runs in its own kernel, as JupyterLab runs it, with the notebook's folder (nbs/) as working directory,
`cell_timeout` of [tool.nbdev] per cell, and `--n-workers` notebooks at once (a process pool). Each one that ran
without error is written to OUT/<name>.ipynb, so nbs/ stays clean and Sphinx renders these copies without executing
anything again; OUT is emptied of notebooks first, so a failed or removed notebook leaves no stale page behind. A
failing notebook is reported by name with the failing cell and its traceback, and the exit status is 1.

    python tools/execute_notebooks.py --out _build/executed [--n-workers 2] [--do-print] [--timing] [PATH]
"""
from __future__ import annotations

import argparse
import os
import re
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

SKIP_TAG = "skip-execution"  # nbclient's default `skip_cells_with_tag`
ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")  # the colours of IPython's tracebacks
# jupyter_client gives the kernel CurveZMQ keys where its kernelspec supports them (ipykernel's does): encrypted, and
# without ipykernel's warning about plain TCP.
KERNEL_CONFIG = {"KernelManager": {"transport_encryption": "auto"}}


class OneLineParser(argparse.ArgumentParser):
    "An argument parser whose usage errors are one line, `error: <flag>: <what is wrong>`, with exit status 2."

    def error(self, message: str):
        self.exit(2, f"error: {message}\n")


@dataclass
class Result:
    "How one notebook's run went: its name, seconds taken, and the error report (None when it passed)."
    name: str
    seconds: float
    error: str | None = None


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    "The command line: nbdev-test's options that `make test` uses, plus --out."
    parser = OneLineParser(prog="tools/execute_notebooks.py", description=__doc__.split("\n", 1)[0])
    parser.add_argument("path", nargs="?", help="a notebook or a folder (default: nbs_path of [tool.nbdev])")
    parser.add_argument("--out", type=Path, required=True, help="folder for the executed copies (created)")
    parser.add_argument("--n-workers", type=int, help="notebooks run at once (default: CPUs, at most 8)")
    parser.add_argument("--flags", default="", help="space-separated test flags to run that are normally skipped")
    parser.add_argument("--do-print", action="store_true", help="print the start and end of each notebook")
    parser.add_argument("--timing", action="store_true", help="print each notebook's run time")
    args = parser.parse_args(argv)
    if args.path is not None and not Path(args.path).exists():
        parser.error(f"{args.path}: no such notebook or folder")
    if args.n_workers is not None and args.n_workers < 0:
        parser.error(f"--n-workers: {args.n_workers} is negative; give 0 (in this process) or more")
    if args.out.exists() and not args.out.is_dir():
        parser.error(f"--out: {args.out} is a file; give a folder")
    return args


def notebooks(path: str | None) -> list[Path]:
    "The notebooks nbdev-test would run for `path` (a notebook, a folder, or None: nbs_path), sorted."
    from nbdev.doclinks import nbglob  # pylint: disable=import-outside-toplevel

    if path is not None and Path(path).is_file():
        found = [Path(path)]
    else:
        found = nbglob(path, as_path=True)
    return sorted(notebook.resolve() for notebook in found if not (notebook.parent / ".notest").exists())


def failing_cell(notebook) -> str:
    "Which cell of an executed notebook holds the error output: its number (1-based) and id."
    for number, cell in enumerate(notebook.cells, 1):
        if any(output.get("output_type") == "error" for output in cell.get("outputs", [])):
            return f"cell {number} (id {cell.get('id', '?')})"
    return "a cell"


def execute(path: Path, out: Path, skip_flags: list[str], force_flags: list[str], cell_timeout: int | None,
            do_print: bool) -> Result:
    "Run one notebook in a fresh kernel, skipping the cells nbdev-test skips; on success write it to `out`."
    import nbformat  # pylint: disable=import-outside-toplevel
    from nbclient import NotebookClient  # pylint: disable=import-outside-toplevel
    from nbclient.exceptions import CellExecutionError  # pylint: disable=import-outside-toplevel
    from traitlets.config import Config  # pylint: disable=import-outside-toplevel
    from nbdev.test import nb_test_cells  # pylint: disable=import-outside-toplevel

    started = time.monotonic()
    if do_print:
        print(f"Starting {path}", flush=True)
    notebook = nbformat.read(path, as_version=4)
    runs = {cell["id"] for cell in nb_test_cells(path, skip_flags, force_flags)}
    skipped = [cell for cell in notebook.cells if cell.cell_type == "code" and cell.get("id") not in runs]
    for cell in skipped:
        cell.metadata.setdefault("tags", []).append(SKIP_TAG)
    client = NotebookClient(notebook, timeout=cell_timeout, record_timing=False, config=Config(KERNEL_CONFIG),
                            resources={"metadata": {"path": str(path.parent)}})
    error = None
    try:
        client.execute()
    except CellExecutionError as failure:
        error = f"{failing_cell(notebook)}: {failure.ename}: {failure.evalue}\n{ANSI_ESCAPE.sub('', str(failure))}"
    except Exception as failure:  # pylint: disable=broad-exception-caught  # a dead kernel or a timeout: reported
        error = f"{failing_cell(notebook)}: {type(failure).__name__}: {ANSI_ESCAPE.sub('', str(failure))}"
    for cell in skipped:
        cell.metadata["tags"].remove(SKIP_TAG)
        if not cell.metadata["tags"]:
            del cell.metadata["tags"]
    if error is None:
        nbformat.write(notebook, out / path.name)
    if do_print:
        print(f"- Completed {path}", flush=True)
    return Result(path.name, time.monotonic() - started, error)


def run_all(paths: list[Path], n_workers: int, **options) -> list[Result]:
    "Run `paths` in `n_workers` processes (0: one by one in this process), in order of the list; results in that order."
    if n_workers == 0:
        return [execute(path, **options) for path in paths]
    with ProcessPoolExecutor(max_workers=n_workers) as pool:
        futures = [pool.submit(execute, path, **options) for path in paths]
        return [future.result() for future in futures]


def main(argv: list[str] | None = None) -> int:
    "Run the notebooks; return 0 when all passed, 1 when one failed (each failure reported on stderr)."
    args = parse_args(argv)
    from nbdev.config import get_config  # pylint: disable=import-outside-toplevel  # --help and usage errors stay fast

    config = get_config(Path(args.path).resolve() if args.path else None)
    skip_flags = config.tst_flags.split() if isinstance(config.tst_flags, str) else list(config.tst_flags or [])
    paths = notebooks(args.path)
    if not paths:
        print("no notebooks to run")
        return 0
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    for stale in out.glob("*.ipynb"):
        stale.unlink()
    n_workers = args.n_workers if args.n_workers is not None else min(os.cpu_count() or 1, 8)
    results = run_all(paths, min(n_workers, len(paths)), out=out, skip_flags=skip_flags,
                      force_flags=args.flags.split(), cell_timeout=int(config.cell_timeout) or None,
                      do_print=args.do_print)
    for result in results:
        if result.error is not None:
            print(f"\n{result.name} failed in {result.error}", file=sys.stderr)
    if args.timing:
        for result in sorted(results, key=lambda result: result.seconds, reverse=True):
            print(f"{result.name}: {int(result.seconds)} secs")
    failed = [result.name for result in results if result.error is not None]
    if failed:
        print(f"\nnotebooks that failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    print(f"all {len(results)} notebooks passed; executed copies saved in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
