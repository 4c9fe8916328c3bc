"""The Markdown pages of a site: every fact of the plan on its page, safely escaped.

Pages are checked the way a reader sees them: converted to HTML by Python-Markdown with the
site's extensions, then read as tags, attributes and visible text.
"""

from __future__ import annotations

import html
import os
import random
import re
import subprocess
import sys
import zipfile
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import markdown
import pytest
from jinja2.sandbox import ImmutableSandboxedEnvironment

from runbook.errors import ValidationFailed
from runbook.outputs.htmlblocks import HtmlBlocks
from runbook.outputs.pages import (
    produce,
    produce_sites,
    render_index,
    render_site,
    site_pages,
)
from runbook.outputs.templating import (
    TemplateFailed,
    UnsafeValue,
    cell,
    code,
    default_templates_dir,
    make_environment,
    md,
    url,
)
from runbook.plan.sites import load_sites
from tests.topo import ROOT, contoso, write

EXTENSIONS = ["tables", "admonition", "attr_list", "toc", "md_in_html", "pymdownx.tasklist",
              "pymdownx.details", "pymdownx.superfences"]
EXTENSION_CONFIGS = {"pymdownx.tasklist": {"custom_checkbox": True}}

HOSTILE = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "{{ 7*7 }}",
    "[x](javascript:alert(1))",
    "| a | b |",
    "**bold**",
    '{: onclick="alert(1)" }',
    "!!! danger",
    "??? note",
    "~~~",
    "1. item",
    "- item",
    "# heading",
    "<!-- comment -->",
    "&lt;b&gt;",
    "a `tick` and ``two``",
    "back\\slash \\*",
    "_under_ score",
    "![i](x.png)",
    "<http://example.com>",
]


# --- reading rendered pages ------------------------------------------------------------------


