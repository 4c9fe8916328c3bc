"""The diff of two topology versions lists exactly what changed, in deployment terms.

Each scenario edits a copy of inputs/contoso.yaml; the expected records, rules and steps
were worked out by hand from the edit and the OCS 2007 rules, not copied from the output.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from runbook.cli import main
from runbook.errors import ValidationFailed
from runbook.plan.diff import GitError, PlanDiff, diff_plans, format_diff, load_plan_at_revision
from runbook.plan.sites import plan_file
from tests.topo import CONTOSO, INPUTS, contoso, dump, write

Data = dict[str, Any]
GIT = shutil.which("git")


def diff_of(tmp_path: Path, old: Data, new: Data) -> PlanDiff:
    return diff_plans(plan_file(write(tmp_path, old, "old.yaml")),
                      plan_file(write(tmp_path, new, "new.yaml")))


def new_access_ip(d: Data) -> None:
    d["edge"]["servers"][0]["nics"]["access"]["ip"] = "172.16.0.20/24"


def new_webconf_fqdn(d: Data) -> None:
    d["edge"]["fqdns"]["webconf"] = "meet.contoso.com"


def extra_sip_domain(d: Data) -> None:
    d["domains"]["sip"].append("contoso.net")


def no_federation(d: Data) -> None:
    d["edge"]["features"]["federation"] = False
    d["edge"]["features"]["public_im"] = []  # public IM runs over federation: it goes too


def all_four(d: Data) -> None:
    for edit in (new_access_ip, new_webconf_fqdn, extra_sip_domain, no_federation):
        edit(d)


def dns_rows(d: PlanDiff) -> set[tuple[str, str, str, str, str]]:
    out = set()
    for c in d.dns:
        r = c.new if c.kind != "removed" else c.old
        assert r is not None
        out.add((c.kind, r["zone"], r["name"], r["type"], r["value"]))
    return out


def fw_rows(d: PlanDiff) -> set[tuple[str, str, str, str, str, str]]:
    out = set()
    for c in d.firewall:
        r = c.new if c.kind == "added" else c.old
        assert r is not None
        out.add((c.kind, r["direction"], r["source"], r["destination"], r["protocol"],
                 r["ports"]))
    return out


def steps(d: PlanDiff) -> list[tuple[str, int]]:
    return [(s.server, s.step) for s in d.steps]


def reasons(d: PlanDiff, server: str, step: int) -> list[str]:
    return next(s.reasons for s in d.steps if (s.server, s.step) == (server, step))


# -- the same deployment ------------------------------------------------------------------


def test_identical_files_have_no_changes() -> None:
    d = diff_plans(plan_file(CONTOSO), plan_file(CONTOSO))
    assert d.empty
    assert d.to_dict()["empty"] is True
    assert "No changes" in format_diff(d)


def test_reordered_and_reformatted_file_has_no_changes(tmp_path: Path) -> None:
    text = CONTOSO.read_text(encoding="utf-8")
    reordered = yaml.safe_dump(yaml.safe_load(text), sort_keys=True)
    assert reordered != text
    d = diff_plans(plan_file(CONTOSO), plan_file(write(tmp_path, reordered)))
    assert d.empty


# -- the four-edit scenario from the issue -------------------------------------------------------


def test_four_edits_list_exactly_their_records_certificate_rules_addresses_and_steps(
        tmp_path: Path) -> None:
    new = contoso()
    all_four(new)
    d = diff_of(tmp_path, contoso(), new)

    assert dns_rows(d) == {
        ("removed", "contoso.com", "webconf.contoso.com", "A", "198.51.100.11"),
        ("added", "contoso.com", "meet.contoso.com", "A", "198.51.100.11"),
        ("removed", "contoso.com", "_sipfederationtls._tcp.contoso.com", "SRV",
         "sip.contoso.com"),
        ("added", "contoso.net", "sip.contoso.net", "A", "198.51.100.10"),
        ("added", "contoso.net", "_sip._tls.contoso.net", "SRV", "sip.contoso.net"),
    }

    assert len(d.certificates) == 1
    cert = d.certificates[0]
    assert (cert.kind, cert.id, cert.reissue) == ("changed", "external-sip-contoso-com", True)
    assert cert.reasons == [
        "SAN removed: webconf.contoso.com",
        "SAN added: meet.contoso.com, sip.contoso.net",
        # AOL needed Client Authentication; with public IM gone only Server Auth remains.
        "enhanced key usage Server Authentication, Client Authentication → "
        "Server Authentication",
    ]

    # A NATed address is labelled with its NAT target, so moving the Access NIC to
    # 172.16.0.20 changes every rule of that public address: the NAT must follow.
    old = "198.51.100.10 (sip.contoso.com; NAT to 172.16.0.10)"
    new_access = "198.51.100.10 (sip.contoso.com; NAT to 172.16.0.20)"
    net = "Internet (any)"
    # Each such rule is one changed rule (old and new); the federation rules go.
    assert fw_rows(d) == {
        ("removed", "inbound", net, old, "TCP", "5061"),
        ("removed", "outbound", old, net, "TCP", "5061"),
        ("changed", "inbound", net, old, "TCP", "443"),
        ("changed", "outbound", old, net, "TCP", "80"),
        ("changed", "outbound", old, net, "UDP+TCP", "53"),
        ("changed", "inbound", net, "198.51.100.11 (webconf.contoso.com; NAT to 172.16.0.11)",
         "TCP", "443"),
    }
    assert {(c.new["source"], c.new["destination"]) for c in d.firewall
            if c.kind == "changed" and c.new} == {
        (net, new_access), (new_access, net),
        (net, "198.51.100.11 (meet.contoso.com; NAT to 172.16.0.11)")}

    assert [(c.kind, c.key, c.fields) for c in d.addresses] == [
        ("changed", "edge01 access", ["ip"]), ("changed", "edge01 webconf", ["fqdn"])]
    assert d.servers == [] and d.routes == [] and d.vips == []

    assert steps(d) == [("edge01", 3), ("edge01", 4), ("edge01", 5), ("edge01", 6)]
    step3 = reasons(d, "edge01", 3)
    for expected in ("Access Edge IP address: 172.16.0.10 → 172.16.0.20",
                     "Web Conferencing Edge FQDN: webconf.contoso.com → meet.contoso.com",
                     "Enable federation: ticked → cleared",
                     "Enable public IM connectivity: ticked → cleared",
                     "Authorized internal SIP domain: add contoso.net"):
        assert expected in step3
    assert reasons(d, "edge01", 4) == [f"re-issue external-sip-contoso-com: {r}"
                                       for r in cert.reasons]

    assert ("Pool Properties, Web Conferencing Edge Server tab › External FQDN and port: "
            "webconf.contoso.com:443 → meet.contoso.com:443") in d.integration
    # E02 and E03 (federation in and out) go, E04 changes (its FQDN), E12 and E13 change
    # (the Access Edge's address): the unchanged E05 to E11 move up by two.
    moved = ", ".join(f"E{n:02} → E{n - 2:02}" + (" (changed too)" if n in (4, 12, 13) else "")
                      for n in (4, *range(5, 12), 12, 13))
    assert d.notices == [f"Public IM: {p} no longer used: cancel its provisioning"
                         for p in ("MSN / Windows Live", "AOL", "Yahoo!")] + [
        "Firewall rule ids renumbered by the rules added or removed before them: "
        f"{moved}; rules on the firewalls named by id need the new ids"]


@pytest.mark.parametrize(("edit", "sections", "step3"), [
    (new_access_ip, {"firewall", "addresses", "steps"},
     ["Access Edge IP address: 172.16.0.10 → 172.16.0.20"]),
    (new_webconf_fqdn, {"dns", "certificates", "firewall", "addresses", "steps",
                        "integration"},
     ["Web Conferencing Edge FQDN: webconf.contoso.com → meet.contoso.com"]),
    (extra_sip_domain, {"dns", "certificates", "steps", "notices"},
     ["Authorized internal SIP domain: add contoso.net"]),
])
def test_each_edit_alone_touches_only_its_sections(tmp_path: Path, edit: Any,
                                                   sections: set[str],
                                                   step3: list[str]) -> None:
    new = contoso()
    edit(new)
    d = diff_of(tmp_path, contoso(), new)
    parts = ("servers", "dns", "certificates", "firewall", "addresses", "routes", "vips",
             "steps", "integration", "notices")
    assert {p for p in parts if getattr(d, p)} == sections
    assert reasons(d, "edge01", 3) == step3


def test_public_im_providers_hear_of_a_new_sip_domain(tmp_path: Path) -> None:
    new = contoso()
    extra_sip_domain(new)
    d = diff_of(tmp_path, contoso(), new)
    assert d.notices == ["Public IM: SIP domain(s) contoso.com → contoso.com, contoso.net: "
                         "send every provider an updated provisioning request"]


def test_dropping_a_role_reruns_activation_and_retires_its_certificate(
        tmp_path: Path) -> None:
    new = contoso()
    server = new["edge"]["servers"][0]
    server["roles"] = ["access", "webconf"]
    del server["nics"]["av"]
    del new["edge"]["fqdns"]["av"]
    d = diff_of(tmp_path, contoso(), new)
    assert steps(d) == [("edge01", n) for n in (2, 3, 4, 5, 6)]
    # The site no longer deploys A/V, so its box is not shown at all any more.
    assert reasons(d, "edge01", 2) == ["Activate A/V Edge Server: no longer ticked"]
    assert [(c.kind, c.id) for c in d.certificates] == [("removed", "av-auth")]
    assert [(c.kind, c.key) for c in d.addresses] == [("removed", "edge01 av")]
    assert [(c.kind, c.key, c.fields) for c in d.servers] == [("changed", "edge01",
                                                               ["roles"])]
    assert dns_rows(d) == {("removed", "contoso.com", "av.contoso.com", "A",
                            "198.51.100.12")}
    assert {r[0] for r in fw_rows(d)} == {"removed"}
    assert len(d.firewall) == 9  # STUN x2, RTP x4 on the external side, 3 on the internal


def test_a_server_added_to_an_array_runs_the_whole_runbook_and_gets_the_shared_certs(
        tmp_path: Path) -> None:
    old = yaml.safe_load((INPUTS / "fabrikam-lb.yaml").read_text(encoding="utf-8"))
    new = yaml.safe_load((INPUTS / "fabrikam-lb.yaml").read_text(encoding="utf-8"))
    extra = yaml.safe_load(yaml.safe_dump(new["edge"]["servers"][3]))
    extra["name"] = "fbav03"
    extra["nics"]["internal"]["ip"] = "10.20.0.33/24"
    extra["nics"]["av"]["ip"] = "203.0.113.33/24"
    new["edge"]["servers"].append(extra)
    d = diff_of(tmp_path, old, new)
    # The A/V array's shared internal certificate names only the internal VIP (internal
    # servers reach A/V Edges through it), so a new member is given copies of both shared
    # certificates and the other members run nothing again.
    assert steps(d) == [("fbav03", n) for n in range(1, 7)]
    assert {(c.id, c.kind, c.reissue, tuple(c.step_servers)) for c in d.certificates} == {
        ("internal-avpool", "changed", False, ("fbav03",)),
        ("av-auth", "changed", False, ("fbav03",))}
    assert "Steps 1 to 6: new server: the whole runbook" in format_diff(d)


def test_a_new_certificate_authority_means_re_issuing(tmp_path: Path) -> None:
    new = contoso()
    new["certificates"]["public_ca"] = "Entrust"
    d = diff_of(tmp_path, contoso(), new)
    assert [(c.id, c.reissue, c.reasons) for c in d.certificates] == [
        ("external-sip-contoso-com", True, ["issuing CA DigiCert → Entrust"]),
        ("reverse-proxy", True, ["issuing CA DigiCert → Entrust"])]
    assert steps(d) == [("edge01", 4), ("edge01", 5), ("edge01", 6)]


# -- the command ----------------------------------------------------------------------------------


def test_diff_command_prints_the_report_and_json(tmp_path: Path) -> None:
    new = contoso()
    all_four(new)
    old_file, new_file = CONTOSO, write(tmp_path, new)
    text = CliRunner().invoke(main, ["diff", str(old_file), str(new_file)])
    assert text.exit_code == 0, text.output
    for heading in ("DNS records (3 added, 2 removed)", "Certificates (1 to re-issue)",
                    "Firewall rules (2 removed, 4 changed)", "Addresses (2 changed)",
                    "Wizard steps to re-run", "    Step 4: Configure Certificates for Edge "
                    "Server"):
        assert heading in text.output
    as_json = CliRunner().invoke(main, ["diff", "--json", str(old_file), str(new_file)])
    data = json.loads(as_json.output)
    assert data["empty"] is False
    assert [s["step"] for s in data["steps"]] == [3, 4, 5, 6]


def test_exit_code_option_tells_changes_from_none(tmp_path: Path) -> None:
    new = contoso()
    new_access_ip(new)
    changed = CliRunner().invoke(main, ["diff", "--exit-code", str(CONTOSO),
                                        str(write(tmp_path, new))])
    same = CliRunner().invoke(main, ["diff", "--exit-code", str(CONTOSO), str(CONTOSO)])
    assert (changed.exit_code, same.exit_code) == (3, 0)


def test_an_invalid_version_is_a_positioned_error_with_exit_1(tmp_path: Path) -> None:
    bad = contoso()
    bad["edge"]["features"]["federation"] = False  # public IM left on: invalid
    result = CliRunner().invoke(main, ["diff", str(CONTOSO), str(write(tmp_path, bad))])
    assert result.exit_code == 1
    assert "site.yaml:" in result.output and "public_im" in result.output
    assert "Traceback" not in result.output


def test_wrong_number_of_files_is_a_usage_error() -> None:
    result = CliRunner().invoke(main, ["diff", str(CONTOSO)])
    assert result.exit_code == 2
    assert "give OLD and NEW, or one FILE with --git REV" in result.output


# -- against a git revision ---------------------------------------------------------------


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A git repository whose HEAD holds inputs/site.yaml = contoso; the work tree is edited."""
    assert GIT, "git is not installed"
    root = tmp_path / "repo"
    (root / "inputs").mkdir(parents=True)

    def git(*args: str) -> None:
        subprocess.run([GIT, "-c", "user.name=t", "-c", "user.email=t@example.com",
                        "-c", "commit.gpgsign=false", *args], cwd=root, check=True,
                       capture_output=True)

    git("init", "-q")
    (root / "inputs" / "site.yaml").write_text(dump(contoso()), encoding="utf-8")
    git("add", "inputs/site.yaml")
    git("commit", "-q", "-m", "contoso as deployed")
    new = contoso()
    new_webconf_fqdn(new)
    (root / "inputs" / "site.yaml").write_text(dump(new), encoding="utf-8")
    return root


