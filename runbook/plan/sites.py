"""A site: a valid topology with its plan; validating and planning files."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from runbook.errors import ValidationFailed
from runbook.plan.derive import Plan, Provenance, build_plan
from runbook.plan.provenance import revisions
from runbook.topology.validate import Loaded, load_all, load_topology, require_valid


@dataclass
class Site:
    """A valid topology with its plan."""

    loaded: Loaded
    plan: Plan

    @property
    def slug(self) -> str:
        """The site's slug, which names its pages and files."""
        return self.plan.meta.site


def _plan(item: Loaded, revision: str | None) -> Plan:
    assert item.topology is not None
    source = item.source.file
    if Path(source).is_absolute():
        # Outside the working folder and outside git: publish the name, not a local path.
        source = Path(source).name
    provenance = Provenance(source=source, revision=revision)
    return build_plan(item.topology, provenance, [w.as_dict() for w in item.warnings])


def load_sites(paths: Iterable[Path | str]) -> list[Site]:
    """Validate every topology under ``paths`` and plan each one, sorted by slug.

    Raises :class:`ValidationFailed` listing every error of every file if any is invalid.
    """
    results = require_valid(load_all(paths))
    revs = revisions(r.path for r in results)
    sites = [Site(r, _plan(r, revs.get(r.path.resolve()))) for r in results]
    return sorted(sites, key=lambda s: s.slug)


def plan_file(path: Path | str) -> Plan:
    """Validate one topology file and return its plan (raises :class:`ValidationFailed`)."""
    item = load_topology(path)
    if not item.ok:
        raise ValidationFailed(f"{len(item.errors)} error(s) in {item.source.file}",
                               item.errors)
    revs = revisions([item.path])
    return _plan(item, revs.get(item.path.resolve()))