class Page(HTMLParser):
    """An HTML fragment as a reader sees it: tags with attributes, and visible text."""

    def __init__(self, source: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.chunks: list[str] = []
        self.feed(source)
        self.close()
        self.text = " ".join("".join(self.chunks).split())

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.chunks.append(data)


def to_html(text: str) -> str:
    """``text`` converted as the site converts it (with the plugin's HTML blocks)."""
    return markdown.markdown(text, extensions=[*EXTENSIONS, HtmlBlocks()],
                             extension_configs=EXTENSION_CONFIGS)


def read(text: str) -> Page:
    return Page(to_html(text))


def rows(text: str) -> list[list[str]]:
    """Every table row of a Markdown page, as lists of visible cell texts."""
    found = []
    for tr in re.findall(r"<tr>(.*?)</tr>", to_html(text), flags=re.S):
        cells = re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", tr, flags=re.S)
        found.append([Page(c).text for c in cells])
    return found


def assert_harmless(page: Page) -> None:
    """No script, no event handler, no javascript: link, no image but the site's diagrams."""
    for tag, attrs in page.tags:
        assert tag not in ("script", "iframe", "object", "embed", "style"), (tag, attrs)
        for name, value in attrs.items():
            assert not name.startswith("on"), (tag, attrs)
            assert "javascript:" not in (value or "").lower(), (tag, attrs)
        if tag == "img":
            assert re.fullmatch(r"diagrams/(network|traffic)\.svg", attrs.get("src") or ""), attrs


def norm(value: str) -> str:
    return " ".join(value.split())


# --- fixtures --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def contoso_plan() -> dict[str, Any]:
    return load_sites([ROOT / "inputs" / "contoso.yaml"])[0].plan.to_dict()


@pytest.fixture(scope="module")
def fabrikam_plan() -> dict[str, Any]:
    return load_sites([ROOT / "inputs" / "fabrikam-lb.yaml"])[0].plan.to_dict()


@pytest.fixture(scope="module")
def pages(contoso_plan: dict[str, Any]) -> dict[str, str]:
    """contoso's pages by file name (index.md, runbook.md, ...)."""
    rendered = render_site(contoso_plan, make_environment())
    return {path.removeprefix("sites/contoso-hq/"): text for path, text in rendered.items()}


@pytest.fixture(scope="module")
def fabrikam_pages(fabrikam_plan: dict[str, Any]) -> dict[str, str]:
    rendered = render_site(fabrikam_plan, make_environment())
    return {path.removeprefix("sites/fabrikam-lb/"): text for path, text in rendered.items()}


def actions_of(plan: dict[str, Any]) -> list[dict[str, Any]]:
    found = [a for w in plan["wizard"] for step in w["steps"] for screen in step["screens"]
             for a in screen["actions"]]
    return found + [a for test in plan["validation"]["tests"]
                    for a in (*test["steps"], test["check"], *test["then"])]


# --- which pages a site has ------------------------------------------------------------------


def test_a_site_has_the_core_pages_plus_pic_and_load_balancer_only_when_used(
        contoso_plan: dict[str, Any], fabrikam_plan: dict[str, Any]) -> None:
    core = ["index.md", "addressing.md", "runbook.md", "pool.md", "certificates.md", "dns.md",
            "firewall.md"]
    assert [p.filename for p in site_pages(contoso_plan)] == [
        "index.md", "addressing.md", "runbook.md", "pool.md", "federation.md",
        "certificates.md", "dns.md", "firewall.md", "reverse-proxy.md", "pic.md"]
    assert [p.filename for p in site_pages(fabrikam_plan)] == [
        "index.md", "addressing.md", "load-balancer.md", "runbook.md", "pool.md",
        "federation.md", "certificates.md", "dns.md", "firewall.md", "reverse-proxy.md",
        "pic.md"]
    without_pic = {**contoso_plan, "pic": None, "reverse_proxy": None, "federation": None}
    assert [p.filename for p in site_pages(without_pic)] == core
    assert site_pages(contoso_plan)[0].title == "Overview"
    rendered = render_site(without_pic, make_environment())
    assert sorted(rendered) == sorted(f"sites/contoso-hq/{name}" for name in core)


def test_every_page_carries_the_site_title_and_the_provenance_line(
        pages: dict[str, str], contoso_plan: dict[str, Any]) -> None:
    provenance = contoso_plan["meta"]["provenance"]
    assert provenance.startswith("Generated from inputs/contoso.yaml")
    for name, text in pages.items():
        first = read(text.split("\n", 1)[0])
        assert first.tags[0][0] == "h1", name
        assert "Contoso HQ edge deployment" in first.text, name
        head = read("\n".join(text.split("\n")[:4]))
        assert provenance in head.text, name


# --- overview --------------------------------------------------------------------------------


def test_overview_summarises_the_deployment(pages: dict[str, str],
                                            contoso_plan: dict[str, Any]) -> None:
    page = read(pages["index.md"])
    summary = contoso_plan["summary"]
    assert norm(summary["layout_text"]) in page.text
    table = {r[0]: r[1] for r in rows(pages["index.md"]) if len(r) == 2}
    assert table["SIP domains"] == "contoso.com (default)"
    assert table["Internal DNS zone (Active Directory)"] == "contoso.local"
    assert table["Next hop"].startswith("pool01.contoso.local (Enterprise pool): there is no "
                                        "Director")
    assert table["Edge server edge01"] == ("edge01.contoso.local: Access Edge, Web "
                                           "Conferencing Edge, A/V Edge")
    assert table["Public names on edge01"] == ("Access Edge sip.contoso.com, Web Conferencing "
                                               "Edge webconf.contoso.com, A/V Edge av.contoso.com")
    assert table["Status"] == "valid"
    assert ["edge01", "yes", "yes", "yes", "yes", "MSN / Windows Live, AOL, Yahoo!"] in rows(
        pages["index.md"])


def test_overview_has_the_checklist_as_checkboxes_the_diagram_and_links_to_every_page(
        pages: dict[str, str], contoso_plan: dict[str, Any]) -> None:
    text = pages["index.md"]
    page = read(text)
    boxes = [a for t, a in page.tags if t == "input" and a.get("type") == "checkbox"]
    assert len(boxes) == len(contoso_plan["checklist"]) == 10  # 8 + test users + reverse proxy
    for item in contoso_plan["checklist"]:
        assert norm(item["label"]) in page.text
    assert ("img", {"alt": "Network diagram of contoso-hq", "src": "diagrams/network.svg"}) \
        in page.tags
    links = {a["href"] for t, a in page.tags if t == "a"}
    assert {p.filename for p in site_pages(contoso_plan)} - {"index.md"} <= links
    assert {"exports/addressing.csv", "exports/dns-records.csv", "exports/dns-internal.ps1",
            "exports/dns-public.zone", "exports/firewall-rules.csv",
            "documents/change-request.md", "documents/change-request.pdf",
            "documents/field-runbook.pdf"} <= links
    assert "!!! warning" not in text  # contoso has no warnings


def test_overview_shows_each_warning_as_an_admonition(tmp_path: Path) -> None:
    data = contoso()
    del data["certificates"]["public_ca"]
    data["edge"]["features"]["public_im"] = []
    data["edge"]["features"]["anonymous_meetings"] = False
    plan = load_sites([write(tmp_path, data)])[0].plan.to_dict()
    assert plan["warnings"], "this topology is expected to produce a warning"
    page = read(render_site(plan, make_environment())["sites/contoso-hq/index.md"])
    admonitions = [a for t, a in page.tags if t == "div" and "warning" in a.get("class", "")]
    assert len(admonitions) == len(plan["warnings"])
    for warning in plan["warnings"]:
        assert norm(warning["message"]) in page.text


# --- addressing ------------------------------------------------------------------------------


def test_addressing_lists_every_nic_with_address_gateway_public_address_and_fqdn(
        pages: dict[str, str], contoso_plan: dict[str, Any]) -> None:
    table = rows(pages["addressing.md"])
    for a in contoso_plan["addresses"]:
        assert [a["nic_name"], a["role_name"], f"{a['ip']}/{a['prefix']}", a["netmask"],
                a["gateway"] or "—", a["public_ip"] or "—", a["fqdn"]] in table


def test_addressing_gives_the_exact_route_command_in_a_code_block(
        pages: dict[str, str], contoso_plan: dict[str, Any]) -> None:
    blocks = re.findall(r"<pre.*?<code[^>]*>(.*?)</code></pre>", to_html(pages["addressing.md"]),
                        flags=re.S)
    commands = [html.unescape(b).strip() for b in blocks]
    assert commands == [r["command"] for r in contoso_plan["routes"]]
    assert commands == ["route -p add 10.0.0.0 mask 255.0.0.0 10.0.0.1"]


def test_addressing_lists_vips_and_hosts_file_entries_when_the_plan_has_them(
        fabrikam_pages: dict[str, str], fabrikam_plan: dict[str, Any]) -> None:
    text = fabrikam_pages["addressing.md"]
    table = rows(text)
    for v in fabrikam_plan["vips"]:
        assert [v["role_name"], v["fqdn"], v["external_ip"], v["public_ip"] or "—",
                v["internal_ip"] or "—", v["internal_fqdn"] or "—"] in table
    page = read(text)
    for h in fabrikam_plan["hosts_file"]:
        assert re.search(re.escape(h["ip"]) + r" +" + re.escape(h["fqdn"]), page.text)
    assert "Hosts file" not in read(render_site({**fabrikam_plan, "hosts_file": []},
                                                make_environment())
                                    ["sites/fabrikam-lb/addressing.md"]).text


# --- runbook ---------------------------------------------------------------------------------


def test_runbook_has_six_steps_per_server_in_wizard_order(
        fabrikam_pages: dict[str, str], fabrikam_plan: dict[str, Any]) -> None:
    steps, _, tests = fabrikam_pages["runbook.md"].partition("\n## Prove the deployment")
    headings = re.findall(r"^### (.+)$", steps, flags=re.M)
    assert re.findall(r"^### Test \d+: (.+)$", tests, flags=re.M) == [
        t["title"] for t in fabrikam_plan["validation"]["tests"]]
    expected = [f"{w['server']} — Step {s['number']}: {s['title']}"
                for w in fabrikam_plan["wizard"] for s in w["steps"]]
    assert [Page(to_html(h)).text for h in headings] == expected
    assert len(expected) == 6 * len(fabrikam_plan["wizard"])


def test_runbook_gives_every_action_a_checkbox_that_reads_as_an_instruction(
        pages: dict[str, str], contoso_plan: dict[str, Any]) -> None:
    page = read(pages["runbook.md"])
    actions = actions_of(contoso_plan)
    boxes = [a for t, a in page.tags if t == "input" and a.get("type") == "checkbox"]
    assert len(boxes) == sum(a["kind"] not in ("note", "warning") for a in actions)
    verbs = {
        "click": lambda a: f"Click {a['label']}",
        "tick": lambda a: f"Tick {a['label']}",
        "clear": lambda a: f"Clear {a['label']}",
        "type": lambda a: (f"Type {a['value']} in {a['label']}" if a["value"] is not None
                           else f"Fill in {a['label']}"),
        "select": lambda a: (f"Select {a['label']}: {a['value']}" if a["value"] is not None
                             else f"Select {a['label']}"),
        "do": lambda a: a["label"],
        "check": lambda a: f"Check: {a['label']}",
        "note": lambda a: f"Note: {a['label']}",
        "vault": lambda a: f"Paste {a['label']} from the vault entry {a['value']}",
        "warning": lambda a: a["label"],
    }
    for a in actions:
        if a["kind"] == "click" and len(a["label"].split()) > 5:
            expected = a["label"]  # a whole sentence, not a button name
        else:
            expected = verbs[a["kind"]](a)
        assert norm(expected) in page.text, a
        if a["why"]:
            assert norm(a["why"]) in page.text, a


def test_runbook_ticks_exactly_the_feature_boxes_of_the_plan(
        pages: dict[str, str], contoso_plan: dict[str, Any]) -> None:
    screen = next(sc for sc in contoso_plan["wizard"][0]["steps"][2]["screens"]
                  if sc["title"] == "Features")
    ticked = [a["label"] for a in screen["actions"] if a["kind"] == "tick"]
    assert ticked == ["Enable remote user access", "Enable federation",
                      "Allow discovery of federation partners",
                      "Allow anonymous users to join meetings", "Enable public IM connectivity",
                      "MSN / Windows Live", "AOL", "Yahoo!"]
    text = read(pages["runbook.md"]).text
    for label in ticked:
        assert f"Tick {label}" in text
    assert "Allow remote users to communicate with federated contacts (greyed out)" in text


def test_runbook_shows_warnings_as_admonitions_inside_their_screen(
        pages: dict[str, str], contoso_plan: dict[str, Any]) -> None:
    warnings = [a for a in actions_of(contoso_plan) if a["kind"] == "warning"]
    assert warnings
    source = to_html(pages["runbook.md"])
    admonitions = re.findall(r'<div class="admonition warning">(.*?)</div>', source, flags=re.S)
    assert [norm(Page(a).text) for a in admonitions] == [
        "Warning " + norm(w["label"]) for w in warnings]
    # Nested in the numbered screen list, so the numbering does not restart after a warning.
    assert re.search(r'<li>\s*<p><strong>Internal interface</strong></p>(?:(?!</li>\s*<li>).)*'
                     r'<div class="admonition warning">', source, flags=re.S)


def test_runbook_ends_by_sending_the_reader_to_the_pool_side(pages: dict[str, str]) -> None:
    text = pages["runbook.md"]
    tail = text[text.index("## After the edge"):]
    assert "[Pool side](pool.md)" in tail
    assert "[Federation partners](federation.md)" in tail
    # The pool-side steps live on their own page, once.
    assert "Global Properties, Edge Servers tab" not in tail
    pool = read(pages["pool.md"]).text
    assert ("Type edge01.contoso.local:5062 in A/V Edge Servers list (internal FQDN and port)"
            in pool)


# --- secrets ---------------------------------------------------------------------------------


def test_pages_name_vault_entries_and_never_a_secret(
        pages: dict[str, str], fabrikam_pages: dict[str, str]) -> None:
    runbook = read(pages["runbook.md"]).text
    assert "Paste Product key from the vault entry contoso-hq/ocs/product-key" in runbook
    assert ("Paste Password for RTCProxyService from the vault entry "
            "contoso-hq/ocs/RTCProxyService") in runbook
    for name, text in [*pages.items(), *fabrikam_pages.items()]:
        visible = read(text).text
        # A secret would show as "password: ..." or "key = ..."; only vault references may.
        assert not re.search(r"(?i)(password|passwd|secret|product key)\s*[:=]", visible), name
        # Each action is one line: a line about a password must point at the vault.
        for line in text.splitlines():
            if re.search(r"(?i)password", line) and line.lstrip().startswith("- "):
                assert "vault" in line, (name, line)


def test_a_topology_carrying_a_secret_never_reaches_the_pages(tmp_path: Path) -> None:
    data = contoso()
    data["edge"]["servers"][0]["password"] = "hunter2-PLANTED"
    with pytest.raises(ValidationFailed) as failed:
        load_sites([write(tmp_path, data)])
    assert "vault" in failed.value.format()
    assert "hunter2-PLANTED" not in failed.value.format()


# --- certificates, DNS, firewall, PIC, load balancer -----------------------------------------


def test_certificates_page_shows_every_name_issuer_and_key_rule(
        pages: dict[str, str], contoso_plan: dict[str, Any]) -> None:
    text = pages["certificates.md"]
    table = rows(text)
    for c in contoso_plan["certificates"]:
        assert ["Subject name (CN)", c["subject_cn"]] in table
        assert ["Subject alternative names", ", ".join(c["sans"])] in table
        kind = "public CA" if c["issuer"] == "public" else "internal CA"
        assert ["Issuing CA", f"{c['ca']} ({kind})"] in table
        assert ["Enhanced key usage", ", ".join(c["eku"])] in table
        assert ["Key size", f"{c['key_size']} bits"] in table
        assert ["Interface", c["interface"]] in table
        for note in c["notes"]:
            assert norm(note) in read(text).text
    assert ["Private key exportable", "no: the key never leaves the server"] in table
    assert ["Subject alternative names", "sip.contoso.com, webconf.contoso.com"] in table
    page = read(text)
    assert "Requesting a certificate for a server outside the domain" in page.text
    links = {a["href"] for t, a in page.tags if t == "a"}
    for c in contoso_plan["certificates"]:
        assert f"exports/certificates/{c['id']}.inf" in links
        assert f"exports/certificates/{c['id']}.cnf" in links


def test_dns_page_lists_every_record_under_its_zone_and_who_adds_it(
        pages: dict[str, str], contoso_plan: dict[str, Any]) -> None:
    text = pages["dns.md"]
    table = rows(text)
    for r in contoso_plan["dns"]:
        # A service record's port, priority and weight in a table of service records; the
        # other records without those columns (empty ones squeezed the purpose).
        extra = [str(r[k]) for k in ("port", "priority", "weight")] if r["type"] == "SRV" else []
        assert [r["type"], r["name"], r["value"], *extra, r["purpose"]] in table
    assert ["SRV", "_sipfederationtls._tcp.contoso.com", "sip.contoso.com", "5061", "0", "0",
            "Federation and public IM discovery of contoso.com"] in table
    assert [row for row in table if "—" in row] == []
    visible = read(text).text
    assert visible.index("Zone contoso.com (external)") < visible.index(
        "Added by: Public DNS administrator") < visible.index("Zone contoso.local (internal)")
    assert visible.index("Zone contoso.local (internal)") < visible.index(
        "Added by: AD DNS administrator, by hand")


def test_firewall_page_lists_every_rule_on_its_firewall(pages: dict[str, str],
                                                        contoso_plan: dict[str, Any]) -> None:
    text = pages["firewall.md"]
    external, internal = text.split("## Internal firewall")
    for r in contoso_plan["firewall"]:
        row = [r["id"], r["direction"], r["source"], r["destination"], r["protocol"],
               r["ports"], r["purpose"]]
        assert row in rows(external if r["firewall"] == "external" else internal), r
    assert ("img", {"alt": "Traffic diagram of contoso-hq", "src": "diagrams/traffic.svg"}) \
        in read(text).tags


def test_pic_page_gives_the_values_to_submit_and_marks_unknown_ones_blank(
        pages: dict[str, str], contoso_plan: dict[str, Any]) -> None:
    text = pages["pic.md"]
    table = rows(text)
    for field in contoso_plan["pic"]["submit"]:
        value = field["value"] if field["value"] is not None else \
            "to be filled in (not in the topology)"
        assert [field["field"], value] in table
    for provider in contoso_plan["pic"]["providers"]:
        assert [provider["name"], provider["network_address"], provider["filter"]] in table
        assert f"Check: {provider['name']} has confirmed provisioning" in read(text).text
    steps = to_html(text[text.index("## Steps"):text.index("## Values to submit")])
    titles = re.findall(r"<li>\s*<p><strong>(.+?)</strong></p>", steps)
    assert titles == [s["title"] for s in contoso_plan["pic"]["steps"]]


def test_load_balancer_page_describes_each_vip(fabrikam_pages: dict[str, str],
                                               fabrikam_plan: dict[str, Any]) -> None:
    text = fabrikam_pages["load-balancer.md"]
    table = rows(text)
    for v in fabrikam_plan["vips"]:
        assert ["Persistence", v["persistence"]] in table
        assert ["Health check", v["health_check"]] in table
        assert ["NAT", v["nat"]] in table
        assert ["External ports", ", ".join(v["external_ports"])] in table
        for m in v["members"]:
            assert [m["server"], m["external_ip"], m["internal_ip"]] in table


# --- the home page and produce() -------------------------------------------------------------


def test_home_page_lists_every_site_with_status_and_link(
        contoso_plan: dict[str, Any], fabrikam_plan: dict[str, Any]) -> None:
    warned = {**fabrikam_plan, "warnings": [{"message": "x"}, {"message": "y"}]}
    text = render_index([warned, contoso_plan], make_environment())
    table = rows(text)
    assert table[1][:5] == ["Contoso HQ edge deployment (contoso-hq)", "Contoso Ltd",
                            "production", "consolidated", "valid"]
    assert table[2][:5] == ["Fabrikam load-balanced edge (fabrikam-lb)", "Fabrikam Inc",
                            "production", "load-balanced", "warnings (2)"]
    # Each site's first page as it is published (runbook.site.finish: MkDocs never sees
    # the site pages' Markdown), the reference pages as Markdown links MkDocs resolves.
    links = [a["href"] for t, a in read(text).tags if t == "a"]
    assert links == ["sites/contoso-hq/index.html", "sites/fabrikam-lb/index.html",
                     "reference/ocs2007.md", "reference/plan.md"]


def test_produce_sites_is_produce_without_the_pages_outside_the_sites(tmp_path: Path) -> None:
    # What the cached build's chunks call: the home and reference pages are made once, apart.
    sites = load_sites([ROOT / "inputs"])
    everything = produce(sites, tmp_path)
    assert produce_sites(sites, tmp_path) == {
        path: data for path, data in everything.items() if path.startswith("sites/")}
    assert sorted(set(everything) - {p for p in everything if p.startswith("sites/")}) == [
        "index.md", "reference/ocs2007.md", "reference/plan.md"]


def test_produce_returns_every_page_of_every_site_and_the_home_page(tmp_path: Path) -> None:
    sites = load_sites([ROOT / "inputs"])
    files = produce(sites, tmp_path)
    expected = {"index.md", "reference/ocs2007.md", "reference/plan.md"} | {
        f"sites/{s.slug}/{p.filename}" for s in sites for p in site_pages(s.plan.to_dict())}
    assert set(files) == expected
    assert all(isinstance(v, bytes) for v in files.values())
    assert files["sites/contoso-hq/runbook.md"].decode("utf-8").startswith("# Edge installation")


def test_rendering_is_deterministic_and_a_page_does_not_depend_on_other_sites(
        tmp_path: Path) -> None:
    alone = produce(load_sites([ROOT / "inputs" / "contoso.yaml"]), tmp_path)
    both = produce(load_sites([ROOT / "inputs"]), tmp_path)
    again = produce(load_sites([ROOT / "inputs"]), tmp_path)
    assert both == again
    for path, content in alone.items():
        if path != "index.md":
            assert both[path] == content, path


# --- escaping --------------------------------------------------------------------------------


CONTEXTS = ["paragraph", "line start", "bold", "list item", "heading", "table cell",
            "admonition"]


def in_context(context: str, value: str) -> str:
    """Markdown placing ``value`` where templates place values, escaped as they escape it."""
    return {
        "paragraph": f"Before {md(value)} after",
        "line start": md(value),
        "bold": f"**{md(value)}**",
        "list item": f"- [ ] {md(value)}",
        "heading": f"## {md(value)}",
        "table cell": f"| A | B |\n|---|---|\n| {cell(value)} | z |",
        "admonition": f"!!! warning \"Warning\"\n    {md(value)}",
    }[context]


@pytest.mark.parametrize("payload", HOSTILE)
@pytest.mark.parametrize("context", CONTEXTS)
def test_md_and_cell_show_any_value_literally(payload: str, context: str) -> None:
    value = f"{payload}\n\n# injected\n<script>x</script>" if context == "line start" \
        else payload
    expected = norm(value)
    snippet = in_context(context, value)
    page = read(snippet)
    assert_harmless(page)
    assert expected in page.text
    if context == "table cell":
        assert rows(snippet)[1] == [expected, "z"]
    if context == "line start":
        assert [t for t, _ in page.tags] == ["p"]


def random_values(count: int, seed: int) -> list[str]:
    """Seeded strings built from the characters that mean something to Markdown or HTML."""
    rng = random.Random(seed)
    pieces = [*"\\`*_{}[]()#+-.!|<>&~?:=\" '/", "1.", "1)", "12. ", "- ", "+ ", "!!!", "???",
              "---", "***", "```", "~~~", "[ ]", "{:", "&amp;", "<b>", "](x)", "a", "Z", "0",
              " ", "\u00e9"]
    return ["".join(rng.choice(pieces) for _ in range(rng.randint(1, 8)))
            for _ in range(count)]


@pytest.mark.parametrize("context", CONTEXTS)
def test_md_and_cell_show_random_punctuation_literally(context: str) -> None:
    """Beyond the hand-picked payloads: the value is the text, and the only tags are ours."""
    wrapper_tags = {"paragraph": ["p"], "line start": ["p"], "bold": ["p", "strong"],
                    "list item": ["ul", "li", "label", "input", "span"], "heading": ["h2"],
                    "table cell": ["table", "thead", "tr", "th", "th", "tbody", "tr", "td", "td"],
                    "admonition": ["div", "p", "p"]}[context]
    for value in random_values(300, seed=len(context)):
        expected = norm(value)
        if not expected:
            continue
        snippet = in_context(context, value)
        page = read(snippet)
        assert [t for t, _ in page.tags] == wrapper_tags, (value, to_html(snippet))
        assert expected in page.text, (value, to_html(snippet))


@pytest.mark.parametrize("payload", [*HOSTILE, "`", "``", "a`", "`a", "x\\", "a|b", "  two  "])
def test_code_shows_any_value_exactly_even_in_a_table(payload: str) -> None:
    for snippet in (f"Type {code(payload)} here", f"| A |\n|---|\n| {code(payload)} |"):
        source = to_html(snippet)
        assert_harmless(Page(source))
        spans = re.findall(r"<code>(.*?)</code>", source, flags=re.S)
        assert [html.unescape(s) for s in spans] == [payload.strip()]


def test_code_turns_line_breaks_into_spaces() -> None:
    assert code("a\n\n<b>") == "`a  <b>`"


def test_url_allows_relative_paths_and_web_urls_only() -> None:
    assert url("exports/addressing.csv") == "exports/addressing.csv"
    assert url("https://example.com/a b(c)") == "https://example.com/a%20b%28c%29"
    assert url("mailto:ops@example.com") == "mailto:ops@example.com"
    for bad in ("javascript:alert(1)", "JaVaScRiPt:alert(1)", "java\tscript:alert(1)",
                " javascript:alert(1)", "data:text/html,<b>", "vbscript:x"):
        with pytest.raises(UnsafeValue):
            url(bad)


def test_filters_refuse_a_missing_value_instead_of_printing_nothing() -> None:
    env = make_environment()
    with pytest.raises(TypeError):
        md(None)
    template = env.from_string("{{ plan.meta.nothing|md }}")
    with pytest.raises(Exception, match="nothing"):
        template.render(plan={"meta": {}})


def hostile_topology(tmp_path: Path) -> Path:
    data = contoso()
    data["title"] = "<script>alert(1)</script> {{ 7*7 }}"
    data["organization"] = "<img src=x onerror=alert(1)> **bold**"
    data["certificates"]["internal_ca"] = "[x](javascript:alert(1)) | a | b |"
    data["certificates"]["public_ca"] = '{: onclick="alert(1)" } `tick`'
    nics = data["edge"]["servers"][0]["nics"]
    nics["internal"]["name"] = "!!! danger"
    nics["access"]["name"] = "| a | b |"
    nics["webconf"]["name"] = "<!-- comment --> ~~~"
    data["change"]["title"] = "??? note\n\n# injected\n<script>alert(2)</script>"
    return write(tmp_path, data)


def test_hostile_topology_strings_show_as_text_on_every_page(tmp_path: Path) -> None:
    sites = load_sites([hostile_topology(tmp_path)])
    files = produce(sites, tmp_path / "work")
    shown = {name: read(content.decode("utf-8")) for name, content in files.items()}
    for name, page in shown.items():
        assert_harmless(page)
        assert "49" not in page.text, name
        assert "<strong>bold</strong>" not in to_html(files[name].decode("utf-8")), name
    overview = shown["sites/contoso-hq/index.md"]
    assert "<script>alert(1)</script> {{ 7*7 }}" in overview.text
    assert "<img src=x onerror=alert(1)> **bold**" in overview.text
    assert "[x](javascript:alert(1)) | a | b |" in overview.text
    assert '{: onclick="alert(1)" } `tick`' in overview.text
    assert "??? note # injected <script>alert(2)</script>" in overview.text
    addressing = rows(files["sites/contoso-hq/addressing.md"].decode("utf-8"))
    assert addressing[1][:2] == ["!!! danger", "Internal"]
    assert addressing[2][:2] == ["| a | b |", "Access Edge"]
    assert addressing[3][:2] == ["<!-- comment --> ~~~", "Web Conferencing Edge"]
    runbook = shown["sites/contoso-hq/runbook.md"]
    assert "from the vault entry contoso-hq/ocs/RTCProxyService" in runbook.text
    home = shown["index.md"]
    assert "<script>alert(1)</script> {{ 7*7 }} (contoso-hq)" in home.text


# --- templates: overrides, sandbox, packaging ------------------------------------------------


def test_a_user_template_overrides_the_default_and_the_rest_fall_back(
        tmp_path: Path, contoso_plan: dict[str, Any]) -> None:
    (tmp_path / "pages").mkdir()
    (tmp_path / "pages" / "overview.md.j2").write_text(
        "# Custom overview for {{ plan.meta.title|md }}\n", encoding="utf-8")
    rendered = render_site(contoso_plan, make_environment(tmp_path))
    assert rendered["sites/contoso-hq/index.md"] == \
        "# Custom overview for Contoso HQ edge deployment\n"
    default = render_site(contoso_plan, make_environment())
    assert rendered["sites/contoso-hq/dns.md"] == default["sites/contoso-hq/dns.md"]


def test_a_user_partial_overrides_the_default_partial_everywhere(
        tmp_path: Path, contoso_plan: dict[str, Any]) -> None:
    (tmp_path / "partials").mkdir()
    (tmp_path / "partials" / "header.md.j2").write_text(
        "# {{ page.title|md }} (ACME edition)\n", encoding="utf-8")
    rendered = render_site(contoso_plan, make_environment(tmp_path))
    assert all(text.startswith("# ") and "(ACME edition)" in text.split("\n")[0]
               for name, text in rendered.items() if not name.endswith("index.md"))


@pytest.mark.parametrize("body", [
    "{{ ''.__class__.__mro__ }}",
    "{{ plan.__class__.__init__.__globals__ }}",
    "{{ plan.dns.append(1) }}",
    "{{ plan.meta.update(site='x') }}",
])
def test_user_templates_run_in_an_immutable_sandbox(tmp_path: Path, body: str,
                                                    contoso_plan: dict[str, Any]) -> None:
    (tmp_path / "pages").mkdir()
    (tmp_path / "pages" / "dns.md.j2").write_text(body, encoding="utf-8")
    with pytest.raises(TemplateFailed, match=r"dns\.md\.j2"):
        render_site(contoso_plan, make_environment(tmp_path))
    assert len(contoso_plan["dns"]) == 7


def test_a_broken_user_template_is_a_clear_error(tmp_path: Path,
                                                 contoso_plan: dict[str, Any]) -> None:
    (tmp_path / "pages").mkdir()
    (tmp_path / "pages" / "dns.md.j2").write_text("line one\n{% for x in %}\n",
                                                  encoding="utf-8")
    with pytest.raises(TemplateFailed, match=r"dns\.md\.j2:2: template syntax error"):
        render_site(contoso_plan, make_environment(tmp_path))
    (tmp_path / "pages" / "dns.md.j2").write_text("{{ plan.no_such_key }}", encoding="utf-8")
    with pytest.raises(TemplateFailed, match="no_such_key"):
        render_site(contoso_plan, make_environment(tmp_path))


def test_an_override_of_a_retired_template_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "partials").mkdir()
    (tmp_path / "partials" / "actions.md.j2").write_text("{% macro screen_list(s) %}{% endmacro %}")
    with pytest.raises(TemplateFailed, match=r"actions\.md\.j2: this template is no longer "
                                             r"used; .*partials/actions\.html\.j2"):
        make_environment(tmp_path)