def test_git_mode_compares_the_work_tree_with_a_revision(repo: Path) -> None:
    path = repo / "inputs" / "site.yaml"
    old = load_plan_at_revision(path, "HEAD")
    assert old.meta.revision and old.meta.provenance.endswith("by runbook 0.1.0")
    assert old.summary.role_fqdns["webconf"] == "webconf.contoso.com"
    result = CliRunner().invoke(main, ["diff", str(path), "--git", "HEAD"])
    assert result.exit_code == 0, result.output
    assert "- webconf.contoso.com A 198.51.100.11" in result.output
    assert "+ meet.contoso.com A 198.51.100.11" in result.output
    assert f"at {old.meta.revision} by" in result.output.splitlines()[1]


def test_git_mode_errors_are_one_line(repo: Path, tmp_path: Path) -> None:
    path = repo / "inputs" / "site.yaml"
    with pytest.raises(GitError, match="nope: not a revision"):
        load_plan_at_revision(path, "nope")
    other = repo / "inputs" / "other.yaml"
    other.write_text(dump(contoso()), encoding="utf-8")
    with pytest.raises(GitError, match=r"inputs/other\.yaml does not exist at revision HEAD"):
        load_plan_at_revision(other, "HEAD")
    outside = write(tmp_path, contoso(), "loose.yaml")
    with pytest.raises(GitError, match="is not in a git repository"):
        load_plan_at_revision(outside, "HEAD")
    result = CliRunner().invoke(main, ["diff", str(path), "--git", "nope"])
    assert result.exit_code == 1
    assert len(result.output.strip().splitlines()) == 1


