"""The package's layout: one folder per stage of the flow, and no import cycles.

Stages, from the bottom up: ``engine`` (cache store, parallel work, progress), ``topology``
(reading and validating files), ``plan`` (what a site needs), ``outputs`` (pages, diagrams,
exports, documents), ``site`` (the MkDocs build), then ``api`` and ``cli`` on top.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "runbook"
STAGES = ("engine", "topology", "plan", "outputs", "site")
TOP = ("errors", "api", "cli")


def modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def _runtime_nodes(tree: ast.AST) -> list[ast.AST]:
    """Every node of ``tree`` except those under ``if TYPE_CHECKING:`` (never run)."""
    found: list[ast.AST] = []
    todo = [tree]
    while todo:
        node = todo.pop()
        found.append(node)
        for child in ast.iter_child_nodes(node):
            test = child.test if isinstance(child, ast.If) else None
            if ((isinstance(test, ast.Name) and test.id == "TYPE_CHECKING")
                    or (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")):
                todo.extend(child.orelse)
                continue
            todo.append(child)
    return found


def imports() -> dict[str, set[str]]:
    """Module -> the runbook modules it imports when run, at the top or in a function."""
    known = modules()
    graph: dict[str, set[str]] = defaultdict(set)
    for name, path in known.items():
        for node in _runtime_nodes(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                assert node.level == 0, f"{name}: relative import; runbook imports by full name"
                target = node.module or ""
                for alias in node.names:
                    if f"{target}.{alias.name}" in known:
                        graph[name].add(f"{target}.{alias.name}")
                if target in known and target != "runbook":
                    graph[name].add(target)
            elif isinstance(node, ast.Import):
                graph[name].update(a.name for a in node.names if a.name in known)
        graph[name].discard(name)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def stage(module: str) -> str:
    return module.split(".")[1] if module.count(".") >= 1 else "runbook"


def test_every_module_lives_in_a_stage_folder_or_is_one_of_the_top_modules() -> None:
    loose = [name for name in modules()
             if name.count(".") == 1 and stage(name) not in (*STAGES, *TOP)]
    assert loose == []


def test_no_module_imports_itself_back_through_others() -> None:
    assert cycles(imports()) == []


def test_stages_import_only_the_stages_below_them() -> None:
    order = {name: rank for rank, name in enumerate(("errors", *STAGES, "api", "cli"))}
    upward = sorted(
        f"{a} -> {b}" for a, targets in imports().items() for b in targets
        if stage(a) in order and stage(b) in order and order[stage(b)] > order[stage(a)])
    assert upward == []


def test_the_cycle_check_finds_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


# Functions of a stage that runbook.api hands out as they are, and where they live.
HANDED_OUT = {"site_files": "runbook.site.produce"}
# The types the API's functions return or raise, from the stages that make them.
RETURNED = {"PlanDiff": "runbook.plan.diff", "DifferentSites": "runbook.plan.diff",
            "Loaded": "runbook.topology.validate", "Pruned": "runbook.site.prune",
            "Progress": "runbook.engine.progress", "PlanHead": "runbook.plan.sites"}


def test_the_package_exports_the_api_and_every_type_of_the_plan() -> None:
    import dataclasses
    import types
    import typing

    import runbook
    import runbook.api
    from runbook.plan import model

    plan_types = {name for name, value in vars(model).items()
                  if (dataclasses.is_dataclass(value) and value.__module__ == model.__name__)
                  or typing.get_origin(value) is typing.Literal}
    assert plan_types <= set(runbook.__all__)
    assert set(model.__all__) == plan_types
    for name in runbook.__all__:
        value = getattr(runbook, name)
        if name == "__version__":
            continue
        home = model.__name__ if typing.get_origin(value) is typing.Literal else value.__module__
        if name in HANDED_OUT:  # a stage's function the API hands out as it is
            assert home == HANDED_OUT[name] and getattr(runbook.api, name) is value, name
            continue
        if name in RETURNED:
            assert home == RETURNED[name], name
            continue
        assert home in ("runbook.api", "runbook.errors") or home.startswith("runbook.plan."), name
        assert name in runbook.api.__all__ or home != "runbook.api", name
    assert set(runbook.api.__all__) <= set(runbook.__all__)
    assert set(RETURNED) <= set(runbook.__all__)
    # Every type an API function's signature names is exported.
    for name in runbook.api.__all__:
        function = getattr(runbook.api, name)
        if not callable(function) or isinstance(function, type):
            continue
        exported = {n: getattr(runbook, n) for n in runbook.__all__ if n != "__version__"}
        hints = typing.get_type_hints(function, vars(runbook.api), exported)
        for hint in hints.values():
            for part in (hint, *typing.get_args(hint)):
                if isinstance(part, type) and part.__module__.startswith("runbook"):
                    assert part.__name__ in runbook.__all__, (name, part)
    # Besides its submodules, once imported, the package holds no public name of its own:
    # every export is loaded when asked for.
    public = {name for name, value in vars(runbook).items()
              if not name.startswith("_") and not isinstance(value, types.ModuleType)}
    assert public == set(), public
