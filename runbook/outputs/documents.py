"""Change-request documents and printable field runbooks, one of each per site.

Both are read off the plan; nothing here derives a topology fact. The change request says what
will be done, by whom, how long it should take and how to undo it; the field runbook is the
wizard walk-through a field engineer ticks off on paper.

Templates live in ``templates/documents/``: the PDFs are Typst templates (``*.typ``) that read
the plan and the document's context as JSON data (:mod:`runbook.outputs.pdf`), the site's
change request page is ``*.md.j2``, rendered with Markdown escaping of every value by default.
"""

from __future__ import annotations

import html
import json
import math
import re
from collections.abc import Callable, Iterable
from contextvars import ContextVar
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Self

import jinja2
from markupsafe import Markup

from runbook.errors import RunbookError
from runbook.outputs import font_advances
from runbook.outputs.checklists import NO_BOX, trust_of_the_other_side
from runbook.outputs.htmlblocks import tables_to_blocks
from runbook.outputs.pdf import cached_pdf
from runbook.outputs.templating import (
    cell,
    code,
    default_templates_dir,
    make_environment,
    md,
    read_only,
    render_bounded,
    url,
)

if TYPE_CHECKING:
    from runbook.plan.sites import Site

Paper = Literal["a4", "letter"]
PAPER_SIZES: dict[str, str] = {"a4": "A4", "letter": "Letter"}
# Typst's names of the same papers.
TYPST_PAPERS: dict[str, str] = {"a4": "a4", "letter": "us-letter"}

# Estimated minutes per implementation step, keyed by step id. These are planning
# ESTIMATES for the change window, not measurements: adjust them to the site's experience.
# Wizard steps (install .. validate) are per server; the others are per item of the plan.
ESTIMATED_STEP_MINUTES: dict[str, int] = {
    "network": 30,        # NICs, addresses, one default gateway, persistent routes (per server)
    "dns": 15,            # records of one zone, entered by that zone's administrator
    "firewall": 45,       # rules of one firewall
    "load_balancer": 45,  # VIPs, members, persistence and health checks
    "install": 20,        # Step 1: Install Files for Edge Server
    "activate": 15,       # Step 2: Activate Edge Server
    "configure": 30,      # Step 3: Configure Edge Server
    "certificates": 60,   # Step 4: request, offline CA approval, import, assign
    "services": 10,       # Step 5: Start Services
    "validate": 30,       # Step 6: Validate Edge Server and end-to-end tests
    "integration": 30,    # pool side: trusted edge lists, federation route, meetings, users
    "federation": 15,     # federation partners on the Access Edge's Allow tab
    "reverse_proxy": 45,  # the reverse proxy's listener certificate and publishing rule
    "trust": 20,          # CA certificates imported by hand on every server that needs them
}

NOT_PROVIDED = "______ (not provided)"

# How to undo each kind of implementation step; the step's owner does it.
# {server} and {subject} come from the step.
BACKOUT_BY_STEP: dict[str, str] = {
    "trust": "On {server}, delete the CA certificates imported for the edge ({subject}) from "
             "the computer's stores, unless other services rely on them.",
    "reverse_proxy": "On the reverse proxy, disable and delete the publishing rule for "
                     "{subject} and its web listener, then apply the configuration.",
    "network": "On {server}, remove the addresses and persistent routes added for the edge "
               "({subject}) and restore the previous NIC settings.",
    "dns": "Delete the records added in {subject}.",
    "firewall": "Remove the rules {subject}.",
    "load_balancer": "Remove the virtual servers {subject} and their member pools.",
    "install": "On {server}, uninstall Office Communications Server 2007, Edge Server with "
               "Add or Remove Programs (also remove the Visual C++ and .NET components only "
               "if nothing else uses them).",
    "activate": "On {server}, deactivate the edge roles activated in Step 2 (Deployment "
                "Wizard, Deactivate), so no edge service is registered any more.",
    "configure": "On {server}, restore the previous edge configuration (import the settings "
                 "file exported before the change); on a new server stop and disable the "
                 "edge services instead.",
    "certificates": "On {server}, remove the certificates assigned in Step 4 ({subject}) from "
                    "the computer's Personal store and delete the pending requests under "
                    "Certificate Enrollment Requests; ask the issuing CA to revoke what was "
                    "issued if it will not be reused.",
    "services": "On {server}, stop the edge services started in Step 5 and set them to "
                "Manual.",
    "validate": "Nothing to undo on {server}: validation changes nothing. Keep its report "
                "with the change record.",
    "integration": "On the internal servers, remove this edge from the lists set after the "
                   "installation ({subject}) and turn off the user settings enabled for it.",
    "federation": "On {server}, remove the partners added to the Allow tab ({subject}).",
}

ACTION_VERBS: dict[str, str] = {
    "click": "Click",
    "type": "Type",
    "select": "Select",
    "tick": "Tick",
    "clear": "Clear",
    "do": "Do",
    "check": "Check",
    "vault": "From the vault",
    "note": "Note",
    "warning": "Warning",
}


class DocumentError(RunbookError):
    """A document could not be produced (bad template, missing data)."""


# --- Markdown escaping -------------------------------------------------------------------
# The site's own filters (runbook.outputs.pages), so the page follows the same rules as every other
# page. Markup marks text a filter already escaped; everything else is escaped on output.


def _finalize(value: Any) -> Any:
    # A None printed as "None" would look like data; a template must say what to show.
    if value is None:
        raise DocumentError("a document template printed a missing value (None)")
    return value


class MarkdownMarkup(Markup):
    """Text a documents' filter escaped as Markdown (:func:`md`).

    Jinja's ``Markup`` escapes what is joined to it (``+``, ``%``, ``format``, ``join``) as
    HTML, which in a Markdown document leaves a value's ``[link](javascript:x)`` or ``*x*``
    live: joined to this, a value is escaped as every printed value is, with :func:`md`
    (text already marked, ``Markup`` or this, is kept as it is, as on output).
    """

    __slots__ = ()

    @staticmethod
    def escaped(value: Any) -> str:
        """``value`` as this kind of document escapes it."""
        return md(value)

    @classmethod
    def escape(cls, s: Any, /) -> Self:
        if hasattr(s, "__html__"):
            return cls(s.__html__())
        return cls(cls.escaped(_finalize(s)))


class CommonMarkMarkup(MarkdownMarkup):
    """:class:`MarkdownMarkup` of a Markdown file handed out (:func:`commonmark` escapes)."""

    __slots__ = ()

    @staticmethod
    def escaped(value: Any) -> str:
        """``value`` escaped with backslashes alone (:func:`commonmark`)."""
        return commonmark(md(value))


def _md_finalize(value: Any) -> Any:
    # Every {{ }} in a Markdown template is escaped unless a filter already did it.
    if isinstance(value, Markup):
        return value
    return md(_finalize(value))


# The character references md() and cell() write, and the CommonMark escape of each: the
# site's pages need the references (Python-Markdown has no escape for & and <), a Markdown
# file handed out reads as text with the escapes, which every CommonMark reader renders.
_REFERENCES = re.compile(r"&(amp|lt|gt|#126|#63|#58|#61);")
_ESCAPES = {"amp": "\\&", "lt": "\\<", "gt": "\\>", "#126": "\\~", "#63": "\\?",
            "#58": "\\:", "#61": "\\="}


def commonmark(escaped: str) -> str:
    """Text escaped by :func:`md` or :func:`cell` with its character references written as
    CommonMark backslash escapes instead (every ``&`` of the value is one of them)."""
    return _REFERENCES.sub(lambda m: _ESCAPES[m.group(1)], escaped)


def _commonmark_finalize(value: Any) -> Any:
    if isinstance(value, Markup):
        return value
    return commonmark(md(_finalize(value)))


# --- Template environments ---------------------------------------------------------------


def templates_dir() -> Path:
    """The packaged ``documents`` templates (wheel: ``runbook/templates``; checkout: repo)."""
    return default_templates_dir() / "documents"


# The filters the documents' templates had before they shared the pages' names.
RETIRED_FILTERS = {"md_text": "md", "md_cell": "cell", "md_code": "code", "md_url": "url"}


def _retired(old: str) -> Callable[[Any], Any]:
    def refuse(value: Any) -> Any:
        raise DocumentError(f"the filter {old} is now called {RETIRED_FILTERS[old]}: rename "
                            "it in your template")
    return refuse


def _not_in_documents(name: str) -> Callable[..., Any]:
    # The pages' HTML filters mark their output as escaped for HTML only: in a Markdown
    # document a value's Markdown ([l](javascript:x), *x*) would pass through them.
    def refuse(*_: Any, **__: Any) -> Any:
        raise DocumentError(f"the filter {name} writes HTML for the site's pages; a document "
                            "template is Markdown: use md, cell, code or url")
    return refuse


# The user's template folder for the documents being produced (None: packaged defaults only).
_USER_TEMPLATES: ContextVar[Path | None] = ContextVar("runbook_document_templates",
                                                      default=None)


