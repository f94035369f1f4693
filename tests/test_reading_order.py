"""File order is reading order (issue 18): every notebook's number is its place, its first cell says what to read
first, its last cell names the next notebook, and every link between notebooks reaches a notebook that exists."""
import re

import nbformat
import pytest

from project import ROOT

NBS = ROOT / "nbs"
NOTEBOOKS = sorted(NBS.glob("[!_]*.ipynb"))
LINK = re.compile(r"\]\(([^)#\s]+\.ipynb)(?:#[^)]*)?\)")  # a markdown link to a notebook: [text](00_start.ipynb)


def markdown(notebook) -> list:
    "The notebook's markdown cells' sources."
    return [cell.source for cell in nbformat.read(notebook, as_version=4).cells if cell.cell_type == "markdown"]


def test_the_path_is_six_notebooks_numbered_00_to_05():
    path = [notebook.name for notebook in NOTEBOOKS if re.match(r"0[0-5]_", notebook.name)]
    assert [name[:2] for name in path] == ["00", "01", "02", "03", "04", "05"], path


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda notebook: notebook.stem)
def test_the_title_carries_the_file_number(notebook):
    first = nbformat.read(notebook, as_version=4).cells[0].source.splitlines()[0]
    assert first.startswith(f"# {notebook.name.split('_')[0]} · "), first


@pytest.mark.parametrize("notebook", NOTEBOOKS[1:], ids=lambda notebook: notebook.stem)
def test_the_first_cell_says_what_to_read_first(notebook):
    first = nbformat.read(notebook, as_version=4).cells[0].source
    assert LINK.search(first), f"{notebook.name}: its first cell links no notebook to read first"


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda notebook: notebook.stem)
def test_the_last_cell_names_the_next_notebook(notebook):
    last = nbformat.read(notebook, as_version=4).cells[-1]
    assert last.cell_type == "markdown" and "Next" in last.source and LINK.search(last.source), \
        f"{notebook.name}: its last cell does not name the next notebook (a markdown line `Next: [..](NN_x.ipynb)`)"


def test_every_link_between_notebooks_reaches_one():
    broken = {notebook.name: target for notebook in NOTEBOOKS for source in markdown(notebook)
              for target in LINK.findall(source) if not (NBS / target).is_file()}
    assert not broken, broken


def test_no_code_cell_prints_a_link_to_a_notebook():
    "The site rewrites `x.ipynb` links of markdown cells into pages, never those a cell prints: they would break there."
    printed = [notebook.name for notebook in NOTEBOOKS for cell in nbformat.read(notebook, as_version=4).cells
               if cell.cell_type == "code" and LINK.search(cell.source)]
    assert not printed, printed
