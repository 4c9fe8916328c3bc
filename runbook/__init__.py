"""runbook: site-specific OCS 2007 edge runbooks, diagrams and documents from a topology.

The public API (:mod:`runbook.api`), its errors and the plan's types
(:mod:`runbook.plan.model`) are exported here, and nothing else; every other module may
change between versions.
"""

import typing as _typing

__version__ = "0.1.0"

# Nothing is imported until it is used, so `runbook --help` does not load pydantic.
if _typing.TYPE_CHECKING:
    from typing import Any

    from runbook.api import *  # noqa: F403 - the API, listed in its __all__
    from runbook.errors import Problem, RunbookError, ValidationFailed
    from runbook.plan.model import *  # noqa: F403 - the plan's types, listed in its __all__
    from runbook.plan.sites import PlanHead

# runbook.api's __all__, and runbook.plan.model's (a test checks that they agree).
_API = (
    "Site",
    "build_site",
    "build_with_engine",
    "cache_settings",
    "change_request",
    "default_config_file",
    "diff",
    "diff_revision",
    "discover",
    "export",
    "field_runbooks",
    "format_diff",
    "generate_tree",
    "init_project",
    "load_sites",
    "plan_file",
    "plan_reference",
    "plan_schema",
    "progress_display",
    "prune_cache",
    "site_files",
    "summarize",
    "topology_schema",
    "validate",
    "validate_and_report",
    "validation_report",
)
_PLAN_TYPES = (
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
_LAZY = {
    **dict.fromkeys(_API, "api"),
    **dict.fromkeys(("Problem", "RunbookError", "ValidationFailed"), "errors"),
    **dict.fromkeys(_PLAN_TYPES, "plan.model"),
    "PlanHead": "plan.sites",
}


def __getattr__(name: str) -> "Any":
    if name in _LAZY:
        from importlib import import_module

        return getattr(import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'runbook' has no attribute {name!r}")


__all__ = [
    *_API,
    *_PLAN_TYPES,
    "PlanHead",
    "Problem",
    "RunbookError",
    "ValidationFailed",
    "__version__",
]