@lru_cache(maxsize=8)
def _environment(user_dir: str | None = None, plain: bool = False) -> jinja2.Environment:
    """runbook's template environment (:func:`runbook.outputs.templating.make_environment`)
    over the ``documents`` templates, user's first. Every value printed is escaped as
    Markdown unless a filter did it (``md``, ``cell``, ``code``, ``url``, as in the pages, but
    marking what they escaped). ``plain``: a Markdown file handed out, its values escaped
    with backslashes alone (:func:`commonmark`), not character references."""
    marked = CommonMarkMarkup if plain else MarkdownMarkup
    table_cell = (lambda v: commonmark(cell(v))) if plain else cell

    def as_md(value: Any) -> Markup:
        return marked(marked.escaped(value))

    filters: dict[str, Callable[..., Any]] = {
        "md": as_md, "cell": lambda v: marked(table_cell(v)),
        "code": lambda v: marked(code(v)), "url": lambda v: marked(url(v)),
        "blank": blank, "minutes": format_minutes,
        "verb": lambda kind: ACTION_VERBS.get(kind, kind.capitalize()),
        **{old: _retired(old) for old in RETIRED_FILTERS},
        **{name: _not_in_documents(name) for name in ("html", "html_code", "html_block")},
        # Jinja's own escaping is HTML's, and its Markup would pass finalize: in a Markdown
        # document `e` escapes as `md` does.
        "e": as_md, "escape": as_md, "forceescape": as_md,
    }
    # Kept for the process (lru_cache): a template edited meanwhile is read again, as a
    # long `runbook serve` needs.
    return make_environment(Path(user_dir) if user_dir else None, folder="documents",
                            finalize=_commonmark_finalize if plain else _md_finalize,
                            filters=filters, names={"not_provided": NOT_PROVIDED},
                            kind="documents-plain" if plain else "documents",
                            auto_reload=True)


def _user_templates() -> Path | None:
    user = _USER_TEMPLATES.get()
    if user is not None and Path(user).resolve() == default_templates_dir().resolve():
        return None
    return user


def _render(name: str, plain: bool = False, **context: Any) -> str:
    user = _user_templates()
    try:
        env = _environment(str(user) if user else None, plain)
        if user:  # untrusted: a read-only plan, bounded resources
            return render_bounded(env.get_template(name), read_only(context), name)
        return env.get_template(name).render(**context)
    except jinja2.TemplateError as exc:
        raise DocumentError(f"template {name}: {type(exc).__name__}: {exc}") from exc
    except DocumentError as exc:  # a filter's refusal: say which template
        if str(exc).startswith("template "):
            raise
        raise DocumentError(f"template {name}: {exc}") from exc


def typst_template(name: str) -> Path:
    """The Typst template ``name``: the user's ``documents/<name>`` if there is one (a regular
    file inside that folder, not a link out of it), else the packaged one.

    Either way it is compiled with the packaged folder as Typst's root, so it may import
    ``_common.typ`` and can read no other file.
    """
    user = _user_templates()
    if user is not None:
        folder = (Path(user) / "documents").resolve()
        candidate = folder / name
        if candidate.exists():
            real = candidate.resolve()
            if real.parent != folder or not real.is_file():
                raise DocumentError(f"template {name}: {candidate} is not a file inside "
                                    f"{folder}")
            return real
    return templates_dir() / name