def test_an_invalid_committed_version_raises_validation_failed(repo: Path) -> None:
    path = repo / "inputs" / "site.yaml"
    path.write_text("site: [\n", encoding="utf-8")
    subprocess.run([GIT or "git", "-c", "user.name=t", "-c", "user.email=t@example.com",
                    "commit", "-q", "-am", "broken"], cwd=repo, check=True)
    with pytest.raises(ValidationFailed) as err:
        load_plan_at_revision(path, "HEAD")
    assert "@HEAD:" in err.value.format()


def test_a_vip_and_a_route_change_need_no_wizard_step(tmp_path: Path) -> None:
    old = yaml.safe_load((INPUTS / "fabrikam-lb.yaml").read_text(encoding="utf-8"))
    new = yaml.safe_load((INPUTS / "fabrikam-lb.yaml").read_text(encoding="utf-8"))
    new["edge"]["load_balancer"]["access"]["internal_ip"] = "10.20.0.9"
    new["edge"]["servers"][0]["nics"]["internal"]["routes"].append(
        {"to": "192.168.0.0/16", "via": "10.20.0.1"})
    d = diff_of(tmp_path, old, new)
    assert [(c.kind, c.key, c.fields) for c in d.vips] == [
        ("changed", "Access Edge VIP", ["internal_ip"])]
    assert [(c.kind, c.key) for c in d.routes] == [("added", "fbedge01 to 192.168.0.0/16")]
    assert [(c.kind, c.key, c.fields) for c in d.dns] == [
        ("changed", "corp.fabrikam.com edgepool.corp.fabrikam.com A", ["value"])]
    # One rule whose destination moves is one changed rule, with its old and new values.
    [rule] = d.firewall
    assert (rule.kind, rule.fields) == ("changed", ["destination"])
    assert rule.old is not None and rule.new is not None
    assert (rule.old["destination"], rule.new["destination"]) == (
        "10.20.0.10 (edgepool.corp.fabrikam.com VIP)", "10.20.0.9 (edgepool.corp.fabrikam.com VIP)")
    assert rule.old["id"] == rule.new["id"]
    assert d.steps == [] and d.certificates == [] and d.addresses == []


