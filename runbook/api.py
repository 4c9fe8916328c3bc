"""The library API: what the CLI, the MkDocs plugin and other programs call.

Each function is one step of the flow, topology -> plan -> outputs -> site, and imports the
stage it needs only when called, so ``runbook --help`` stays fast.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from runbook.engine.progress import Progress
    from runbook.plan.derive import Plan
    from runbook.plan.diff import PlanDiff
    from runbook.plan.sites import Site
    from runbook.site.produce import site_files as site_files
    from runbook.site.prune import Pruned
    from runbook.topology.validate import Loaded

Paper = Literal["a4", "letter"]

__all__ = [
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
]


def __getattr__(name: str) -> Any:
    # Site is imported when asked for: the validate path must not load pydantic for it.
    if name == "Site":
        from runbook.plan.sites import Site

        return Site
    # The one function both runbook build's path and the MkDocs plugin produce a site with;
    # it lives in the site stage, which the plugin belongs to, and is imported when asked for.
    if name == "site_files":
        from runbook.site.produce import site_files

        return site_files
    raise AttributeError(f"module 'runbook.api' has no attribute {name!r}")


def load_sites(paths: Iterable[Path | str], *, cache_dir: Path | None = None,
               jobs: int = 1) -> list[Site]:
    """Validate every topology under ``paths`` and plan each one, sorted by slug
    (raises :class:`~runbook.errors.ValidationFailed` listing every problem).

    With ``cache_dir``, through the build cache there, as ``runbook build`` and the MkDocs
    plugin do: unchanged files are not validated again, and each site's plan is read from
    the cache when asked for (:attr:`Site.plan`). ``jobs`` processes share the validation.
    """
    from runbook.engine.store import Cache
    from runbook.plan.sites import load_sites as load

    return load(paths, cache=Cache(cache_dir) if cache_dir is not None else None, jobs=jobs)


def plan_file(path: Path | str) -> Plan:
    """Validate one topology file and return its plan (raises ValidationFailed)."""
    from runbook.plan.sites import plan_file as plan

    return plan(path)


def discover(paths: Iterable[Path | str]) -> list[Path]:
    """The topology files named by ``paths``: files as given, folders searched for YAML."""
    from runbook.topology.files import discover as find

    return find(paths)


def validate(paths: Iterable[Path | str]) -> list[Loaded]:
    """Validate every topology under ``paths``: one result per file, problems collected."""
    from runbook.topology.validate import load_all

    return load_all(paths)


def validate_and_report(files: list[Path], *, strict: bool = False, quiet: bool = False,
                        use_cache: bool = True) -> int:
    """Validate ``files``, print every problem as ``file:line:col: path: message``, and
    return the exit status (0 valid, 1 invalid); ``runbook validate`` is this call."""
    from runbook.topology.verdicts import run

    return run(files, strict=strict, quiet=quiet, use_cache=use_cache)


def validation_report(files: list[Path], fmt: str, *, strict: bool = False) -> tuple[str, int]:
    """Validate ``files`` and report every problem in ``fmt`` (json, github, sarif, junit;
    see :mod:`runbook.topology.report_formats`): the report and the exit status."""
    from runbook.topology.report_formats import render
    from runbook.topology.validate import load_all

    return render(load_all(files), fmt, strict=strict)


def build_site(inputs: list[Path], output: Path, *, templates: Path | None = None,
               config_file: Path | None = None, strict: bool = True, jobs: int | None = None,
               cache_dir: Path | None = None, progress: Progress | None = None,
               allow_empty: bool = False) -> Path:
    """Build the whole site from ``inputs`` into ``output`` with MkDocs; return ``output``
    (the options: :func:`runbook.site.build.build_site`)."""
    from runbook.site.build import build_site as build

    return build(inputs, output, templates=templates, config_file=config_file, strict=strict,
                 jobs=jobs, cache_dir=cache_dir, progress=progress, allow_empty=allow_empty)


def generate_tree(inputs: list[Path], output: Path, *, templates: Path | None = None) -> Path:
    """Write the engine-neutral docs tree and mkdocs.yml into ``output`` (runbook generate)."""
    from runbook.site.engines import generate_tree as write

    return write(inputs, output, templates=templates)


def build_with_engine(engine: str, inputs: list[Path], output: Path, *,
                      templates: Path | None = None) -> Path:
    """Build the site with ``engine`` (properdocs, zensical) from the engine-neutral tree."""
    from runbook.site.engines import build_with_engine as build

    return build(engine, inputs, output, templates=templates)


def export(plan: Plan, out_dir: Path) -> list[Path]:
    """Write one site's exports (DNS, firewall, addressing, certificate requests)."""
    from runbook.outputs.exports import write_exports

    return write_exports(plan, out_dir)


