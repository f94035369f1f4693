"""Benchmark: where the time of `make test` goes (target: at most 420 s on 2 cores with the venv and data present) and
how long `make check` takes (target: at most 60 s).

Usage (from the repository root): .venv/bin/python bench/test_time.py [--skip-check]
Runs, in order, each phase of `make test` — lint, every notebook once (with each notebook's time), the site, pytest
(with its slowest tests) — then `make check`, and prints one line per phase and the total. A benchmark, not a test:
the figures depend on the machine and its load.
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def timed(label: str, command: list) -> tuple:
    "Run `command` in the repository root; print and return (seconds, output). Stops when the command fails."
    environment = {**os.environ, "DVC_NO_ANALYTICS": "1", "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    started = time.perf_counter()
    result = subprocess.run(command, cwd=ROOT, env=environment, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    if result.returncode:
        raise SystemExit(f"{label}: {' '.join(map(str, command))} failed:\n{result.stdout[-3000:]}\n"
                         f"{result.stderr[-3000:]}")
    print(f"{label:<28} {seconds:7.1f} s", flush=True)
    return seconds, result.stdout + result.stderr


def notebook_times(output: str) -> list:
    "`name  seconds` lines from the notebook runner's --timing output."
    return re.findall(r"^(\S+\.ipynb): (\d+) secs$", output, flags=re.MULTILINE)


def main() -> None:
    "Time each phase of `make test`, then `make check`."
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--skip-check", action="store_true", help="do not time `make check`")
    args = parser.parse_args()
    total = 0.0
    seconds, _ = timed("make lint", ["make", "--no-print-directory", "lint"])
    total += seconds
    with tempfile.TemporaryDirectory() as executed:
        seconds, output = timed("notebooks (2 workers)", [BIN / "python", "tools/execute_notebooks.py", "--out",
                                                          executed, "--n-workers", "2", "--timing"])
    total += seconds
    for name, notebook_seconds in notebook_times(output):
        print(f"  {name:<26} {float(notebook_seconds):7.1f} s")
    seconds, _ = timed("site (make docs)", ["make", "--no-print-directory", "docs"])
    total += seconds
    seconds, output = timed("pytest", [BIN / "pytest", "-q", "-p", "no:cacheprovider", "--durations=8"])
    total += seconds
    for line in re.findall(r"^\s*[\d.]+s (?:call|setup)\s+\S+$", output, flags=re.MULTILINE):
        print(f"  {line.strip()}")
    print(f"{'make test (sum of phases)':<28} {total:7.1f} s")
    if not args.skip_check:
        timed("make check", ["make", "--no-print-directory", "check"])


if __name__ == "__main__":
    main()
