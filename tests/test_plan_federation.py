"""Federation partners (issue 14, item 3): the Allow tab entries and the DNS each side needs.

Worked out by hand from the sources (../shared/domain/ocs2007-remote-access.md §3):

- An Allow tab entry is the partner's SIP domain and, optionally, the FQDN of the partner's
  Access Edge (R57, R58, R60: "Federated partner domain name", then the partner's Access
  Edge). With the FQDN our edge connects to that edge (direct federation); with the domain
  only it finds the partner's edge through the partner's `_sipfederationtls._tcp.<domain>`
  SRV record, port 5061 (restricted enhanced federation; edge.md §2.1).
- Discovery on: any partner publishing that SRV record is found, the listed ones get a higher
  trust level (R59); partners not listed are throttled (watch list past 1000 URIs, 20
  messages a second; edge.md §2.1, S35).
- Discovery off: only the partners on the Allow list federate (R58).
- Partners find us through our own `_sipfederationtls._tcp.<SIP domain>` SRV record pointing at
  our Access Edge on 5061, and its A record (edge.md §2.1, S10).
- The firewall rules stay TCP 5061 to and from any address (S6): the Allow list is the edge's.

contoso (discovery on): fabrikam.com via sip.fabrikam.com, litwareinc.com by SRV; our Access
Edge sip.contoso.com at 198.51.100.10. adatum-im (discovery off): contoso.com via
sip.contoso.com, tailspintoys.com by SRV; our Access Edge sip.adatum.com at 192.0.2.10.
fabrikam-lb: contoso.com by SRV; SIP domains fabrikam.com and fabrikam.net, the access VIP's
public address 198.51.100.40; Access Edges fbedge01 and fbedge02.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from runbook.plan.sites import plan_file
from tests.topo import contoso as contoso_data
from tests.topo import problems, write

INPUTS = Path(__file__).resolve().parent.parent / "inputs"


def plan(name: str) -> dict[str, Any]:
    return plan_file(INPUTS / f"{name}.yaml").to_dict()


def plan_of(tmp_path: Path, data: dict[str, Any]) -> dict[str, Any]:
    return plan_file(write(tmp_path, data, f"{data['site']}.yaml")).to_dict()


def actions(p: dict[str, Any], server: str) -> list[tuple[str, str, str | None]]:
    screen = next(s for s in p["federation"]["screens"]
                  if s["title"] == f"{server}: Access Edge properties, Allow tab")
    return [(a["kind"], a["label"], a["value"]) for a in screen["actions"]]


@pytest.fixture(scope="module")
def contoso() -> dict[str, Any]:
    return plan("contoso")


class TestPartners:
    def test_with_and_without_the_partners_access_edge(self, contoso: dict[str, Any]) -> None:
        fed = contoso["federation"]
        assert fed["edges"] == ["edge01"] and fed["discovery"] is True
        rows = {p["domain"]: p for p in fed["partners"]}
        assert list(rows) == ["fabrikam.com", "litwareinc.com"]
        assert (rows["fabrikam.com"]["access_edge"], rows["fabrikam.com"]["entry"]) == (
            "sip.fabrikam.com", "domain-and-edge")
        assert "sip.fabrikam.com on TCP 5061" in rows["fabrikam.com"]["found_by"]
        assert "public A record for sip.fabrikam.com" in rows["fabrikam.com"]["partner_dns"]
        assert (rows["litwareinc.com"]["access_edge"], rows["litwareinc.com"]["entry"]) == (
            None, "domain")
        assert rows["litwareinc.com"]["partner_dns"].startswith(
            "_sipfederationtls._tcp.litwareinc.com SRV")
        assert "port 5061" in rows["litwareinc.com"]["partner_dns"]

    def test_the_allow_tab_step_by_step(self, contoso: dict[str, Any]) -> None:
        assert actions(contoso, "edge01")[1:] == [
            ("check", "Allow discovery of federation partners", "ticked"),
            ("click", "Add", None),
            ("type", "Federated partner domain name", "fabrikam.com"),
            ("type", "Federated partner Access Edge Server", "sip.fabrikam.com"),
            ("click", "OK", None),
            ("click", "Add", None),
            ("type", "Federated partner domain name", "litwareinc.com"),
            ("note", "Leave Federated partner Access Edge Server empty", None),
            ("click", "OK", None),
            ("check", "The Allow tab lists 2 partners", "fabrikam.com, litwareinc.com")]
        where = contoso["federation"]["where"]
        assert (where["console"], where["tab"]) == ("Computer Management", "Allow")

    def test_discovery_off_lists_only_the_allow_tab(self) -> None:
        p = plan("adatum-im")
        fed = p["federation"]
        assert fed["discovery"] is False
        assert [(r["domain"], r["access_edge"]) for r in fed["partners"]] == [
            ("contoso.com", "sip.contoso.com"), ("tailspintoys.com", None)]
        assert actions(p, "adedge01")[1] == (
            "check", "Allow discovery of federation partners", "cleared")
        assert any("only the partners on the Allow list" in n for n in fed["notes"])

    def test_every_access_edge_behind_the_load_balancer_gets_the_entries(self) -> None:
        p = plan("fabrikam-lb")
        assert p["federation"]["edges"] == ["fbedge01", "fbedge02"]
        for server in ("fbedge01", "fbedge02"):
            assert ("type", "Federated partner domain name", "contoso.com") in actions(
                p, server)

    def test_only_the_federating_edge_of_a_split_design(self) -> None:
        p = plan("woodgrove-split")
        assert p["federation"]["edges"] == ["wgedge-fed"]
        assert [s["title"] for s in p["federation"]["screens"]] == [
            "wgedge-fed: Access Edge properties, Allow tab"]

    def test_no_federation_no_section(self) -> None:
        assert plan("litware-noav")["federation"] is None


class TestDns:
    def test_our_records_partners_use(self, contoso: dict[str, Any]) -> None:
        ours = [(r["name"], r["type"], r["value"], r["port"])
                for r in contoso["federation"]["our_records"]]
        assert ours == [("_sipfederationtls._tcp.contoso.com", "SRV", "sip.contoso.com", 5061),
                        ("sip.contoso.com", "A", "198.51.100.10", None)]

    def test_every_sip_domain_has_its_record(self) -> None:
        ours = {(r["name"], r["value"]) for r in plan("fabrikam-lb")["federation"]["our_records"]}
        assert ours == {("_sipfederationtls._tcp.fabrikam.com", "sip.fabrikam.com"),
                        ("_sipfederationtls._tcp.fabrikam.net", "sip.fabrikam.net"),
                        ("sip.fabrikam.com", "198.51.100.40"),
                        ("sip.fabrikam.net", "198.51.100.40")}


def test_the_firewall_does_not_name_partners(contoso: dict[str, Any]) -> None:
    federation = [(r["direction"], r["source"], r["destination"]) for r in contoso["firewall"]
                  if r["firewall"] == "external" and r["ports"] == "5061"]
    assert federation == [
        ("inbound", "Internet (any)", "198.51.100.10 (sip.contoso.com; NAT to 172.16.0.10)"),
        ("outbound", "198.51.100.10 (sip.contoso.com; NAT to 172.16.0.10)", "Internet (any)")]
    text = str(contoso["firewall"])
    assert "fabrikam" not in text and "litwareinc" not in text
    assert any("never by address" in n for n in contoso["federation"]["notes"])


def test_discovery_off_and_no_partner_warns_and_says_so(tmp_path: Path) -> None:
    data = copy.deepcopy(yaml.safe_load((INPUTS / "adatum-im.yaml").read_text("utf-8")))
    del data["edge"]["federation_partners"]
    found = problems(write(tmp_path, data))
    assert [(p.severity, p.code, p.path) for p in found] == [
        ("warning", "no-federation-partners", "edge.features.federation_discovery")]
    assert "federate with nobody" in found[0].message
    p = plan_of(tmp_path, data)
    assert p["federation"]["partners"] == []
    assert ("warning", "No partner is listed and discovery is off: this Access Edge "
            "federates with nobody (public IM providers aside)", None) in actions(p, "adedge01")


def test_discovery_on_and_no_partner_is_fine(tmp_path: Path) -> None:
    data = contoso_data()
    del data["edge"]["federation_partners"]
    assert problems(write(tmp_path, data)) == []


def test_a_new_partner_shows_in_the_diff_as_an_allow_tab_entry(tmp_path: Path) -> None:
    from runbook.plan.diff import diff_plans

    old = contoso_data()
    new = contoso_data()
    new["edge"]["federation_partners"].append(
        {"domain": "tailspintoys.com", "access_edge": "sip.tailspintoys.com"})
    d = diff_plans(plan_file(write(tmp_path, old, "old.yaml")),
                   plan_file(write(tmp_path, new, "new.yaml")))
    tab = "edge01: Access Edge properties, Allow tab"
    assert f"{tab} › Federated partner domain name: add tailspintoys.com" in d.integration
    assert (f"{tab} › Federated partner Access Edge Server: add sip.tailspintoys.com"
            in d.integration)
