"""The tutorial site (`make docs`) in a real browser: every lesson has a page with its outputs, figures load, links
resolve, search works, nothing is fetched from outside, and nbdev's directives do not show.

The site is the one `make test` builds from the notebooks it has just executed (_build/html); these tests read it,
they do not build it. Pages are served from a local HTTP server on 127.0.0.1, and every request to anywhere else is
reported, so a CDN script or font fails the test.
"""
# Fixtures take other fixtures as arguments of the same name: that is how pytest wires them.
# pylint: disable=redefined-outer-name
from __future__ import annotations

import functools
import json
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urldefrag, urlparse

import pytest

from mlops_tutorial.core.data import fetch_wine

ROOT = Path(__file__).resolve().parent.parent
TOOLS = ROOT / "tools"
sys.path.insert(0, str(TOOLS))
# The site's build script (tools/), imported for its functions.
import docs_source  # pylint: disable=wrong-import-position,wrong-import-order,import-error

SITE = ROOT / "_build" / "html"
EXECUTED = ROOT / "_build" / "executed"
NBS = ROOT / "nbs"
# A term each of these lessons teaches, and the page search must list for it.
SEARCHES = {"pandera": "lessons/90_data.html", "PipelineDecorator": "lessons/05b_pipeline.html"}
JUDGE_MODULE = re.compile(r"mlops_tutorial\.exercises\.(?!registry$)\w+")  # exercises' judges and solutions
IMAGE_TYPES = ("image/png", "image/jpeg", "image/svg+xml", "image/gif")
EXTERNAL_ASSET = re.compile(r"""<(?:script|img|iframe|source)\b[^>]*\bsrc=["'](?:https?:)?//"""
                            r"""|<link\b[^>]*\bhref=["'](?:https?:)?//[^"']*["'][^>]*>""", re.IGNORECASE)

pytestmark = pytest.mark.timeout(300)


def lessons() -> list[str]:
    "The notebooks nbdev runs (its glob skips `_` and `.` names), in reading order."
    return sorted(path.stem for path in NBS.glob("*.ipynb") if not path.name.startswith(("_", ".")))


def draws_a_figure(stem: str) -> bool:
    "True when the executed notebook has an image output."
    notebook = json.loads((EXECUTED / f"{stem}.ipynb").read_text(encoding="utf-8"))
    return any(kind in output.get("data", {}) for cell in notebook["cells"] for output in cell.get("outputs", [])
               for kind in IMAGE_TYPES)


@pytest.fixture(scope="module")
def site() -> Path:
    "The built site; skips, saying how to build it, when there is none or a notebook has changed since it was built."
    index = SITE / "index.html"
    if not index.is_file():
        pytest.skip(f"no site in {SITE.relative_to(ROOT)}: build it with `make docs` (`make test` builds it first)")
    newer = sorted(path.name for path in NBS.glob("[!_]*.ipynb") if path.stat().st_mtime > index.stat().st_mtime)
    if newer:
        pytest.skip(f"the site in {SITE.relative_to(ROOT)} is older than {', '.join(newer[:3])}: rebuild it with "
                    "`make docs` (`make test` builds it first)")
    return SITE


@pytest.fixture(scope="module")
def site_url(site: Path) -> Iterator[str]:
    "The site served over HTTP on 127.0.0.1 (a free port), for the length of this module."
    handler = functools.partial(QuietHandler, directory=str(site))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


class QuietHandler(SimpleHTTPRequestHandler):
    "A static file handler that does not log every request to stderr."

    def log_message(self, format, *args):  # pylint: disable=redefined-builtin
        pass


def write_toy_project(folder: Path) -> Path:
    "A two-notebook nbdev project in `folder`: 00_ok runs (one cell flagged notest), 01_bad raises."
    (folder / "nbs").mkdir(parents=True)
    (folder / "pyproject.toml").write_text('[project]\nname = "toy"\nversion = "0.0.1"\n\n[tool.nbdev]\n'
                                           'lib_path = "toy"\nnbs_path = "nbs"\ntst_flags = "notest"\n')
    cells = [("markdown", "# Toy\n\n> A toy lesson."), ("code", "#| default_exp toy"),
             ("code", "#| export\nanswer = 6 * 7\nprint(answer)"), ("code", "#| notest\nraise SystemExit('ran')"),
             ("code", "#| hide\nassert answer == 42"), ("code", "#| echo: false\nprint('output only')")]
    # 01_bad first hides sys.__stderr__, as ClearML's console capture does: the runner must still show the error.
    failing = [("code", "import io, sys\nsys.__stderr__ = sys.stderr = io.StringIO()\n1 / 0")]
    write_notebook(folder / "nbs" / "00_ok.ipynb", cells)
    write_notebook(folder / "nbs" / "01_bad.ipynb", failing)
    return folder


