"""Every benchmark in bench/ runs in its quick mode (`--quick`), so none rots unnoticed: it exits 0 and prints its
figures. The figures are for people and depend on the machine, so they are not asserted; the full runs stay manual.
Each runs in a scratch copy of the working tree, since some run make or DVC in their repository."""
import os
import re
import subprocess
import sys

import pytest

from dvc_tree import copy_working_tree
from project import ROOT

BENCHMARKS = sorted(path.name for path in (ROOT / "bench").glob("*.py"))


def test_there_are_benchmarks_to_run():
    assert {"clearml_close.py", "pipeline_noop.py", "test_time.py", "venv_size.py"} <= set(BENCHMARKS)


@pytest.mark.slow
@pytest.mark.timeout(600)
@pytest.mark.parametrize("name", BENCHMARKS)
def test_the_benchmark_runs_in_its_quick_mode(name, red_wine_file, tmp_path):
    root = copy_working_tree(tmp_path / "tree")
    environment = {**os.environ, "DVC_NO_ANALYTICS": "1", "CLEARML_CACHE_DIR": str(tmp_path / "clearml"),
                   "WINE_QUALITY_MIRROR": os.environ.get("WINE_QUALITY_MIRROR") or str(red_wine_file.parent),
                   "WINE_QUALITY_DATA_DIR": str(root / "data" / "raw")}
    ran = subprocess.run([sys.executable, root / "bench" / name, "--quick"], cwd=root, env=environment,
                         capture_output=True, text=True, check=False, timeout=540)
    assert ran.returncode == 0, f"bench/{name} --quick failed:\n{ran.stdout[-2000:]}\n{ran.stderr[-3000:]}"
    assert re.search(r"\d", ran.stdout), f"bench/{name} --quick printed no figure:\n{ran.stdout}"
