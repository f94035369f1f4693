"""Tests for mlops_tutorial.lessons.linters and the project's lint gate (pre-commit hooks, secrets scan, thresholds)."""

import json
import shlex
import subprocess
from pathlib import Path

import pytest
import yaml

from mlops_tutorial.lessons.linters import LintError, lint_score, tool
from mlops_tutorial.lessons.makefile import parse_makefile
from project import ROOT

pytestmark = pytest.mark.timeout(120)
CLEAN_MODULE = '"""Prices."""\n\n\ndef total(prices: list) -> float:\n    """Sum of `prices`."""\n    return sum(prices)\n'


def write_notebook(path: Path, cells: list) -> Path:
    "A minimal notebook with one code cell per string in `cells`."
    notebook = {
        "cells": [{"cell_type": "code", "execution_count": None, "id": f"c{number}", "metadata": {}, "outputs": [],
                   "source": source} for number, source in enumerate(cells)],
        "metadata": {"kernelspec": {"display_name": "python3", "language": "python", "name": "python3"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    path.write_text(json.dumps(notebook), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def hooks():
    "The hooks of .pre-commit-config.yaml by id."
    config = yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text(encoding="utf-8"))
    return {hook["id"]: hook for repo in config["repos"] for hook in repo["hooks"]}


def test_source_with_unused_variable_scores_below_ten():
    report = lint_score("def total(prices):\n    count = len(prices)\n    return sum(prices)\n")
    assert report.score < 10
    assert "unused-variable" in report.symbols
    unused = next(message for message in report.messages if message.symbol == "unused-variable")
    assert (unused.path, unused.line, unused.msg_id) == ("snippet.py", 2, "W0612") and "count" in unused.message


def test_score_follows_pylints_default_evaluation():
    # nbs/02_linters.ipynb states the formula: 10 - 10 * (5 * errors + other messages) / statements, floored at 0
    report = lint_score('"""Prices."""\n\n\ndef total(prices):\n    """Sum."""\n    return sum(prices) + shipping\n')
    errors = sum(message.msg_id.startswith("E") for message in report.messages)
    others = sum(message.msg_id[0] in "WRC" for message in report.messages)
    assert errors == 1 and report.score == round(max(0.0, 10 - 10 * (5 * errors + others) / report.statements), 2)
    assert lint_score("print(a, b, c)\n").score == 0.0


def test_clean_module_scores_ten(tmp_path):
    module = tmp_path / "prices.py"
    module.write_text(CLEAN_MODULE, encoding="utf-8")
    assert lint_score(module).score == 10.0
    assert lint_score(str(module)).messages == []
    assert lint_score(CLEAN_MODULE).score == 10.0


@pytest.mark.parametrize("name", ["missing_module.py", "missing_notebook.ipynb"])
def test_missing_file_is_a_clear_error(tmp_path, name):
    for target in (tmp_path / name, str(tmp_path / name)):
        with pytest.raises(FileNotFoundError, match=f"{name}: no such file to lint"):
            lint_score(target)


def test_other_files_and_empty_source_are_refused(tmp_path):
    data = tmp_path / "table.csv"
    data.write_text("a,b\n1,2\n", encoding="utf-8")
    with pytest.raises(LintError, match="table.csv: not a .py or .ipynb file"):
        lint_score(data)
    with pytest.raises(LintError, match="no Python statements"):
        lint_score("# only a comment\n")


def test_notebook_verdict_is_nbqa_pylints(tmp_path):
    """A notebook's verdict comes from pylint's JSON reporter through nbqa: the score and the messages of
    `nbqa pylint`'s text report (which names each message's cell), read without parsing that text."""
    notebook = write_notebook(tmp_path / "example.ipynb", ["import os", "def f():\n    unused = 1\n    return os.sep"])
    report = lint_score(notebook)
    text = subprocess.run([tool("nbqa"), "pylint", str(notebook), "--persistent=n"], capture_output=True, text=True,
                          check=False).stdout
    assert report.score < 10 and f"rated at {report.score:.2f}/10" in text, text
    assert {"unused-variable", "missing-function-docstring"} <= set(report.symbols)
    reported = [line.split(": ", 1)[1] for line in text.splitlines() if line.startswith(f"{notebook}:cell_")]
    assert reported == [f"{item.msg_id}: {item.message} ({item.symbol})" for item in report.messages]
    assert {item.path for item in report.messages} == {str(notebook)}


def test_a_notebook_nbqa_cannot_read_is_a_clear_error(tmp_path):
    notebook = tmp_path / "broken.ipynb"
    notebook.write_text("not a notebook", encoding="utf-8")
    with pytest.raises(LintError, match="broken.ipynb: nbqa pylint gave no verdict"):
        lint_score(notebook)


def test_hooks_are_local_and_run_tools_from_the_environment(hooks):
    assert list(hooks) == ["nbdev-clean", "nbqa-pylint", "pylint-package", "detect-secrets"]
    for hook in hooks.values():
        assert hook["language"] == "system"
        executable = shlex.split(hook["entry"])[0]
        assert executable.startswith(".venv/bin/") and Path(tool(Path(executable).name)).exists()


def test_hook_thresholds_match_the_makefile(hooks):
    variables = parse_makefile(ROOT / "Makefile").variables
    assert f"--fail-under={variables['NOTEBOOK_LINT_THRESHOLD']}" in shlex.split(hooks["nbqa-pylint"]["entry"])
    assert f"--fail-under={variables['PACKAGE_LINT_THRESHOLD']}" in shlex.split(hooks["pylint-package"]["entry"])


def test_make_lint_runs_the_secrets_scan():
    makefile = parse_makefile(ROOT / "Makefile")
    assert "secrets" in makefile.rules["lint"].prerequisites and "secrets" in makefile.phony
    assert any("detect-secrets-hook" in line for line in makefile.rules["secrets"].recipe)


def test_secrets_scan_catches_a_key_and_passes_checksums(tmp_path):
    leaked = tmp_path / "deploy.cfg"
    leaked.write_text("[aws]\naws_access_key_id = " + "AKIA" + "IOSFODNN7EXAMPLE" + "\n", encoding="utf-8")
    checksum = tmp_path / "files.py"
    checksum.write_text('SHA256 = "4a402cf041b025d4566d954c3b9ba8635a3a8a01e039005d97d6a710278cf05e"\n', encoding="utf-8")
    command = [tool("detect-secrets-hook"), "--baseline", ".secrets.baseline"]
    caught = subprocess.run([*command, str(leaked)], cwd=ROOT, capture_output=True, text=True, check=False)
    assert caught.returncode != 0 and "AWS Access Key" in caught.stdout
    passed = subprocess.run([*command, str(checksum)], cwd=ROOT, capture_output=True, text=True, check=False)
    assert passed.returncode == 0, passed.stdout
