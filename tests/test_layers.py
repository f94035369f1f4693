"""The package's layers, read from its import graph (tools/layers.py: ast, relative imports resolved, nothing
imported): `core` (what the pipeline runs on), `lessons` (the helpers of each tool lesson), `beyond` (past one
laptop) and `exercises` (the checked exercises, on top: no product module imports them). Data flows one way: a module
imports only from its own layer or a lower one, and no import cycle exists. The README's diagram of the layers is drawn
from the same graph."""
import subprocess
import sys

import networkx as nx

from project import ROOT, tool

layers = tool("layers")
GRAPH = layers.import_graph()


def upward_imports(graph: nx.DiGraph) -> list:
    "The imports from a module to a module of a higher layer."
    rank = {layer: index for index, layer in enumerate(layers.LAYERS)}
    return [(source, target) for source, target in graph.edges
            if rank[layers.layer_of(target)] > rank[layers.layer_of(source)]]


def test_every_layer_holds_modules_and_every_module_a_layer():
    package_modules = {path for path in (ROOT / "mlops_tutorial").rglob("*.py") if not path.name.startswith("_")}
    assert len(GRAPH) == len(package_modules) and {layers.layer_of(m) for m in GRAPH} == set(layers.LAYERS)


def test_no_module_imports_a_higher_layer():
    assert not upward_imports(GRAPH)


def test_no_import_cycles():
    assert nx.is_directed_acyclic_graph(GRAPH), nx.find_cycle(GRAPH)


def test_no_product_module_imports_the_exercises():
    "The exercises sit on top: a lesson's or a tool's module never needs the exercise framework or a judge."
    into_exercises = [(source, target) for source, target in GRAPH.edges
                      if layers.layer_of(target) == "exercises" and layers.layer_of(source) != "exercises"]
    assert layers.LAYERS[-1] == "exercises" and not into_exercises, into_exercises


def test_the_checks_catch_an_upward_import():
    graph = GRAPH.copy()
    graph.add_edge("mlops_tutorial.core.data", "mlops_tutorial.beyond.serve")
    assert upward_imports(graph) == [("mlops_tutorial.core.data", "mlops_tutorial.beyond.serve")]
    graph.remove_edge("mlops_tutorial.core.data", "mlops_tutorial.beyond.serve")
    graph.add_edge("mlops_tutorial.beyond.cluster", "mlops_tutorial.exercises.registry")  # what the old layout did
    assert upward_imports(graph) == [("mlops_tutorial.beyond.cluster", "mlops_tutorial.exercises.registry")]
    graph.add_edge("mlops_tutorial.core.data", "mlops_tutorial.beyond.serve")
    assert not nx.is_directed_acyclic_graph(graph)


def test_the_readme_draws_the_layers_of_the_code():
    checked = subprocess.run([sys.executable, ROOT / "tools" / "layers.py", "--check"], capture_output=True,
                             text=True, check=False)
    assert checked.returncode == 0, checked.stderr
