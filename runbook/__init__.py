"""runbook: site-specific OCS 2007 edge runbooks, diagrams and documents from a topology.

The public API is small: validate topology files, derive a plan, render and build.
Everything else may change between versions.
"""

from __future__ import annotations

__version__ = "0.1.0"

from .api import Site, load_sites, plan_file
from .errors import Problem, RunbookError, ValidationFailed

__all__ = [
    "Problem",
    "RunbookError",
    "Site",
    "ValidationFailed",
    "__version__",
    "load_sites",
    "plan_file",
]
