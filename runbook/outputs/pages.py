"""Markdown pages of every site, rendered from the plan with Jinja2 templates.

Templates live in ``templates/pages/`` (shipped in the wheel as ``runbook/templates/``) and are
found through a search path ``[user folder, packaged defaults]``, so a user overrides a single
page or partial by placing a file of the same name in their folder. User templates run in an
immutable sandbox.

Every page template gets the same context:

``plan``
    the site's plan as plain data (:meth:`runbook.plan.derive.Plan.to_dict`); the only
    source of facts.
``page``
    the :class:`PageSpec` being rendered (``filename``, ``title``, ``template``).
``pages``
    every :class:`PageSpec` of the site, for links between pages.
``checklists``
    every tickable list of the site's pages by id (``edge01/1``, ``pic/steps``...), each with
    its page, key, number of boxes and content (:mod:`runbook.outputs.checklists`): a page
    renders its lists from these, and a page with a list carries all of them for the site
    count.

Autoescape is off in page templates because the output is Markdown, not HTML. Values are
escaped where they land, by context, with the filters ``md`` (inline text), ``cell`` (table
cell), ``code`` (inline code span) and ``url`` (link destination). A template that prints a
topology value without one of them lets the value act as Markdown or HTML.

Tables and wizard screens are written as HTML instead, which Markdown passes through unparsed
(:mod:`runbook.outputs.htmlblocks`; far cheaper to convert). There values go through ``html``
(element text) or ``html_code`` (a ``<code>`` element), and the block through ``html_block``.
Partials named ``*.html.j2`` are autoescaped as well.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jinja2

import runbook
from runbook.outputs.checklists import site_checklists
from runbook.outputs.templating import environment, render_template

if TYPE_CHECKING:
    from runbook.plan.sites import Site


# --- pages ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class PageSpec:
    """One Markdown page of a site: its file name in the site folder, nav title and
    template."""

    filename: str
    title: str
    template: str


_PAGES: tuple[PageSpec, ...] = (
    PageSpec("index.md", "Overview", "pages/overview.md.j2"),
    PageSpec("addressing.md", "Addressing", "pages/addressing.md.j2"),
    PageSpec("load-balancer.md", "Load balancer", "pages/load-balancer.md.j2"),
    PageSpec("runbook.md", "Edge installation runbook", "pages/runbook.md.j2"),
    PageSpec("pool.md", "Pool side", "pages/pool.md.j2"),
    PageSpec("federation.md", "Federation partners", "pages/federation.md.j2"),
    PageSpec("certificates.md", "Certificates", "pages/certificates.md.j2"),
    PageSpec("dns.md", "DNS records", "pages/dns.md.j2"),
    PageSpec("firewall.md", "Firewall rules", "pages/firewall.md.j2"),
    PageSpec("reverse-proxy.md", "Reverse proxy", "pages/reverse-proxy.md.j2"),
    PageSpec("pic.md", "Public IM Connectivity", "pages/pic.md.j2"),
)
INDEX_TEMPLATE = "pages/index.md.j2"
REFERENCE_TEMPLATE = "pages/reference.md.j2"


#: The docs-relative path of the template authors' reference (the plan's types).
PLAN_REFERENCE_PATH = "reference/plan.md"


def reference_path(product: str) -> str:
    """The docs-relative path of a product's reference page, e.g. ``reference/ocs2007.md``."""
    return f"reference/{product}.md"


def all_site_pages() -> tuple[PageSpec, ...]:
    """Every page a site can have, in navigation order (``site_pages`` keeps those a plan
    uses)."""
    return _PAGES


def site_pages(plan: Mapping[str, Any]) -> list[PageSpec]:
    """The pages of one site, in navigation order (PIC, load balancer, reverse proxy and
    federation partners only when used)."""
    pages = []
    for spec in _PAGES:
        if spec.filename == "pic.md" and not plan.get("pic"):
            continue
        if spec.filename == "load-balancer.md" and not plan.get("vips"):
            continue
        if spec.filename == "reverse-proxy.md" and not plan.get("reverse_proxy"):
            continue
        if spec.filename == "federation.md" and not plan.get("federation"):
            continue
        pages.append(spec)
    return pages