def test_the_defaults_folder_given_as_user_folder_is_trusted() -> None:
    env = make_environment(default_templates_dir())
    assert type(env).__name__ == "Environment"
    assert isinstance(make_environment(Path("elsewhere")), ImmutableSandboxedEnvironment)


def test_the_wheel_ships_the_templates_and_renders_from_them(tmp_path: Path) -> None:
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(tmp_path / "dist"), str(ROOT)],
        capture_output=True, text=True, check=False)
    assert built.returncode == 0, built.stderr
    wheel = next((tmp_path / "dist").glob("runbook-*.whl"))
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        zf.extractall(tmp_path / "unpacked")
    for page in ("overview", "addressing", "runbook", "certificates", "dns", "firewall", "pic",
                 "load-balancer", "index"):
        assert f"runbook/templates/pages/{page}.md.j2" in names
    assert "runbook/templates/partials/actions.html.j2" in names
    # Import the unpacked wheel (not the editable checkout) and render from its templates.
    script = (
        "import runbook.outputs.pages as r, sys;"
        "from runbook.outputs.templating import default_templates_dir, make_environment;"
        "from runbook.api import load_sites;"
        "d = default_templates_dir(); print(d);"
        f"s = load_sites([{str(ROOT / 'inputs' / 'contoso.yaml')!r}]);"
        "print(r.render_site(s[0].plan.to_dict(), make_environment())"
        "['sites/contoso-hq/runbook.md'].splitlines()[0])"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(tmp_path / "unpacked")}, check=False,
                          cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    folder, heading = done.stdout.splitlines()
    assert Path(folder) == tmp_path / "unpacked" / "runbook" / "templates"
    assert heading == "# Edge installation runbook — Contoso HQ edge deployment"


