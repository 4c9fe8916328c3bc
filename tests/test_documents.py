"""Change requests and field runbooks: what a change board and a field engineer get on paper.

The PDFs are real Typst output; their text is read back with ``pdftotext`` and their pages
with ``pdfinfo`` (poppler). The Markdown change request is rendered with Python-Markdown, as the
site does, before its text is checked.
"""

from __future__ import annotations

import functools
import html
import os
import re
import shutil
import subprocess
import sys
from itertools import pairwise
from pathlib import Path
from typing import Any

import markdown
import pytest
from click.testing import CliRunner

from runbook.cli import main
from runbook.engine.parallel import map_chunks
from runbook.outputs import documents
from runbook.outputs.checklists import site_checklists
from runbook.outputs.diagrams import default_workers
from runbook.outputs.documents import (
    ESTIMATED_STEP_MINUTES,
    NOT_PROVIDED,
    Paper,
    change_request,
    change_request_markdown,
    change_request_pdf,
    delta_scope,
    field_runbook_data,
    field_runbook_pdf,
    network_diagrams,
)
from runbook.outputs.pdf import PdfFailed
from runbook.plan.sites import load_sites, plan_file
from tests.topo import INPUTS, contoso, write

EXAMPLES = {"contoso-hq": INPUTS / "contoso.yaml", "fabrikam-lb": INPUTS / "fabrikam-lb.yaml"}
BOX = "\u2610"  # the box to tick before an action


def pdf_text(data: bytes) -> str:
    """The text of a PDF, whitespace collapsed (table cells wrap onto several lines)."""
    done = subprocess.run(["pdftotext", "-", "-"], input=data, capture_output=True, check=True)
    return " ".join(done.stdout.decode("utf-8").split())


def unwrapped(text: str) -> str:
    """PDF text with the line breaks after a name's dots undone (names wrap there on paper:
    ``pool01.`` at a line's end, ``contoso.local`` on the next). A sentence's end is left
    alone: what follows it starts with a capital or is not a name."""
    return re.sub(r"(?<=[\w-]\.) (?=[a-z0-9_])", "", text)


def pdf_pages(data: bytes) -> list[str]:
    """The text of each page of a PDF."""
    done = subprocess.run(["pdftotext", "-", "-"], input=data, capture_output=True, check=True)
    return done.stdout.decode("utf-8").split("\f")[:-1]


def page_sizes(data: bytes, tmp_path: Path) -> list[tuple[float, float]]:
    """(width, height) in points of every page."""
    path = tmp_path / "sizes.pdf"
    path.write_bytes(data)
    out = subprocess.run(["pdfinfo", "-f", "1", "-l", "999", str(path)], capture_output=True,
                         text=True, check=True).stdout
    return [(float(w), float(h)) for w, h in
            re.findall(r"Page\s+\d+ size:\s+([\d.]+) x ([\d.]+)", out)]


def md_text(source: str) -> str:
    """What a reader sees of a Markdown page: rendered, tags removed, entities resolved."""
    rendered = markdown.markdown(source, extensions=["tables"])
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", rendered)).split())


def plan_facts(plan: dict[str, Any], netmasks: bool = True) -> set[str]:
    """Every address, name, SAN, record and port of a plan that a document must show.

    The change request gives prefixes only (``10.0.0.10/24``); the field runbook also gives
    the netmask an engineer types into Windows.
    """
    facts: set[str] = set()
    for a in plan["addresses"]:
        facts |= {a["ip"], f"{a['ip']}/{a['prefix']}", a["fqdn"]}
        if netmasks:
            facts.add(a["netmask"])
        facts |= {v for v in (a["gateway"], a["public_ip"]) if v}
    for r in plan["routes"]:
        facts |= {r["to"], r["via"]}
    for v in plan["vips"]:
        facts |= {x for x in (v["fqdn"], v["external_ip"], v["public_ip"], v["internal_ip"],
                              v["internal_fqdn"]) if x}
    for c in plan["certificates"]:
        facts |= {c["subject_cn"], c["ca"], *c["sans"]}
    for d in plan["dns"]:
        facts |= {d["name"], d["value"], d["zone"]}
        if d["port"] is not None:
            facts.add(str(d["port"]))
    for f in plan["firewall"]:
        facts |= {f["id"], f["ports"], f["protocol"]}
    for s in plan["servers"]:
        facts |= {s["name"], s["fqdn"]}
    return facts


def missing(facts: set[str], text: str) -> list[str]:
    """The facts that do not occur in ``text`` as whole tokens."""
    return sorted(f for f in facts
                  if not re.search(r"(?<![\w.-])" + re.escape(f) + r"(?![\w-]|\.\w)", text))


@pytest.fixture(scope="module")
def plans() -> dict[str, dict[str, Any]]:
    return {slug: plan_file(path).to_dict() for slug, path in EXAMPLES.items()}


@pytest.fixture(scope="module")
def diagrams(plans: dict[str, dict[str, Any]],
             tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes | None]:
    return network_diagrams(list(plans.values()), tmp_path_factory.mktemp("diagrams"))


