"""The training command on two torchrun nodes over 127.0.0.1 (tutorial 03d, `make train-two-nodes`): both ranks
finish, only rank 0 writes, and the result lands where a one-process run with the same seed lands (the same scores,
not the same weights). Also: a failing node stops the others, the SLURM script, the command's bad input."""
import json
import shlex
import subprocess
import sys
import time

import pytest
import torch

from mlops_tutorial.beyond.cluster import slurm_script, wait_for_nodes
from mlops_tutorial.core.servers import group_alive, start_in_own_group, stop_group
from mlops_tutorial.beyond.cluster import main as cluster_main
from mlops_tutorial.core.train import build_parser as build_train_parser
from project import ROOT, assert_refused

pytestmark = pytest.mark.timeout(900)


def cluster(*arguments, timeout: int = 800) -> subprocess.CompletedProcess:
    "`python -m mlops_tutorial.beyond.cluster ARGUMENTS` from the repository root."
    return subprocess.run([sys.executable, "-m", "mlops_tutorial.beyond.cluster", *map(str, arguments)], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout, check=False)


@pytest.mark.slow
def test_two_nodes_finish_only_rank_0_writes_and_match_one_process(tmp_path, red_wine_file):
    common = ["--data", red_wine_file, "--max-epochs", 30, "--ensemble-size", 1, "--dropout", 0.0, "--seed", 0]
    nodes = cluster("nodes", "--nnodes", 2, "--", *common,
                    "--checkpoint", tmp_path / "nodes/model.ckpt", "--metrics", tmp_path / "nodes/metrics.json")
    output = nodes.stdout + nodes.stderr
    assert nodes.returncode == 0, output[-3000:]
    assert "[node 0] trained 30 epochs in 2 process(es) (gloo)" in output
    assert "GLOBAL_RANK: 1, MEMBER: 2/2" in output and "[node 1] trained" not in output
    assert sorted(path.name for path in (tmp_path / "nodes").iterdir()) == ["metrics.json", "model.ckpt"]
    single = subprocess.run([sys.executable, "-m", "mlops_tutorial.core.train", *map(str, common), "--accelerator", "cpu",
                             "--checkpoint", str(tmp_path / "one/model.ckpt"),
                             "--metrics", str(tmp_path / "one/metrics.json")],
                            cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert single.returncode == 0, single.stderr
    two, one = (json.loads((tmp_path / name / "metrics.json").read_text(encoding="utf-8")) for name in ("nodes", "one"))
    weights = {name: torch.load(tmp_path / name / "model.ckpt", weights_only=False)["state_dict"]
               for name in ("nodes", "one")}
    gap = max((weights["nodes"][key] - weights["one"][key]).abs().max().item() for key in weights["one"])
    assert set(two) == set(one) and all(abs(two[name] - one[name]) <= 0.02 for name in one), (two, one)
    assert 0 < gap < 1, f"largest weight difference {gap}: two nodes are not one process, nor far from it"


def test_a_failing_node_stops_the_others(tmp_path):
    logs = [(tmp_path / f"node{rank}.log").open("wb") for rank in (0, 1)]
    waiting = start_in_own_group([sys.executable, "-c", "import time; time.sleep(300)"], logs[0])
    failing = start_in_own_group([sys.executable, "-c", "raise SystemExit(3)"], logs[1])
    started = time.monotonic()
    try:
        wait_for_nodes([waiting, failing], timeout=120)
    finally:
        for process in (waiting, failing):
            stop_group(process, grace=5.0)
        for log in logs:
            log.close()
    assert time.monotonic() - started < 60, "waited for the healthy node instead of stopping at the failure"
    assert failing.returncode == 3 and waiting.returncode != 0
    assert not group_alive(waiting.pid) and not group_alive(failing.pid)


@pytest.mark.slow
def test_nodes_that_fail_to_train_are_reported(tmp_path):
    result = cluster("nodes", "--nnodes", 2, "--timeout", 600, "--", "--data", tmp_path / "missing.csv",
                     "--checkpoint", tmp_path / "m.ckpt", "--metrics", tmp_path / "m.json")
    assert result.returncode == 1, result.stdout[-2000:] + result.stderr
    assert result.stderr.strip().splitlines()[-1] == "error: node(s) 0, 1 failed (see their output above)"
    assert f"{tmp_path / 'missing.csv'}: no such file" in result.stdout
    assert not list(tmp_path.glob("m.*"))


def test_slurm_script_runs_the_training_command_with_srun(tmp_path, run):
    result = run(cluster_main, ["slurm", "--nodes", 3, "--tasks-per-node", 4, "--", "--max-epochs", 50,
                                "--checkpoint", "models/wine.ckpt", "--metrics", "reports/train.json"])
    assert result.code == 0, result.stderr
    script = result.stdout
    assert script.startswith("#!/bin/bash\n") and script == slurm_script(
        ["--max-epochs", "50", "--checkpoint", "models/wine.ckpt", "--metrics", "reports/train.json"], 3, 4)
    assert "#SBATCH --nodes=3\n" in script and "#SBATCH --ntasks-per-node=4  # = Trainer(devices=...)\n" in script
    srun = shlex.split(script.strip().splitlines()[-1])
    parsed = build_train_parser().parse_args(srun[4:])
    assert srun[:4] == ["srun", "python", "-m", "mlops_tutorial.core.train"]
    assert (parsed.num_nodes, parsed.devices, parsed.strategy, parsed.max_epochs) == (3, 4, "ddp", 50)
    (tmp_path / "train.sbatch").write_text(script, encoding="utf-8")
    assert subprocess.run(["bash", "-n", str(tmp_path / "train.sbatch")], check=False).returncode == 0


@pytest.mark.parametrize("arguments, message", [
    (["nodes", "--nnodes", "1"], "argument --nnodes: '1' is not a whole number from 2 to 8"),
    (["slurm", "--nodes", "0"], "argument --nodes: '0' is not a whole number from 1 to 1024"),
    (["slurm", "--", "--max-epochs", "many"], "argument --max-epochs: invalid int value: 'many'"),
    (["nodes", "--", "--no-such-flag"], "unrecognized arguments: --no-such-flag"),
    (["train"], "invalid choice: 'train'"),
])
def test_cluster_command_refuses_bad_input(arguments, message, run):
    result = run(cluster_main, arguments)
    assert_refused(result.code, result.stderr, message)