def site_dir(plan: Mapping[str, Any]) -> str:
    """The docs-relative folder of a site's pages, e.g. ``sites/contoso-hq``."""
    return f"sites/{plan['meta']['site']}"


def render_site(plan: Mapping[str, Any], env: jinja2.Environment) -> dict[str, str]:
    """Render every page of one site: docs-relative path -> Markdown."""
    pages = site_pages(plan)
    base = site_dir(plan)
    page_dicts = [asdict(p) for p in pages]
    checklists = {id_: c.as_context() for id_, c in
                  site_checklists(plan, [p.filename for p in pages]).items()}
    out: dict[str, str] = {}
    for spec, page in zip(pages, page_dicts, strict=True):
        context = {"plan": plan, "page": page, "pages": page_dicts, "checklists": checklists}
        out[f"{base}/{spec.filename}"] = render_template(env, spec.template, context)
    return out


def render_index(sites: Iterable[Mapping[str, Any]], env: jinja2.Environment) -> str:
    """Render the home page: one table row per site (status, warnings, link), and the links
    to the product reference pages."""
    from runbook.plan.catalog import PRODUCTS, catalog

    plans = sorted(sites, key=lambda p: p["meta"]["site"])
    references = [{"title": catalog(p).name, "path": reference_path(p)} for p in PRODUCTS]
    return render_template(env, INDEX_TEMPLATE, {"sites": plans, "references": references,
                                         "plan_reference": PLAN_REFERENCE_PATH,
                                         "generator": f"runbook {runbook.__version__}"})


def render_references(env: jinja2.Environment) -> dict[str, str]:
    """Render each product's reference page (its catalog with the sources): path -> Markdown."""
    from runbook.plan.catalog import PRODUCTS, catalog

    generator = f"runbook {runbook.__version__}"
    return {reference_path(p): render_template(env, REFERENCE_TEMPLATE, {
        "catalog": catalog(p).model_dump(mode="json"), "generator": generator})
        for p in PRODUCTS}


def render_globals(plans: Iterable[Mapping[str, Any]], env: jinja2.Environment
                   ) -> dict[str, str]:
    """The pages outside every site's folder: the home page, each product's reference and the
    Template reference (docs-relative path -> Markdown)."""
    return {"index.md": render_index(plans, env), **render_references(env),
            PLAN_REFERENCE_PATH: render_plan_reference()}


@cache  # a function of the code alone, and costly (pydantic builds the schema anew)
def render_plan_reference() -> str:
    """The Template reference page: what templates read, field by field, generated from the
    plan's types at build time (the text of ``schema/plan.md``, with its provenance)."""
    from runbook.plan.model import reference_markdown

    return reference_markdown(
        f"*Generated by runbook {runbook.__version__} from the plan's types "
        "(`runbook/plan/model.py`); `runbook schema --plan --reference` prints the same "
        "reference.*")


def _encoded(pages: Mapping[str, str]) -> dict[str, bytes]:
    return {path: text.encode("utf-8") for path, text in pages.items()}


def _render_sites(plans: Iterable[Mapping[str, Any]], env: jinja2.Environment
                  ) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    for plan in plans:
        files.update(_encoded(render_site(plan, env)))
    return files


def produce_sites(sites: list[Site], workdir: Path,
                  templates_dir: Path | None = None) -> dict[str, bytes]:
    """Every Markdown page of every site, and no page outside ``sites/``: what the cached
    build makes per chunk of sites. It makes the home page once from every site
    (``runbook.site.generate.GLOBAL_BUILDERS``) and the reference pages once for all builds
    (``FIXED_BUILDERS``). Arguments as :func:`produce`."""
    return _render_sites((site.plan_dict() for site in sites), environment(templates_dir))


def produce(sites: list[Site], workdir: Path,
            templates_dir: Path | None = None) -> dict[str, bytes]:
    """Every Markdown page of every site plus the home page and the reference pages
    (docs-relative path -> UTF-8).

    ``workdir`` is unused: rendering is fast enough not to need a cache. ``templates_dir`` is
    the user's override folder, if any.
    """
    env = environment(templates_dir)
    plans = [site.plan_dict() for site in sites]
    return {**_render_sites(plans, env), **_encoded(render_globals(plans, env))}