@pytest.fixture(scope="module")
def pdf_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The module's PDF cache (``cached_pdf``, keyed by the templates and the data): a document the
    fixtures below ask for twice, such as contoso's A4 field runbook, is laid out once.
    test_pdfs_are_byte_identical_across_renders renders without it."""
    return tmp_path_factory.mktemp("pdf-cache")


def _render(job: tuple[str, dict[str, Any], bytes | None, Paper, Path]) -> bytes:
    kind, plan, svg, paper, cache = job
    if kind == "field runbook":
        return field_runbook_pdf(plan, svg, paper=paper, workdir=cache)
    return change_request_pdf(plan, paper=paper, workdir=cache)


def render_all(jobs: list[tuple[str, dict[str, Any], bytes | None, Paper, Path]]
               ) -> list[bytes]:
    """Each ``(kind, plan, diagram, paper, cache)`` as PDF, in order, on every core: a
    layout runs on one core, and the suite is waited for on two."""
    parts = map_chunks(lambda chunk: [_render(job) for job in chunk], jobs,
                       default_workers(), tasks_per_job=len(jobs))
    return [pdf for part in parts for pdf in part]


@pytest.fixture(scope="module")
def field_pdfs(plans: dict[str, dict[str, Any]], diagrams: dict[str, bytes | None],
               pdf_cache: Path) -> dict[str, bytes]:
    return dict(zip(plans, render_all([("field runbook", plan, diagrams[slug], "a4", pdf_cache)
                                       for slug, plan in plans.items()]), strict=True))


@pytest.fixture(scope="module")
def cr_pdfs(plans: dict[str, dict[str, Any]], pdf_cache: Path) -> dict[str, bytes]:
    return dict(zip(plans, render_all([("change request", plan, None, "a4", pdf_cache)
                                       for plan in plans.values()]), strict=True))


# --- content ---------------------------------------------------------------------------------


@pytest.mark.parametrize("slug", sorted(EXAMPLES))
def test_field_runbook_pdf_holds_every_address_name_record_and_port(
        slug: str, plans: dict[str, dict[str, Any]], field_pdfs: dict[str, bytes]) -> None:
    text = pdf_text(field_pdfs[slug])
    assert missing(plan_facts(plans[slug]), unwrapped(text)) == []
    assert plans[slug]["meta"]["provenance"] in text


@pytest.mark.parametrize("slug", sorted(EXAMPLES))
def test_change_request_pdf_and_page_hold_every_fact(
        slug: str, plans: dict[str, dict[str, Any]], cr_pdfs: dict[str, bytes]) -> None:
    plan = plans[slug]
    facts = plan_facts(plan, netmasks=False)
    assert missing(facts, unwrapped(pdf_text(cr_pdfs[slug]))) == []
    page = md_text(change_request_markdown(plan))
    assert missing(facts, page) == []
    assert plan["meta"]["provenance"] in page
    assert plan["meta"]["provenance"] in pdf_text(cr_pdfs[slug])


def test_the_scope_names_zones_whole_and_keeps_its_punctuation(
        cr_pdfs: dict[str, bytes]) -> None:
    # contoso.yaml: internal zone contoso.local, external contoso.com; its records are in both.
    # "contoso." at a line's end would read as a sentence's end, and Typst took the ";" after
    # a value for the end of the code that set it.
    assert ("Zones: internal contoso.local, external contoso.com; DNS records change in "
            "contoso.com, contoso.local") in pdf_text(cr_pdfs["contoso-hq"])


@pytest.mark.parametrize("path", sorted(INPUTS.glob("*.yaml")), ids=lambda p: p.stem)
def test_every_example_renders_with_every_fact(path: Path) -> None:
    plan = plan_file(path).to_dict()
    assert missing(plan_facts(plan), unwrapped(pdf_text(field_runbook_pdf(plan)))) == []
    assert missing(plan_facts(plan, netmasks=False),
                   md_text(change_request_markdown(plan))) == []


def test_every_action_but_a_note_or_warning_has_a_box_every_check_a_seen_line_every_step_a_signoff(
        plans: dict[str, dict[str, Any]], field_pdfs: dict[str, bytes]) -> None:
    plan = plans["fabrikam-lb"]
    actions = list(plan["checklist"])
    actions += [a for w in plan["wizard"] for s in w["steps"] for sc in s["screens"]
                for a in sc["actions"]]
    actions += [a for sc in plan["pool_side"]["screens"] for a in sc["actions"]]
    actions += [a for sc in (plan["federation"] or {}).get("screens", []) for a in sc["actions"]]
    actions += [a for sc in (plan["pic"] or {}).get("steps", []) for a in sc["actions"]]
    actions += [a for sc in (plan["reverse_proxy"] or {}).get("screens", [])
                for a in sc["actions"]]
    actions += [a for sc in plan["validation"]["screens"] for a in sc["actions"]]
    actions += [a for sc in plan["trust"]["screens"] for a in sc["actions"]]
    actions += plan["trust"]["internal"]  # the certificates page's "Trust of the other side"
    notes = sum(a["kind"] == "note" for a in actions)
    warnings = sum(a["kind"] == "warning" for a in actions)
    assert notes and warnings  # read, not done: no box (as on the web page)
    text = pdf_text(field_pdfs["fabrikam-lb"])
    # The box is a character (a ballot box), so it is on paper and in the text: one before
    # every action's verb but a note's or a warning's.
    assert text.count(BOX) == len(actions) - notes - warnings
    assert text.count(f"{BOX} Note ") == 0 and text.count("Note ") >= notes
    assert text.count(f"{BOX} Warning ") == 0 and text.count("Warning ") >= warnings
    # As many boxes as the web pages' lists have, together.
    pages = ["index.md", "runbook.md", "pool.md", "federation.md", "certificates.md",
             "reverse-proxy.md", "pic.md"]
    assert text.count(BOX) == sum(c.boxes for c in site_checklists(plan, pages).values())
    checks = sum(a["kind"] == "check" for a in actions)
    assert text.count("Seen:") == checks
    steps = [f"{w['server']} Step {s['number']} done" for w in plan["wizard"]
             for s in w["steps"]]
    # One sign-off per wizard step, plus readiness, certificate chains, reverse proxy, pool
    # side, federation partners and public IM, one per end-to-end test, plus the cover's
    # "received by".
    assert all(text.count(step) == 1 for step in steps)
    for part in ("Readiness check", "Reverse proxy", "Pool side", "Federation partners",
                 "Public IM connectivity"):
        assert text.count(f"{part} done") == 1, part
    tests = [t["title"] for t in plan["validation"]["tests"]]
    assert len(tests) == 7
    assert text.count("Initials") == len(steps) + 6 + len(tests) + 1


def test_runbook_follows_the_wizard_order_of_servers(
        plans: dict[str, dict[str, Any]], field_pdfs: dict[str, bytes]) -> None:
    text = pdf_text(field_pdfs["fabrikam-lb"])
    order = [w["server"] for w in sorted(plans["fabrikam-lb"]["wizard"],
                                         key=lambda w: w["order"])]
    heads = [text.index(f"{server}: Step 1, Install Files for Edge Server") for server in order]
    assert heads == sorted(heads)


def test_missing_change_fields_are_marked_blanks_never_invented(tmp_path: Path) -> None:
    data = contoso()
    del data["change"]
    plan = plan_file(write(tmp_path, data)).to_dict()
    fields = dict(change_request(plan)["fields"])
    assert set(fields.values()) == {NOT_PROVIDED}
    page = markdown.markdown(change_request_markdown(plan), extensions=["tables"])
    for label in ("Change id", "Window", "Implementer", "Approvers", "Risk"):
        assert f"<td>{label}</td>\n<td>{NOT_PROVIDED}</td>" in page
    cover = pdf_pages(field_runbook_pdf(plan))[0]
    assert " ".join(cover.split()).count(NOT_PROVIDED) >= 6


def test_given_change_fields_appear_and_only_the_absent_ones_are_blank(
        plans: dict[str, dict[str, Any]], cr_pdfs: dict[str, bytes]) -> None:
    fields = dict(change_request(plans["fabrikam-lb"])["fields"])
    assert fields["Change id"] == "CR-2024-118"
    assert fields["Approvers"] == "Network CAB, Security CAB"
    assert NOT_PROVIDED not in fields.values()
    text = pdf_text(cr_pdfs["fabrikam-lb"])
    assert "2024-06-15 22:00 to 2024-06-16 04:00 (time zone Europe/London)" in text
    assert f"Contacts: {NOT_PROVIDED}" in text  # the one field fabrikam does not give


def test_implementation_estimates_come_from_the_one_table(
        plans: dict[str, dict[str, Any]]) -> None:
    cr = change_request(plans["fabrikam-lb"])
    assert [i["number"] for i in cr["implementation"]] == list(
        range(1, len(cr["implementation"]) + 1))
    for item in cr["implementation"]:
        assert item["minutes"] == ESTIMATED_STEP_MINUTES[item["id"]]
    ids = {i["id"] for i in cr["implementation"]}
    assert ids == set(ESTIMATED_STEP_MINUTES)  # load balancer, network, every wizard step...
    assert "estimates" in md_text(change_request_markdown(plans["fabrikam-lb"]))


def test_change_request_says_when_the_estimates_do_not_fit_the_window(
        plans: dict[str, dict[str, Any]]) -> None:
    cr = change_request(plans["fabrikam-lb"])  # a 6 h window, four servers
    assert cr["window_minutes"] > 6 * 60
    assert "does not fit the 6 h window" in cr["window_fit"]
    assert "does not fit the 6 h window" in md_text(change_request_markdown(plans["fabrikam-lb"]))
    assert change_request(plans["contoso-hq"])["window_fit"] is None  # no window given


def test_backout_undoes_every_implementation_step_in_reverse_order(
        plans: dict[str, dict[str, Any]], cr_pdfs: dict[str, bytes]) -> None:
    plan = plans["contoso-hq"]
    cr = change_request(plan)
    forward = [(i["number"], i["title"], i["server"]) for i in cr["implementation"]]
    assert [(i["number"], i["title"], i["server"]) for i in cr["backout"]] == forward[::-1]
    by_id = {i["id"]: i["backout"] for i in cr["backout"]}
    assert "Add or Remove Programs" in by_id["install"]
    assert "deactivate" in by_id["activate"]
    assert "Certificate Enrollment Requests" in by_id["certificates"]
    assert "E01" in by_id["firewall"] or "I01" in by_id["firewall"]
    # The printed backout table lists the steps from the last to the first.
    # With -layout each table row starts with its number, even where a row crosses a page.
    text = subprocess.run(["pdftotext", "-layout", "-", "-"], input=cr_pdfs["contoso-hq"],
                          capture_output=True, check=True).stdout.decode("utf-8")
    section = text[text.index("6. Backout plan"):text.index("7. Risk and impact")]
    numbers = [int(n) for n in re.findall(r"^\s*(\d+)\s{2,}\S", section, flags=re.M)]
    assert numbers == sorted(numbers, reverse=True)
    assert numbers[0] == len(forward) and numbers[-1] == 1


def test_validation_plan_has_the_step_6_checks_and_end_to_end_tests(
        plans: dict[str, dict[str, Any]], cr_pdfs: dict[str, bytes]) -> None:
    text = pdf_text(cr_pdfs["fabrikam-lb"])
    section = text[text.index("5. Validation plan"):text.index("6. Backout plan")]
    for w in plans["fabrikam-lb"]["wizard"]:
        validate = next(s for s in w["steps"] if s["id"] == "validate")
        for screen in validate["screens"]:
            for a in screen["actions"]:
                if a["kind"] in ("check", "tick"):
                    assert " ".join(a["label"].split()) in section


# --- delta change requests ---------------------------------------------------------------------


def _renamed_webconf(tmp_path: Path) -> tuple[Path, Path]:
    new = write(tmp_path, contoso(), "new.yaml")
    data = contoso()
    data["edge"]["fqdns"]["webconf"] = "meet.contoso.com"
    data["edge"]["servers"][0]["nics"]["webconf"]["public_ip"] = "198.51.100.21"
    return write(tmp_path, data, "old.yaml"), new


def test_since_change_request_covers_only_the_delta(tmp_path: Path) -> None:
    old_path, new_path = _renamed_webconf(tmp_path)
    result = CliRunner().invoke(main, ["cr", str(new_path), "--since", str(old_path),
                                       "-o", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    page = (tmp_path / "out" / "contoso-hq-change-request.md").read_text(encoding="utf-8")
    text = md_text(page)
    assert "meet.contoso.com" in text and "198.51.100.21" in text  # what goes away
    assert "webconf.contoso.com" in text and "198.51.100.11" in text  # what replaces it
    # Unchanged records, rules and steps are not part of this change.
    assert "_sipfederationtls._tcp.contoso.com" not in text
    assert "5062" not in text and "E05" not in text
    assert "Install Files for Edge Server" not in text
    cr = change_request(plan_file(new_path).to_dict(),
                        delta_scope(plan_file(old_path).to_dict(), plan_file(new_path).to_dict()))
    steps = [(i["id"], i["server"]) for i in cr["implementation"] if i["server"]]
    assert steps == [("configure", "edge01"), ("certificates", "edge01"),
                     ("services", "edge01"), ("validate", "edge01")]
    assert [i["number"] for i in cr["backout"]] == [i["number"] for i in
                                                   cr["implementation"]][::-1]
    cert_backout = next(i["backout"] for i in cr["backout"] if i["id"] == "certificates")
    assert "sip.contoso.com" in cert_backout and "av.contoso.com" not in cert_backout
    pdf = (tmp_path / "out" / "contoso-hq-change-request.pdf").read_bytes()
    assert "_sipfederationtls" not in pdf_text(pdf)


def test_a_delta_change_request_reads_right(tmp_path: Path) -> None:
    old_path, new_path = _renamed_webconf(tmp_path)
    written = documents.write_change_request(new_path, tmp_path / "out", since=old_path)
    page = written[0].read_text(encoding="utf-8")
    # The old version is named plainly, not by its provenance sentence.
    assert ("covers only what changed since the topology file old.yaml (not in git): "
            in page)
    # The Markdown file reads as text: no HTML entities (arrows are the character).
    assert re.findall(r"&[#\w]+;", page) == []
    assert "meet.contoso.com → webconf.contoso.com" in page
    # The one rule whose address changed is one change, its old and new values side by side.
    rules = [line for line in page.splitlines() if line.startswith("| changed | E04 |")]
    assert len(rules) == 1
    assert ("198.51.100.21 (meet.contoso.com; NAT to 172.16.0.11) → 198.51.100.11 "
            "(webconf.contoso.com; NAT to 172.16.0.11)") in rules[0]
    assert re.search(r"[^\d]1 firewall rule change[^s]", page)
    # One Window field, start, end and time zone together.
    assert [line.split("|")[1].strip() for line in page.splitlines()
            if line.startswith("| Window")] == ["Window"]


def test_a_delta_of_firewall_rules_alone_is_the_change_made_in_the_window(
        tmp_path: Path) -> None:
    # A second CRL distribution point: one internal rule more, nothing to install. The rule
    # is the change itself, made in the window by the firewall's administrator.
    old = write(tmp_path, contoso(), "old.yaml")
    data = contoso()
    data["certificates"]["internal_crl"].append({"url": "http://crl2.contoso.local/a.crl",
                                                 "ip": "10.0.0.40"})
    new = write(tmp_path, data, "new.yaml")
    written = documents.write_change_request(new, tmp_path / "out", since=old)
    page = written[0].read_text(encoding="utf-8")
    assert "(not in git): 1 firewall rule change\n" in page
    assert "Estimated duration: 45 min in the window (estimates" in page
    assert "prerequisites done before it" not in page
    assert "Nothing to do before the window: the changes below are made in it" in page
    assert "| 1 | Rule changes on the internal firewall |   | Internal firewall administrator " \
        "| in the window | 45 min |" in page
    assert ("| Internal firewall administrator | Makes the listed changes in the window; "
            "reports each one done |") in page
    assert "no DNS record changes\n- Firewalls touched: internal (1 rule change)\n" in page
    # The validation plan tests the change itself first: the new rule passes.
    assert page.index("### The changes themselves\n\n- I09: outbound TCP 80 from 10.0.0.10 "
                      "(edge01.contoso.local) to 10.0.0.40 (crl2.contoso.local, CRL "
                      "distribution point) passes the internal firewall") < page.index(
                          "### End-to-end tests from outside")
    rule = next(line for line in page.splitlines() if line.startswith("| added | I09 |"))
    assert rule.endswith("| HTTP: the internal CA's revocation list, from its distribution "
                         "point |")
    text = pdf_text(written[1].read_bytes())
    assert "Estimated duration: 45 min in the window (estimates" in text
    assert "Nothing to do before the window" in text and "no DNS record changes" in text
    assert "Done and confirmed" not in text and "[" not in text


def test_the_markdown_file_handed_out_escapes_values_with_backslashes_not_entities(
        tmp_path: Path) -> None:
    data = contoso()
    data["change"] = {"title": "R&D <b> -> x", "requester": "A & B ~ <c>"}
    written = documents.write_change_request(write(tmp_path, data), tmp_path / "out")
    page = written[0].read_text(encoding="utf-8")
    assert re.findall(r"&[#\w]+;", page) == []
    assert "# Change request: R\\&D \\<b\\> -\\> x" in page
    assert "A \\& B ~ \\<c\\>" in page
    # CommonMark renders each backslash escape as its character (any ASCII punctuation may
    # be escaped); even a renderer that does not, Python-Markdown, makes no markup of it.
    rendered = markdown.markdown(page, extensions=["tables"])
    assert "<b>" not in rendered and "<c>" not in rendered
    # The site's own page keeps character references, which Python-Markdown needs for <.
    site_page = documents.change_request_markdown(plan_file(write(tmp_path, data)).to_dict())
    assert "R&amp;D &lt;b&gt;" in site_page


def test_a_delta_change_request_checks_its_own_records_and_rules_first(tmp_path: Path) -> None:
    old_path, new_path = _renamed_webconf(tmp_path)
    delta = delta_scope(plan_file(old_path).to_dict(), plan_file(new_path).to_dict())
    assert delta["checks"] == [
        "E04: inbound TCP 443 from Internet (any) to 198.51.100.11 (webconf.contoso.com; NAT "
        "to 172.16.0.11) passes the external firewall (PSOM/TLS: external Live Meeting "
        "clients join conferences)",
        "nslookup -type=A meet.contoso.com no longer answers 198.51.100.21",
        "nslookup -type=A webconf.contoso.com answers 198.51.100.11"]
    cr = change_request(plan_file(new_path).to_dict(), delta)
    assert cr["validation"][0]["title"] == "The changes themselves"


def test_a_delta_change_request_names_the_git_revision(tmp_path: Path) -> None:
    plan = plan_file(write(tmp_path, contoso())).to_dict()
    old = dict(plan, meta=dict(plan["meta"], source="inputs/contoso.yaml", revision="4362d7b"))
    assert delta_scope(old, plan)["since"] == (
        "inputs/contoso.yaml as committed at revision 4362d7b")


def test_since_git_compares_with_the_committed_version(tmp_path: Path) -> None:
    old_path, new_path = _renamed_webconf(tmp_path)
    repo = tmp_path / "repo"
    repo.mkdir()
    site = repo / "site.yaml"
    site.write_bytes(old_path.read_bytes())

    def git(*args: str) -> None:
        subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid",
                        *args], cwd=repo, check=True, capture_output=True)

    git("init", "-q")
    git("add", "site.yaml")
    git("commit", "-q", "-m", "old")
    site.write_bytes(new_path.read_bytes())
    result = CliRunner().invoke(main, ["cr", str(site), "--since-git", "HEAD",
                                       "-o", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    text = md_text((tmp_path / "out" / "contoso-hq-change-request.md").read_text("utf-8"))
    assert "meet.contoso.com" in text and "_sipfederationtls._tcp.contoso.com" not in text
    result = CliRunner().invoke(main, ["cr", str(site), "--since-git", "no-such-rev",
                                       "-o", str(tmp_path / "out2")])
    assert result.exit_code == 1 and "no-such-rev" in result.output
    assert isinstance(result.exception, SystemExit)


def test_a_delta_change_request_of_two_different_sites_is_refused_unless_forced(
        tmp_path: Path) -> None:
    new, old = str(INPUTS / "contoso.yaml"), str(INPUTS / "fabrikam-lb.yaml")
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["cr", new, "--since", old, "-o", str(out)])
    assert result.exit_code == 2
    assert isinstance(result.exception, SystemExit)  # reported, not raised
    assert (f"{old} is site fabrikam-lb and {new} is site contoso-hq: a delta change "
            "request covers two versions of one site.") in result.output
    assert "--force" in result.output
    assert not out.exists()  # nothing written
    forced = CliRunner().invoke(main, ["cr", new, "--since", old, "--force", "-o", str(out)])
    assert forced.exit_code == 0, forced.output
    assert (out / "contoso-hq-change-request.md").is_file()


def test_since_an_identical_version_there_is_nothing_to_do(tmp_path: Path) -> None:
    plan = plan_file(write(tmp_path, contoso())).to_dict()
    cr = change_request(plan, delta_scope(plan, plan))
    assert cr["implementation"] == []
    text = md_text(change_request_markdown(plan, delta_scope(plan, plan)))
    assert "nothing to do" in text
    # Not also "the changes below are made in it": there are none.
    assert "Nothing to do before the window" not in text
    pdf = pdf_text(change_request_pdf(plan, delta_scope(plan, plan)))
    assert "nothing to do" in pdf and "Nothing to do before the window" not in pdf


# --- safety and determinism ----------------------------------------------------------------------


HOSTILE = "<script>alert(1)</script> {{ 7*7 }} | *x* [l](javascript:x)"
# Typst markup and code: each would do something if a value were parsed as a template.
TYPST_HOSTILE = ['#import "/etc/passwd"', '#read("/etc/passwd")', "$x^2$", "*bold* _em_",
                 "] [", "back\\slash", "@label <ref>", "`code`", "#panic(1)", "// no comment",
                 "= Heading", '#{"x"}', "~ non-breaking"]


def test_topology_values_are_data_in_markdown_and_pdf(tmp_path: Path) -> None:
    data = contoso()
    data["organization"] = HOSTILE
    data["change"]["title"] = HOSTILE
    plan = plan_file(write(tmp_path, data)).to_dict()
    rendered = markdown.markdown(change_request_markdown(plan), extensions=["tables"])
    assert "<script>" not in rendered and "javascript:" not in rendered.replace(
        "(javascript:x)", "") and "<em>" not in rendered
    assert HOSTILE in md_text(change_request_markdown(plan))
    assert HOSTILE in pdf_text(change_request_pdf(plan))
    assert HOSTILE in pdf_text(field_runbook_pdf(plan))


@pytest.mark.parametrize("value", TYPST_HOSTILE)
def test_typst_markup_in_topology_values_prints_verbatim(tmp_path: Path, value: str) -> None:
    # Free-text fields of both documents: the organisation, the site's title, the change's
    # title, requester and business reason, an approver and a contact.
    data = contoso()
    data["organization"] = f"Org {value} end"
    data["title"] = f"Site {value} end"
    data["change"].update(title=f"Title {value} end", requester=f"Req {value} end",
                          business_reason=f"Why {value} end",
                          approvers=[f"CAB {value} end"], contacts=[f"Desk {value} end"])
    plan = plan_file(write(tmp_path, data)).to_dict()
    # Compared without white space: a value may wrap after a slash or a dot on paper.
    cr, field = (pdf_text(pdf).replace(" ", "") for pdf in (change_request_pdf(plan),
                                                            field_runbook_pdf(plan)))
    bare = "".join(value.split())
    for label in ("Org", "Site", "Title", "Req", "Why", "CAB", "Desk"):
        assert f"{label}{bare}end" in cr, label
    for label in ("Org", "Site", "Title", "Req", "CAB", "Desk"):
        assert f"{label}{bare}end" in field, label
    assert "root:x:0:0" not in cr + field  # /etc/passwd was not read


def test_secrets_are_never_printed_only_vault_entry_names(
        plans: dict[str, dict[str, Any]], field_pdfs: dict[str, bytes]) -> None:
    plan = plans["contoso-hq"]
    text = pdf_text(field_pdfs["contoso-hq"]).replace("/ ", "/")  # a path may wrap after /
    vaults = [a for w in plan["wizard"] for s in w["steps"] for sc in s["screens"]
              for a in sc["actions"] if a["kind"] == "vault"]
    assert vaults
    for a in vaults:
        assert f"From the vault {a['label']}: copy from vault entry {a['value']}" in text


def test_pdfs_are_byte_identical_across_renders(plans: dict[str, dict[str, Any]],
                                                diagrams: dict[str, bytes | None],
                                                field_pdfs: dict[str, bytes],
                                                cr_pdfs: dict[str, bytes]) -> None:
    plan = plans["contoso-hq"]
    assert field_runbook_pdf(plan, diagrams["contoso-hq"]) == field_pdfs["contoso-hq"]
    assert change_request_pdf(plan) == cr_pdfs["contoso-hq"]
    assert b"/CreationDate" not in cr_pdfs["contoso-hq"]
    # Typst keeps what it laid out in memory: a fresh process gives the same bytes too.
    fresh = subprocess.run(
        [sys.executable, "-c", "import sys; from runbook.outputs.documents import "
         "change_request_pdf; from runbook.plan.sites import plan_file; "
         f"sys.stdout.buffer.write(change_request_pdf(plan_file({str(EXAMPLES['contoso-hq'])!r})"
         ".to_dict()))"], capture_output=True, check=True)
    assert fresh.stdout == cr_pdfs["contoso-hq"]


def test_a_template_gets_its_data_as_data_in_its_source_and_the_shared_inputs(
        tmp_path: Path) -> None:
    """The data is bound to `data` by a line put before the template (a Typst string
    literal): quotes, backslashes, a line break and markup in a value print as themselves;
    `inputs` arrive as sys.inputs; a template of earlier versions reads sys.inputs.data."""
    import subprocess as sp

    from runbook.outputs.pdf import typst_pdf

    value = 'a "quoted" \\ back\\slash")) #import "x": * $x$ *b*\nnext'
    template = tmp_path / "t.typ"
    template.write_text('#set document(date: none)\n#data.v | #sys.inputs.paper', encoding="utf-8")
    pdf = typst_pdf(template, {"v": value}, inputs={"paper": "a4"})
    text = sp.run(["pdftotext", "-", "-"], input=pdf, capture_output=True, check=True).stdout
    assert text.decode().split() == (value + " | a4").split()
    legacy = tmp_path / "legacy.typ"
    legacy.write_text("#set document(date: none)\n#json(bytes(sys.inputs.data)).v",
                      encoding="utf-8")
    text = sp.run(["pdftotext", "-", "-"], input=typst_pdf(legacy, {"v": "old way"}),
                  capture_output=True, check=True).stdout
    assert text.decode().split() == ["old", "way"]


def test_a_template_reads_no_file_outside_the_templates_folder(tmp_path: Path) -> None:
    from runbook.outputs.pdf import typst_pdf

    root = tmp_path / "root"
    root.mkdir()
    (tmp_path / "secret.txt").write_text("outside", encoding="utf-8")
    for source in ('#read("/etc/passwd")', '#read("../secret.txt")',
                   '#image("/usr/share/pixmaps/debian-logo.png")'):
        template = root / "t.typ"
        template.write_text(source, encoding="utf-8")
        with pytest.raises(PdfFailed) as caught:
            typst_pdf(template, {})
        assert "\n" not in str(caught.value) and "t.typ" in str(caught.value)


def test_a_template_that_imports_a_typst_package_is_refused_offline(tmp_path: Path) -> None:
    from runbook.outputs.pdf import typst_pdf

    template = tmp_path / "t.typ"
    template.write_text('#import "@preview/cetz:0.3.0": *\nx', encoding="utf-8")
    with pytest.raises(PdfFailed, match=r"t\.typ: imports a Typst package"):
        typst_pdf(template, {})


def test_a_typst_error_is_one_line_naming_the_template(tmp_path: Path) -> None:
    template = tmp_path / "broken.typ"
    template.write_text("#let x = (\n", encoding="utf-8")
    from runbook.outputs.pdf import typst_pdf

    with pytest.raises(PdfFailed, match=r"^PDF rendering failed: broken\.typ: ") as caught:
        typst_pdf(template, {})
    assert "\n" not in str(caught.value)


# --- layout --------------------------------------------------------------------------------------


def test_paper_sizes_and_a_landscape_diagram_page(plans: dict[str, dict[str, Any]],
                                                  diagrams: dict[str, bytes | None],
                                                  field_pdfs: dict[str, bytes],
                                                  pdf_cache: Path, tmp_path: Path) -> None:
    a4 = field_pdfs["contoso-hq"]
    sizes = page_sizes(a4, tmp_path)
    pages = pdf_pages(a4)
    diagram_page = next(i for i, p in enumerate(pages) if "Appendix A: Network diagram" in p)
    assert sizes[0] == pytest.approx((595.28, 841.89), abs=0.5)  # A4 portrait
    assert sizes[diagram_page] == pytest.approx((841.89, 595.28), abs=0.5)  # A4 landscape
    assert all(f"Page {n} of {len(pages)}" in p for n, p in enumerate(pages, 1))
    letter = field_runbook_pdf(plans["contoso-hq"], diagrams["contoso-hq"], paper="letter",
                               workdir=pdf_cache)
    assert page_sizes(letter, tmp_path)[0] == pytest.approx((612, 792), abs=0.5)
    tiles = field_runbook_data(plans["contoso-hq"], diagrams["contoso-hq"])["diagram_tiles"]
    assert diagrams["contoso-hq"] and tiles and "<svg" in tiles[0]["svg"]


# --- paper that fits ----------------------------------------------------------------------------

MM = 72 / 25.4
# pdftotext's word box is the font's ascent plus descent as the PDF's font descriptors give
# them (per 1000 units of the em): the height of a word's box over this is its size in pt.
def em(data: bytes) -> float:
    """Ascent minus descent of the PDF's fonts, in em: one value for all of them."""
    found = {round((float(a) - float(d)) / 1000, 3) for a, d in re.findall(
        rb"/FontDescriptor/FontName/[^/]+/.*?/Ascent ([\d.]+)/Descent (-[\d.]+)", data)}
    assert len(found) == 1, found
    return found.pop()


