"""Execute the notebooks once with nbdev-test's own runner and keep the executed copies for the docs site.

`make test` runs this instead of `nbdev-test`: the same runner (execnb's in-process shell, nbs/ as the working
directory, `tst_flags` of [tool.nbdev] such as `notest` skipped unless `--flags` forces them, `.notest` files, the
`cell_timeout` config, `--n-workers` notebooks in parallel, exit status 1 when any notebook fails). The one
difference is where `--save` writes: nbdev-test writes outputs back into nbs/, this writes each notebook that ran
without error to OUT/<name>.ipynb, so nbs/ stays clean and the Sphinx site renders these copies without executing
anything again. OUT is emptied of notebooks first, so a failed or removed notebook leaves no stale page behind.
And two things a worker carries from one notebook to the next under nbdev-test, because its kernel is in-process,
do not carry over here, as they would not between two JupyterLab kernels: each notebook starts with the
environment variables the runner started with (ClearML's Task.init leaves CLEARML_PROC_MASTER_ID in os.environ,
and a later notebook's `clearml` subprocess then took itself for a child of that closed task and failed); and a
failing notebook's traceback is always printed (nbdev-test loses it in a worker where ClearML has replaced
sys.__stderr__ with its console capture).

    python tools/execute_notebooks.py --out _build/executed [--n-workers 2] [--do-print] [--timing] [PATH]
"""
from __future__ import annotations

import argparse
import os
import sys
import types
from pathlib import Path


TEST_NB = None  # nbdev.test.test_nb, once main has imported it


class OneLineParser(argparse.ArgumentParser):
    "An argument parser whose usage errors are one line, `error: <flag>: <what is wrong>`, with exit status 2."

    def error(self, message: str):
        self.exit(2, f"error: {message}\n")


class StderrPinnedSys(types.ModuleType):  # pylint: disable=too-few-public-methods
    "`sys` as nbdev.test sees it: the real module's attributes, but `__stderr__` is always file descriptor 2."

    __stderr__ = os.fdopen(os.dup(2), "w", buffering=1, encoding="utf-8", errors="replace")

    def __getattr__(self, name: str):
        return getattr(sys, name)


def test_nb_with_own_environment(*args, **kwargs):
    "nbdev's `test_nb`, restoring afterwards the environment variables the notebook set or removed."
    saved = dict(os.environ)
    try:
        return TEST_NB(*args, **kwargs)
    finally:
        os.environ.clear()
        os.environ.update(saved)


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


def main(argv: list[str] | None = None) -> int:
    "Run the notebooks; return 0 when all passed (nbdev_test exits 1 itself when one failed)."
    args = parse_args(argv)
    # Imported here, not at the top: --help and usage errors stay fast.
    import nbdev.test  # pylint: disable=import-outside-toplevel
    from fastcore.nbio import write_nb  # pylint: disable=import-outside-toplevel

    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    for stale in out.glob("*.ipynb"):
        stale.unlink()
    # nbdev's test_nb saves a notebook that ran without error with `write_nb(nb, fn)`, fn being its path in nbs/.
    # Send that write to OUT instead; the workers are forked, so they inherit the redirection.
    nbdev.test.write_nb = lambda nb, fn: write_nb(nb, out / Path(fn).name)
    # test_nb prints a failing notebook's traceback to sys.__stderr__. ClearML's Task.init replaces that with its
    # console-capturing proxy, so in a worker that has run a ClearML lesson, a later failure printed nothing.
    nbdev.test.sys = StderrPinnedSys("sys")
    # The process pool pickles the function it runs by module and name; `__main__` is no name a worker can rely on
    # (each notebook's IPython shell replaces it), so the wrapper is taken from this file imported as a module.
    import execute_notebooks  # pylint: disable=import-outside-toplevel,import-self  # tools/ is sys.path[0]
    execute_notebooks.TEST_NB = nbdev.test.test_nb
    nbdev.test.test_nb = execute_notebooks.test_nb_with_own_environment
    nbdev.test.nbdev_test(path=args.path, flags=args.flags, n_workers=args.n_workers, do_print=args.do_print,
                          timing=args.timing, save=True)
    print(f"executed notebooks saved in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