def write_notebook(path: Path, cells: list) -> None:
    "Write a notebook of `cells`, (kind, source) pairs, to `path`."
    notebook = {"cells": [{"cell_type": kind, "id": f"c{i}", "metadata": {}, "source": text,
                           **({"outputs": [], "execution_count": None} if kind == "code" else {})}
                          for i, (kind, text) in enumerate(cells)],
                "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
                "nbformat": 4, "nbformat_minor": 5}
    path.write_text(json.dumps(notebook), encoding="utf-8")


@pytest.mark.timeout(120)
def test_notebooks_run_once_into_the_build_folder(tmp_path: Path):
    "The runner saves elsewhere: a passing notebook with its outputs (notest cell skipped), a failing one not at all."
    project = write_toy_project(tmp_path / "toy")
    original = (project / "nbs" / "00_ok.ipynb").read_text(encoding="utf-8")
    run = subprocess.run([sys.executable, str(TOOLS / "execute_notebooks.py"), "--out", "out", "--n-workers", "2"],
                         cwd=project, capture_output=True, text=True, timeout=110, check=False)
    assert run.returncode == 1, run.stdout + run.stderr
    assert "01_bad.ipynb failed in cell 1 (id c0): ZeroDivisionError: division by zero" in run.stderr, run.stderr
    assert "----> 3 1 / 0" in run.stderr, "the failing line of the traceback"
    assert sorted(path.name for path in (project / "out").iterdir()) == ["00_ok.ipynb"]
    executed = json.loads((project / "out" / "00_ok.ipynb").read_text(encoding="utf-8"))["cells"]
    assert executed[2]["outputs"][0]["text"] == ["42\n"]
    assert executed[3]["outputs"] == [], "the notest cell ran"
    assert (project / "nbs" / "00_ok.ipynb").read_text(encoding="utf-8") == original, "nbs/ was written to"


@pytest.mark.slow  # runs notebooks in fresh kernels (about 6 s)
@pytest.mark.timeout(120)
def test_each_notebook_starts_with_the_environment_the_runner_started_with(tmp_path: Path):
    "A variable one notebook sets (as ClearML's Task.init sets CLEARML_PROC_MASTER_ID) is gone in the next one."
    project = write_toy_project(tmp_path / "toy")
    (project / "nbs" / "01_bad.ipynb").unlink()
    write_notebook(project / "nbs" / "01_sets.ipynb", [("code", "import os\nos.environ['LEFT_BEHIND'] = '1'")])
    write_notebook(project / "nbs" / "02_reads.ipynb", [("code", "import os\nassert 'LEFT_BEHIND' not in os.environ")])
    run = subprocess.run([sys.executable, str(TOOLS / "execute_notebooks.py"), "--out", "out", "--n-workers", "1"],
                         cwd=project, capture_output=True, text=True, timeout=110, check=False)
    assert run.returncode == 0, run.stdout + run.stderr
    assert sorted(path.name for path in (project / "out").iterdir()) == ["00_ok.ipynb", "01_sets.ipynb",
                                                                         "02_reads.ipynb"]


def test_site_source_takes_nbdev_directives_out(tmp_path: Path):
    "hide cells are dropped, `#|` lines stripped, an empty default_exp cell dropped, echo: false hides the input."
    executed = tmp_path / "executed"
    executed.mkdir()
    project = write_toy_project(tmp_path / "toy")
    shutil.copy(project / "nbs" / "00_ok.ipynb", executed / "00_ok.ipynb")
    (project / "nbs" / "01_bad.ipynb").unlink()
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "index.md").write_text("# Toy\n", encoding="utf-8")
    written = docs_source.assemble(executed, tmp_path / "docs", project / "nbs", tmp_path / "out")
    assert sorted(written) == ["index.md", "lessons/00_ok.ipynb"]
    cells = json.loads((tmp_path / "out" / "lessons" / "00_ok.ipynb").read_text(encoding="utf-8"))["cells"]
    assert [cell["source"] for cell in cells] == ["# Toy\n\n> A toy lesson.", "answer = 6 * 7\nprint(answer)",
                                                  "raise SystemExit('ran')", "print('output only')"]
    assert cells[3]["metadata"]["tags"] == ["remove-input"]
    assert docs_source.assemble(executed, tmp_path / "docs", project / "nbs", tmp_path / "out") == []
    (executed / "00_ok.ipynb").unlink()
    with pytest.raises(FileNotFoundError, match="no executed copy of 00_ok.ipynb"):
        docs_source.assemble(executed, tmp_path / "docs", project / "nbs", tmp_path / "out")


@functools.cache
def page_text(path: Path) -> str:
    "A page's HTML (read once per run: many links point into the same pages)."
    return path.read_text(encoding="utf-8")