def long_names(tmp_path: Path) -> Path:
    """Contoso with the longest values the model accepts: 63-character slug, server name and
    labels (one of them hyphenated), 200-character title, organisation and NIC names, FQDNs of
    253 characters."""
    data = contoso()
    ext = ".".join(["e" * 31 + "-" + "e" * 31, "f" * 63, "g" * 63, "h" * 49, "com"])
    internal = ".".join(["i" * 63, "j" * 63, "k" * 63, "l" * 48, "local"])
    data.update(site="s" * 63, title="T" * 200, organization="O" * 200,
                domains={"sip": [ext], "internal": internal, "external": ext},
                next_hop="pool01." + internal)
    data["pools"][0]["fqdn"] = "pool01." + internal
    data["edge"]["fqdns"] = {"access": "sip." + ext, "webconf": "webconf." + ext,
                             "av": "av." + ext}
    data["reverse_proxy"]["fqdn"] = "webfarm." + ext
    assert len(data["reverse_proxy"]["fqdn"]) == 253 and len(ext.split(".")[0]) == 63
    server = data["edge"]["servers"][0]
    server["name"] = "x" * 63
    for nic in server["nics"].values():
        nic["name"] = "N" * 200
    return write(tmp_path, data, "long-names.yaml")


# A realistic long title (words and capitals, 174 characters) and change id.
LONG_TITLE = ("Woodgrove Bank Worldwide Office Communications Server 2007 Consolidated Edge "
              "Deployment for the Northern European and Western European Regional Datacenters, "
              "Phase Two Rollout")


