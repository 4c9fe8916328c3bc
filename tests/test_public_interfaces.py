"""The default path uses other projects through their public interfaces only.

A name with a leading underscore is private to the project that defines it: it can change
in any release without notice. runbook's own private names are runbook's to use; another
package's are allowed only in the opt-in fast paths, which check the exact versions they
were verified with (:data:`OPT_IN`). The check reads the source (``ast``), so strings that
merely look like attributes (``_sip._tls`` DNS names) are not code.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "runbook"
#: The opt-in fast path: in-process Graphviz (ctypes structures).
OPT_IN = frozenset({"outputs/gvc.py"})
#: Underscore names that are public by their library's documentation.
DOCUMENTED = frozenset({
    "_asdict", "_replace", "_fields", "_make",  # collections.namedtuple's API
    "_exit",  # os._exit: documented for a forked child that must not run cleanup
})
ATTRIBUTE_CALLS = frozenset({"getattr", "setattr", "hasattr", "delattr"})


def is_private(name: str) -> bool:
    """``_x`` and ``__x`` are private; ``__x__`` (the data model) is not."""
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def own_private_names(trees: dict[str, ast.AST]) -> set[str]:
    """Private names runbook defines: functions, classes, module names and attributes it
    assigns on ``self`` or ``cls``."""
    found: set[str] = set()
    for tree in trees.values():
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                found.add(node.name)
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                found.add(node.id)
            elif (isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store)
                  and isinstance(node.value, ast.Name) and node.value.id in ("self", "cls")):
                found.add(node.attr)
            elif isinstance(node, ast.arg):
                found.add(node.arg)
    return {name for name in found if is_private(name)}


def foreign_private_uses(tree: ast.AST, own: set[str]) -> list[str]:
    """``line: what`` for every use in ``tree`` of a private name runbook does not define."""
    uses: list[tuple[int, str]] = []

    def foreign(name: str) -> bool:
        return is_private(name) and name not in own and name not in DOCUMENTED

    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 0:
            module = node.module or ""
            if module.split(".")[0] == "runbook":
                continue
            if any(is_private(part) for part in module.split(".")):
                uses.append((node.lineno, f"from {module} import"))
            uses.extend((node.lineno, f"from {module} import {alias.name}")
                        for alias in node.names if is_private(alias.name))
        elif isinstance(node, ast.Import):
            uses.extend((node.lineno, f"import {alias.name}") for alias in node.names
                        if any(is_private(part) for part in alias.name.split(".")))
        elif isinstance(node, ast.Attribute) and foreign(node.attr):
            uses.append((node.lineno, f".{node.attr}"))
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
              and node.func.id in ATTRIBUTE_CALLS and len(node.args) >= 2
              and isinstance(node.args[1], ast.Constant) and isinstance(node.args[1].value, str)
              and foreign(node.args[1].value)):
            uses.append((node.lineno, f'{node.func.id}(..., "{node.args[1].value}")'))
    return [f"{line}: {what}" for line, what in sorted(uses)]


def package_trees() -> dict[str, ast.AST]:
    return {path.relative_to(PACKAGE).as_posix(): ast.parse(path.read_text(encoding="utf-8"))
            for path in sorted(PACKAGE.rglob("*.py"))}


def test_the_default_path_uses_no_private_name_of_another_package() -> None:
    trees = package_trees()
    own = own_private_names(trees)
    found = {name: uses for name, tree in trees.items() if name not in OPT_IN
             if (uses := foreign_private_uses(tree, own))}
    assert found == {}


def test_the_opt_in_fast_paths_exist_and_are_the_ones_exempted() -> None:
    """An exemption for a file that is gone (or renamed) would exempt nothing, silently.

    In-process Graphviz is exempt because it declares Graphviz's C structures through
    ctypes, which no Python name shows.
    """
    trees = package_trees()
    assert set(trees) >= OPT_IN


def test_the_check_finds_each_kind_of_private_use() -> None:
    source = '''
import re._parser
from mkdocs.commands.build import _build_page
from markdown.util import _private_helper as helper
import mkdocs.structure.files as files

def convert(md, f, handler):
    md._Markdown__applyPattern()
    text = getattr(f, "_content")
    setattr(handler, "_runbook", True)
    return files.File._content, f._own_helper, f.__class__, (1, 2)._replace
'''
    own = {"_own_helper"}
    assert foreign_private_uses(ast.parse(source), own) == [
        "2: import re._parser",
        "3: from mkdocs.commands.build import _build_page",
        "4: from markdown.util import _private_helper",
        "8: ._Markdown__applyPattern",
        '9: getattr(..., "_content")',
        '10: setattr(..., "_runbook")',
        "11: ._content",
    ]
