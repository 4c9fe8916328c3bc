"""runbook: site-specific OCS 2007 edge runbooks, diagrams and documents from a topology.

The public API is small: validate topology files, derive a plan, render and build.
Everything else may change between versions.
"""

from __future__ import annotations

__version__ = "0.1.0"

from typing import TYPE_CHECKING, Any

from .errors import Problem, RunbookError, ValidationFailed

if TYPE_CHECKING:
    from .api import Site, load_sites, plan_file


def __getattr__(name: str) -> Any:
    # The API (and the plan, with its imports) loads on first use, so that `runbook validate`
    # does not pay for modules it never calls.
    if name in ("Site", "load_sites", "plan_file"):
        from . import api

        return getattr(api, name)
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