def wide_names(tmp_path: Path) -> list[Path]:
    """Contoso twice, with what ran past the margin or over other text: a title of 200 "W"
    (a character count let the running header run from one margin to the other, over its
    left half) and the realistic LONG_TITLE with a 35-character change id (the change
    request's header took two lines, the first above the top margin); an organisation and an
    implementer of 200 "A" (Typst kerns "AA" wider than two advances: 0.712 em an "A", 0.684
    alone) and of 200 "W"."""
    first, second = contoso(), contoso()
    first.update(site="wide-w", title="W" * 200, organization="A" * 200)
    # A cluster counts as its characters: "Ш" with a combining acute is wider than the em a
    # cluster of no listed character counts; "Ǆ" is one of the characters wider than an em.
    first["change"].update(implementer="W" * 200, requester="\u0428\u0301" * 100)
    second.update(site="wide-long-title", title=LONG_TITLE, organization="W" * 200)
    second["change"].update(id="CHG-WOODGROVE-WORLDWIDE-2024-000123", implementer="A" * 200,
                            requester="\u01c4" * 150)
    return [write(tmp_path, first, "wide-w.yaml"), write(tmp_path, second, "wide-long.yaml")]


@pytest.fixture(scope="module")
def paper_pdfs(tmp_path_factory: pytest.TempPathFactory, pdf_cache: Path) -> dict[str, bytes]:
    """Both documents of every example, of the long-name topology and of the wide-name ones,
    at A4 and Letter."""
    folder = tmp_path_factory.mktemp("paper")
    plans = [s.plan.to_dict() for s in load_sites([INPUTS, long_names(folder),
                                                   *wide_names(folder)])]
    svgs = network_diagrams(plans, folder / "diagrams")
    papers: tuple[Paper, ...] = ("a4", "letter")
    jobs = [(kind, plan, svgs[plan["meta"]["site"]] if kind == "field runbook" else None,
             paper, pdf_cache)
            for plan in plans for paper in papers for kind in ("field runbook", "change request")]
    return {f"{plan['meta']['site'][:20]} {paper} {kind}": pdf
            for (kind, plan, _, paper, _), pdf in zip(jobs, render_all(jobs), strict=True)}


@functools.cache
def words(data: bytes) -> list[list[tuple[float, float, float, float, float, float, str]]]:
    """Every word of every page: (page width, page height, x0, y0, x1, y1, text). Read once
    per PDF (the tests below read every one of paper_pdfs): not to be changed."""
    done = subprocess.run(["pdftotext", "-bbox", "-", "-"], input=data, capture_output=True,
                          check=True)
    pages = []
    for page in done.stdout.decode("utf-8").split("<page ")[1:]:
        width, height = map(float, re.match(r'width="([\d.]+)" height="([\d.]+)"', page)
                            .groups())
        pages.append([(width, height, *map(float, m.groups()[:4]), html.unescape(m[5]))
                      for m in re.finditer(r'<word xMin="([\d.]+)" yMin="([\d.]+)" '
                                           r'xMax="([\d.]+)" yMax="([\d.]+)">(.*?)</word>',
                                           page)])
    return pages


def test_every_character_of_every_pdf_lies_inside_the_margins(
        paper_pdfs: dict[str, bytes]) -> None:
    # The text area is 15 mm in from each side; the running header and footer sit in the top
    # and bottom margins, 8 mm from the edge or more (a printer's unprintable edge is ~5 mm).
    outside = []
    for name, data in paper_pdfs.items():
        for number, page in enumerate(words(data), 1):
            outside += [f"{name} page {number}: {text[:40]!r} at x {x0:.1f}-{x1:.1f}, "
                        f"y {y0:.1f}-{y1:.1f} of {w:.1f} x {h:.1f}"
                        for w, h, x0, y0, x1, y1, text in page
                        if x0 < 15 * MM - 0.5 or x1 > w - 15 * MM + 0.5
                        or y0 < 8 * MM or y1 > h - 8 * MM]
    assert outside == []


def test_the_running_header_and_footer_are_one_line_each(paper_pdfs: dict[str, bytes]) -> None:
    # They are cut to the width they have, measured: a 200-character title no longer takes two
    # lines (the first above the 8 mm bound) nor runs over the document's title.
    lines = []
    for name, data in paper_pdfs.items():
        for number, page in enumerate(words(data), 1):
            height = page[0][1]
            head = {round(y0, 1) for _, _, _, y0, _, y1, _ in page if y1 < 18 * MM}
            foot = {round(y0, 1) for _, _, _, y0, _, _, _ in page if y0 > height - 20 * MM + 2}
            if len(head) > 1 or len(foot) != 1:
                lines.append(f"{name} page {number}: header {sorted(head)}, footer {sorted(foot)}")
    assert lines == []


_MEASURE_ADVANCES = """
#let t = data.advance
#let cs = range(32, 127).map(str.from-unicode)
#set text(font: "DejaVu Sans", size: 6pt)
#context {
  let wider = ()
  for (style, weight) in (("normal", "regular"), ("italic", "regular"), ("normal", "bold"),
      ("italic", "bold")) {
    let factor = if weight == "bold" { data.bold_factor } else { 1 }
    let w(s) = measure(text(100pt, style: style, weight: weight, s)).width
    let bound(s) = s.clusters().map(c => t.at(c)).sum() * factor * 0.1pt
    let strings = cs.map(a => a * 20) + cs.map(a => cs.map(b => a + b)).flatten() + (
      "ffi", "ffl", "fff", "AAA", "-J-", "o-J")
    wider += strings.filter(s => w(s) > bound(s)).map(s => style + " " + weight + " " + repr(s))
  }
  [#wider.len() wider: #wider.join(", ")]
}
"""


def test_typst_sets_no_string_wider_than_the_advance_table_says(tmp_path: Path) -> None:
    # The table fits a cell's strings without measuring: a run of "A" once took 7.11 pt each
    # at 10 pt where the table allowed 6.85 (the advance, not the kerning), and ran 6 pt past
    # the margin. Every pair of printable ASCII characters and a run of each, in the four
    # styles of DejaVu Sans (bold within the table's BOLD_FACTOR), as Typst sets them.
    from runbook.outputs import font_advances
    from runbook.outputs.pdf import typst_pdf

    template = tmp_path / "measure.typ"
    template.write_text(_MEASURE_ADVANCES, encoding="utf-8")
    data = typst_pdf(template, {"advance": font_advances.ADVANCE,
                                "bold_factor": font_advances.BOLD_FACTOR})
    assert pdf_text(data) == "0 wider:"


def test_the_advance_table_bounds_every_character_of_the_installed_fonts() -> None:
    # runbook/outputs/font_advances.py is written by scripts/font_advances.py from the font
    # files: each character's advance and the largest kerning it can take (GPOS, kern, a
    # ligature wider than its letters). What the installed files give is never wider.
    import importlib.util

    from runbook.outputs import font_advances
    from runbook.outputs.pdf import font_folder

    script = Path(__file__).resolve().parent.parent / "scripts" / "font_advances.py"
    spec = importlib.util.spec_from_file_location("font_advances_script", script)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    table, mono, _ = module.table(font_folder())
    wider = {c: (v, font_advances.ADVANCE.get(c, font_advances.DEFAULT)) for c, v in table.items()
             if v > font_advances.ADVANCE.get(c, font_advances.DEFAULT)}
    assert wider == {}
    assert mono <= font_advances.MONO
    assert " " in table and table["A"] > 700  # "AA" is kerned wider than the advance (684)


def overprints(page: list[tuple[float, float, float, float, float, float, str]]) -> list[str]:
    """Pairs of words on the same line whose boxes overlap across: text over other text."""
    found = []
    lines = sorted(page, key=lambda word: word[3])
    for i, (_, _, x0, y0, x1, y1, text) in enumerate(lines):
        for _, _, u0, v0, u1, v1, other in lines[i + 1:]:
            if v0 >= y1 - 0.5:
                break
            # The same line: most of the shorter box's height is shared.
            if min(y1, v1) - max(y0, v0) > 0.5 * min(y1 - y0, v1 - v0) \
                    and min(x1, u1) - max(x0, u0) > 0.5:
                found.append(f"{text[:30]!r} at x {x0:.1f}-{x1:.1f} over {other[:30]!r} "
                             f"at x {u0:.1f}-{u1:.1f}, y {y0:.1f}")
    return found


def test_no_text_of_any_pdf_prints_over_other_text(paper_pdfs: dict[str, bytes]) -> None:
    # A word wider than its table cell runs into the next column: both are on the page and
    # inside the margins, and neither can be read.
    over = [f"{name} page {number}: {pair}" for name, data in paper_pdfs.items()
            for number, page in enumerate(words(data), 1) for pair in overprints(page)]
    assert over == [], "\n".join(over)


