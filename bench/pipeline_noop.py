"""Benchmark: how long a `make pipeline` takes when nothing has changed (target: under 3 s), and where the time goes.

Usage (from the repository root): .venv/bin/python bench/pipeline_noop.py [--runs 5]
Runs `make pipeline` once to bring everything up to date, then times `--runs` more runs, each of which must run no
stage, and the same number of runs of each command in the recipe. Prints the median of each; the last line is
`no-op make pipeline: X.XX s (median of N)`. A benchmark, not a test: the figure depends on the machine and its load.
"""
import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
RECIPE = {  # the commands of the Makefile's pipeline target
    "scores check-cache": [BIN / "python", "-m", "mlops_tutorial.scores", "check-cache"],
    "dvc repro": [BIN / "dvc", "repro"],
    "scores report": [BIN / "python", "-m", "mlops_tutorial.scores", "report", "--params", "params.yaml"],
}


def timed(command: list) -> tuple:
    "Run `command` in the repository root; return (seconds, output). Fails loudly if the command fails."
    environment = {**os.environ, "DVC_NO_ANALYTICS": "1", "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    start = time.perf_counter()
    result = subprocess.run(command, cwd=ROOT, env=environment, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - start
    if result.returncode:
        raise SystemExit(f"{' '.join(map(str, command))} failed:\n{result.stdout}\n{result.stderr}")
    return seconds, result.stdout


def median_time(command: list, runs: int) -> float:
    "The median wall time of `runs` runs of `command`, each of which must run no pipeline stage."
    times = []
    for _ in range(runs):
        seconds, output = timed(command)
        if "Running stage" in output:
            raise SystemExit(f"{' '.join(map(str, command))} ran a stage; the pipeline was not up to date:\n{output}")
        times.append(seconds)
    return statistics.median(times)


def main() -> None:
    "Bring the pipeline up to date, then time the no-op runs."
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    runs = parser.parse_args().runs
    make = ["make", "--no-print-directory", "pipeline", f"VENV={BIN.parent}"]
    first, _ = timed(make)
    print(f"first make pipeline (brings it up to date): {first:.2f} s")
    for name, command in RECIPE.items():
        print(f"  {name}: {median_time(command, runs):.2f} s (median of {runs})")
    print(f"no-op make pipeline: {median_time(make, runs):.2f} s (median of {runs})")


if __name__ == "__main__":
    main()
