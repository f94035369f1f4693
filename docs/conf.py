"""Sphinx configuration of the tutorial site (`make docs`): the executed notebooks rendered by myst-nb, never re-run.

The source folder is assembled by tools/docs_source.py (docs/*.md plus the notebooks executed once by
tools/execute_notebooks.py, nbdev directives removed); this file is its configuration (`sphinx-build -c docs`).
The API reference is written by sphinx-autoapi from the package's source, which it parses without importing it.
Everything the pages load comes with the installed packages: no CDN at view time.
"""
# Sphinx reads its settings from module-level names, most of them lower-case.
# pylint: disable=invalid-name
from __future__ import annotations

import ast
import functools
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# myst-nb imports nbformat, which imports jsonschema, which imports rfc3987-syntax if it is installed (Jupyter's
# jsonschema[format-nongpl] brings it), and that builds an Earley parser of RFC 3987 at import: seconds of every
# build, for an "iri" format check no notebook schema uses. This build does without it.
sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[assignment]
ARTICLE = "https://habr.com/ru/articles/832856/"


def repository_url() -> str:
    "The repository's web address: MLOPS_TUTORIAL_REPOSITORY, [project.urls], GitHub Actions' variables, git's origin."
    if os.environ.get("MLOPS_TUTORIAL_REPOSITORY"):
        return os.environ["MLOPS_TUTORIAL_REPOSITORY"]
    urls = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"].get("urls", {})
    for key in ("Repository", "Source", "Homepage"):
        if key in urls:
            return urls[key]
    if os.environ.get("GITHUB_REPOSITORY"):
        return f"{os.environ.get('GITHUB_SERVER_URL', 'https://github.com')}/{os.environ['GITHUB_REPOSITORY']}"
    origin = subprocess.run(["git", "-C", str(ROOT), "remote", "get-url", "origin"], capture_output=True, text=True,
                            check=False).stdout.strip()
    if origin.startswith("git@github.com:"):
        origin = "https://github.com/" + origin.removeprefix("git@github.com:")
    return origin.removesuffix(".git") if origin.startswith("https://") else ""


REPOSITORY = repository_url()

project = "mlops-tutorial"
author = "mlops-tutorial developers"
copyright = "mlops-tutorial developers, Apache-2.0"  # pylint: disable=redefined-builtin
extensions = ["myst_nb", "autoapi.extension"]
# The API reference: autodoc would import every module, so torch, Lightning and ClearML, and fail with any of them;
# sphinx-autoapi reads the source (astroid). A module's public names are its __all__, which nbdev-export writes from
# the notebook's `#| export` cells; _modidx.py and other private modules are left out.
PACKAGE = ROOT / "mlops_tutorial"
autoapi_dirs = [str(PACKAGE)]
autoapi_root = "api"
# The judge modules of the exercises (mlops_tutorial.exercises.makefile, ….lint, …) hold the reference solutions, which
# the site shows only in the 99 notebooks, folded; their API (get, check) is exercises.registry, which stays.
autoapi_ignore = ["*migrations*", "*/exercises/[!r_]*.py"]
autoapi_options = ["members", "undoc-members", "show-inheritance", "show-module-summary", "imported-members"]
autoapi_add_toctree_entry = False  # index.md lists api/mlops_tutorial/index under "Reference"
autoapi_member_order = "bysource"
# Kept between builds: autoapi writes its pages only when the package's source changed, and Sphinx's saved
# environment (-d) still lists them.
autoapi_keep_files = True
CODE_SPAN = re.compile(r"(?<![`:\w])`([^`\s](?:[^`]*[^`\s])?)`(?![`\w])")  # `code` in a Markdown docstring

exclude_patterns = ["**.ipynb_checkpoints"]
suppress_warnings = ["misc.highlighting_failure"]  # a lesson's pseudo-code block (`<TAB>recipe`) is still shown

# The notebooks arrive executed: rendering never runs a cell, and a notebook without outputs is a build bug.
nb_execution_mode = "off"
nb_output_stderr = "show"
nb_merge_streams = True
nb_ipywidgets_js = {}  # the tutorials draw no widgets; myst-nb's default would load require.js from a CDN
myst_enable_extensions = ["substitution"]
myst_heading_anchors = 3
myst_substitutions = {
    "article": f"[the Habr article on five tools for ML projects]({ARTICLE}) (Habr, July 2024, in Russian)",
    "repository": f"[the repository]({REPOSITORY})" if REPOSITORY else
                  "the repository (this build does not know its address: set MLOPS_TUTORIAL_REPOSITORY)",
}

html_theme = "sphinx_book_theme"
html_title = "mlops-tutorial"
html_theme_options = {
    "repository_url": REPOSITORY,
    "use_repository_button": bool(REPOSITORY),
    "use_download_button": True,
    "home_page_in_toc": True,
    "show_navbar_depth": 1,
    "extra_footer": f'Re-tells and runs <a href="{ARTICLE}">the Habr article</a> (July 2024, in Russian).',
}
html_favicon = "favicon.svg"  # also spares the browser a request for a missing /favicon.ico
html_last_updated_fmt = None
html_show_sourcelink = False
# The theme's colour mode before a reader picks one (without it, a first visit logs "Got invalid theme mode").
html_context = {"default_mode": "auto"}


@functools.cache
def own_docstrings(module: str) -> dict[str, str | None]:
    "Dotted name -> docstring (None: none) of every class and function written in one module of the package."
    found: dict[str, str | None] = {}
    path = PACKAGE.parent.joinpath(*module.split(".")).with_suffix(".py")
    pending = [(ast.parse(path.read_text(encoding="utf-8")), module)] if path.is_file() else []
    while pending:
        node, prefix = pending.pop()
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                found[f"{prefix}.{child.name}"] = ast.get_docstring(child)
                pending.append((child, f"{prefix}.{child.name}"))
    return found


def markdown_docstring(app, what, name, obj, options, lines):  # pylint: disable=unused-argument,too-many-arguments
    "The package's docstrings are Markdown (nbdev's style): its `code` becomes reStructuredText's ``code``."
    lines[:] = [CODE_SPAN.sub(r"``\1``", line) for line in lines]


def no_borrowed_docstring(app, what, name, obj, skip, options):  # pylint: disable=unused-argument,too-many-arguments
    """A method without a docstring of its own shows none (autoapi would show its base class's: a Lightning hook's,
    in reStructuredText with Lightning's own roles). Skips nothing: autoapi decides that (None)."""
    if what == "method" and own_docstrings(name.rsplit(".", 2)[0]).get(name, "") is None:
        obj.docstring = ""


def setup(app):
    "Connect the two docstring handlers to autoapi's events."
    app.connect("autoapi-skip-member", no_borrowed_docstring)
    app.connect("autodoc-process-docstring", markdown_docstring)