def test_the_running_header_stands_clear_of_the_text_under_it(
        paper_pdfs: dict[str, bytes]) -> None:
    # The header's line of 8 pt text and its rule sit in the top margin; a page's first
    # heading starts 4 mm or more under the header's text, not against its rule.
    tight = []
    for name, data in paper_pdfs.items():
        for number, page in enumerate(words(data)[1:], 2):
            if "Appendix A: Network diagram" in " ".join(t for *_, t in page[:16]):
                continue  # landscape diagram pages have no running header
            header = min(page, key=lambda w: w[3])
            bottom = max(w[5] for w in page if w[3] < header[5])
            first = min(w[3] for w in page if w[3] >= bottom)
            if first - bottom < 4 * MM:
                tight.append(f"{name} page {number}: {first - bottom:.1f} pt")
    assert tight == []


def test_body_text_is_at_least_10_pt(paper_pdfs: dict[str, bytes]) -> None:
    small = []
    for name, data in paper_pdfs.items():
        size = em(data)
        for number, page in enumerate(words(data), 1):
            if "Appendix A: Network diagram" in " ".join(t for *_, t in page[:16]):
                continue  # the diagram page has its own rule
            small += [f"{name} page {number}: {text!r} {(y1 - y0) / size:.1f} pt"
                      for w, h, x0, y0, x1, y1, text in page
                      if y0 > 18 * MM and y1 < h - 20 * MM and (y1 - y0) / size < 9.95]
    assert small == []


def test_the_diagram_is_on_landscape_pages_its_text_7_pt_or_more(
        paper_pdfs: dict[str, bytes]) -> None:
    for name, data in paper_pdfs.items():
        if "field runbook" not in name:
            continue
        pages = [page for page in words(data)
                 if "Appendix A: Network diagram" in " ".join(t for *_, t in page[:16])]
        assert pages, name
        size = em(data)
        for page in pages:
            assert page[0][0] > page[0][1], name  # landscape
            small = [(text, round((y1 - y0) / size, 1)) for _, _, _, y0, _, y1, text in page
                     if (y1 - y0) / size < 6.95]
            assert small == [], name
        # Graphviz's labels are on paper: the server names of the site, for one.
        text = " ".join(t for page in pages for *_, t in page)
        assert "Internet" in text and "firewall" in text, name


# A diagram as Graphviz writes one (the graph's transform, labels as <text>), small enough for
# one landscape page at full size: its labels hold Typst markup and an SVG entity.
SMALL_DIAGRAM = b"""<?xml version="1.0" encoding="UTF-8" standalone="no"?>
<svg width="300pt" height="200pt"
 viewBox="0.00 0.00 300.00 200.00" xmlns="http://www.w3.org/2000/svg">
<g id="graph0" class="graph" transform="scale(1 1) rotate(0) translate(4 196)">
<polygon fill="white" stroke="transparent" points="-4,4 -4,-196 296,-196 296,4 -4,4"/>
<text text-anchor="start" x="20" y="-150" font-family="DejaVu Sans,Verdana,sans-serif" \
font-weight="bold" font-size="10.00" fill="#1f2328">#strong[x] $1$ &lt;b&gt;</text>
<text text-anchor="middle" x="150" y="-100" font-family="DejaVu Sans" font-size="10.00" \
fill="white">centred</text>
<polygon fill="#2e3b4e" stroke="black" points="100,-90 200,-90 200,-115 100,-115 100,-90"/>
</g>
</svg>
"""


# The network diagram's title and subtitle, worked out from the topology files: the title, then
# "<organization> · network diagram of site <site> · <the layout in words>".
CONTOSO_LAYOUT = ("one Consolidated Edge Server running all three edge roles, each on its own "
                  "NIC and address")
HEADINGS = {
    "fabrikam-lb": ("Fabrikam load-balanced edge",
                    "Fabrikam Inc · network diagram of site fabrikam-lb · edge servers behind a "
                    "hardware load balancer, one VIP per role, with the A/V Edge on servers of "
                    "its own"),
    "contoso-hq": ("Contoso HQ edge deployment",
                   f"Contoso Ltd · network diagram of site contoso-hq · {CONTOSO_LAYOUT}"),
    "s" * 20: ("T" * 200, f"{'O' * 200} · network diagram of site {'s' * 63} · {CONTOSO_LAYOUT}"),
}


def test_diagram_tiles_carry_the_labels_as_data_and_the_drawing_without_text(
        plans: dict[str, dict[str, Any]], diagrams: dict[str, bytes | None]) -> None:
    svg = diagrams["fabrikam-lb"]
    assert svg
    said = {html.unescape(m).strip(" ") for m in re.findall(
        r"<text [^>]*>(.*?)</text>", svg.decode("utf-8"))} - {"\xa0"}
    title, subtitle = HEADINGS["fabrikam-lb"]
    # The diagram for paper is drawn without its title, subtitle and legend.
    assert "Internet" in said and "Legend" not in said
    assert [t for t in said if t.rstrip("\xa0") in FABRIKAM_LEGEND] == []
    assert not [t for t in said if "Fabrikam load-balanced" in t or "network diagram" in t]
    heading = documents.diagram_heading(plans["fabrikam-lb"])
    tiles = documents.diagram_tiles(svg, "A4", heading)
    assert len(tiles) > 1  # Fabrikam's diagram takes several pages
    placed = set()
    for tile in tiles:
        assert "<text" not in tile["svg"] and "<polygon" in tile["svg"]
        for label in tile["labels"]:
            assert 0 <= label["x"] <= tile["width"] and 0 <= label["y"] <= tile["height"]
            assert label["size"] >= 7
            placed.add(label["text"])
    # Every label is whole on some tile; the title and subtitle come from the plan, at 80 %
    # of the label's 14 pt (bold) and 10 pt, above the first tile only.
    assert said == placed - {"\xa0"}
    assert tiles[0]["heading"] == [
        {"text": title, "size": 11.2, "bold": True, "fill": "#1f2328"},
        {"text": subtitle, "size": 8.0, "bold": False, "fill": "#57606a"}]
    assert all(tile["heading"] == [] for tile in tiles[1:])
    # The first tile leaves the heading its room: one line each at A4's 756.9 pt, 4.3 pt
    # under each.
    assert tiles[0]["heading_pad"] == pytest.approx(
        3 + 11.2 * 1.35 + 4.3 + 8 * 1.35 + 4.3, abs=0.01)
    assert tiles[0]["height"] + tiles[0]["heading_pad"] <= documents.DIAGRAM_AREA["A4"][1] + 0.01
    # With the legend: its 15 entries in three columns (the widest, "Reverse proxy (HTTPS to
    # the Web Components)", is 192.5 pt wide at 8 pt; four columns across 756.9 pt leave its
    # text 159.6 pt, three 222.7 pt), so five rows of the 9.6 pt swatch 2 pt apart, under
    # "Legend" (6 pt), in a frame inset 4 pt, with 4.3 pt under it.
    keyed = documents.diagram_tiles(svg, "A4", heading,
                                    documents.diagram_legend(plans["fabrikam-lb"]))
    assert keyed[0]["legend"]["columns"] == 3 and len(keyed[0]["legend"]["entries"]) == 15
    assert all(tile["legend"] is None for tile in keyed[1:])
    assert keyed[0]["heading_pad"] == pytest.approx(
        tiles[0]["heading_pad"] + 2 * 4 + 6 + 5 * (2 + 9.6) + 4.3, abs=0.01)


# Fabrikam's legend, worked out from its topology: its clients and firewalls, edge servers with
# NICs of all four roles on public, perimeter and internal subnets, a Director next hop with two
# more pools, its CAs, the load balancer's VIPs and the reverse proxy; each entry with the fill
# and line colours of what it names in the drawing.
FABRIKAM_LEGEND = {
    "Internet client or provider": ("#ffffff", "#4a74a8"),
    "Firewall": ("#f8d3d0", "#a8322a"),
    "Edge server (one row per NIC)": ("#2d3e50", "#2d3e50"),
    "Access Edge NIC": ("#d6e6ff", "#2359a8"),
    "Web Conferencing Edge NIC": ("#d4f1dc", "#22804a"),
    "A/V Edge NIC": ("#f6dcf3", "#9a2f8c"),
    "Internal NIC": ("#e8e8e8", "#57606a"),
    "Public subnet (bar = the network segment)": ("#fde7cf", "#c2741b"),
    "Perimeter subnet (bar = the network segment)": ("#fff2c4", "#a88a1d"),
    "Internal subnet (bar = the network segment)": ("#dcefd9", "#3f7f3a"),
    "Next hop of the edge (SIP)": ("#bfe3bb", "#2b6a27"),
    "Other pool": ("#ffffff", "#3f7f3a"),
    "Certificate authority": ("#fff4cc", "#8c6d00"),
    "Load balancer VIP (dashed: to its members)": ("#ebe3fb", "#6a3fb5"),
    "Reverse proxy (HTTPS to the Web Components)": ("#ffe9d6", "#b35c00"),
}


def test_the_site_diagram_and_the_paper_legend_list_the_same_entries(
        plans: dict[str, dict[str, Any]], tmp_path: Path) -> None:
    from runbook.outputs.diagrams import render_svgs

    svg = render_svgs([plans["fabrikam-lb"]], tmp_path, names=("network",))[
        "fabrikam-lb"]["network.svg"].decode("utf-8")
    # The site's diagram draws each entry's swatch (its fill, then its frame), then its text.
    drawn = re.findall(r'<polygon fill="(#[0-9a-f]{6})" stroke="transparent"[^>]*/>\n'
                       r'<polygon fill="none" stroke="(#[0-9a-f]{6})"[^>]*/>\n'
                       r'<text [^>]*>(.*?)</text>', svg)
    web = {html.unescape(text).rstrip("\xa0"): (fill, line) for fill, line, text in drawn
           if html.unescape(text).rstrip("\xa0") in FABRIKAM_LEGEND}
    assert web == FABRIKAM_LEGEND
    assert [(e["text"], (e["fill"], e["line"])) for e in
            documents.diagram_legend(plans["fabrikam-lb"])] == list(FABRIKAM_LEGEND.items())


Shape = tuple[float, float, float, float, str | None, str | None]


def _rgb(style: str, key: str) -> str | None:
    found = re.search(key + r":rgb\(([\d.]+)%,([\d.]+)%,([\d.]+)%\)", style)
    if found is None:
        return None
    return "#" + "".join(f"{round(float(v) * 2.55):02x}" for v in found.groups())