def test_a_diff_of_two_different_sites_is_refused_unless_forced() -> None:
    old, new = str(INPUTS / "contoso.yaml"), str(INPUTS / "fabrikam-lb.yaml")
    result = CliRunner().invoke(main, ["diff", old, new])
    assert result.exit_code == 2
    assert isinstance(result.exception, SystemExit)  # reported, not raised
    assert (f"{old} is site contoso-hq and {new} is site fabrikam-lb: a diff compares two "
            "versions of one site.") in result.output
    assert "--force" in result.output
    forced = CliRunner().invoke(main, ["diff", "--force", old, new])
    assert forced.exit_code == 0, forced.output
    assert "site slug contoso-hq → fabrikam-lb" in forced.output
    assert forced.output.startswith("Changes from site contoso-hq to site fabrikam-lb\n")


# -- several edge servers: one rule per edge under one key ----------------------------------

WOODGROVE = INPUTS / "woodgrove-split.yaml"
CRL_RULE = "HTTP: the internal CA's revocation list, from its distribution point"


def moved_crl(tmp_path: Path) -> Path:
    """woodgrove-split with its one CRL distribution point moved from 10.40.2.25 to .26."""
    data = yaml.safe_load(WOODGROVE.read_text(encoding="utf-8"))
    [crl] = data["certificates"]["internal_crl"]
    assert crl["ip"] == "10.40.2.25"
    crl["ip"] = "10.40.2.26"
    return write(tmp_path, data, "moved.yaml")


