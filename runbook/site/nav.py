"""Each site's own navigation: its pages in order, shown on every page of the site."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from runbook.plan.sites import Site


@dataclass(frozen=True)
class SiteNavEntry:
    """One page of a site's own navigation."""

    src_uri: str
    title: str
    # A section of the page (the Overview's Downloads), or "" for the page itself.
    anchor: str = ""


@dataclass(frozen=True)
class SiteNav:
    """The navigation shown on every page of one site."""

    slug: str
    title: str
    pages: tuple[SiteNavEntry, ...]


def site_navigation(sites: Iterable[Site], generated: set[str]) -> dict[str, SiteNav]:
    """Each site's own navigation: its Markdown pages in the order ``site_pages`` gives, then
    its change request and the Overview's Downloads section."""
    from runbook.outputs.pages import all_site_pages

    navs: dict[str, SiteNav] = {}
    for site in sites:
        entries = []
        # The pages the site's plan uses are the ones generated for it (site_pages), so the
        # navigation needs no section of the plan to choose them.
        for spec in all_site_pages():
            src_uri = f"sites/{site.slug}/{spec.filename}"
            if src_uri in generated:
                entries.append(SiteNavEntry(src_uri, spec.title))
        # Every page a reader looks for, on a tablet too: the change request, and the
        # downloads (a section of the Overview).
        change_request = f"sites/{site.slug}/documents/change-request.md"
        if change_request in generated:
            entries.append(SiteNavEntry(change_request, "Change request"))
        overview = f"sites/{site.slug}/index.md"
        if overview in generated:
            entries.append(SiteNavEntry(overview, "Downloads", anchor="downloads"))
        navs[site.slug] = SiteNav(site.slug, site.head.meta.title, tuple(entries))
    return navs
