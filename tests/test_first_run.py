"""A learner's first run: `nbs/00_start.ipynb` (and the data loader's reference notebook, `nbs/90_data.ipynb`) executed
top to bottom outside make (no `WINE_QUALITY_DATA_DIR`, no Makefile variables) with an empty data cache, as a plain
`jupyter lab` would run it on a new machine. The files come from a mirror folder holding the session's verified file,
never from the network."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from project import ROOT

MAKE_VARIABLES = ("WINE_QUALITY_DATA_DIR", "CLEARML_CACHE_DIR", "MLOPS_TUTORIAL_CLEARML", "MAKEFLAGS", "MAKELEVEL")


@pytest.mark.slow
@pytest.mark.parametrize("stem", ["00_start", "90_data"])
def test_the_data_notebooks_run_first_on_an_empty_cache(stem, red_wine_file, tmp_path):
    notebook = shutil.copy(ROOT / "nbs" / f"{stem}.ipynb", tmp_path / f"{stem}.ipynb")
    environment = {name: value for name, value in os.environ.items() if name not in MAKE_VARIABLES}
    environment |= {"HOME": str(tmp_path / "home"), "XDG_CACHE_HOME": str(tmp_path / "cache"),
                    "WINE_QUALITY_MIRROR": str(red_wine_file.parent)}
    executed = subprocess.run([Path(sys.executable).parent / "jupyter-execute", notebook], cwd=tmp_path,
                              env=environment, capture_output=True, text=True, check=False, timeout=300)
    assert executed.returncode == 0, executed.stderr[-3000:]
    fetched = list((tmp_path / "cache").rglob("winequality-red.csv"))
    assert len(fetched) == 1, "the notebook must fetch into pooch's per-user cache, which started empty"