def test_a_moved_address_is_one_changed_rule_per_edge_with_old_and_new_side_by_side(
        tmp_path: Path) -> None:
    # Both edges (wgedge-ra at 10.40.0.10, wgedge-fed at 10.40.0.20 on the internal side)
    # fetch the internal CA's revocation list over HTTP from its one distribution point,
    # 10.40.2.25: two rules, I10 and I11, which share firewall, direction and purpose.
    old_plan = plan_file(WOODGROVE)
    using = [r for r in old_plan.to_dict()["firewall"] if r["destination_ip"] == "10.40.2.25"]
    assert [(r["id"], r["source_ip"], r["purpose"]) for r in using] == [
        ("I10", "10.40.0.10", CRL_RULE), ("I11", "10.40.0.20", CRL_RULE)]
    d = diff_plans(old_plan, plan_file(moved_crl(tmp_path)))

    pki = "(pki.corp.woodgrovebank.com, CRL distribution point)"
    assert [(c.kind, c.old["id"], c.new["id"], c.fields, c.old["source"], c.old["destination"],
             c.new["destination"]) for c in d.firewall if c.old and c.new] == [
        ("changed", "I10", "I10", ["destination"],
         "10.40.0.10 (wgedge-ra.corp.woodgrovebank.com)", f"10.40.2.25 {pki}",
         f"10.40.2.26 {pki}"),
        ("changed", "I11", "I11", ["destination"],
         "10.40.0.20 (wgedge-fed.corp.woodgrovebank.com)", f"10.40.2.25 {pki}",
         f"10.40.2.26 {pki}")]
    assert len(d.firewall) == 2  # nothing added or removed besides
    # The address is only a firewall rule's: no record, certificate, NIC or step changes.
    assert (d.servers, d.dns, d.certificates, d.addresses, d.routes, d.vips, d.steps,
            d.integration, d.notices) == ([], [], [], [], [], [], [], [], [])

    text = format_diff(d)
    assert "Firewall rules (2 changed)" in text
    assert [line for line in text.splitlines() if line.startswith("  ~ ")] == [
        f"  ~ {rule} destination 10.40.2.25 {pki} → 10.40.2.26 {pki}  ({CRL_RULE})"
        for rule in ("I10", "I11")]
    assert not [line for line in text.splitlines() if line.startswith(("  + ", "  - "))]


