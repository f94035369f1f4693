"""ClearML's `Dataset` in offline mode (tutorial 05c), each scenario in a fresh Python process with the shipped
clearml.conf and a temporary CLEARML_CACHE_DIR: a version is recorded as a manifest of hashes and local paths, not as
data; finalize, read back and parents are refused with the errors the tutorial quotes."""
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from mlops_tutorial.core.data import WINE_FILES
from project import ROOT

pytestmark = pytest.mark.timeout(300)
PRELUDE = """
import json, sys
from pathlib import Path
from clearml import Dataset, Task
from mlops_tutorial.lessons.clearml_datasets import CapturedWarnings, add_files_when_ready, dataset_state, zip_holds_bytes
from mlops_tutorial.lessons.clearml_tracking import PROJECT, use_offline_config
use_offline_config()
Dataset.set_offline(True)
wine = Path(sys.argv[1])
facts = {}
"""


def run_offline(script: str, wine_file: Path, cache: Path) -> dict:
    "Run `script` (after PRELUDE) in a fresh Python with ClearML's cache in `cache`; the `facts` it prints as JSON."
    env = {key: value for key, value in os.environ.items() if not key.startswith("CLEARML_")}
    code = PRELUDE + textwrap.dedent(script) + "\nprint('FACTS=' + json.dumps(facts))\n"
    result = subprocess.run([sys.executable, "-c", code, str(wine_file)], cwd=ROOT, capture_output=True, text=True,
                            timeout=240, check=False, env=env | {"CLEARML_CACHE_DIR": str(cache)})
    assert result.returncode == 0, result.stdout + result.stderr
    line = next(line for line in result.stdout.splitlines() if line.startswith("FACTS="))
    return json.loads(line.removeprefix("FACTS="))


@pytest.mark.slow
def test_an_offline_version_is_a_manifest_not_the_data(tmp_path, red_wine_file):
    facts = run_offline("""
        dataset = Dataset.create(dataset_name="red wine", dataset_project=PROJECT, dataset_version="1.0")
        add_files_when_ready(dataset, wine)
        dataset.upload()
        with CapturedWarnings() as finalizing:
            facts["finalized"] = dataset.finalize()
        facts["warnings"], facts["is_final"] = finalizing.messages, dataset.is_final()
        session = Path(dataset.get_offline_mode_folder())
        facts["session"], facts["state"] = str(session), dataset_state(session)
        Task.current_task().close()
        facts["zip_holds_data"] = zip_holds_bytes(f"{session}.zip", wine)
    """, red_wine_file, tmp_path / "cache")
    entry, = facts["state"]["dataset_file_entries"]
    assert facts["finalized"] is None and facts["is_final"] is False
    assert facts["warnings"] == ["Cannot finalize dataset in offline mode."]
    assert Path(facts["session"]).is_relative_to(tmp_path / "cache" / "offline")
    assert entry["hash"] == WINE_FILES["red"][1] and entry["size"] == red_wine_file.stat().st_size
    assert entry["local_path"] == str(red_wine_file) and entry["relative_path"] == red_wine_file.name
    assert facts["zip_holds_data"] is False
    assert (tmp_path / "cache" / "offline" / (Path(facts["session"]).name + ".zip")).is_file()


@pytest.mark.slow
def test_read_back_and_parents_are_refused_offline(tmp_path, red_wine_file):
    facts = run_offline("""
        dataset = Dataset.create(dataset_name="red wine", dataset_project=PROJECT, dataset_version="1.0")
        add_files_when_ready(dataset, wine)
        dataset.upload()
        attempts = {"get": lambda: Dataset.get(dataset_id=dataset.id), "local copy": dataset.get_local_copy,
                    "parent id": lambda: Dataset.create(dataset_name="v2", dataset_project=PROJECT,
                                                        parent_datasets=[dataset.id]),
                    "parent object": lambda: Dataset.create(dataset_name="v2", dataset_project=PROJECT,
                                                            parent_datasets=[dataset])}
        for name, attempt in attempts.items():
            try:
                attempt()
                facts[name] = "accepted"
            except ValueError as error:
                facts[name] = str(error)
        Task.current_task().close()
    """, red_wine_file, tmp_path / "cache")
    assert facts == {"get": "Cannot get dataset in offline mode.",
                     "local copy": "Cannot get dataset local copy in offline mode.",
                     "parent id": "Cannot get dataset in offline mode.",
                     "parent object": "Cannot inherit from a parent that was not finalized/closed"}


@pytest.mark.slow
def test_add_files_when_ready_needs_the_dataset_to_be_the_current_task(tmp_path, red_wine_file):
    facts = run_offline("""
        dataset = Dataset.create(dataset_name="red wine", dataset_project=PROJECT, dataset_version="1.0")
        Task.current_task().close()
        try:
            add_files_when_ready(dataset, wine)
            facts["outcome"] = "accepted"
        except RuntimeError as error:
            facts["outcome"] = str(error)
    """, red_wine_file, tmp_path / "cache")
    assert facts["outcome"].endswith("is not the current task; create it with Dataset.create offline")