@pytest.mark.parametrize("page", ["index.md", "firewall.md"])
def test_overview_and_firewall_pages_show_both_diagrams_linked_to_svg_and_dot(
        pages: dict[str, str], page: str) -> None:
    text = pages[page]
    for name in ("network", "traffic"):
        assert f"](diagrams/{name}.svg)](diagrams/{name}.svg)" in text
        assert f"](diagrams/{name}.dot)" in text


def test_a_printable_value_skips_no_character_the_filters_would_remove() -> None:
    # The filters' text helper skips its substitutions for a printable value: that is only
    # right if every character they replace or remove is unprintable.
    from runbook.outputs import templating

    replaced = [hex(code) for code in range(0x110000)
                if (templating._CONTROL.match(chr(code)) or templating._BREAKS.match(chr(code)))
                and chr(code).isprintable()]
    assert replaced == []
    rng = random.Random(7)
    alphabet = "ab .-\t\r\n\x00\x1f\x7f\x85\u2028\u2029\u00a0\u200b  é"
    for _ in range(2000):
        value = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12)))
        cleaned = templating._BREAKS.sub(" ", templating._CONTROL.sub("", value))
        assert templating._text(value, "md") == templating._SPACES.sub(" ", cleaned).strip()
        assert templating._text(value, "md", squeeze=False) == cleaned
