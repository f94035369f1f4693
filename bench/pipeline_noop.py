"""Benchmark: how long a `make pipeline` takes when nothing has changed (target: under 3 s), and where the time goes.

Usage (from the repository root): .venv/bin/python bench/pipeline_noop.py [--runs 5 | --quick]
Runs `make pipeline` once to bring everything up to date (`dvc status --json` must then report nothing), then times
`--runs` more runs, each of which must rewrite no output of dvc.lock, and the same number of runs of each command of
the recipe, read from `make -n pipeline` (run by bash with the bin/ of this environment first on PATH, as the target
sets it). Prints the median of each; the last line is `no-op make pipeline: X.XX s (median of N)`. A benchmark, not a
test: the figure depends on the machine and its load.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
MAKE = ["make", "--no-print-directory", "pipeline", f"VENV={BIN.parent}"]
ENVIRONMENT = {**os.environ, "DVC_NO_ANALYTICS": "1", "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}


def recipe() -> list:
    "The command lines of the Makefile's pipeline target, as `make -n` prints them (install taken as done)."
    printed = run([*MAKE, "-n", "-o", "install"]).stdout.replace("\\\n", " ")
    return [line.strip() for line in printed.splitlines() if line.strip()]


def run(command: list) -> subprocess.CompletedProcess:
    "Run `command` in the repository root; fail loudly, with its output, if it fails."
    result = subprocess.run(command, cwd=ROOT, env=ENVIRONMENT, capture_output=True, text=True, check=False)
    if result.returncode:
        raise SystemExit(f"{' '.join(map(str, command))} failed:\n{result.stdout}\n{result.stderr}")
    return result


def output_times() -> dict:
    "Output path -> modification time, for every output recorded in dvc.lock (a stage that runs rewrites its outputs)."
    stages = yaml.safe_load((ROOT / "dvc.lock").read_text(encoding="utf-8"))["stages"]
    return {out["path"]: (ROOT / out["path"]).stat().st_mtime_ns for stage in stages.values()
            for out in stage.get("outs", [])}


def median_time(command: list, runs: int) -> float:
    "The median wall time of `runs` runs of `command`, none of which may rewrite a pipeline output."
    times = []
    for _ in range(runs):
        before = output_times()
        start = time.perf_counter()
        run(command)
        times.append(time.perf_counter() - start)
        if output_times() != before:
            raise SystemExit(f"{' '.join(map(str, command))} ran a stage; the pipeline was not up to date")
    return statistics.median(times)


def main() -> None:
    "Bring the pipeline up to date, then time the no-op runs."
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="one timed run of each (what CI runs)")
    args = parser.parse_args()
    runs = 1 if args.quick else args.runs
    start = time.perf_counter()
    run(MAKE)
    print(f"first make pipeline (brings it up to date): {time.perf_counter() - start:.2f} s")
    left = json.loads(run([BIN / "dvc", "status", "--json"]).stdout or "{}")
    if left:
        raise SystemExit(f"dvc status after make pipeline: {left}")
    for line in recipe():
        print(f"  {line}: {median_time(['bash', '-c', line], runs):.2f} s (median of {runs})")
    print(f"no-op make pipeline: {median_time(MAKE, runs):.2f} s (median of {runs})")


if __name__ == "__main__":
    main()
