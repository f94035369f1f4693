"""The API reference page of the site, read from the package's source without importing it.

Sphinx autodoc imports every module, and importing this package means importing torch, Lightning, pandera and
ClearML: tens of seconds on a loaded two-core machine, and a docs build that breaks while any module does. The
exported names are all known statically instead: nbdev-export writes each module's `__all__` from its `#| export`
cells and a header naming the notebook it came from. So this walks each module's syntax tree and writes Sphinx
Python-domain entries (signature and docstring of every function, class, method and constant in `__all__`, in
source order), with a link to the lesson that explains it. Names a module only re-exports are listed as such.
"""
from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path

SOURCE_NOTEBOOK = re.compile(r"File to edit: \.\./nbs/(?P<name>[\w.-]+\.ipynb)")
MAX_VALUE = 70  # longer constant values are shown by their type, not their text


def docstring(node: ast.AST) -> str:
    "The node's docstring, dedented, or a note that it has none."
    text = ast.get_docstring(node, clean=True) if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef,
                                                                     ast.AsyncFunctionDef)) else None
    return inspect.cleandoc(text) if text else "(no docstring)"


def signature(node: ast.FunctionDef | ast.AsyncFunctionDef, drop_self: bool = False) -> str:
    "The function's parameters and return annotation as written, e.g. `(path: Path, rows: int = 5) -> str`."
    arguments = node.args
    if drop_self and arguments.posonlyargs:
        arguments = ast.arguments(**{**vars(arguments), "posonlyargs": arguments.posonlyargs[1:]})
    elif drop_self and arguments.args:
        arguments = ast.arguments(**{**vars(arguments), "args": arguments.args[1:]})
    returns = f" -> {ast.unparse(node.returns)}" if node.returns else ""
    return f"({ast.unparse(arguments)}){returns}"


def fence(directive: str, argument: str, options: dict[str, str], body: str, depth: int = 3) -> list[str]:
    "A MyST directive block; `depth` backticks, so a block can hold inner blocks of fewer."
    ticks = "`" * depth
    lines = [f"{ticks}{{{directive}}} {argument}".rstrip()]
    lines += [f":{key}: {value}" for key, value in options.items()]
    return lines + ["", body, ticks, ""]


def class_body(node: ast.ClassDef) -> str:
    "A class's docstring followed by entries for its public methods and annotated fields."
    parts = [docstring(node), ""]
    for item in node.body:
        if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)) and not item.name.startswith("_"):
            kind = "py:method"
            decorators = {ast.unparse(decorator) for decorator in item.decorator_list}
            options = {"staticmethod": ""} if "staticmethod" in decorators else \
                {"classmethod": ""} if "classmethod" in decorators else {}
            if "property" in decorators or "cached_property" in decorators:
                kind, options = "py:property", {}
            argument = item.name if kind == "py:property" else \
                item.name + signature(item, drop_self="staticmethod" not in decorators)
            parts += fence(kind, argument, options, docstring(item))
        elif isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name) \
                and not item.target.id.startswith("_"):
            parts += fence("py:attribute", item.target.id, {"type": ast.unparse(item.annotation)}, "")
    return "\n".join(parts)


def constant_options(node: ast.Assign | ast.AnnAssign) -> dict[str, str]:
    "`:value:` for a short constant, `:type:` for an annotated long one."
    value = ast.unparse(node.value) if node.value is not None else ""
    if value and len(value) <= MAX_VALUE and "\n" not in value:
        return {"value": value}
    if isinstance(node, ast.AnnAssign):
        return {"type": ast.unparse(node.annotation)}
    return {}


def definitions(tree: ast.Module) -> dict[str, ast.AST]:
    "Top-level definitions by name (a later definition of a name wins, as at import time)."
    found = {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            found[node.name] = node
        elif isinstance(node, ast.Assign):
            found.update({target.id: node for target in node.targets if isinstance(target, ast.Name)})
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value is not None:
            found[node.target.id] = node
    return found


def exported_names(tree: ast.Module) -> list[str]:
    "The names in the module's `__all__` (empty when it has none)."
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets):
            return list(ast.literal_eval(node.value))
    return []


def entry(name: str, node: ast.AST) -> list[str]:
    "The directive block of one exported name (in the current module)."
    options: dict[str, str] = {}
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return fence("py:function", name + signature(node), options, docstring(node))
    if isinstance(node, ast.ClassDef):
        bases = ", ".join(ast.unparse(base) for base in node.bases)
        return fence("py:class", f"{name}({bases})" if bases else name, options, class_body(node), depth=4)
    return fence("py:data", name, {**options, **constant_options(node)}, "")


def module_section(path: Path, package: str, lessons: str) -> list[str]:
    "The reference section of one module: its summary, the lesson it comes from, and its exported names."
    text = path.read_text(encoding="utf-8")
    tree = ast.parse(text, filename=str(path))
    module = f"{package}.{path.stem}"
    # The current module (not a `:module:` option per entry) also resolves the type names in signatures against it.
    lines = [f"## `{module}`", "", f"```{{py:currentmodule}} {module}", "```", "", docstring(tree), ""]
    if match := SOURCE_NOTEBOOK.search(text):
        lines += [f"Generated from the lesson [{match['name']}]({lessons}/{match['name']}).", ""]
    found = definitions(tree)
    names = exported_names(tree)
    defined = sorted((name for name in names if name in found), key=lambda name: found[name].lineno)
    for name in defined:
        lines += entry(name, found[name])
    if reexported := [name for name in names if name not in found]:
        lines += ["Also exports, defined elsewhere: " + ", ".join(f"`{name}`" for name in reexported) + ".", ""]
    return lines


def api_page(package: Path, lessons: str = "lessons") -> str:
    "A MyST page with a section for each public module of `package` (a folder of modules)."
    lines = ["# API reference", "",
             f"What the lessons export into `{package.name}`: each module's `__all__`, in source order, with "
             "signatures and docstrings as written, and a link to the lesson each module is generated from.", ""]
    for path in sorted(path for path in package.glob("*.py") if not path.name.startswith("_")):
        lines += module_section(path, package.name, lessons)
    return "\n".join(lines)
