"""Tests for mlops_tutorial.lessons.makefile (nbs/97_makefile_parser.ipynb): the project's own Makefile and small ones in tmp_path."""

import re
import shutil
import sys
from pathlib import Path

import pytest

import networkx as nx

from mlops_tutorial.lessons.makefile import (
    MakefileError,
    build_order,
    disagreements,
    draw_target_graph,
    expand,
    main,
    make_database,
    make_in,
    missing_help,
    parse_makefile,
    run_make,
    target_graph,
    target_layers,
)
from project import ROOT, assert_refused

needs_make = pytest.mark.skipif(shutil.which("make") is None,
                                reason="GNU make is not on PATH: install it (apt-get install make, brew install make)")
pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def project():
    "The project's Makefile, parsed."
    return parse_makefile(ROOT / "Makefile")


def write_makefile(folder: Path, text: str) -> Path:
    "Write `text` as folder/Makefile and return its path."
    path = folder / "Makefile"
    path.write_text(text)
    return path


def test_every_phony_target_of_the_project_has_a_help_line(project):
    assert project.phony, "no .PHONY targets found: the parser or the Makefile is broken"
    assert missing_help(project) == [], f"Makefile targets without a ## help line: {missing_help(project)}"


def test_every_rule_with_help_is_phony(project):
    documented = [rule.target for rule in project.rules.values() if rule.help_text]
    assert [target for target in documented if target not in project.phony] == []


@needs_make
def test_make_help_lists_exactly_the_phony_targets(project):
    listing = run_make(ROOT, "help").splitlines()
    listed = [line.split()[0] for line in listing if line.startswith("  ")]
    assert sorted(listed) == sorted(project.phony)
    assert listing[0] == "Start here:" and listed[:6] == ["install", "lab", "pipeline", "test", "check", "docs"]
    headings = [line for line in listing if line and not line.startswith(" ")]
    assert len(headings) >= 6 and all(heading.endswith(":") for heading in headings), headings


@needs_make
def test_parser_agrees_with_makes_own_database(project):
    database = make_database(ROOT)
    assert len(database.rules) >= len(project.rules) and sorted(database.phony) == sorted(project.phony)
    assert disagreements(project, database) == {}


@needs_make
def test_build_order_matches_make_trace(project):
    variables = make_database(ROOT).variables
    order = [expand(target, variables) for target in build_order(project, "test")]
    traced = re.findall(r"update target '([^']+)'", run_make(ROOT, "--trace", "-n", "test"))
    assert "test" in traced and traced == [target for target in order if target in traced]
    assert order.index("install") < order.index("data") < order.index("lint") < order.index("test")


def test_parses_variables_continuations_and_several_targets(tmp_path):
    path = write_makefile(
        tmp_path,
        "VENV ?= .venv\nSTAMP := $(VENV)/.stamp\n.PHONY: all tidy\n"
        "all: $(STAMP) \\\n  extra ## build everything\n\t@echo done\n"
        "$(STAMP) extra: setup.cfg\n\ttouch $@\ntidy: ## remove outputs # not part of the help\n"
        "all: export PATH := $(VENV)/bin:$(PATH)\n",
    )
    makefile = parse_makefile(path)
    assert makefile.variables["STAMP"] == "$(VENV)/.stamp"
    assert makefile.rules["all"].prerequisites == [".venv/.stamp", "extra"]
    assert makefile.rules["all"].help_text == "build everything" and makefile.rules["all"].recipe == ["@echo done"]
    assert makefile.rules["extra"].prerequisites == ["setup.cfg"] == makefile.rules[".venv/.stamp"].prerequisites
    assert makefile.rules["tidy"].help_text == "remove outputs"
    assert target_layers(makefile)["all"] == 2 and missing_help(makefile) == []


def test_phony_target_without_help_is_reported(tmp_path, capsys):
    path = write_makefile(tmp_path, ".PHONY: build deploy\nbuild: ## compile\n\techo build\ndeploy: build\n\techo go\n")
    assert missing_help(parse_makefile(path)) == ["deploy"]
    with pytest.raises(SystemExit) as exit_status:
        main([str(path)])
    assert exit_status.value.code == 1 and "deploy" in capsys.readouterr().err


def test_recipe_outside_a_rule_names_file_and_line(tmp_path):
    path = write_makefile(tmp_path, "VENV := .venv\n\techo orphan\n")
    with pytest.raises(MakefileError, match=re.escape(f"{path}:2:")):
        parse_makefile(path)


def test_missing_makefile_names_the_file(tmp_path):
    with pytest.raises(MakefileError, match="no-such-Makefile"):
        parse_makefile(tmp_path / "no-such-Makefile")


def test_circular_dependency_is_an_error(tmp_path):
    makefile = parse_makefile(write_makefile(tmp_path, "a: b\nb: a\n"))
    with pytest.raises(MakefileError, match="circular dependency a -> b -> a"):
        build_order(makefile, "a")
    with pytest.raises(MakefileError, match="circular dependency"):
        target_graph(makefile)


def test_target_graph_has_an_edge_per_prerequisite(project):
    graph = target_graph(project)
    assert nx.is_directed_acyclic_graph(graph)
    assert set(graph.successors("lint")) == set(project.rules["lint"].prerequisites)
    assert nx.has_path(graph, "test", "$(INSTALL_STAMP)") and nx.has_path(graph, "pipeline", "install")


def test_drawing_only_the_goals_keeps_what_they_need(project):
    ax = draw_target_graph(project, goals=["pipeline"])
    drawn = {text.get_text() for text in ax.texts}
    assert drawn == {"pipeline", *nx.descendants(target_graph(project), "pipeline")}


@needs_make
def test_make_in_runs_this_environments_python_without_a_parent_makes_flags(tmp_path, monkeypatch):
    write_makefile(tmp_path, "where:\n\t@python -c 'import sys; print(sys.prefix)'\n\t@echo $$EXTRA\n")
    monkeypatch.setenv("MAKEFLAGS", "-n")  # a parent make's dry run would keep the recipe from running
    result = make_in(tmp_path, "where", environment={"EXTRA": "set"})
    assert result.returncode == 0 and result.stdout.splitlines() == [sys.prefix, "set"]
    assert make_in(tmp_path, "missing").returncode == 2


@pytest.mark.parametrize("arguments, message", [
    (["no-such-Makefile"], "no-such-Makefile: cannot read the Makefile"),
    (["--colour", "red"], "--colour: unknown argument"),
    (["--graph"], "--graph: expected one argument"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, monkeypatch, capsys, arguments, message):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_status:
        main(arguments)
    error = capsys.readouterr().err
    assert_refused(exit_status.value.code, error, message)


def test_graph_in_an_unknown_format_is_bad_input(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_status:
        main([str(ROOT / "Makefile"), "--graph", str(tmp_path / "graph.xyz")])
    error = capsys.readouterr().err
    assert exit_status.value.code == 2 and error.startswith(f"error: {tmp_path / 'graph.xyz'}: cannot save the graph")


def test_graph_is_drawn_to_a_file(tmp_path):
    image = tmp_path / "graph.png"
    main([str(ROOT / "Makefile"), "--graph", str(image)])
    assert image.stat().st_size > 10_000