def page_shapes(data: bytes, page: int) -> tuple[list[Shape], list[Shape]]:
    """The straight-edged shapes drawn on ``page`` of a PDF, as poppler's Cairo renderer
    reads them (``pdftocairo -svg``): ``(x0, y0, x1, y1, fill, stroke)`` in pt from the top
    left corner, colours as ``#rrggbb`` (None: not filled, not stroked); and the rectangles
    the page clips drawings to (``fill``, ``stroke`` None)."""
    done = subprocess.run(["pdftocairo", "-svg", "-f", str(page), "-l", str(page), "-", "-"],
                          input=data, capture_output=True, check=True)
    svg = done.stdout.decode("utf-8")

    def box(d: str, transform: str | None) -> tuple[float, float, float, float] | None:
        if re.search(r"[CQA]", d):
            return None  # curved: no rectangle
        numbers = [float(v) for v in re.findall(r"-?[\d.]+", d)]
        a, b, c, e, f, g = ([float(v) for v in transform.split(",")] if transform
                            else [1.0, 0.0, 0.0, 1.0, 0.0, 0.0])
        xs = [a * x + c * y + f for x, y in zip(numbers[::2], numbers[1::2], strict=True)]
        ys = [b * x + e * y + g for x, y in zip(numbers[::2], numbers[1::2], strict=True)]
        return min(xs), min(ys), max(xs), max(ys)

    defs, _, body = svg.partition("</defs>")
    clips = [found for d in re.findall(r'<clipPath id="[^"]*">\s*<path d="([^"]*)"', defs)
             if (found := box(d, None)) is not None]
    shapes = []
    for style, d, transform in re.findall(
            r'<path style="([^"]*)" d="([^"]*)"(?: transform="matrix\(([^)]*)\)")?', body):
        found = box(d, transform or None)
        if found is not None:
            shapes.append((*found, _rgb(style, "fill"), _rgb(style, "stroke")))
    return shapes, [(*c, None, None) for c in clips]


def lines_of_words(page: list[tuple[float, float, float, float, float, float, str]]
                   ) -> list[tuple[float, float, float, float, str]]:
    """The runs of words of a page that sit on one line one space apart, as
    ``(x0, y0, x1, y1, text)``: in a table of columns, one run per cell."""
    runs: list[list[tuple[float, float, float, float, float, float, str]]] = []
    for word in sorted(page, key=lambda w: (round(w[3], 1), w[2])):
        last = runs[-1][-1] if runs else None
        height = word[5] - word[3]
        if last is not None and round(last[3], 1) == round(word[3], 1) \
                and 0 <= word[2] - last[4] < 0.6 * height:
            runs[-1].append(word)
        else:
            runs.append([word])
    return [(run[0][2], run[0][3], run[-1][4], run[-1][5], " ".join(w[6] for w in run))
            for run in runs]


@pytest.mark.parametrize(("paper", "parts"), [("a4", 4), ("letter", 6)])
def test_the_legend_is_text_on_the_first_diagram_page_each_entry_after_its_swatch(
        plans: dict[str, dict[str, Any]], diagrams: dict[str, bytes | None],
        paper_pdfs: dict[str, bytes], paper: str, parts: int) -> None:
    # Fabrikam's diagram is cut into tiles: four pages at A4, six at Letter. Its legend is
    # not in the drawing (a tile could hold an entry's swatch and the next one its text):
    # the first page sets it, whole, between the heading and the first tile.
    data = paper_pdfs[f"fabrikam-lb {paper} field runbook"]
    pages = diagram_pages(data)
    assert len(pages) == parts
    first = pages[0]
    number = next(n for n, page in enumerate(words(data), 1) if page == first)
    shapes, clips = page_shapes(data, number)
    runs = lines_of_words(first)
    size = em(data)
    # The first tile is on this page: the drawing's clip, as high as the tile.
    tiles = documents.diagram_tiles(diagrams["fabrikam-lb"] or b"", documents.PAPER_SIZES[
        paper], documents.diagram_heading(plans["fabrikam-lb"]),
        documents.diagram_legend(plans["fabrikam-lb"]))
    assert len(tiles) == parts
    tile = max(clips, key=lambda c: (c[2] - c[0]) * (c[3] - c[1]))
    assert tile[3] - tile[1] == pytest.approx(tiles[0]["height"], abs=1)
    # Below the first row of tiles (two rows here), a tile takes the page's whole height:
    # only the first page holds the heading and the legend.
    last = next(n for n, page in enumerate(words(data), 1) if page == pages[-1])
    below = max(page_shapes(data, last)[1], key=lambda c: (c[2] - c[0]) * (c[3] - c[1]))
    full = documents.DIAGRAM_AREA[documents.PAPER_SIZES[paper]][1]
    assert below[3] - below[1] == pytest.approx(full, abs=1)
    assert tile[3] - tile[1] < full - 50
    subtitle = max(w[5] for w in first if w[6] == "Fabrikam" and (w[5] - w[3]) / size < 9)
    legend = next(r for r in runs if r[4] == "Legend")
    assert subtitle < legend[1]
    missing_entries = []
    for text, (fill, line) in FABRIKAM_LEGEND.items():
        found = [r for r in runs if r[4] == text]
        if len(found) != 1:
            missing_entries.append(f"{text}: {len(found)} times")
            continue
        x0, y0, x1, y1, _ = found[0]
        assert (y1 - y0) / size >= 7 - 0.05, text
        # Above the drawing, inside the text area.
        assert legend[1] < y0 and y1 < tile[1], text
        assert x0 >= 15 * MM and x1 <= first[0][0] - 15 * MM, text
        # Its swatch: a rectangle filled with the entry's colour and framed in its line
        # colour, 17.6 x 9.6 pt, ending 4 pt before the text, the text's middle beside it.
        # (pdftocairo scales an A4 page by up to 0.12 %: 1 pt across the page.)
        swatches = [s for s in shapes if s[4] == fill and s[5] == line
                    and s[2] - s[0] == pytest.approx(17.6, abs=0.5)
                    and s[3] - s[1] == pytest.approx(9.6, abs=0.5)
                    and 2 <= x0 - s[2] <= 6 and s[1] - 1 <= (y0 + y1) / 2 <= s[3] + 1]
        if len(swatches) != 1:
            missing_entries.append(f"{text}: {len(swatches)} swatches of {fill}/{line}")
    assert missing_entries == []
    # No other page of the diagram holds an entry of the legend.
    for page in pages[1:]:
        assert not [r for r in lines_of_words(page) if r[4] in FABRIKAM_LEGEND]


def diagram_pages(data: bytes) -> list[list[tuple[float, float, float, float, float, float,
                                                  str]]]:
    """The words of each page of Appendix A, the diagram."""
    return [page for page in words(data)
            if "Appendix A: Network diagram" in " ".join(t for *_, t in page[:16])]


@pytest.mark.parametrize("site", sorted(HEADINGS))
@pytest.mark.parametrize("paper", ["a4", "letter"])
def test_the_first_diagram_page_carries_the_title_and_subtitle_as_text(
        paper_pdfs: dict[str, bytes], site: str, paper: str) -> None:
    title, subtitle = HEADINGS[site]
    data = paper_pdfs[f"{site} {paper} field runbook"]
    size = em(data)
    first, *others = diagram_pages(data)
    assert others  # cut into tiles
    # The page's own title, then the heading: the words of 11.2 pt and of 8 pt above the
    # drawing's legend, which the drawing (its labels 7.2 pt and more) starts with.
    top = next(w for w in first if w[6] == "Appendix")
    page_title = [w for w in first if w[3] == top[3]]
    assert " ".join(w[6] for w in page_title).startswith("Appendix A: Network diagram (part 1 of")
    legend = next(w for w in first if w[6] == "Legend")
    heading = [w for w in first if page_title[0][5] < w[3] and w[5] <= legend[3]]
    of_size = {pt: [w for w in heading if abs((w[5] - w[3]) / size - pt) < 0.1]
               for pt in (11.2, 8.0)}
    assert sorted(of_size[11.2] + of_size[8.0]) == sorted(heading)
    lines = {pt: sorted({round(w[3], 1) for w in ws}) for pt, ws in of_size.items()}
    # In reading order, each line from the left margin: the title, then the subtitle.
    text = {pt: " ".join(w[6] for w in sorted(ws, key=lambda w: (round(w[3], 1), w[2])))
            for pt, ws in of_size.items()}
    if site == "s" * 20:  # its names are longer than a line: they break inside
        assert text[11.2].replace(" ", "") == title
        assert text[8.0].replace(" ", "") == subtitle.replace(" ", "")
        assert len(lines[11.2]) == 3 and len(lines[8.0]) == 3
    else:
        assert (text[11.2], text[8.0]) == (title, subtitle)
    for ws in of_size.values():
        starts = {y: min(w[2] for w in ws if round(w[3], 1) == y) for y in lines[11.2]
                  + lines[8.0] if any(round(w[3], 1) == y for w in ws)}
        assert all(x == pytest.approx(15 * MM, abs=0.5) for x in starts.values())
    # The subtitle's text box starts 1 pt or more under the title's: they do not touch.
    assert max(w[5] for w in of_size[11.2]) + 1 <= min(w[3] for w in of_size[8.0])
    # Below the page's title with room between, and nothing of the drawing beside them.
    assert min(w[3] for w in heading) >= page_title[0][5] + 2 * MM
    below = max(w[5] for w in heading)
    assert all(w[3] >= below for w in first if w not in heading and w not in page_title)
    # Only the first page holds them, and the drawing holds neither.
    for page in [first, *others]:
        said = " ".join(w[6] for w in page if w not in heading)
        assert "network diagram of site" not in said and title[:12] not in said


def test_the_diagram_heading_prints_markup_in_the_topology_as_itself(tmp_path: Path) -> None:
    data = contoso()
    data["title"] = "Site #strong[x] $1$ <b>&amp;</b> \\N end"
    data["organization"] = 'Org #read("/etc/passwd") ] [ *b* end'
    plan = plan_file(write(tmp_path, data)).to_dict()
    svg = network_diagrams([plan], tmp_path / "diagrams")["contoso-hq"]
    first = diagram_pages(field_runbook_pdf(plan, svg))[0]
    said = " ".join(w[6] for w in sorted(first, key=lambda w: (round(w[3], 1), w[2])))
    assert "Site #strong[x] $1$ <b>&amp;</b> \\N end" in said
    assert ('Org #read("/etc/passwd") ] [ *b* end · network diagram of site contoso-hq'
            in said)
    assert "root:x:0:0" not in said


def test_a_diagram_label_prints_where_graphviz_put_it_and_as_itself(
        plans: dict[str, dict[str, Any]]) -> None:
    tile, = documents.diagram_tiles(SMALL_DIAGRAM, "A4")
    assert [label["text"] for label in tile["labels"]] == ["#strong[x] $1$ <b>", "centred"]
    page = next(page for page in words(field_runbook_pdf(plans["contoso-hq"], SMALL_DIAGRAM))
                if "Appendix A: Network diagram" in " ".join(t for *_, t in page[:16]))
    found = {text: (x0, y1, x1) for _, _, x0, _, x1, y1, text in page}
    # Markup in a label is text: "#strong[x]" and "$1$" print as they are.
    assert {"#strong[x]", "$1$", "<b>", "centred"} <= set(found)
    # At full size, 1 pt of the diagram is 1 pt on paper, from the 15 mm margin: the first
    # label starts at x = 4 + 20, the second is centred on x = 4 + 150, 50 pt lower.
    left = 15 * MM
    assert found["#strong[x]"][0] == pytest.approx(left + 24, abs=0.5)
    x0, y1, x1 = found["centred"]
    assert (x0 + x1) / 2 == pytest.approx(left + 154, abs=0.5)
    assert y1 - found["#strong[x]"][1] == pytest.approx(50, abs=0.5)


def test_wide_tables_are_set_landscape(paper_pdfs: dict[str, bytes]) -> None:
    for name, data in paper_pdfs.items():
        for page in words(data):
            heading = " ".join(t for *_, t in page[:12])
            if "Appendix B: Addressing" in heading or "3. Prerequisites and owners" in heading:
                assert page[0][0] > page[0][1], name


