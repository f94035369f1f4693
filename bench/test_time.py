"""Benchmark: where the time of `make test` goes and how long `make check` takes, on 2 cores with the venv and data
present (the targets of the open issues: `make test` at most 332 s, then 180 s; `make check` at most 51 s, then 30 s).

Usage (from the repository root): .venv/bin/python bench/test_time.py [--skip-check | --only-check | --make-test
| --quick]
Runs, in order, each phase of `make test` — lint, every notebook once (with each notebook's time), the site, pytest
in make test's processes (with its slowest tests) — then `make check`, and prints one line per phase: its wall time,
the CPU time it used (its processes and their children: on a shared machine the steadier figure) and the load average
before it started, then the total. A benchmark, not a test: the figures depend on the machine and its load.
"""
import argparse
import os
import re
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def timed(label: str, command: list) -> tuple:
    "Run `command` in the repository root; print and return (seconds, output). Stops when the command fails."
    environment = {**os.environ, "DVC_NO_ANALYTICS": "1", "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    load = os.getloadavg()[0]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    result = subprocess.run(command, cwd=ROOT, env=environment, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    if result.returncode:
        raise SystemExit(f"{label}: {' '.join(map(str, command))} failed:\n{result.stdout[-3000:]}\n"
                         f"{result.stderr[-3000:]}")
    print(f"{label:<28} {seconds:7.1f} s   cpu {cpu:7.1f} s   load before {load:4.2f}", flush=True)
    return seconds, result.stdout + result.stderr


def notebook_times(output: str) -> list:
    "`name  seconds` lines from the notebook runner's --timing output."
    return re.findall(r"^(\S+\.ipynb): (\d+) secs$", output, flags=re.MULTILINE)


def pytest_flags() -> list:
    "The options of make test's pytest line (`make -n test`): its processes (pytest-xdist), if any."
    recipe = subprocess.run(["make", "--no-print-directory", "-n", "test"], cwd=ROOT, capture_output=True, text=True,
                            check=True).stdout.splitlines()
    return recipe[-1].split()[1:]  # the last line is pytest's (nbs/01_makefile.ipynb checks it)


def main() -> None:
    "Time each phase of `make test`, then `make check`."
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--skip-check", action="store_true", help="do not time `make check`")
    parser.add_argument("--only-check", action="store_true", help="time `make check` alone")
    parser.add_argument("--make-test", action="store_true",
                        help="time `make test` end to end (it runs pylint beside the notebooks: less than the phases)")
    parser.add_argument("--quick", action="store_true",
                        help="time two cheap phases through the same code (make check-clean, one test file): CI's run")
    args = parser.parse_args()
    if args.quick:
        timed("make check-clean", ["make", "--no-print-directory", "-o", "install", "check-clean", f"VENV={BIN.parent}"])
        timed("pytest tests/test_config.py", [BIN / "pytest", "-q", "-p", "no:cacheprovider", "tests/test_config.py"])
        return
    if args.only_check:
        timed("make check", ["make", "--no-print-directory", "check"])
        return
    if args.make_test:
        timed("make test", ["make", "--no-print-directory", "test"])
        return
    total = 0.0
    seconds, _ = timed("make lint", ["make", "--no-print-directory", "lint"])
    total += seconds
    # `make notebooks`, whose executed copies `make docs` then renders (into a temporary folder, make docs would run
    # every notebook a second time: its stamp says the executed copies are not current).
    seconds, output = timed("notebooks (make notebooks)", ["make", "--no-print-directory", "notebooks"])
    total += seconds
    for name, notebook_seconds in notebook_times(output):
        print(f"  {name:<26} {float(notebook_seconds):7.1f} s")
    seconds, _ = timed("site (make docs)", ["make", "--no-print-directory", "docs"])
    total += seconds
    seconds, output = timed("pytest (make test's -n)", [BIN / "pytest", "-q", "-p", "no:cacheprovider", "--durations=8",
                                                        *pytest_flags()])
    total += seconds
    for line in re.findall(r"^\s*[\d.]+s (?:call|setup)\s+\S+$", output, flags=re.MULTILINE):
        print(f"  {line.strip()}")
    print(f"{'make test (sum of phases)':<28} {total:7.1f} s   (make test overlaps two: --make-test)")
    if not args.skip_check:
        timed("make check", ["make", "--no-print-directory", "check"])


if __name__ == "__main__":
    main()
