"""runbook: site-specific OCS 2007 edge runbooks, diagrams and documents from a topology.

The public API (:mod:`runbook.api`), its errors, the types its functions return and the
plan's types (:mod:`runbook.plan.model`) are exported here, and nothing else; every other
module may change between versions.
"""

import typing as _typing

__version__ = "0.1.0"

# Nothing is imported until it is used, so `runbook --help` does not load pydantic.
if _typing.TYPE_CHECKING:
    from typing import Any

    from runbook.api import *  # noqa: F403 - the API, listed in its __all__
    from runbook.engine.progress import Progress as Progress
    from runbook.errors import Problem as Problem
    from runbook.errors import RunbookError as RunbookError
    from runbook.errors import ValidationFailed as ValidationFailed
    from runbook.plan.diff import DifferentSites as DifferentSites
    from runbook.plan.diff import PlanDiff as PlanDiff
    from runbook.plan.model import *  # noqa: F403 - the plan's types, listed in its __all__
    from runbook.plan.sites import PlanHead as PlanHead
    from runbook.site.prune import Pruned as Pruned
    from runbook.topology.validate import Loaded as Loaded

# Modules whose __all__ the package exports, and names it takes from other modules: the
# errors, and the types the API's functions return (PlanDiff, Loaded, ...) or raise.
_MODULES = ("api", "plan.model")
_NAMES = {"Problem": "errors", "RunbookError": "errors", "ValidationFailed": "errors",
          "PlanHead": "plan.sites", "PlanDiff": "plan.diff", "DifferentSites": "plan.diff",
          "Loaded": "topology.validate", "Pruned": "site.prune", "Progress": "engine.progress"}


def __getattr__(name: str) -> "Any":
    from importlib import import_module

    if name == "__all__":
        return sorted({"__version__", *_NAMES, *(
            n for module in _MODULES for n in import_module(f".{module}", __name__).__all__)})
    if name in _NAMES:
        return getattr(import_module(f".{_NAMES[name]}", __name__), name)
    for module in _MODULES:
        found = import_module(f".{module}", __name__)
        if name in found.__all__:
            return getattr(found, name)
    raise AttributeError(f"module 'runbook' has no attribute {name!r}")