def section_words(data: bytes, start: str, end: str | None = None) -> list[str]:
    """The words of a PDF from the page whose text holds ``start`` to the next page whose
    text holds ``end``, both included (no ``end``: to the last page)."""
    pages = words(data)
    said = [" ".join(w[6] for w in page) for page in pages]
    first = next(i for i, text in enumerate(said) if start in text)
    last = next((i for i, text in enumerate(said) if end is not None and i >= first
                 and end in text), len(pages) - 1)
    return [w[6] for page in pages[first:last + 1] for w in page]


@pytest.mark.parametrize("paper", ["a4", "letter"])
def test_a_name_that_fits_a_line_of_its_cell_is_never_cut_after_a_dot(
        paper_pdfs: dict[str, bytes], paper: str) -> None:
    # Worked out from DejaVu Sans's advances at the tables' 10 pt (thousandths of an em).
    # Adatum's Access Edge, sip.adatum.com, has the public address 192.0.2.10; its remote
    # access and federation open five external rules with it as source or destination (E01
    # and E02 in, E03 out, the CRL download E05 and DNS E06 out), each reading "192.0.2.10
    # (sip.adatum.com; NAT to 172.30.0.10)". Those columns are 20 % of the landscape text
    # area less two 1.5 mm insets: 142.9 pt at A4 (267 mm), 132.9 pt at Letter (249.4 mm).
    # "(sip.adatum.com;" is 88.1 pt ("(" 391, "sip" 1437, two "." 638, "adatum" 3527,
    # "com" 2139, ";" 338) and "192.0.2.10 " before it 57.4 pt: the line breaks before the
    # name, which goes whole to the next line instead of leaving "(sip.adatum." behind.
    rules = section_words(paper_pdfs[f"adatum-im {paper} field runbook"],
                          "Appendix E: Firewall rules")
    assert rules.count("(sip.adatum.com;") == 5
    assert "(sip.adatum." not in rules and "com;" not in rules
    # Contoso's reverse proxy step in the change request's implementation plan, a cell made
    # from its column's width: "Reverse proxy: publish webext.contoso.com". The Step column is
    # what 5 %, 14 %, 20 %, 14 % and 11 % leave of the portrait text area, 36 %, less the
    # insets: 175.2 pt at A4 (180 mm), 181.2 pt at Letter (185.9 mm); the name is 103.9 pt.
    plan = section_words(paper_pdfs[f"contoso-hq {paper} change request"],
                         "4. Implementation plan", "5. Validation plan")
    assert "webext.contoso.com" in plan and "webext." not in plan
    # Its federation step's details: "fabrikam.com via sip.fabrikam.com; litwareinc.com".
    assert "sip.fabrikam.com;" in plan and "sip.fabrikam." not in plan


# A DNS name (or a file name) among a plan's strings: labels of letters, digits, "-" and "_",
# the last one of letters (so that an address is none).
DNS_NAME = re.compile(r"(?:[A-Za-z0-9_-]+\.)+[A-Za-z]+")


def plan_names(value: Any) -> set[str]:
    """Every DNS name found in a plan's strings, at any depth."""
    if isinstance(value, dict):
        return set().union(*map(plan_names, value.values()))
    if isinstance(value, list):
        return set().union(*map(plan_names, value))
    return set(DNS_NAME.findall(value)) if isinstance(value, str) else set()


SITE_FILES = {"adatum-im": "adatum-im.yaml", "contoso-hq": "contoso.yaml",
              "fabrikam-lb": "fabrikam-lb.yaml", "litware-noav": "litware-noav.yaml",
              "woodgrove-split": "woodgrove-split.yaml"}


def procedure_words(data: bytes) -> list[str]:
    """The words of a field runbook's pages before its diagram (Appendix A), each stripped
    of the brackets and punctuation around it."""
    pages = words(data)
    said = [" ".join(w[6] for w in page) for page in pages]
    before = next(i for i, text in enumerate(said) if "Appendix A" in text)
    return [w[6].strip("()[],;:") for page in pages[:before] for w in page]


@pytest.mark.parametrize("paper", ["a4", "letter"])
def test_a_name_an_action_names_goes_whole_to_the_next_line(
        paper_pdfs: dict[str, bytes], paper: str) -> None:
    # Body text has no cells: a line of an action is the portrait text area, 180 mm at A4 and
    # 185.9 mm at Letter, less the 6 mm of the tick box and a warning's 2.5 mm pad: 171.5 mm,
    # 486 pt, or more. No glyph of a name, bold or not, is wider than 1.1 em (a bold "m" is
    # 1.042 em), so a name of 38 characters or fewer is at most 418 pt at 10 pt: it fits a
    # line and is never cut after a dot. The review's cases: Fabrikam's "Servers list
    # (internal FQDN): edgepool.corp.fabrikam.com" and Woodgrove's "(meet.woodgrovebank.com)"
    # and wgedge-fed.corp.woodgrovebank.com, each once cut as "edgepool.corp." / "fabrikam.com".
    review = {("fabrikam-lb", "edgepool.corp.fabrikam.com"),
              ("woodgrove-split", "meet.woodgrovebank.com"),
              ("woodgrove-split", "wgedge-fed.corp.woodgrovebank.com")}
    seen, cut = set(), []
    for site, file in SITE_FILES.items():
        names = {n for n in plan_names(plan_file(INPUTS / file).to_dict()) if len(n) <= 38}
        found = procedure_words(paper_pdfs[f"{site} {paper} field runbook"])
        seen |= {(site, n) for n in names if n in found}
        # Two labels or more before the dot: a server's name ends a sentence ("on fbav01.").
        cut += [(site, piece, name) for piece in set(found) for name in names
                if piece.endswith(".") and "." in piece[:-1] and name.startswith(piece)]
    assert review <= seen  # the review's names are printed whole
    assert cut == []


def test_a_split_name_keeps_its_last_two_labels_together(paper_pdfs: dict[str, bytes]) -> None:
    # A name too long for its line breaks after a dot, but never before its last label, so
    # no word after a word ending in a dot is a lone last label of one of the site's names
    # ("com", "com)", "net;"). In DejaVu Sans at 10 pt: "_sipfederationtls._tcp.fabrikam.com"
    # is 179.4 pt, wider than the Step column of Fabrikam's implementation plan at A4 (175.2
    # pt), and was cut as "_sipfederationtls._tcp.fabrikam." / "com"; "fabrikam.com" (69.2
    # pt) fits and stays together. Where the last two labels do not fit a line of their own,
    # the name breaks before its last: Woodgrove's Subject (CN) column at Letter is 16 % of
    # 249.4 mm less two 1.5 mm insets, 104.6 pt, and "woodgrovebank.com" is 104.7 pt.
    too_wide = {("woodgrove-split", "letter", "field runbook", "sip.woodgrovebank.", "com"),
                ("woodgrove-split", "letter", "field runbook", "av.woodgrovebank.", "com")}
    alone = set()
    for site, file in SITE_FILES.items():
        last = {n.rsplit(".", 1)[1] for n in plan_names(plan_file(INPUTS / file).to_dict())}
        assert {"com", "local", "net"} & last
        for paper in ("a4", "letter"):
            for kind in ("field runbook", "change request"):
                found = [w[6] for page in words(paper_pdfs[f"{site} {paper} {kind}"])
                         for w in page]
                alone |= {(site, paper, kind, before, after)
                          for before, after in pairwise(found)
                          if before.endswith(".") and after.strip("()[],;:") in last}
    split = [w[6] for page in words(paper_pdfs["fabrikam-lb a4 change request"]) for w in page]
    assert "_sipfederationtls._tcp." in split and "fabrikam.com" in split
    assert alone == too_wide


def test_long_names_wrap_after_dots_and_addresses_never_wrap(
        paper_pdfs: dict[str, bytes]) -> None:
    for paper in ("a4", "letter"):
        text = pdf_text(paper_pdfs[f"ssssssssssssssssssss {paper} field runbook"])
        for ip in ("10.0.0.10/24", "255.255.255.0", "172.16.0.10/24", "198.51.100.12/24",
                   "198.51.100.10", "172.16.0.1", "10.0.0.0/8"):
            assert re.search(r"(?<![\d.])" + re.escape(ip) + r"(?![\d/])", text), ip
    # woodgrove-split's FQDNs are the longest of the examples: where one is on two lines, its
    # first line ends after a dot, never inside a label (a word that is a whole first label,
    # such as the server name, is no wrap).
    plan = plan_file(INPUTS / "woodgrove-split.yaml").to_dict()
    fqdns = {a["fqdn"] for a in plan["addresses"]} | {s["fqdn"] for s in plan["servers"]}
    wrapped = []
    for name in ("woodgrove-split a4 field runbook", "woodgrove-split letter change request"):
        for page in words(paper_pdfs[name]):
            for *_, text in page:
                piece = text.strip("(),;:")
                wrapped += [(piece, fqdn) for fqdn in fqdns
                            if len(piece) > 3 and piece != fqdn and fqdn.startswith(piece)]
    assert [piece for piece, _ in wrapped if piece.endswith(".")]  # the check saw wraps
    assert [(piece, fqdn) for piece, fqdn in wrapped
            if not piece.endswith(".") and fqdn[len(piece)] != "."] == []


# --- producer and commands --------------------------------------------------------------------