# An upper bound of the width of each character in DejaVu Sans, the tables' font, in
# thousandths of an em: its advance and the largest kerning it can take ("AA" is set 0.712 em
# per "A", its advance 0.684), in the regular and oblique fonts (the bold ones within
# BOLD_FACTOR of it), generated from the font files by scripts/font_advances.py; a character
# not listed counts as DEFAULT. A sum of them is never less than a string's width on paper:
# _common.typ fits a table's strings to their columns with it (``shared.advance``), without
# Typst's ``measure``, and the diagram's legend and heading are fitted here.
DEJAVU_ADVANCE: dict[str, int] = font_advances.ADVANCE
# What _common.typ gets of it: printable ASCII as a table, and the characters wider than
# DEFAULT as strings of those at most as wide as each hundredth (``[[1100, "Œ..."], ...]``).
# A table of every character is passed along with each call of a function that fits text
# (Typst hashes a call's arguments): the 450 wide characters made the documents 7 % slower.
TYPST_ADVANCE: dict[str, int] = {c: w for c, w in DEJAVU_ADVANCE.items() if " " <= c <= "~"}
TYPST_WIDE: list[list[Any]] = [
    [bound, "".join(sorted(c for c, w in DEJAVU_ADVANCE.items()
                           if c not in TYPST_ADVANCE and bound - 100 < w <= bound))]
    for bound in range(font_advances.DEFAULT + 100,
                       max(DEJAVU_ADVANCE.values()) // 100 * 100 + 200, 100)]


def text_width(text: str, size: float) -> float:
    """An upper bound of the width of ``text`` in DejaVu Sans at ``size`` pt (regular)."""
    return sum(DEJAVU_ADVANCE.get(c, font_advances.DEFAULT) for c in text) * size / 1000


def _pdf(name: str, data: dict[str, Any], workdir: Path | None) -> bytes:
    # What every document of a paper size shares goes in sys.inputs (``shared`` in
    # _common.typ): Typst starts afresh when they change, and keeps what it laid out for the
    # next document when only the data does.
    shared = {"paper": data["doc"]["paper"], "not_provided": NOT_PROVIDED,
              "verbs": ACTION_VERBS, "no_box": sorted(NO_BOX), "advance": TYPST_ADVANCE,
              "wide": TYPST_WIDE,
              "advance_default": font_advances.DEFAULT, "mono": font_advances.MONO,
              "bold_factor": font_advances.BOLD_FACTOR}
    return cached_pdf(typst_template(name), data, workdir, root=templates_dir(),
                      inputs={"shared": json.dumps(shared, sort_keys=True)})


def _page(doc_title: str, site_title: str, site: str, provenance: str,
          paper: Paper) -> dict[str, str]:
    # The running header and footer hold one line each: _common.typ cuts a long value there
    # to the width it has, measured (the cover and the body give them in full), and keeps
    # the end of the header's right side, the site's id (``head_tail``), whole.
    return {"title": doc_title, "paper": TYPST_PAPERS[paper], "head_left": doc_title,
            "head_right": f"{site_title} ({site})", "head_tail": f" ({site})",
            "foot": provenance}


# --- Small formatting helpers ---------------------------------------------------------------


def blank(value: Any) -> Any:
    """The value, or a clearly marked blank when the topology did not provide it."""
    if value is None or value == "" or value == []:
        return NOT_PROVIDED
    return value


def plural(count: int, noun: str, nouns: str | None = None) -> str:
    """``count`` and ``noun``, in the plural unless it is one ("1 rule change", "2 rule
    changes")."""
    return f"{count} {noun if count == 1 else (nouns or noun + 's')}"


def format_minutes(minutes: int) -> str:
    """``90`` → ``1 h 30 min``."""
    hours, rest = divmod(int(minutes), 60)
    if not hours:
        return f"{rest} min"
    return f"{hours} h {rest:02d} min" if rest else f"{hours} h"


CHANGE_FIELDS = ("id", "title", "window_start", "window_end", "timezone", "requester",
                 "implementer", "approvers", "risk", "business_reason", "contacts")


def _change(plan: dict[str, Any]) -> dict[str, Any]:
    """The plan's change block with every field present (None / [] when not given)."""
    given = plan["summary"].get("change") or {}
    return {k: given.get(k, [] if k in ("approvers", "contacts") else None)
            for k in CHANGE_FIELDS}


def window_minutes(change: dict[str, Any]) -> int | None:
    """The length of the change window in minutes, when both ends parse as ISO date-times."""
    from datetime import datetime

    try:
        start = datetime.fromisoformat(str(change.get("window_start")))
        end = datetime.fromisoformat(str(change.get("window_end")))
    except ValueError:
        return None
    minutes = int((end - start).total_seconds() // 60)
    return minutes if minutes > 0 else None


def _window(change: dict[str, Any]) -> str:
    start, end, tz = (change.get(k) for k in ("window_start", "window_end", "timezone"))
    if not (start or end):
        return NOT_PROVIDED
    return f"{blank(start)} to {blank(end)} (time zone {blank(tz)})"


# --- The change request ---------------------------------------------------------------------


def _step_item(step_id: str, title: str, *, server: str | None, owner: str,
               subject: str, details: list[str], when: str) -> dict[str, Any]:
    return {"id": step_id, "title": title, "server": server, "owner": owner,
            "subject": subject, "details": details, "when": when,
            "minutes": ESTIMATED_STEP_MINUTES[step_id]}


def dns_groups(plan: dict[str, Any]) -> list[dict[str, Any]]:
    """The plan's DNS records grouped by who adds them, in plan order (one table each)."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for r in plan["dns"]:
        groups.setdefault(r["added_by"], []).append(r)
    return [{"owner": owner, "records": records} for owner, records in groups.items()]


def _dns_label(r: dict[str, Any]) -> str:
    extra = f" port {r['port']}" if r.get("port") is not None else ""
    return f"{r['type']} {r['name']} {ARROW} {r['value']}{extra}"


def _prerequisite_items(plan: dict[str, Any], implementer: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for server in plan["servers"]:
        name = server["name"]
        rows = [a for a in plan["addresses"] if a["server"] == name]
        routes = [r for r in plan["routes"] if r["server"] == name]
        details = [f"{a['nic_name']} ({a['role_name']}): {a['ip']}/{a['prefix']}"
                   + (f", gateway {a['gateway']}" if a["gateway"] else "") for a in rows]
        details += [f"route: {r['command']}" for r in routes]
        subject = ", ".join(f"{a['ip']}/{a['prefix']}" for a in rows)
        if routes:
            subject += "; routes " + ", ".join(f"{r['to']} via {r['via']}" for r in routes)
        items.append(_step_item("network", f"NICs, addresses and routes of {name}",
                                server=name, owner=implementer, subject=subject,
                                details=details, when="before the window"))
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in plan["dns"]:
        groups.setdefault((r["zone"], r["added_by"]), []).append(r)
    for (zone, owner), records in groups.items():
        scope = records[0]["scope"]
        items.append(_step_item("dns", f"DNS records in the {scope} zone {zone}", server=None,
                                owner=owner, subject=f"the {zone} zone",
                                details=[_dns_label(r) for r in records],
                                when="before the window"))
    for side in ("external", "internal"):
        rules = [r for r in plan["firewall"] if r["firewall"] == side]
        if not rules:
            continue
        items.append(_step_item(
            "firewall", f"Rules on the {side} firewall", server=None,
            owner=f"{side.capitalize()} firewall administrator",
            subject=", ".join(r["id"] for r in rules),
            details=[f"{len(rules)} rules, " + ", ".join(r["id"] for r in rules)
                     + " (see Firewall rules)"],
            when="before the window"))
    if plan["vips"]:
        lb = plan["summary"].get("load_balancer_name") or "the hardware load balancer"
        items.append(_step_item(
            "load_balancer", f"Virtual servers on {lb}", server=None,
            owner=f"Load balancer administrator ({lb})",
            subject=", ".join(f"{v['role_name']} VIP {v['external_ip']}" for v in plan["vips"]),
            details=[f"{v['role_name']}: VIP {v['external_ip']}"
                     + (f" (public {v['public_ip']})" if v["public_ip"] else "")
                     + (f", internal VIP {v['internal_ip']}" if v["internal_ip"] else "")
                     + ", members " + ", ".join(m["server"] for m in v["members"])
                     for v in plan["vips"]],
            when="before the window"))
    return items


def _certificates_on(plan: dict[str, Any], server: str) -> list[dict[str, Any]]:
    return [c for c in plan["certificates"] if server in c["servers"]]


def _wizard_items(plan: dict[str, Any], implementer: str,
                  only: dict[str, set[str]] | None = None) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for w in sorted(plan["wizard"], key=lambda w: w["order"]):
        for step in w["steps"]:
            if only is not None and step["id"] not in only.get(w["server"], set()):
                continue
            subject = ""
            if step["id"] == "certificates":
                subject = ", ".join(f"{c['title']} (CN {c['subject_cn']})"
                                    for c in _certificates_on(plan, w["server"]))
            items.append(_step_item(
                step["id"], f"Step {step['number']}: {step['title']}", server=w["server"],
                owner=implementer, subject=subject, details=[], when="in the window"))
    return items


def _integration_item(plan: dict[str, Any], implementer: str) -> dict[str, Any] | None:
    screens = plan["pool_side"]["screens"]
    if not screens:
        return None
    titles = [s["title"] for s in screens]
    return _step_item("integration", "Pool side: trust the edge, route federation, enable "
                      "users", server=None, owner=implementer, subject="; ".join(titles),
                      details=titles, when="in the window")


def _federation_item(plan: dict[str, Any], implementer: str) -> dict[str, Any] | None:
    fed = plan.get("federation")
    if not fed or not fed["partners"]:
        return None
    domains = [p["domain"] for p in fed["partners"]]
    return _step_item("federation", "Federation partners on the Allow tab",
                      server=", ".join(fed["edges"]), owner=implementer,
                      subject=", ".join(domains),
                      details=[f"{p['domain']}" + (f" via {p['access_edge']}"
                                                   if p["access_edge"] else " (DNS SRV)")
                               for p in fed["partners"]], when="in the window")
def _trust_item(plan: dict[str, Any], implementer: str) -> dict[str, Any] | None:
    imports = plan["trust"]["imports"]
    if not imports:
        return None
    return _step_item("trust", "Certificate chains: import the CA certificates",
                      server=", ".join(plan["trust"]["computers"]), owner=implementer,
                      subject="; ".join(f"{i['certificate']} ({i['store']})" for i in imports),
                      details=[f"{i['certificate']}: {i['store']}, on {', '.join(i['servers'])}"
                               for i in imports], when="in the window")


def _reverse_proxy_item(plan: dict[str, Any], implementer: str) -> dict[str, Any] | None:
    rp = plan.get("reverse_proxy")
    if not rp:
        return None
    return _step_item("reverse_proxy", f"Reverse proxy: publish {rp['fqdn']}", server=None,
                      owner=implementer, subject=rp["fqdn"],
                      details=[s["title"] for s in rp["screens"]], when="in the window")


def _number(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for n, item in enumerate(items, 1):
        item["number"] = n
        if "backout" not in item:
            item["backout"] = BACKOUT_BY_STEP[item["id"]].format(
                server=item["server"] or "the affected servers", subject=item["subject"] or "-")
    return items


def _validation(plan: dict[str, Any], servers: Iterable[str] | None = None) -> list[dict[str, Any]]:
    wanted = set(servers) if servers is not None else None
    sections: dict[str, dict[str, list[str]]] = {}
    for w in sorted(plan["wizard"], key=lambda w: w["order"]):
        if wanted is not None and w["server"] not in wanted:
            continue
        for step in w["steps"]:
            if step["id"] != "validate":
                continue
            for screen in step["screens"]:
                checks = sections.setdefault(f"{step['title']}: {screen['title']}", {})
                for a in screen["actions"]:
                    if a["kind"] in ("check", "tick"):
                        checks.setdefault(a["label"], []).append(w["server"])
    out = [{"title": title, "checks": [{"label": label, "servers": on}
                                       for label, on in checks.items()]}
           for title, checks in sections.items() if checks]
    rp = plan.get("reverse_proxy")
    if rp:
        out.append({"title": f"Reverse proxy ({rp['fqdn']})", "checks": [
            {"label": a["label"], "servers": []} for screen in rp["screens"]
            for a in screen["actions"] if a["kind"] == "check"
            and screen["title"] == "Test from the Internet"]})
    tests = plan["validation"]["tests"]
    if tests:
        out.append({"title": "End-to-end tests from outside", "checks": [
            {"label": f"{x['title']}: {x['success']}", "servers": []} for x in tests]})
    return out


def change_request(plan: dict[str, Any], delta: dict[str, Any] | None = None) -> dict[str, Any]:
    """The change request as plain data: what every template of it renders.

    ``delta`` (from :func:`delta_scope`) narrows the implementation, validation and backout
    plans to what changed since an earlier version of the topology.
    """
    change = _change(plan)
    implementer = change.get("implementer") or "Implementer " + NOT_PROVIDED
    if delta is None:
        items = _prerequisite_items(plan, implementer)
        trust = _trust_item(plan, implementer)
        items += ([trust] if trust else []) + _wizard_items(plan, implementer)
        for extra in (_reverse_proxy_item(plan, implementer),
                      _integration_item(plan, implementer),
                      _federation_item(plan, implementer)):
            if extra:
                items.append(extra)
        validation = _validation(plan)
    else:
        items = [dict(i) for i in delta["prerequisites"]]
        for item in _wizard_items(plan, implementer, delta["rerun"]):
            server = item["server"]
            if item["id"] == "certificates":
                item["subject"] = delta["cert_subjects"].get(server) or item["subject"]
            if server not in delta["new_servers"] and item["id"] in BACKOUT_RERUN_BY_STEP:
                item["backout"] = BACKOUT_RERUN_BY_STEP[item["id"]].format(
                    server=server, subject=item["subject"] or "-")
            item["details"] = delta["reasons"].get((server, item["id"]), [])
            items.append(item)
        if delta["integration"]:
            items.append(dict(delta["integration"]))
        # The changes themselves first, then the deployment's checks of what they touch.
        own = [{"title": "The changes themselves", "checks": [
            {"label": label, "servers": []} for label in delta["checks"]]}]
        validation = (own if delta["checks"] else []) + _validation(plan, delta["rerun"].keys())
    items = _number(items)
    features = plan["summary"]["features"]
    feature_names = [label for key, label in (
        ("remote_access", "remote user access"), ("federation", "federation"),
        ("anonymous_meetings", "anonymous meeting participation"))
        if any(f[key] for f in features)]
    if plan["summary"]["public_im"]:
        providers = sorted({p for f in features for p in f["public_im"]})
        feature_names.append("public IM connectivity (" + ", ".join(providers) + ")")
    owners: list[str] = []  # who confirms a prerequisite before the window
    window_owners: list[str] = []  # who, besides the implementer, makes a change in it
    for item in items:
        if item["when"] == "before the window" and item["owner"] not in owners:
            owners.append(item["owner"])
        elif (item["when"] == "in the window" and item["owner"] != implementer
              and item["owner"] not in window_owners):
            window_owners.append(item["owner"])
    cert_rows = [dict(c, owner=(f"{c['ca']} (public CA): order and validate the names in time"
                                if c["issuer"] == "public"
                                else f"Administrator of {c['ca']}: approve the offline request"))
                 for c in plan["certificates"]]
    title = change.get("title") or plan["meta"]["title"]
    in_window = sum(i["minutes"] for i in items if i["when"] == "in the window")
    length = window_minutes(change)
    fit = None
    if length is not None and in_window > length:
        fit = (f"The estimated {format_minutes(in_window)} of work does not fit the "
               f"{format_minutes(length)} window: widen the window or split the change.")
    fields = [
        ("Change id", blank(change.get("id"))),
        ("Title", blank(change.get("title"))),
        ("Window", _window(change)),
        ("Requester", blank(change.get("requester"))),
        ("Implementer", blank(change.get("implementer"))),
        ("Approvers", ", ".join(change.get("approvers") or []) or NOT_PROVIDED),
        ("Risk", blank(change.get("risk"))),
        ("Business reason", blank(change.get("business_reason"))),
    ]
    return {
        "meta": plan["meta"],
        "plan": plan,
        "change": change,
        "title": title,
        "window": _window(change),
        # One Window field: start, end and time zone in one line.
        "fields": fields,
        "field": dict(fields),
        "contacts": change.get("contacts") or [],
        "features": feature_names,
        "firewalls": (delta["firewalls"] if delta else
                      sorted({r["firewall"] for r in plan["firewall"]})),
        "firewall_rules": (plural(delta["firewall_count"], "rule change") if delta
                           else plural(len(plan["firewall"]), "rule")),
        "zones": (delta["zones"] if delta else
                  list(dict.fromkeys(r["zone"] for r in plan["dns"]))),
        "certificates": cert_rows,
        "dns_groups": dns_groups(plan),
        "implementation": items,
        "prerequisites": [i for i in items if i["when"] == "before the window"],
        "steps": [i for i in items if i["when"] == "in the window"],
        "backout": list(reversed(items)),
        "total_minutes": sum(i["minutes"] for i in items),
        "window_minutes": in_window,
        "window_fit": fit,
        "validation": validation,
        "estimates": ESTIMATED_STEP_MINUTES,
        "owners": owners,
        "window_owners": window_owners,
        "delta": delta,
        "not_provided": NOT_PROVIDED,
    }


# Backout of a wizard step re-run on a server that already ran it (a delta change request).
BACKOUT_RERUN_BY_STEP: dict[str, str] = {
    "activate": "On {server}, run Step 2 again with the roles it had before the change.",
    "configure": "On {server}, restore the edge configuration exported before the change "
                 "(Step 3, import settings from that file).",
    "certificates": "On {server}, assign the previous certificates again in Step 4, then "
                    "remove the new ones ({subject}) and delete their pending requests.",
    "services": "On {server}, restart the edge services once the steps above are undone.",
    "validate": "Nothing to undo on {server}: validation changes nothing.",
}


SERVER_NIC_FIELDS = ("ip", "prefix", "netmask", "gateway", "nic_name")


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, list):
        return ", ".join(map(str, value)) or "-"
    return str(value)


# Old to new in a change: an arrow character, which needs no escaping in Markdown or HTML.
ARROW = "\u2192"


def _changed(c: dict[str, Any], names: Iterable[str]) -> str:
    return "; ".join(f"{n} {_fmt(c['old'].get(n))} {ARROW} {_fmt(c['new'].get(n))}"
                     for n in names)


def since_text(meta: dict[str, Any]) -> str:
    """The older version a delta change request starts from, in words: file and revision."""
    if meta.get("revision"):
        return f"{meta['source']} as committed at revision {meta['revision']}"
    return f"the topology file {meta['source']} (not in git)"


def delta_scope(old: dict[str, Any], new: dict[str, Any],
                diff: dict[str, Any] | None = None) -> dict[str, Any]:
    """Narrow a change request to what changed from plan ``old`` to plan ``new``.

    ``diff`` is :func:`runbook.plan.diff.diff_plans` as data; computed when not given. Returns the
    ``delta`` argument of :func:`change_request`: the changed prerequisites (each with its own
    backout), the wizard steps to re-run per server, and tables of the changes.
    """
    if diff is None:
        from runbook.plan.diff import diff_plans

        diff = diff_plans(old, new).to_dict()
    change = _change(new)
    implementer = change.get("implementer") or "Implementer " + NOT_PROVIDED
    items: list[dict[str, Any]] = []

    def record(r: dict[str, Any]) -> str:
        return _dns_label(r)

    by_owner: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for c in diff["dns"]:
        row = c["new"] or c["old"]
        by_owner.setdefault((row["zone"], row["added_by"]), []).append(c)
    for (zone, owner), changes in by_owner.items():
        details, undo = [], []
        for c in changes:
            if c["kind"] == "added":
                details.append("add " + record(c["new"]))
                undo.append("delete " + record(c["new"]))
            elif c["kind"] == "removed":
                details.append("delete " + record(c["old"]))
                undo.append("add back " + record(c["old"]))
            else:
                details.append(f"change {c['key']}: {_changed(c, c['fields'])}")
                undo.append("set back " + record(c["old"]))
        item = _step_item("dns", f"DNS record changes in the zone {zone}", server=None,
                          owner=owner, subject="; ".join(details), details=details,
                          when="before the window")
        item["backout"] = "In the zone " + zone + ": " + "; ".join(undo) + "."
        items.append(item)
    for side in ("external", "internal"):
        changes = [c for c in diff["firewall"] if (c["new"] or c["old"])["firewall"] == side]
        moves = [m for m in diff["renumbered"] if m["firewall"] == side]
        if not changes and not moves:
            continue
        details, undo = [], []
        # The ids number the rules in order: a rule that takes another's place is renamed
        # first (the last one first, so no two rules ever share an id), then the changes
        # name the rules by their new ids; the backout undoes the changes, then the names.
        renames = _rename_order(moves)
        details += [f"renumber {m['old_id']} as {m['new_id']}" + (
            "" if m["changed"] else " (the rule is unchanged)") for m in renames]
        for c in changes:
            r = c["new"] or c["old"]
            text = _rule_path(r)
            if c["kind"] == "added":
                details.append(f"add {r['id']}: {text}")
                undo.append(f"remove {r['id']} ({text})")
            elif c["kind"] == "changed":
                details.append(f"change {r['id']}: {_changed(c, c['fields'])}")
                undo.append(f"set {r['id']} back to " + "; ".join(
                    f"{n} {_fmt(c['old'].get(n))}" for n in c["fields"]))
            else:
                details.append(f"remove {c['old']['id']}: {text}")
                undo.append(f"restore the removed rule {text}")
        undo += [f"renumber {m['new_id']} back as {m['old_id']}" for m in reversed(renames)]
        item = _step_item("firewall", f"Rule changes on the {side} firewall", server=None,
                          owner=f"{side.capitalize()} firewall administrator",
                          subject="; ".join(details), details=details,
                          when="before the window")
        text = "; ".join(undo)
        item["backout"] = text[:1].upper() + text[1:] + "."
        items.append(item)
    # Only what is set on the server itself; public addresses and names are NAT and DNS.
    on_server = [c for c in diff["addresses"]
                 if c["kind"] != "changed" or set(c["fields"]) & set(SERVER_NIC_FIELDS)]
    for server in dict.fromkeys((c["new"] or c["old"])["server"] for c in on_server):
        changes = [c for c in on_server if (c["new"] or c["old"])["server"] == server]
        details = []
        for c in changes:
            if c["kind"] == "changed":
                names = [f for f in c["fields"] if f in SERVER_NIC_FIELDS]
                details.append(f"{c['key']}: {_changed(c, names)}")
            else:
                r = c["new"] or c["old"]
                details.append(f"{c['kind']} {c['key']}: {r['ip']}/{r['prefix']}")
        item = _step_item("network", f"NIC and address changes on {server}", server=server,
                          owner=implementer, subject="; ".join(details), details=details,
                          when="before the window")
        item["backout"] = (f"On {server}, set the NICs back to their previous addresses "
                           "(the old values above).")
        items.append(item)
    number_to_id = {w["server"]: {s["number"]: s["id"] for s in w["steps"]}
                    for w in new["wizard"]}
    rerun: dict[str, set[str]] = {}
    reasons: dict[tuple[str, str], list[str]] = {}
    new_servers = {c["key"] for c in diff["servers"] if c["kind"] == "added"}
    for s in diff["steps"]:
        step_id = number_to_id.get(s["server"], {}).get(s["step"])
        if step_id is None:
            continue
        rerun.setdefault(s["server"], set()).add(step_id)
        reasons[(s["server"], step_id)] = s["reasons"]
    integration_item = None
    if diff["integration"]:
        integration_item = _step_item(
            "integration", "Internal servers: change the edge settings", server=None,
            owner=implementer, subject="; ".join(diff["integration"]),
            details=list(diff["integration"]), when="in the window")
        integration_item["backout"] = ("On the internal servers, set back the previous values: "
                                       + "; ".join(diff["integration"]) + ".")
    cert_subjects = {
        server: ", ".join(f"{(c['new'] or c['old'])['title']} (CN {c['subject_cn']})"
                          for c in diff["certificates"] if server in c["step_servers"])
        for server in rerun}
    dns_zones = list(dict.fromkeys((c["new"] or c["old"])["zone"] for c in diff["dns"]))
    fw_sides = sorted({(c["new"] or c["old"])["firewall"] for c in diff["firewall"]}
                      | {m["firewall"] for m in diff["renumbered"]})
    tables = _delta_tables(diff)
    counts = [plural(len(diff[k]), label) for k, label in (
        ("servers", "server change"), ("dns", "DNS record change"),
        ("certificates", "certificate change"), ("firewall", "firewall rule change"),
        ("addresses", "address change")) if diff[k]]
    moved = sum(not m["changed"] for m in diff["renumbered"])
    if moved:
        counts.append(plural(moved, "firewall rule renumbered", "firewall rules renumbered"))
    steps = sum(len(v) for v in rerun.values())
    if steps:
        counts.append(f"{plural(steps, 'wizard step')} to run on {plural(len(rerun), 'server')}")
    if not rerun and integration_item is None:
        # Nothing to install or set on the servers: the changes to DNS, the firewalls and
        # the NICs are the change itself, made in the window (they are prerequisites of an
        # installation).
        for item in items:
            item["when"] = "in the window"
    return {
        "since": since_text(old["meta"]),
        "summary": ", ".join(counts) if counts else "nothing that affects the deployment",
        "checks": _change_checks(diff),
        "prerequisites": items,
        "rerun": rerun,
        "new_servers": new_servers,
        "reasons": reasons,
        "integration": integration_item,
        "tables": tables,
        "cert_subjects": cert_subjects,
        "zones": dns_zones,
        "firewalls": fw_sides,
        "firewall_count": len(diff["firewall"]),
        "notices": list(diff["notices"]),
        "empty": bool(diff["empty"]),
    }


def _rule_path(r: dict[str, Any]) -> str:
    """A firewall rule as the change request names it: ``outbound TCP 80 from ... to ...``."""
    return f"{r['direction']} {r['protocol']} {r['ports']} from {r['source']} to {r['destination']}"


def _change_checks(diff: dict[str, Any]) -> list[str]:
    """What proves a delta's own changes, before the tests of the deployment: each changed
    firewall rule passes (a removed one no longer does), each changed DNS record answers."""
    checks = []
    for c in diff["firewall"]:
        r = c["new"] or c["old"]
        path = _rule_path(r)
        if c["kind"] == "removed":
            checks.append(f"{c['old']['id']} is gone: {path} no longer passes the "
                          f"{r['firewall']} firewall")
        else:
            checks.append(f"{r['id']}: {path} passes the {r['firewall']} firewall "
                          f"({r['purpose']})")
    for c in diff["dns"]:
        r = c["new"] or c["old"]
        if c["kind"] == "removed":
            checks.append(f"nslookup -type={r['type']} {r['name']} no longer answers "
                          f"{r['value']}")
        else:
            port = f", port {r['port']}" if r.get("port") is not None else ""
            checks.append(f"nslookup -type={r['type']} {r['name']} answers {r['value']}{port}")
    return checks


def _rename_order(moves: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The renumberings of one firewall in an order that never gives two rules one id: a
    rule is renamed once no rule still to be renamed holds its new id."""
    pending, done = list(moves), []
    while pending:
        held = {m["old_id"] for m in pending}
        ready = [m for m in pending if m["new_id"] not in held] or pending[:1]  # a cycle
        for m in ready:
            pending.remove(m)
            done.append(m)
    return done


def _delta_tables(diff: dict[str, Any]) -> list[dict[str, Any]]:
    tables: list[dict[str, Any]] = []
    if diff["servers"]:
        tables.append({"title": "Servers", "headers": ["Change", "Server", "Roles / what changed"],
                       "rows": [[c["kind"], c["key"],
                                 _changed(c, c["fields"]) if c["kind"] == "changed"
                                 else ", ".join((c["new"] or c["old"])["roles"])]
                                for c in diff["servers"]]})
    if diff["dns"]:
        rows = []
        for c in diff["dns"]:
            r = c["new"] or c["old"]
            value = _changed(c, c["fields"]) if c["kind"] == "changed" else _fmt(r["value"])
            rows.append([c["kind"], r["zone"], r["type"], r["name"], value,
                         _fmt(r["port"]), r["added_by"]])
        tables.append({"title": "DNS records",
                       "headers": ["Change", "Zone", "Type", "Name", "Value", "Port", "Added by"],
                       "rows": rows})
    if diff["certificates"]:
        rows = []
        for c in diff["certificates"]:
            r = c["new"] or c["old"]
            verb = ("re-issue" if c["reissue"] else "re-deploy") if c["kind"] == "changed" \
                else ("request" if c["kind"] == "added" else "retire")
            rows.append([verb, r["title"], r["subject_cn"], ", ".join(r["sans"]), r["ca"],
                         ", ".join(c["servers"]), "; ".join(c["reasons"])])
        tables.append({"title": "Certificates",
                       "headers": ["Action", "Certificate", "Subject (CN)", "SANs", "CA",
                                   "Servers", "Why"],
                       "rows": rows})
    if diff["firewall"] or diff["renumbered"]:
        rows = []
        for c in diff["firewall"]:
            r = c["new"] or c["old"]

            def cell(name: str, c: dict[str, Any] = c, r: dict[str, Any] = r) -> str:
                # A changed rule is one row: its old and new values side by side.
                if c["kind"] == "changed" and name in c["fields"]:
                    return f"{_fmt(c['old'][name])} {ARROW} {_fmt(c['new'][name])}"
                return _fmt(r[name])

            rule_id = (f"{c['old']['id']} {ARROW} {c['new']['id']}"
                       if c["kind"] == "changed" and c["old"]["id"] != c["new"]["id"]
                       else r["id"])
            rows.append([c["kind"], rule_id, r["firewall"], r["direction"], cell("source"),
                         cell("destination"), cell("protocol"), cell("ports"),
                         cell("purpose")])
        rows += [["renumbered", f"{m['old_id']} {ARROW} {m['new_id']}", m["firewall"], "",
                  "", "", "", "", "unchanged"] for m in diff["renumbered"] if not m["changed"]]
        tables.append({"title": "Firewall rules",
                       "headers": ["Change", "Id", "Firewall", "Direction", "Source",
                                   "Destination", "Protocol", "Ports", "Purpose"],
                       "rows": rows})
    if diff["addresses"]:
        rows = []
        for c in diff["addresses"]:
            r = c["new"] or c["old"]
            what = (_changed(c, c["fields"]) if c["kind"] == "changed"
                    else f"{r['ip']}/{r['prefix']} {r['fqdn']}")
            rows.append([c["kind"], r["server"], r["nic_name"], what])
        tables.append({"title": "Addresses", "headers": ["Change", "Server", "NIC", "What"],
                       "rows": rows})
    if diff["steps"]:
        tables.append({"title": "Wizard steps to run",
                       "headers": ["Server", "Step", "Why"],
                       "rows": [[s["server"], f"Step {s['step']}: {s['title']}",
                                 "; ".join(s["reasons"])] for s in diff["steps"]]})
    return tables


SITE_COPIES = {"change request (PDF)": "change-request.pdf",
               "field runbook (PDF)": "field-runbook.pdf"}


def change_request_markdown(plan: dict[str, Any], delta: dict[str, Any] | None = None,
                            copies: dict[str, str] | None = None, *,
                            plain: bool = False) -> str:
    """The change request as a Markdown page (valid site page; every value escaped).

    ``copies`` maps link text to the printable files beside the page (the site's by default).
    ``plain``: the Markdown file ``runbook cr`` hands out, which reads as text: values are
    escaped with CommonMark's backslash escapes, never character references.
    """
    return _render("change-request.md.j2", plain, cr=change_request(plan, delta),
                   copies=SITE_COPIES if copies is None else copies)


def change_request_data(plan: dict[str, Any], delta: dict[str, Any] | None = None,
                        paper: Paper = "a4") -> dict[str, Any]:
    """What ``change-request.typ`` reads, as JSON data: the change request, its page."""
    cr = change_request(plan, delta)
    data = {key: cr[key] for key in (
        "meta", "plan", "title", "fields", "field", "contacts", "features", "firewalls",
        "firewall_rules", "zones", "certificates", "dns_groups", "validation", "owners",
        "window_owners", "prerequisites", "window_fit")}
    data["implementation"] = [dict(i, estimate=format_minutes(i["minutes"]))
                              for i in cr["implementation"]]
    data["backout"] = list(reversed(data["implementation"]))
    data["in_window_text"] = format_minutes(cr["window_minutes"])
    data["before_text"] = format_minutes(cr["total_minutes"] - cr["window_minutes"])
    data["delta"] = None if delta is None else {
        "since": delta["since"], "summary": delta["summary"], "rerun": sorted(delta["rerun"]),
        "tables": delta["tables"], "notices": delta["notices"], "empty": delta["empty"]}
    m = plan["meta"]
    title = "Change request" + (f" {cr['change']['id']}" if cr["change"].get("id") else "")
    return {"cr": data, "not_provided": NOT_PROVIDED, "verbs": ACTION_VERBS,
            "doc": _page(title, m["title"], m["site"], m["provenance"], paper)
            | {"title": f"Change request: {cr['title']}"}}


def change_request_pdf(plan: dict[str, Any], delta: dict[str, Any] | None = None,
                       paper: Paper = "a4", workdir: Path | None = None) -> bytes:
    """The change request as PDF bytes (``change-request.typ``)."""
    return _pdf("change-request.typ", change_request_data(plan, delta, paper), workdir)


# --- The field runbook ------------------------------------------------------------------


# The diagram on paper: Graphviz's smallest text is 9 pt, and on paper it must be 7 pt or more,
# so the diagram is drawn at 80 % of its size or larger, on as many landscape pages as that
# takes. The printable area of a landscape diagram page (see field-runbook.typ), in pt:
# the page less 15 mm margins each side, 12 mm at the top, 16 mm at the bottom, the heading.
DIAGRAM_SCALE = 0.8
DIAGRAM_AREA = {"A4": (841.9 - 85.0, 595.3 - 79.4 - 34.0),
                "Letter": (792.0 - 85.0, 612.0 - 79.4 - 34.0)}
_SVG_ROOT = re.compile(rb'<svg width="([\d.]+)pt" height="([\d.]+)pt"\s+viewBox="([^"]*)"')
_SVG_TRANSLATE = re.compile(rb'class="graph" transform="[^"]*translate\(([-\d.]+) ([-\d.]+)\)"')
_SVG_TEXT = re.compile(rb'<text ([^>]*)>(.*?)</text>\n?', re.S)
_SVG_ATTR = re.compile(rb'([\w:-]+)="([^"]*)"')
_SVG_VIEWBOX = re.compile(r"[-\d.]+")
_SVG_SPACE = re.compile(r"[ \t\r\n]+")
_HEX_COLOUR = re.compile(r"#[0-9a-fA-F]{6}")
_NAMED_COLOURS = {"white": "#ffffff", "black": "#000000"}


def _ranges(extent: float, tile: float, spans: list[float], first: float | None = None
            ) -> list[tuple[float, float]]:
    """Tiles of at most ``tile`` covering ``0..extent``, overlapping by the longest label up
    to a third of the first tile, so that each such label lies wholly inside one of them.

    ``first`` (at most ``tile``) is the size of the first tile, where the page also holds the
    diagram's heading; the others then take the whole ``tile``. Where the rest would fit in
    one tile that holds the first one too, every tile is ``first`` long instead.
    """
    first = tile if first is None else min(first, tile)
    if extent <= first:
        return [(0.0, extent)]
    overlap = max([x for x in spans if x <= first / 3], default=0.0)
    if first < tile and extent > tile:
        count = math.ceil((extent - first) / (tile - overlap))
        # The second tile starts where it overlaps the first, the last ends at the extent.
        start = first - overlap if count > 1 else extent - tile
        step = (extent - tile - start) / (count - 1) if count > 1 else 0.0
        return [(0.0, first)] + [(start + i * step, start + i * step + tile)
                                 for i in range(count)]
    count = math.ceil((extent - overlap) / (first - overlap))
    step = (extent - first) / (count - 1)
    return [(i * step, i * step + first) for i in range(count)]


def _tile(svg: bytes, width: float, height: float,
          labels: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"svg": svg.decode("utf-8", "replace"), "width": round(width, 2),
            "height": round(height, 2), "labels": labels or [], "heading": [],
            "legend": None, "heading_pad": 0}


# The heading's lines on paper are this high per pt of size, with this much space after each
# (1.5 mm: the title's text box and the subtitle's are more than 1 pt apart); above the
# heading, this much more than below the page's title (field-runbook.typ).
_HEADING_LEADING, _HEADING_BELOW, _HEADING_ABOVE = 1.35, 4.3, 3.0
def _advance(text: str, size: float, bold: bool) -> float:
    """An upper bound of the width of ``text`` at ``size`` pt in DejaVu Sans, bold or not."""
    return text_width(text, size) * (font_advances.BOLD_FACTOR if bold else 1.0)


def _split_after(text: str, chars: str) -> list[str]:
    return [p for p in re.split(f"(?<=[{re.escape(chars)}])", text) if p]


def _pieces(word: str) -> list[str]:
    """The unbreakable pieces of a word as brk (_common.typ) sets it without a width: cut
    after "." and "/", then after "-" (a segment of more than 24 characters or without
    one), and a run of more than 18 characters in twelves."""
    if len(word) <= 12 and "-" not in word:
        return [word]
    out = []
    for seg in _split_after(word, "./"):
        if len(seg) <= 24 and "-" in seg:
            out.append(seg)
            continue
        for run in _split_after(seg, "-"):
            out += [run] if len(run) <= 18 else [run[i:i + 12] for i in range(0, len(run), 12)]
    return out


def _heading_lines(text: str, size: float, bold: bool, width: float,
                   measure: Callable[[str], float] | None = None) -> int:
    """How many lines ``text`` takes at ``size`` pt wrapped to ``width`` pt: no fewer than
    Typst sets (each character as wide as :data:`DEJAVU_ADVANCE` or ``measure`` says, lines
    broken where brk lets them)."""
    def advance(piece: str) -> float:
        return _advance(piece, size, bold) if measure is None else measure(piece)

    lines, used = 1, 0.0
    for word in text.split(" "):
        for i, piece in enumerate(_pieces(word) or [""]):
            w = advance((" " if i == 0 and used else "") + piece)
            if used and used + w > width:
                lines, used = lines + 1, advance(piece)
            else:
                used += w
    return lines


def _heading_height(heading: list[dict[str, Any]], width: float) -> float:
    """How much height the heading takes above the tiles, wrapped to ``width`` pt: no less
    than it does, so the tile under it stays on the page."""
    return sum(_heading_lines(h["text"], float(h["size"]), bool(h["bold"]), width)
               * float(h["size"]) * _HEADING_LEADING + _HEADING_BELOW for h in heading)


# The legend on paper (field-runbook.typ's diagram-legend), in pt: its text, 8 pt as the
# subtitle's (Graphviz's 10 pt at DIAGRAM_SCALE); each entry's swatch, 0.8 of the 22 x 12 of
# the site's diagram, and the space after it; the frame's inset; the space between two columns
# and between two rows (and under the word "Legend"); the space under the frame. At most five
# columns, as the site's diagram has.
LEGEND_SIZE = 8.0
_LEGEND_SWATCH, _LEGEND_SWATCH_GAP = (17.6, 9.6), 4.0
_LEGEND_INSET, _LEGEND_COLUMN_GAP, _LEGEND_ROW_GAP, _LEGEND_BELOW = 4.0, 8.0, 2.0, 4.3
_LEGEND_COLUMNS = 5
# A line of text is set from its cap height (DejaVu's is 0.729 em) down to its baseline, and
# the next line's baseline is its cap height and the leading (0.5 em, _common.typ) lower.
_CAP, _LINE_STEP = 0.75, 1.25


def _legend_height(texts: list[str], columns: int, width: float) -> float:
    """How much height a legend of entries ``texts`` takes in ``columns`` columns across
    ``width`` pt, no less than Typst takes (its text as wide as :data:`DEJAVU_ADVANCE` says,
    wrapped where brk lets it: :func:`_heading_lines`)."""
    column = (width - 2 * _LEGEND_INSET - (columns - 1) * _LEGEND_COLUMN_GAP) / columns
    room = max(1.0, column - _LEGEND_SWATCH[0] - _LEGEND_SWATCH_GAP)

    def height(text: str) -> float:
        lines = _heading_lines(text, LEGEND_SIZE, False, room,
                               lambda piece: text_width(piece, LEGEND_SIZE))
        return max(_LEGEND_SWATCH[1], (_CAP + (lines - 1) * _LINE_STEP) * LEGEND_SIZE)

    rows = [texts[i:i + columns] for i in range(0, len(texts), columns)]
    return (2 * _LEGEND_INSET + _CAP * LEGEND_SIZE + _LEGEND_BELOW
            + sum(_LEGEND_ROW_GAP + max(height(text) for text in row) for row in rows))


def _legend(entries: list[dict[str, str]], width: float) -> tuple[dict[str, Any], float]:
    """The legend for the template and the height it takes: in as many columns (up to
    five) as keep every entry on one line (an entry on two lines reads as two)."""
    texts = [e["text"] for e in entries]
    widest = max(text_width(text, LEGEND_SIZE) for text in texts)
    columns = next((n for n in range(_LEGEND_COLUMNS, 1, -1)
                    if widest <= (width - 2 * _LEGEND_INSET - (n - 1) * _LEGEND_COLUMN_GAP) / n
                    - _LEGEND_SWATCH[0] - _LEGEND_SWATCH_GAP), 1)
    # Every size the template lays the legend out with comes from here, so the height
    # worked out for it is the height it takes.
    return ({"size": LEGEND_SIZE, "columns": columns, "entries": entries,
             "swatch": list(_LEGEND_SWATCH), "swatch_gap": _LEGEND_SWATCH_GAP,
             "inset": _LEGEND_INSET, "column_gap": _LEGEND_COLUMN_GAP,
             "row_gap": _LEGEND_ROW_GAP},
            _legend_height(texts, columns, width))


class _Label:
    """One ``<text>`` of Graphviz's SVG: where it is (viewBox units), what it says and how."""

    def __init__(self, match: re.Match[bytes], x: float, y: float, size: float,
                 attrs: dict[str, str]) -> None:
        self.match, self.x, self.y, self.size = match, x, y, size
        self.anchor = attrs.get("text-anchor", "start")
        # As SVG reads it: runs of white space are one space (a no-break space is a character).
        self.text = _SVG_SPACE.sub(" ", html.unescape(match.group(2).decode("utf-8", "replace"))
                                   ).strip(" ")
        self.bold = attrs.get("font-weight", "") in ("bold", "bolder", "600", "700", "800")
        self.italic = attrs.get("font-style", "") in ("italic", "oblique")
        self.mono = "mono" in attrs.get("font-family", "").lower()
        fill = attrs.get("fill", "#000000")
        self.fill = fill if _HEX_COLOUR.fullmatch(fill) else _NAMED_COLOURS.get(fill, "#000000")
        # DejaVu Sans averages 0.6 em per character (bold a little more): a safe overestimate.
        w = len(self.text) * size * 0.62
        x0 = {"middle": x - w / 2, "end": x - w}.get(self.anchor, x)
        self.xs, self.ys = (x0, x0 + w), (y - size, y + size * 0.3)

    def inside(self, left: float, top: float, right: float, bottom: float) -> bool:
        return (left <= self.xs[0] and self.xs[1] <= right and top <= self.ys[0]
                and self.ys[1] <= bottom)

    def placed(self, left: float, top: float, scale: float) -> dict[str, Any]:
        """The label for the template: its baseline's anchor point in pt from the tile's top
        left corner, its size in pt on paper."""
        return {"text": self.text, "x": round((self.x - left) * scale, 2),
                "y": round((self.y - top) * scale, 2), "size": round(self.size * scale, 2),
                "anchor": self.anchor, "bold": self.bold, "italic": self.italic,
                "mono": self.mono, "fill": self.fill}


def _labels(svg: bytes, dx: float, dy: float) -> list[_Label]:
    labels = []
    for m in _SVG_TEXT.finditer(svg):
        attrs = {k.decode(): v.decode("utf-8", "replace")
                 for k, v in _SVG_ATTR.findall(m.group(1))}
        try:
            x, y = float(attrs["x"]) + dx, float(attrs["y"]) + dy
            size = float(attrs["font-size"])
        except (KeyError, ValueError):
            continue  # not a label of Graphviz's: left in the drawing
        label = _Label(m, x, y, size, attrs)
        if label.text:
            labels.append(label)
    return labels


def _without(svg: bytes, labels: list[_Label]) -> bytes:
    # One pass over the diagram: the text between the labels taken out.
    parts, pos = [], 0
    for label in labels:
        parts.append(svg[pos:label.match.start()])
        pos = label.match.end()
    parts.append(svg[pos:])
    return b"".join(parts)


#: A diagram that would take more landscape pages than this at a readable size is not
#: printed: the field runbook says so and points to the site's copy.
MAX_DIAGRAM_PAGES = 16


class DiagramTooLarge(Exception):
    """The diagram needs more than :data:`MAX_DIAGRAM_PAGES` pages at a readable size."""

    def __init__(self, pages: int) -> None:
        super().__init__(pages)
        self.pages = pages


def diagram_tiles(svg: bytes, paper: str, heading: list[dict[str, Any]] | None = None,
                  legend: list[dict[str, str]] | None = None) -> list[dict[str, Any]]:
    """The diagram as tiles for landscape pages, each ``{"svg", "width", "height", "labels",
    "heading", "legend", "heading_pad"}`` in pt.

    A diagram that fits a page at :data:`DIAGRAM_SCALE` or larger is one tile; a larger one
    is cut into as few overlapping tiles as fit. The shapes stay in the SVG, clipped at a
    tile's edges; Graphviz's labels are taken out of it and set by the template as text of
    the document (its fonts, laid out once: an SVG's own text costs several times more to
    convert), each tile holding only the labels wholly inside it, so the PDF holds no
    hidden text.

    ``heading`` (``{"text", "size", "bold", "fill"}`` per line, size in pt on paper) is the
    diagram's title and subtitle, which ``svg`` leaves out: the first tile's page sets it
    as text above the drawing, where it wraps, and the tiles take the height that is left
    (``heading_pad``). A title inside the drawing, longer than a third of a tile, would be
    whole in no tile once it is cut.

    Where the heading and legend on a page of their own make fewer pages, the first tile is
    that page: its ``svg`` is None (and its size 0), and every other tile takes a whole page.

    ``legend`` (``{"fill", "line", "text"}`` per entry, :func:`diagram_legend`) is the
    diagram's legend, which ``svg`` leaves out too: the first tile's ``legend`` holds it,
    ``{"size", "columns", "entries"}``, and its page sets it under the heading, each entry a
    swatch of its colours and its text, so that no tile holds an entry's swatch without its
    text.
    """
    heading = heading or []
    area_w, area_h = DIAGRAM_AREA[paper]
    keyed, legend_height = _legend(legend, area_w) if legend else (None, 0.0)
    pad = (_HEADING_ABOVE if heading or keyed else 0.0) + _heading_height(heading, area_w) \
        + legend_height
    root, move = _SVG_ROOT.search(svg), _SVG_TRANSLATE.search(svg)
    if root is None or move is None:  # not Graphviz's layout: one page, fitted, as it is
        tiles = [_tile(svg, area_w, area_h - pad)]
    else:
        labels = _labels(svg, float(move.group(1)), float(move.group(2)))
        drawing = _without(svg, labels)
        # The first row of tiles leaves room for the heading; the rows below take the page.
        tiles = _graphviz_tiles(drawing, labels, root, area_w, area_h - pad, area_h)
        if len(tiles) > 2 and pad > 0:
            # Or the heading and legend on a page of their own, before tiles that each take
            # a whole page, where that makes fewer pages (a drawing a little taller than
            # what the heading leaves would need a second row of tiles).
            whole = _graphviz_tiles(drawing, labels, root, area_w, area_h, area_h)
            if 1 + len(whole) < len(tiles):
                tiles = [{**_tile(b"", 0.0, 0.0), "svg": None}, *whole]
    tiles[0]["heading"], tiles[0]["legend"] = heading, keyed
    tiles[0]["heading_pad"] = round(pad, 2)
    return tiles


def _graphviz_tiles(drawing: bytes, labels: list[_Label], root: re.Match[bytes],
                    area_w: float, area_h: float, full_h: float) -> list[dict[str, Any]]:
    """Graphviz's layout ``drawing`` (its labels, ``labels``, taken out) as tiles: the first
    row ``area_h`` high, the others ``full_h`` (see :func:`diagram_tiles`)."""
    width, height = float(root.group(1)), float(root.group(2))
    scale = min(1.0, area_w / width, area_h / height)
    if scale >= DIAGRAM_SCALE:
        box = [float(v) for v in _SVG_VIEWBOX.findall(root.group(3).decode())]
        left, top, view_w = (box[0], box[1], box[2]) if len(box) == 4 else (0.0, 0.0, width)
        view_h = box[3] if len(box) == 4 else height
        # Typst scales the viewBox to cover the image's box: one unit is this many pt.
        unit = max(width * scale / view_w, height * scale / view_h) if view_w > 0 < view_h \
            else scale
        return [_tile(drawing, width * scale, height * scale,
                      [label.placed(left, top, unit) for label in labels])]
    area_w, area_h = area_w / DIAGRAM_SCALE, area_h / DIAGRAM_SCALE
    xs = _ranges(width, area_w, [label.xs[1] - label.xs[0] for label in labels])
    ys = _ranges(height, full_h / DIAGRAM_SCALE, [label.ys[1] - label.ys[0] for label in labels],
                 first=area_h)
    if len(xs) * len(ys) > MAX_DIAGRAM_PAGES:
        raise DiagramTooLarge(len(xs) * len(ys))
    tiles = []
    for top, bottom in ys:
        for left, right in xs:
            # A tile holds the labels wholly inside it: a label across its edge is whole in
            # the neighbouring tile (they overlap).
            kept = [label.placed(left, top, DIAGRAM_SCALE) for label in labels
                    if label.inside(left, top, right, bottom)]
            w, h = right - left, bottom - top
            head = (f'<svg width="{w:.2f}pt" height="{h:.2f}pt" '
                    f'viewBox="{left:.2f} {top:.2f} {w:.2f} {h:.2f}"').encode()
            tile = _SVG_ROOT.sub(head, drawing, count=1)
            tiles.append(_tile(tile, w * DIAGRAM_SCALE, h * DIAGRAM_SCALE, kept))
    return tiles


def diagram_heading(plan: dict[str, Any]) -> list[dict[str, Any]]:
    """The network diagram's title and subtitle for :func:`diagram_tiles`: the strings and
    styles of its label (:func:`runbook.outputs.diagrams.network_heading`), at
    :data:`DIAGRAM_SCALE`, 7 pt or more."""
    from runbook.outputs.diagrams import MUTED, SUBTITLE_SIZE, TEXT, TITLE_SIZE, network_heading

    title, subtitle = network_heading(plan)
    return [{"text": text, "size": round(max(7.0, size * DIAGRAM_SCALE), 2), "bold": bold,
             "fill": fill}
            for text, size, bold, fill in ((title, TITLE_SIZE, True, TEXT),
                                           (subtitle, SUBTITLE_SIZE, False, MUTED))]


def diagram_legend(plan: dict[str, Any]) -> list[dict[str, str]]:
    """The network diagram's legend for :func:`diagram_tiles`: the entries of the site's
    diagram (:func:`runbook.outputs.diagrams.network_legend`), which the paper's diagram
    leaves out, each ``{"fill", "line", "text"}``."""
    from runbook.outputs.diagrams import network_legend

    return [{"fill": fill, "line": line, "text": text}
            for fill, line, text in network_legend(plan)]


def _diagram(plan: dict[str, Any], svg: bytes | None, paper: Paper) -> dict[str, Any]:
    if not svg:
        return {"diagram_tiles": [], "diagram_note": "The network diagram is not available in "
                "this build (Graphviz diagrams not generated)."}
    try:
        return {"diagram_tiles": diagram_tiles(svg, PAPER_SIZES[paper], diagram_heading(plan),
                                               diagram_legend(plan)),
                "diagram_note": None}
    except DiagramTooLarge as big:
        return {"diagram_tiles": [], "diagram_note": (
            f"The network diagram is too large to print legibly: at 7 pt text it would take "
            f"{big.pages} landscape pages. Use the diagram on the site's Overview page (its "
            "SVG is in the Downloads), where it can be zoomed.")}


def field_runbook_data(plan: dict[str, Any], diagram_svg: bytes | None = None,
                       paper: Paper = "a4") -> dict[str, Any]:
    """What ``field-runbook.typ`` reads, as JSON data: the plan and the document's context.

    ``diagram_svg`` is the network diagram without its title, subtitle and legend
    (:func:`network_diagrams`): they come from the plan and are set above it.
    """
    change = _change(plan)
    m = plan["meta"]
    return {"plan": plan, "change": change, "window": _window(change),
            "not_provided": NOT_PROVIDED, "verbs": ACTION_VERBS,
            "estimates": {k: format_minutes(v) for k, v in ESTIMATED_STEP_MINUTES.items()},
            "dns_groups": dns_groups(plan),
            # The CA certificates' imports, then the checks of what the other side trusts
            # (the certificates page's two lists).
            "trust_screens": [*plan["trust"]["screens"], *trust_of_the_other_side(plan)],
            **_diagram(plan, diagram_svg, paper),
            "doc": _page("Field runbook", m["title"], m["site"], m["provenance"], paper)
            | {"title": f"Field runbook: {m['title']}"}}


def field_runbook_pdf(plan: dict[str, Any], diagram_svg: bytes | None = None,
                      paper: Paper = "a4", workdir: Path | None = None) -> bytes:
    """The printable field runbook as PDF bytes (``field-runbook.typ``)."""
    return _pdf("field-runbook.typ", field_runbook_data(plan, diagram_svg, paper), workdir)


def network_diagrams(plans: list[dict[str, Any]], workdir: Path) -> dict[str, bytes | None]:
    """Each site's network diagram SVG for paper (slug -> bytes), or None when diagrams are
    unavailable: drawn without its title, subtitle and legend, which the field runbook sets
    as text of its own (:func:`diagram_heading`, :func:`diagram_legend`), so that they wrap
    and are never cut apart by the tiles."""
    try:
        from runbook.outputs.diagrams import render_svgs
    except ImportError:
        return {p["meta"]["site"]: None for p in plans}
    # The documents show no other diagram.
    svgs = render_svgs(plans, workdir, names=("network-paper",))
    return {p["meta"]["site"]: svgs.get(p["meta"]["site"], {}).get("network-paper.svg")
            for p in plans}


def produce(sites: list[Site], workdir: Path,
            templates_dir: Path | None = None) -> dict[str, bytes]:
    """Every site's documents: docs-relative path -> bytes (see notes/contracts.md).

    ``templates_dir`` is the user's override folder: a ``documents/<name>`` file there
    replaces the packaged template of that name.
    """
    token = _USER_TEMPLATES.set(templates_dir)
    try:
        return _produce(sites, workdir)
    finally:
        _USER_TEMPLATES.reset(token)


def _produce(sites: list[Site], workdir: Path) -> dict[str, bytes]:
    plans = [s.plan_dict() for s in sites]
    # Same cache folder as runbook.outputs.diagrams.produce (the paper's diagram is a layout
    # of its own, kept there too).
    diagrams = network_diagrams(plans, Path(workdir) / "diagrams")
    out: dict[str, bytes] = {}
    for plan in plans:
        slug = plan["meta"]["site"]
        base = f"sites/{slug}/documents"
        # The site's page of it: the same Markdown, its tables as HTML blocks (cheaper to
        # convert, same HTML); `runbook cr` hands out plain Markdown.
        out[f"{base}/change-request.md"] = tables_to_blocks(
            change_request_markdown(plan)).encode("utf-8")
        out[f"{base}/change-request.pdf"] = change_request_pdf(plan, workdir=Path(workdir))
        out[f"{base}/field-runbook.pdf"] = field_runbook_pdf(plan, diagrams[slug],
                                                             workdir=Path(workdir))
    return out


# --- Files for the command line ---------------------------------------------------------


def write_change_request(path: Path, outdir: Path, *, since: Path | None = None,
                         since_git: str | None = None, paper: Paper = "a4",
                         force: bool = False) -> list[Path]:
    """Write ``<slug>-change-request.md`` and ``.pdf`` for one topology file.

    With ``since`` (an older topology file) or ``since_git`` (a git revision of ``path``)
    the change request covers only the delta between the two versions, which must be of one
    site (:class:`runbook.plan.diff.DifferentSites` otherwise, unless ``force``: a renamed
    site).
    """
    from runbook.plan.sites import plan_file

    plan = plan_file(path).to_dict()
    delta = None
    if since is not None or since_git is not None:
        if since is not None and since_git is not None:
            raise DocumentError("give either --since or --since-git, not both")
        from runbook.plan.diff import check_same_site, load_plan_at_revision

        old = (plan_file(since) if since is not None
               else load_plan_at_revision(path, str(since_git))).to_dict()
        if not force:
            check_same_site(old, plan, new_name=str(path),
                            old_name=str(since) if since is not None else f"{path} at {since_git}",
                            what="a delta change request covers", anyway="write it")
        delta = delta_scope(old, plan)
    slug = plan["meta"]["site"]
    outdir.mkdir(parents=True, exist_ok=True)
    md_path = outdir / f"{slug}-change-request.md"
    pdf_path = outdir / f"{slug}-change-request.pdf"
    md_path.write_text(change_request_markdown(
        plan, delta, {"change request (PDF)": pdf_path.name}, plain=True), encoding="utf-8")
    pdf_path.write_bytes(change_request_pdf(plan, delta, paper))
    return [md_path, pdf_path]


def write_field_runbooks(paths: Iterable[Path], outdir: Path, *,
                         paper: Paper = "a4") -> list[Path]:
    """Write ``<slug>-field-runbook.pdf`` for every site of the topology files ``paths``."""
    import tempfile

    from runbook.plan.sites import load_sites

    plans = [s.plan_dict() for s in load_sites(paths)]
    with tempfile.TemporaryDirectory(prefix="runbook-print-") as work:
        diagrams = network_diagrams(plans, Path(work))
    outdir.mkdir(parents=True, exist_ok=True)
    written = []
    for plan in plans:
        out = outdir / f"{plan['meta']['site']}-field-runbook.pdf"
        out.write_bytes(field_runbook_pdf(plan, diagrams[plan["meta"]["site"]], paper))
        written.append(out)
    return written
