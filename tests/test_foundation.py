"""Integration checks of the project's front door: the data CLI, the Makefile's install stamp and lint gate, the
notebook-cleanliness check, the promise that `mlops_tutorial.core.data` stays light, and that the modules that only
score or serve a trained model never import Lightning."""
import json
import subprocess
import sys
from pathlib import Path

import pytest
from project import ROOT

HEAVY_MODULES = ("torch", "pytorch_lightning", "lightning", "clearml", "dvc")


def run(*command, cwd=ROOT) -> subprocess.CompletedProcess:
    "Run `command`, capturing text output, without raising on failure."
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=False, timeout=600)


def test_data_module_does_not_import_heavy_libraries():
    probe = f"import sys, json, mlops_tutorial.core.data; print(json.dumps([m for m in {HEAVY_MODULES!r} if m in sys.modules]))"
    result = run(sys.executable, "-c", probe)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == []


# The modules that check inputs, score a checkpoint or serve it: the network alone (mlops_tutorial.core.ensemble)
# without the seconds that importing Lightning takes in every such process.
WITHOUT_LIGHTNING = ("mlops_tutorial.core.ensemble", "mlops_tutorial.core.holdout", "mlops_tutorial.core.train",
                     "mlops_tutorial.beyond.serve", "mlops_tutorial.beyond.monitor",
                     "mlops_tutorial.lessons.clearml_tracking")


def test_scoring_and_serving_modules_do_not_import_lightning():
    probe = (f"import importlib, json, sys; [importlib.import_module(m) for m in {WITHOUT_LIGHTNING!r}]; "
             "print(json.dumps([m for m in ('pytorch_lightning', 'lightning', 'lightning_fabric') if m in sys.modules]))")
    result = run(sys.executable, "-c", probe)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == []


def test_data_cli_validates_good_and_refuses_bad_files(red_wine_file, tmp_path):
    good = run(sys.executable, "-m", "mlops_tutorial.core.data", "validate", str(red_wine_file))
    assert good.returncode == 0 and "1599 rows, 240 duplicates" in good.stdout
    bad_file = tmp_path / "bad.csv"
    bad_file.write_text(red_wine_file.read_text(encoding="utf-8").replace("9.4", "-9.4", 1), encoding="utf-8")
    bad = run(sys.executable, "-m", "mlops_tutorial.core.data", "validate", str(bad_file))
    assert bad.returncode == 2 and str(bad_file) in bad.stderr and "'alcohol'" in bad.stderr


def test_second_make_install_is_a_no_op():
    if not (ROOT / ".venv").is_dir():
        pytest.skip("no .venv: run `make install` first")
    assert run("make", "--question", "install").returncode == 0, "make install would do work again"


def notebook_file(path: Path, *cells: str) -> Path:
    "A notebook of code cells, clean as nbdev-clean leaves it."
    code = [{"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [], "source": [source]}
            for source in cells]
    path.write_text(json.dumps({"cells": code, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}), encoding="utf-8")
    return path


def lint_command(notebook: Path, **thresholds) -> str:
    """The pylint command of `make lint` (read with `make -n`, so nothing is rewritten) with `thresholds` set, on the
    stdlib-only module mlops_tutorial/core/cli.py instead of the package and on `notebook` instead of nbs/."""
    recipe = run("make", "--no-print-directory", "-n", "lint",
                 *(f"{name}={value}" for name, value in thresholds.items())).stdout.splitlines()
    (command,) = [line for line in recipe if "tools/pylint_gates.py" in line]
    assert " --package mlops_tutorial " in command and " nbs --nbqa-shell" in command
    assert all(f" {value} " in command for value in thresholds.values())
    return (command.lstrip("@").replace(" --package mlops_tutorial ", " --package mlops_tutorial/core/cli.py ")
            .replace(" nbs --nbqa-shell", f" {notebook} --nbqa-shell"))


@pytest.mark.slow  # pylint through nbqa, three times (about 4 s)
def test_lint_gate_fails_below_its_threshold(tmp_path):
    """Each gate of the pylint command fails under its threshold: the module rates 10.00 and fails under 10.01 (while
    the notebook, one unused import in 11 statements, rates 9.09 and passes the notebooks' 9.0, its message named by
    cell); a notebook that rates 10.00 fails under 10.01 and passes at 10.00. One stdlib-only module and a small
    notebook, not the package and nbs/, keep this test at seconds (pylint infers torch and pandas for over a minute);
    `make lint` lints the package and every notebook."""
    untidy = notebook_file(tmp_path / "untidy.ipynb", "import os\n", "".join(f"print({i})\n" for i in range(10)))
    package_gate = run("bash", "-c", lint_command(untidy, PACKAGE_LINT_THRESHOLD="10.01"))
    assert package_gate.returncode != 0 and "rated at 10.00/10" in package_gate.stdout, package_gate.stdout
    assert f"{untidy}:cell_1:1:0: W0611: Unused import os (unused-import)" in package_gate.stdout
    assert "rated at 9.09/10" in package_gate.stdout
    tidy = notebook_file(tmp_path / "tidy.ipynb", 'print("tidy")\n')
    notebook_gate = lint_command(tidy, NOTEBOOK_LINT_THRESHOLD="10.01")
    failing = run("bash", "-c", notebook_gate)
    assert failing.returncode != 0 and failing.stdout.count("rated at 10.00/10") == 2, failing.stdout
    passing = run("bash", "-c", notebook_gate.replace("10.01", "10.00"))
    assert passing.returncode == 0, passing.stdout + passing.stderr


def test_cleanliness_check_names_a_notebook_with_outputs(tmp_path):
    notebook = json.loads((ROOT / "nbs" / "00_start.ipynb").read_text(encoding="utf-8"))
    code_cell = next(cell for cell in notebook["cells"] if cell["cell_type"] == "code")
    code_cell["execution_count"] = 7
    code_cell["outputs"] = [{"output_type": "stream", "name": "stdout", "text": ["left behind\n"]}]
    dirty = tmp_path / "dirty.ipynb"
    dirty.write_text(json.dumps(notebook), encoding="utf-8")
    nbdev_clean = Path(sys.executable).parent / "nbdev-clean"
    result = run(str(ROOT / "tools" / "check-unchanged.sh"), "notebooks are clean", str(tmp_path), str(nbdev_clean),
                 "--fname", str(dirty))
    assert result.returncode == 1 and str(dirty) in result.stderr