def change_request(file: Path, out_dir: Path, *, since: Path | None = None,
                   since_git: str | None = None, paper: Paper = "a4",
                   force: bool = False) -> list[Path]:
    """Write the change request of one topology (Markdown and PDF); the files written.

    With ``since`` or ``since_git`` it covers the changes since that version, which must be
    of the same site: :class:`runbook.plan.diff.DifferentSites` otherwise, unless ``force``.
    """
    from runbook.outputs.documents import write_change_request

    return write_change_request(file, out_dir, since=since, since_git=since_git, paper=paper,
                                force=force)


def field_runbooks(files: Iterable[Path], out_dir: Path, *, paper: Paper = "a4") -> list[Path]:
    """Write one printable field runbook PDF per site; the files written."""
    from runbook.outputs.documents import write_field_runbooks

    return write_field_runbooks(files, out_dir, paper=paper)


def diff(old: Path, new: Path, *, force: bool = False) -> PlanDiff:
    """What changes between two topology files of one site.

    Raises :class:`runbook.plan.diff.DifferentSites` when they are of two different sites,
    unless ``force``.
    """
    from runbook.plan.diff import check_same_site, diff_plans

    old_plan, new_plan = plan_file(old), plan_file(new)
    if not force:
        check_same_site(old_plan, new_plan, old_name=str(old), new_name=str(new))
    return diff_plans(old_plan, new_plan)


def format_diff(result: PlanDiff) -> str:
    """A diff as the plain-text report ``runbook diff`` prints."""
    from runbook.plan.diff import format_diff as text

    return text(result)


def diff_revision(file: Path, rev: str) -> PlanDiff:
    """What changes between ``file`` as committed at git revision ``rev`` and ``file`` now."""
    from runbook.plan.diff import diff_plans, load_plan_at_revision

    return diff_plans(load_plan_at_revision(file, rev), plan_file(file))


def default_config_file(folder: Path | None = None) -> Path:
    """runbook's default configuration as a file for ``folder`` (``runbook serve``)."""
    from runbook.site.build import default_config_file as write

    return write(folder)


def prune_cache(root: Path, max_age_days: float, *, dry_run: bool = False) -> Pruned:
    """Remove what no build used for ``max_age_days`` days from the cache at ``root``."""
    from runbook.site.prune import prune

    return prune(root, max_age_days, dry_run=dry_run)


def cache_settings(config_file: Path | None = None) -> tuple[Path, int]:
    """The cache folder and ``cache_max_age_days`` that ``config_file`` gives the plugin."""
    from runbook.site.build import load_configuration

    _, plugin, _ = load_configuration(config_file)
    return plugin.cache_path, plugin.config.cache_max_age_days


def init_project(folder: Path) -> list[Path]:
    """Write a starter project into ``folder``; the files written (``runbook init``)."""
    from runbook.site.starter import init_project as init

    return init(folder)


def summarize(plan: Plan) -> str:
    """The short plain-text summary of a plan that ``runbook plan`` prints."""
    from runbook.plan.summary import summarize as summary

    return summary(plan)


def topology_schema() -> dict[str, object]:
    """The JSON Schema of a topology file, generated from the model."""
    from runbook.topology.model import json_schema

    return json_schema()


def plan_schema() -> dict[str, object]:
    """The JSON Schema of a plan (``runbook plan --json``), generated from its types."""
    from runbook.plan.model import json_schema

    return json_schema()


def plan_reference() -> str:
    """The template authors' reference of the plan, as Markdown, generated from its types."""
    from runbook.plan.model import reference_markdown

    return reference_markdown()


def progress_display(*, quiet: bool = False) -> Progress:
    """The progress display ``runbook build`` shows on a terminal."""
    from runbook.engine.progress import Progress

    return Progress(quiet=quiet)