def test_a_change_request_since_the_moved_address_counts_two_rule_changes(
        tmp_path: Path) -> None:
    moved = moved_crl(tmp_path)
    old = write(tmp_path, WOODGROVE.read_bytes(), "old.yaml")  # out of git: named plainly
    result = CliRunner().invoke(main, ["cr", str(moved), "--since", str(old),
                                       "-o", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    page = (tmp_path / "out" / "woodgrove-split-change-request.md").read_text(encoding="utf-8")
    # Two rules changed, not four (two removed and two added).
    assert ("covers only what changed since the topology file old.yaml (not in git): "
            "2 firewall rule changes\n") in page
    assert "internal (2 rule changes)" in page
    # Each rule is one row of the table, its old and new destination side by side.
    rows = [line for line in page.splitlines() if line.startswith("| ")
            and ("| I10 |" in line or "| I11 |" in line)]
    assert [row.split(" | ")[:2] for row in rows] == [["| changed", "I10"],
                                                      ["| changed", "I11"]]
    for row in rows:
        assert "10.40.2.25 (pki.corp.woodgrovebank.com, CRL distribution point) → 10.40.2.26" in row


def test_pairing_rules_under_one_key_is_the_same_every_time(tmp_path: Path) -> None:
    moved = moved_crl(tmp_path)
    first = json.dumps(diff_plans(plan_file(WOODGROVE), plan_file(moved)).to_dict())
    again = json.dumps(diff_plans(plan_file(WOODGROVE), plan_file(moved)).to_dict())
    assert first == again


def test_a_rule_added_before_others_says_which_unchanged_rules_got_new_ids(
        tmp_path: Path) -> None:
    # A CRL distribution point listed first: its rule takes I08, the old I08 (10.0.0.30)
    # becomes I09 unchanged. The added rule alone is a change; the renumbering is said, so
    # that a firewall whose rules are named by id is not left with two I08s.
    new = contoso()
    new["certificates"]["internal_crl"].insert(0, {"url": "http://crl0.contoso.local/a.crl",
                                                   "ip": "10.0.0.5"})
    d = diff_of(tmp_path, contoso(), new)
    assert [(c.kind, (c.new or {}).get("id")) for c in d.firewall] == [("added", "I08")]
    assert d.notices == ["Firewall rule ids renumbered by the rules added or removed before "
                         "them: I08 → I09; rules on the firewalls named by id need the new ids"]
    assert d.renumbered == [{"firewall": "internal", "old_id": "I08", "new_id": "I09",
                             "changed": False}]
    assert "I08 → I09" in format_diff(d)
    # Appended after the others, it moves none.
    new = contoso()
    new["certificates"]["internal_crl"].append({"url": "http://crl2.contoso.local/a.crl",
                                                "ip": "10.0.0.40"})
    assert diff_of(tmp_path, contoso(), new).notices == []


def test_a_change_request_renames_the_moved_rule_before_it_adds_the_new_one(
        tmp_path: Path) -> None:
    # The firewall's I08 is the rule to 10.0.0.30; the new rule takes I08 in the new plan.
    # So the change renames the old I08 to I09 first, then adds I08; the backout removes
    # the new I08, then renames I09 back.
    new = contoso()
    new["certificates"]["internal_crl"].insert(0, {"url": "http://crl0.contoso.local/a.crl",
                                                   "ip": "10.0.0.5"})
    old_path, new_path = write(tmp_path, contoso(), "old.yaml"), write(tmp_path, new, "new.yaml")
    from runbook.outputs.documents import change_request, delta_scope

    delta = delta_scope(plan_file(old_path).to_dict(), plan_file(new_path).to_dict())
    assert delta["summary"] == "1 firewall rule change, 1 firewall rule renumbered"
    [item] = [i for i in delta["prerequisites"] if i["id"] == "firewall"]
    assert item["details"][0] == "renumber I08 as I09 (the rule is unchanged)"
    assert item["details"][1].startswith("add I08: outbound TCP 80 from 10.0.0.10")
    assert item["backout"].startswith("Remove I08 (outbound TCP 80")
    assert item["backout"].endswith("; renumber I09 back as I08.")
    [table] = [t for t in delta["tables"] if t["title"] == "Firewall rules"]
    assert ["renumbered", "I08 → I09", "internal", "", "", "", "", "", "unchanged"] in table["rows"]
    cr = change_request(plan_file(new_path).to_dict(), delta)
    assert cr["firewall_rules"] == "1 rule change"


def test_renumberings_run_in_an_order_that_never_gives_two_rules_one_id() -> None:
    from runbook.outputs.documents import _rename_order

    def move(a: str, b: str) -> dict[str, Any]:
        return {"firewall": "internal", "old_id": a, "new_id": b, "changed": False}

    # In a chain, each is renamed only once its new id is free.
    chain = [move("I08", "I09"), move("I09", "I10")]
    assert [m["old_id"] for m in _rename_order(chain)] == ["I09", "I08"]
    down = [move("E05", "E03"), move("E06", "E04"), move("E07", "E05")]
    order = [m["old_id"] for m in _rename_order(down)]
    assert order.index("E05") < order.index("E07")
