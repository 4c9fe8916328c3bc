"""runbook: site-specific OCS 2007 edge runbooks, diagrams and documents from a topology.

The public API is small: validate topology files, derive a plan, render and build.
Everything else may change between versions.
"""

from __future__ import annotations

__version__ = "0.1.0"

# Nothing is imported here until it is used: `runbook validate` replaying cached verdicts
# imports this package and must not pay for typing, dataclasses or the model (see entry.py).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from .api import Site, load_sites, plan_file
    from .errors import Problem, RunbookError, ValidationFailed

_LAZY = {
    "Problem": "errors",
    "RunbookError": "errors",
    "ValidationFailed": "errors",
    "Site": "api",
    "load_sites": "api",
    "plan_file": "api",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from importlib import import_module

        return getattr(import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'runbook' has no attribute {name!r}")


__all__ = [
    "Problem",
    "RunbookError",
    "Site",
    "ValidationFailed",
    "__version__",
    "load_sites",
    "plan_file",
]
