"""runbook: site-specific OCS 2007 edge runbooks, diagrams and documents from a topology.

The public API (:mod:`runbook.api`) and the plan's types are exported here; every other
module may change between versions.
"""

from __future__ import annotations

__version__ = "0.1.0"

# Nothing is imported until it is used, so `runbook --help` does not load pydantic.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from runbook.api import (
        Site,
        build_site,
        change_request,
        diff,
        diff_revision,
        export,
        field_runbooks,
        load_sites,
        plan_file,
        prune_cache,
        site_files,
        topology_schema,
        validate,
        validate_and_report,
    )
    from runbook.errors import Problem, RunbookError, ValidationFailed
    from runbook.plan.model import *  # noqa: F403 - the plan's types, listed in its __all__
    from runbook.plan.sites import PlanHead

# The plan's types, as runbook.plan.model lists them in its __all__ (a test checks the two agree).
PLAN_TYPES = (
    "Action",
    "ActionKind",
    "AddressRow",
    "CaImport",
    "Certificate",
    "CertificateAuthorities",
    "Change",
    "CrlPoint",
    "DnsRecord",
    "ExternalCertificates",
    "FeatureRow",
    "FederationPartnerRow",
    "FederationPlan",
    "FederationRoute",
    "Finding",
    "FirewallRule",
    "HostEntry",
    "Layout",
    "MediationRow",
    "Meta",
    "NextHop",
    "NicKind",
    "Pic",
    "PicField",
    "PicProvider",
    "PicStep",
    "Plan",
    "PoolKind",
    "PoolRow",
    "PoolSetting",
    "PoolSide",
    "Provenance",
    "PublishedUrl",
    "ReverseProxyPlan",
    "Role",
    "RouteRow",
    "Screen",
    "ServerRow",
    "ServerRunbook",
    "Step",
    "StepId",
    "Subnet",
    "SubnetMember",
    "Summary",
    "Trust",
    "UiPlace",
    "Validation",
    "ValidationTest",
    "Vip",
    "VipMember",
    "WebConfEdgeEntry",
)
_API = ("Site", "build_site", "change_request", "diff", "diff_revision", "export",
        "field_runbooks", "load_sites", "plan_file", "prune_cache", "site_files",
        "topology_schema", "validate", "validate_and_report")
_LAZY = {
    **dict.fromkeys(_API, "api"),
    **dict.fromkeys(("Problem", "RunbookError", "ValidationFailed"), "errors"),
    **dict.fromkeys(PLAN_TYPES, "plan.model"),
    "PlanHead": "plan.sites",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from importlib import import_module

        return getattr(import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'runbook' has no attribute {name!r}")


__all__ = [
    *PLAN_TYPES,
    "PlanHead",
    "Problem",
    "RunbookError",
    "Site",
    "ValidationFailed",
    "__version__",
    "build_site",
    "change_request",
    "diff",
    "diff_revision",
    "export",
    "field_runbooks",
    "load_sites",
    "plan_file",
    "prune_cache",
    "site_files",
    "topology_schema",
    "validate",
    "validate_and_report",
]