def pages(site: Path) -> list[str]:
    "Every HTML page of the site, relative to its root."
    return sorted(path.relative_to(site).as_posix() for path in site.rglob("*.html")
                  if "_static" not in path.parts and "_sources" not in path.parts)


def test_every_lesson_has_a_page_with_its_outputs(site: Path):
    "One page per notebook, linked from the front page, each showing the outputs of its run."
    index = (site / "index.html").read_text(encoding="utf-8")
    positions = []
    for stem in lessons():
        page = site / "lessons" / f"{stem}.html"
        assert page.is_file(), f"{stem}.ipynb has no page ({page.relative_to(ROOT)})"
        assert 'class="cell_output' in page.read_text(encoding="utf-8"), f"{page.name} shows no cell output"
        positions.append(index.find(f'href="lessons/{stem}.html"'))
    assert -1 not in positions, f"the front page does not link every lesson: {dict(zip(lessons(), positions))}"


@pytest.mark.slow
def test_the_front_page_starts_with_the_weekend_path(site_url: str, page, page_errors, tmp_path: Path):
    """In the browser: the front page's first group of lessons is exactly the path, 00 to 05 in file order, and every
    group lists its notebooks in file order; a screenshot of the page is taken (look at it when this fails)."""
    page.goto(site_url, wait_until="load")
    groups = page.locator("article .toctree-wrapper").evaluate_all(
        "groups => groups.map(g => [...g.querySelectorAll('a')].map(a => a.getAttribute('href')))")
    page.screenshot(path=tmp_path / "front-page.png", full_page=True)
    path = [stem for stem in lessons() if re.match(r"0[0-5]_", stem)]
    assert groups[0] == [f"lessons/{stem}.html" for stem in path] and len(path) == 6, groups[0]
    for links in groups:
        lessons_linked = [link for link in links if link.startswith("lessons/")]
        assert lessons_linked == sorted(lessons_linked), f"a group out of file order: {lessons_linked}"
    assert (tmp_path / "front-page.png").stat().st_size > 10_000 and not page_errors, page_errors


def test_front_page_links_the_article_and_the_repository(site: Path):
    "The article the series re-tells and the repository are linked from the front page."
    index = (site / "index.html").read_text(encoding="utf-8")
    assert 'href="https://habr.com/ru/articles/832856/"' in index
    assert re.search(r'href="https://[^"]+"[^>]*>the repository<', index) or "set MLOPS_TUTORIAL_REPOSITORY" in index


def test_no_page_loads_anything_from_outside(site: Path):
    "No script, stylesheet, font or image comes from another host: the site works offline and from disk."
    offenders = {page: EXTERNAL_ASSET.findall((site / page).read_text(encoding="utf-8")) for page in pages(site)}
    assert not {page: found for page, found in offenders.items() if found}


def test_api_reference_lists_every_module(site: Path):
    """The API reference (sphinx-autoapi) has a page for every public module, with its exported functions, except the
    exercises' judge modules, which hold the reference solutions."""
    package = ROOT / "mlops_tutorial"
    modules = sorted(".".join((package.name, *relative.with_suffix("").parts)) for relative in
                     (path.relative_to(package) for path in package.rglob("*.py"))
                     if not any(part.startswith("_") for part in relative.parts))
    judges = [module for module in modules if JUDGE_MODULE.fullmatch(module)]  # their solutions stay in 99*, folded
    assert judges and not any((site / "api" / module.replace(".", "/")).exists() for module in judges), judges
    pages = {module: site / "api" / module.replace(".", "/") / "index.html" for module in modules
             if module not in judges}
    missing = [module for module, page in pages.items()
               if not page.is_file() or f'id="module-{module}"' not in page_text(page)]
    assert not missing, f"modules without an API page: {missing}"
    assert f'id="{fetch_wine.__module__}.fetch_wine"' in page_text(pages[fetch_wine.__module__])


@dataclass
class Visit:
    "What Chromium saw on one page of the site."
    problems: list[str]
    links: list[str]
    image_widths: list[int]
    code_first_lines: list[str]


def watch(page, site_url: str, problems: list[str], outside: list[str]) -> None:
    "Collect the page's console errors and uncaught exceptions in `problems`, requests off the site in `outside`."
    page.on("console", lambda message: problems.append(f"console {message.type}: {message.text}")
            if message.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(f"uncaught exception: {error}"))
    # Recorded, not intercepted (interception slows every request): offline they fail anyway, online they count.
    page.on("request", lambda request: None if request.url.startswith((site_url, "data:", "blob:"))
            else outside.append(request.url))


