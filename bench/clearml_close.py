"""How long ClearML's Task.close() takes offline, with the SDK's default settings and with the shipped clearml.conf.

Usage: python bench/clearml_close.py [--runs 3] [--timeout 60] [--quick]

Each measurement is a fresh Python process (this script with --child) that starts an offline task from inside this
git repository, reports one scalar and closes the task. "default" points CLEARML_CONFIG_FILE at an empty file (the
SDK's built-in settings, ignoring any ~/clearml.conf); "shipped" at mlops_tutorial/clearml.conf. A run still closing
after --timeout seconds is killed and reported as such. Sessions go to a temporary CLEARML_CACHE_DIR.
`--quick` (what CI runs) is one run of each, killed after 5 s: shorter than a close with the default settings takes
(mlops_tutorial/clearml.conf quotes this script's figures), so that run still shows the trap, and long enough for a
whole run with the shipped settings.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SHIPPED_CONFIG = Path(__file__).resolve().parents[1] / "mlops_tutorial" / "clearml.conf"


def measure_close() -> dict:
    "Start an offline task, report a scalar, close it; the seconds init and close took."
    from clearml import Task  # pylint: disable=import-outside-toplevel  # timed in the child only

    Task.set_offline(True)
    started = time.perf_counter()
    task = Task.init(project_name="mlops-tutorial-bench", task_name="close timing", auto_connect_frameworks=False)
    initialised = time.perf_counter()
    task.get_logger().report_scalar("bench", "value", 1.0, iteration=0)
    task.close()
    return {"init_s": initialised - started, "close_s": time.perf_counter() - initialised}


def run_child(config_file: Path, cache_dir: Path, timeout: float) -> float | None:
    "Close time of one fresh process with `config_file`; None if it was still running after `timeout` seconds."
    env = {**os.environ, "CLEARML_CONFIG_FILE": str(config_file), "CLEARML_CACHE_DIR": str(cache_dir)}
    env.pop("CLEARML_OFFLINE_MODE", None)
    try:
        done = subprocess.run([sys.executable, __file__, "--child"], env=env, capture_output=True, text=True,
                              timeout=timeout, check=True)
    except subprocess.TimeoutExpired:
        return None
    return json.loads(done.stdout.strip().splitlines()[-1])["close_s"]


def describe(times: list, timeout: float) -> str:
    "Each run's close time and the median; runs killed at the timeout count as the timeout."
    shown = [f"{t:.2f}" if t is not None else f">{timeout:.0f} (killed)" for t in times]
    median = statistics.median(t if t is not None else timeout for t in times)
    return f"median {median:.2f} s; runs: {', '.join(shown)}"


def main() -> None:
    "Alternate default and shipped settings `--runs` times each and print the close times."
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds before a run counts as hung")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--quick", action="store_true", help="one run of each, killed after 5 s (what CI runs)")
    args = parser.parse_args()
    if args.quick:
        args.runs, args.timeout = 1, 5.0
    if args.child:
        print(json.dumps(measure_close()))
        return
    with tempfile.TemporaryDirectory(prefix="clearml-close-") as scratch:
        empty_config = Path(scratch) / "empty.conf"
        empty_config.write_text("", encoding="utf-8")
        configs = {"default": empty_config, "shipped": SHIPPED_CONFIG}
        times = {name: [] for name in configs}
        for run in range(args.runs):
            for name, config_file in configs.items():
                times[name].append(run_child(config_file, Path(scratch) / "cache", args.timeout))
                print(f"run {run + 1} {name}: {times[name][-1]}", flush=True)
    for name, measured in times.items():
        print(f"Task.close() with {name} settings: {describe(measured, args.timeout)}")


if __name__ == "__main__":
    main()