def test_produce_writes_three_documents_per_site_and_caches_pdfs(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sites = load_sites([EXAMPLES["contoso-hq"]])
    out = documents.produce(sites, tmp_path)
    base = "sites/contoso-hq/documents"
    assert sorted(out) == [f"{base}/change-request.md", f"{base}/change-request.pdf",
                           f"{base}/field-runbook.pdf"]
    assert out[f"{base}/field-runbook.pdf"].startswith(b"%PDF")
    assert "Appendix A: Network diagram" in pdf_text(out[f"{base}/field-runbook.pdf"])
    assert out[f"{base}/change-request.md"].decode("utf-8").startswith("# Change request")

    def no_render(*args: Any) -> bytes:
        raise AssertionError("an unchanged site was rendered again")

    monkeypatch.setattr("runbook.outputs.pdf.typst_pdf", no_render)
    assert documents.produce(sites, tmp_path) == out


def test_a_kept_pdf_is_laid_out_again_after_its_fonts_change(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from runbook.outputs import pdf

    fonts = tmp_path / "dejavu"
    fonts.mkdir()
    for name in ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSansMono.ttf"):
        shutil.copy(pdf.font_folder() / name, fonts / name)
    monkeypatch.setattr(pdf, "FONT_FOLDERS", (str(fonts),))
    template = documents.typst_template("change-request.typ")
    try:
        pdf.fonts_fingerprint.cache_clear()
        before = pdf.cache_key(template, {"x": 1})
        pdf.fonts_fingerprint.cache_clear()
        assert pdf.cache_key(template, {"x": 1}) == before
        os.utime(fonts / "DejaVuSans.ttf", ns=(1, 1))  # a new release of the font package
        pdf.fonts_fingerprint.cache_clear()
        assert pdf.cache_key(template, {"x": 1}) != before
    finally:
        pdf.fonts_fingerprint.cache_clear()


def test_cr_and_print_commands_write_their_files(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(main, ["cr", str(EXAMPLES["contoso-hq"]), "-o", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "contoso-hq-change-request.md").is_file()
    assert (tmp_path / "contoso-hq-change-request.pdf").read_bytes().startswith(b"%PDF")
    result = runner.invoke(main, ["print", str(EXAMPLES["contoso-hq"]), "-o", str(tmp_path),
                                  "--paper", "letter"])
    assert result.exit_code == 0, result.output
    letter = (tmp_path / "contoso-hq-field-runbook.pdf").read_bytes()
    assert page_sizes(letter, tmp_path)[0] == pytest.approx((612, 792), abs=0.5)


def test_commands_report_bad_input_in_one_line(tmp_path: Path) -> None:
    bad = write(tmp_path, "site: x\n")
    for args in (["cr", str(bad)], ["print", str(bad)]):
        result = CliRunner().invoke(main, [*args, "-o", str(tmp_path / "out")])
        assert result.exit_code == 1
        assert isinstance(result.exception, SystemExit)  # reported, not raised
        assert "site.yaml" in result.output
        assert not (tmp_path / "out").exists()


def test_a_change_request_written_by_the_cli_links_only_files_beside_it(tmp_path: Path) -> None:
    from runbook.outputs.documents import write_change_request

    written = write_change_request(INPUTS / "contoso.yaml", tmp_path)
    text = written[0].read_text(encoding="utf-8")
    targets = re.findall(r"\]\(([^)#]+)\)", text)
    assert targets, "the change request links its printable copy"
    for target in targets:
        assert (tmp_path / target).is_file(), target


def test_a_user_template_folder_overrides_document_templates(tmp_path: Path) -> None:
    from runbook.outputs.documents import produce
    from runbook.plan.sites import load_sites

    user = tmp_path / "templates" / "documents"
    user.mkdir(parents=True)
    (user / "change-request.md.j2").write_text(
        "# Our own change request for {{ cr.meta.site }}\n", encoding="utf-8")
    sites = load_sites([INPUTS / "contoso.yaml"])
    files = produce(sites, tmp_path / "work", templates_dir=tmp_path / "templates")
    page = files["sites/contoso-hq/documents/change-request.md"].decode("utf-8")
    assert page == "# Our own change request for contoso-hq\n"
    # Templates the user did not override still come from the package.
    assert files["sites/contoso-hq/documents/field-runbook.pdf"].startswith(b"%PDF")
    default = produce(sites, tmp_path / "work")["sites/contoso-hq/documents/change-request.md"]
    assert default.decode("utf-8").startswith("# Change request:")


def test_user_document_templates_run_sandboxed(tmp_path: Path) -> None:
    from runbook.outputs.documents import DocumentError, produce
    from runbook.plan.sites import load_sites

    user = tmp_path / "templates" / "documents"
    user.mkdir(parents=True)
    (user / "change-request.md.j2").write_text(
        "{{ cr.__class__.__mro__[1].__subclasses__() }}\n", encoding="utf-8")
    with pytest.raises(DocumentError):
        produce(load_sites([INPUTS / "contoso.yaml"]), tmp_path / "work",
                templates_dir=tmp_path / "templates")


def test_a_value_joined_to_escaped_text_in_a_user_template_is_escaped_as_markdown(
        tmp_path: Path) -> None:
    # Jinja's Markup escapes what is added to it as HTML: a value's link or emphasis would
    # pass into the Markdown. Joined to a documents' filter's output it is escaped as md.
    from runbook.outputs.documents import produce
    from runbook.plan.sites import load_sites

    data = contoso()
    data["change"] = {"title": "[x](javascript:alert(1)) *y* <b>"}
    user = tmp_path / "templates" / "documents"
    user.mkdir(parents=True)
    (user / "change-request.md.j2").write_text(
        'T: {{ ("" | md) + cr.title }}\n{{ "%s!" | md % cr.title }}\n'
        '{{ (";" | md).join([cr.title, "a*b" | md]) }}\n', encoding="utf-8")
    files = produce(load_sites([write(tmp_path, data)]), tmp_path / "work",
                    templates_dir=tmp_path / "templates")
    page = files["sites/contoso-hq/documents/change-request.md"].decode("utf-8")
    title = "\\[x\\](javascript:alert(1)) \\*y\\* &lt;b&gt;"
    assert page.splitlines() == [f"T: {title}", f"{title}!", f"{title};a\\*b"]
    rendered = markdown.markdown(page)
    assert "<a " not in rendered and "<em>" not in rendered and "<b>" not in rendered


def test_the_site_change_request_names_its_printable_copies_apart(built_site: Path) -> None:
    page = (built_site / "sites/contoso-hq/documents/change-request.html").read_text()
    assert ('Printable copies: <a href="change-request.pdf">change request (PDF)</a> · '
            '<a href="field-runbook.pdf">field runbook (PDF)</a>') in page


def _render_in_child(send: Any) -> None:
    send.send(change_request_pdf(plan_file(EXAMPLES["contoso-hq"]).to_dict())[:5])


def test_a_process_forked_after_a_render_renders_too(plans: dict[str, dict[str, Any]]) -> None:
    # The compiler's worker threads do not survive a fork: a build's worker forked by a
    # program that already printed a document must not hang.
    import multiprocessing

    change_request_pdf(plans["contoso-hq"])
    context = multiprocessing.get_context("fork")
    receive, send = context.Pipe(duplex=False)
    child = context.Process(target=_render_in_child, args=(send,))
    child.start()
    assert receive.poll(120), "the forked process did not finish its PDF"
    assert receive.recv() == b"%PDF-"
    child.join(10)
    assert child.exitcode == 0


def test_a_user_typst_template_replaces_the_packaged_one(tmp_path: Path) -> None:
    from runbook.outputs.documents import DocumentError, produce

    user = tmp_path / "templates" / "documents"
    user.mkdir(parents=True)
    (user / "change-request.typ").write_text(
        '#import "_common.typ": *\n#set document(date: none)\nOur own for #data.cr.meta.site\n',
        encoding="utf-8")
    sites = load_sites([INPUTS / "contoso.yaml"])
    files = produce(sites, tmp_path / "work", templates_dir=tmp_path / "templates")
    assert pdf_text(files["sites/contoso-hq/documents/change-request.pdf"]) == \
        "Our own for contoso-hq"
    assert "Field runbook" in pdf_text(files["sites/contoso-hq/documents/field-runbook.pdf"])
    # A link out of the folder is not followed.
    (user / "change-request.typ").unlink()
    (tmp_path / "elsewhere.typ").write_text("x", encoding="utf-8")
    (user / "change-request.typ").symlink_to(tmp_path / "elsewhere.typ")
    with pytest.raises(DocumentError, match="not a file inside"):
        produce(sites, tmp_path / "work2", templates_dir=tmp_path / "templates")


def test_diagram_tiles_after_the_first_take_the_whole_page_height() -> None:
    # Worked out by hand: 1,000 pt of drawing, pages of 400 pt, 300 pt on the heading's page,
    # labels 30 pt high (the overlap). The second tile starts 30 pt above the first's end;
    # the last ends at the drawing's end, the two spread evenly.
    assert documents._ranges(1000, 400, [30], first=300) == [
        (0.0, 300.0), (270.0, 670.0), (600.0, 1000.0)]
    # One full tile after the first: it ends at the drawing's end.
    assert documents._ranges(600, 400, [30], first=300) == [(0.0, 300.0), (200.0, 600.0)]
    # A drawing a full page would hold but the heading's page does not: two short tiles.
    assert documents._ranges(350, 400, [30], first=300) == [(0.0, 300.0), (50.0, 350.0)]
    assert documents._ranges(250, 400, [30], first=300) == [(0.0, 250.0)]
    # Without a heading every tile is as long as the page, as before.
    assert documents._ranges(1000, 400, [30]) == [(0.0, 400.0), (300.0, 700.0), (600.0, 1000.0)]


def test_a_firewall_rule_never_continues_on_the_next_page(paper_pdfs: dict[str, bytes]) -> None:
    """A row of short values stays on one page: where a firewall table (the change
    request's, the field runbook's Appendix E) goes on over a page break, the first row
    under the repeated header starts with its rule's id (a row cut in
    two left its Id and Firewall cells empty on the next page, and a name cut across the
    break). The examples' rows are all short; a row with a value of more than 160
    characters (the long-name topology's) may be taller than a page, and breaks."""
    cut = []
    examples = {p.stem.split("-")[0] for p in INPUTS.glob("*.yaml")}
    for name, data in paper_pdfs.items():
        if name.split("-")[0] not in examples:
            continue
        pages = subprocess.run(["pdftotext", "-layout", "-", "-"], input=data,
                               capture_output=True, check=True).stdout.decode().split("\f")
        for number, page in enumerate(pages, 1):
            lines = [line for line in page.splitlines() if line.strip()]
            for i, line in enumerate(lines):
                if re.match(r"\s*Id\s+Firewall\s+Source\s", line):
                    after = [x for x in lines[i + 1:] if x.strip() not in ("ports", "")]
                    if after and not re.match(r"\s*[EI]\d{2}\s", after[0]):
                        cut.append(f"{name} p{number}: {after[0].strip()[:60]}")
    assert cut == []


def test_a_certificate_requested_on_its_one_server_names_it_once(
        field_pdfs: dict[str, bytes]) -> None:
    text = unwrapped(pdf_text(field_pdfs["contoso-hq"]))
    assert "edge01 (request it there)" in text
    assert "reverse proxy (Microsoft ISA Server 2006; request it there)" in text
    assert "(request on edge01)" not in text and "(request on the reverse proxy" not in text


def test_a_certificate_never_continues_on_the_next_page(paper_pdfs: dict[str, bytes]) -> None:
    """Appendix C keeps each certificate's row on one page: a row cut at a page break left
    the end of its first cell ("A/V external interface)") alone under the repeated header."""
    # A row's first line holds the start of its subject's name (the second column).
    names = {c["subject_cn"][:8] for p in load_sites([INPUTS])
             for c in p.plan.to_dict()["certificates"]}
    cut = []
    for name, data in paper_pdfs.items():
        if "field runbook" not in name:
            continue
        pages = subprocess.run(["pdftotext", "-layout", "-", "-"], input=data,
                               capture_output=True, check=True).stdout.decode().split("\f")
        for number, page in enumerate(pages, 1):
            lines = [line.strip() for line in page.splitlines() if line.strip()]
            for i, line in enumerate(lines):
                if re.match(r"Certificate\s+Subject \(CN\)\s+SANs", line) and i + 1 < len(lines):
                    first = lines[i + 1]
                    if not any(n in first for n in names) \
                            and name.split("-")[0] in {t.stem.split("-")[0]
                                                       for t in INPUTS.glob("*.yaml")}:
                        cut.append(f"{name} p{number}: {first[:60]}")
    assert cut == []


@pytest.mark.parametrize("paper", ["a4", "letter"])
def test_a_drawing_a_little_taller_than_the_heading_leaves_gets_a_heading_page(
        paper: str, paper_pdfs: dict[str, bytes]) -> None:
    """Woodgrove's drawing fits one row of whole-page tiles (three across) but not one row
    under its heading and legend: the heading and legend take a page of their own, then the
    three tiles, four pages in all instead of six (two rows of three)."""
    data = paper_pdfs[f"woodgrove-split {paper} field runbook"]
    pages = diagram_pages(data)
    assert len(pages) == 4
    numbers = [next(n for n, page in enumerate(words(data), 1) if page == p) for p in pages]
    texts = [{w[6] for w in page} for page in pages]
    assert "Legend" in texts[0] and all("Legend" not in t for t in texts[1:])

    def drawing(number: int) -> float:
        clips = page_shapes(data, number)[1]
        return max(((c[3] - c[1]) for c in clips), default=0.0)

    assert drawing(numbers[0]) < 50
    full = documents.DIAGRAM_AREA[documents.PAPER_SIZES[paper]][1]
    for number in numbers[1:]:
        assert 0.8 * full < drawing(number) <= full + 1