@pytest.fixture(scope="module")
def crawl(site: Path, site_url: str, browser, browser_context_args) -> tuple[dict[str, Visit], list[str]]:
    "Every page of the site opened once in Chromium; also every request that tried to leave 127.0.0.1."
    context = browser.new_context(**browser_context_args)
    page = context.new_page()
    problems: list[str] = []
    outside: list[str] = []
    watch(page, site_url, problems, outside)
    visits = {}
    for name in pages(site):
        problems.clear()
        response = page.goto(site_url + name, wait_until="load")
        status = [f"HTTP {response.status}"] if response is not None and not response.ok else []
        visits[name] = Visit(
            problems=status + list(problems),
            links=page.eval_on_selector_all("a[href]", "links => links.map(a => a.href)"),
            image_widths=page.eval_on_selector_all(".cell_output img", "images => images.map(i => i.naturalWidth)"),
            code_first_lines=[text.lstrip().split("\n", 1)[0]
                              for text in page.locator(".cell_input").all_inner_texts()],
        )
    context.close()
    return visits, outside


@pytest.mark.slow  # the crawl opens every page of the site in Chromium
def test_pages_load_without_errors_in_chromium(crawl):
    "Every page loads in Chromium with no console error, no uncaught exception, no request leaving 127.0.0.1."
    visits, outside = crawl
    assert not {name: visit.problems for name, visit in visits.items() if visit.problems}
    assert not outside, f"requests left the site: {outside}"


@pytest.mark.slow  # the crawl opens every page of the site in Chromium
def test_lessons_that_draw_figures_show_loaded_images(crawl):
    "A lesson whose notebook drew a figure shows at least one output image the browser could decode."
    visits, _ = crawl
    with_figures = [stem for stem in lessons() if draws_a_figure(stem)]
    assert with_figures, "no executed notebook has an image output"
    missing = {stem: visits[f"lessons/{stem}.html"].image_widths for stem in with_figures
               if not any(width > 0 for width in visits[f"lessons/{stem}.html"].image_widths)}
    assert not missing, f"lessons with figures but no loaded output image (natural widths): {missing}"


@pytest.mark.slow  # the crawl opens every page of the site in Chromium
def test_internal_links_resolve(site: Path, site_url: str, crawl):
    "Every link between pages of the site points at an existing page, and at an existing anchor when it has one."
    visits, _ = crawl
    broken = set()
    for name, visit in visits.items():
        for href in visit.links:
            if not href.startswith(site_url):
                continue
            target, fragment = urldefrag(href)
            path = site / unquote(urlparse(target).path.lstrip("/"))
            path = path / "index.html" if path.is_dir() else path
            if not path.is_file():
                broken.add(f"{name} -> {href} (no file)")
            elif fragment and path.suffix == ".html" and f'id="{unquote(fragment)}"' not in page_text(path):
                broken.add(f"{name} -> {href} (no anchor)")
    assert not broken, sorted(broken)


@pytest.mark.slow  # the crawl opens every page of the site in Chromium
def test_lesson_code_shows_no_nbdev_directives(crawl):
    "Cells open with code, not with `#| export` or `#| hide`: nbdev's directives are taken out of the pages."
    visits, _ = crawl
    for stem in lessons():
        assert visits[f"lessons/{stem}.html"].code_first_lines, f"{stem}: no code cells on the page"
    leftovers = {name: [line for line in visit.code_first_lines if line.startswith("#|")]
                 for name, visit in visits.items()}
    assert not {name: lines for name, lines in leftovers.items() if lines}


@pytest.mark.slow
@pytest.mark.parametrize("term, lesson", sorted(SEARCHES.items()))
def test_search_finds_a_lesson_term(site_url: str, page, page_errors, term: str, lesson: str):
    "The site's search (Sphinx's index, run in the browser) lists the lesson that teaches a term."
    page.goto(f"{site_url}search.html?q={term}", wait_until="load")
    # Sphinx's search writes its summary ("Search finished, found …" or "did not match") once it has finished.
    page.wait_for_function(
        "() => (document.querySelector('#search-results .search-summary') || {}).innerText", timeout=60_000)
    summary = page.locator("#search-results .search-summary").inner_text()
    links = page.locator("#search-results ul.search li a").evaluate_all(
        "links => links.map(a => a.getAttribute('href'))")
    assert any(link.split("?")[0].split("#")[0] == lesson for link in links), f"{summary} {links}"
    assert not page_errors, page_errors


def test_api_pages_of_removed_modules_are_pruned(tmp_path):
    "autoapi keeps its pages between builds; the page of a module the package no longer has is removed, others stay."
    api = tmp_path / "api" / "mlops_tutorial"
    for module in ("core", "core/data", "lessons/exercises", "gone/deeper"):
        (api / module).mkdir(parents=True)
        (api / module / "index.rst").write_text(module)
    docs_source.prune_api_pages(tmp_path, ROOT / "mlops_tutorial")
    assert sorted(page.parent.relative_to(api).as_posix() for page in api.rglob("index.rst")) == ["core", "core/data"]
