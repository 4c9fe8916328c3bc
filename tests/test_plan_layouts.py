"""The plan of every edge layout, checked row by row against values worked out by hand.

The expected values below were derived from the topology files and the OCS 2007 facts
(ports, records, certificate rules), not copied from the generator's output.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from runbook.plan.sites import plan_file

INPUTS = Path(__file__).resolve().parent.parent / "inputs"


def plan(name: str) -> dict[str, Any]:
    return plan_file(INPUTS / f"{name}.yaml").to_dict()


def rows(items: list[dict[str, Any]], *keys: str) -> set[tuple[Any, ...]]:
    return {tuple(item[k] for k in keys) for item in items}


def fw(p: dict[str, Any], firewall: str) -> set[tuple[str, str, str, str, str]]:
    return {(r["direction"], r["source"].split(" ")[0], r["destination"].split(" ")[0],
             r["protocol"], r["ports"]) for r in p["firewall"] if r["firewall"] == firewall}


def screen(p: dict[str, Any], server: str, step: str, title: str) -> list[dict[str, Any]]:
    runbook = next(w for w in p["wizard"] if w["server"] == server)
    st = next(s for s in runbook["steps"] if s["id"] == step)
    return next(sc for sc in st["screens"] if sc["title"].startswith(title))["actions"]


def step_actions(p: dict[str, Any], server: str, step: str) -> list[dict[str, Any]]:
    """Every action of one wizard step on one server, screen after screen."""
    runbook = next(w for w in p["wizard"] if w["server"] == server)
    st = next(s for s in runbook["steps"] if s["id"] == step)
    return [a for sc in st["screens"] for a in sc["actions"]]


def boxes(actions: list[dict[str, Any]]) -> dict[str, str]:
    return {a["label"]: a["kind"] for a in actions if a["kind"] in ("tick", "clear", "note")}


class TestLoadBalancedEdge:
    """fabrikam-lb: two Access+Web Conferencing servers and two A/V Edges behind one HLB."""

    p = plan("fabrikam-lb")

    def test_addresses_per_server_and_nic_with_dns_pointing_at_vips(self) -> None:
        assert rows(self.p["addresses"], "server", "nic", "ip", "prefix", "gateway",
                    "public_ip", "fqdn", "dns_address") == {
            ("fbedge01", "internal", "10.20.0.11", 24, None, None,
             "fbedge01.corp.fabrikam.com", "10.20.0.11"),
            ("fbedge01", "access", "172.20.0.11", 24, "172.20.0.1", None, "sip.fabrikam.com",
             "198.51.100.40"),
            ("fbedge01", "webconf", "172.20.0.21", 24, None, None, "meet.fabrikam.com",
             "198.51.100.41"),
            ("fbedge02", "internal", "10.20.0.12", 24, None, None,
             "fbedge02.corp.fabrikam.com", "10.20.0.12"),
            ("fbedge02", "access", "172.20.0.12", 24, "172.20.0.1", None, "sip.fabrikam.com",
             "198.51.100.40"),
            ("fbedge02", "webconf", "172.20.0.22", 24, None, None, "meet.fabrikam.com",
             "198.51.100.41"),
            ("fbav01", "internal", "10.20.0.31", 24, None, None, "fbav01.corp.fabrikam.com",
             "10.20.0.31"),
            ("fbav01", "av", "203.0.113.31", 24, "203.0.113.1", None, "av.fabrikam.com",
             "203.0.113.30"),
            ("fbav02", "internal", "10.20.0.32", 24, None, None, "fbav02.corp.fabrikam.com",
             "10.20.0.32"),
            ("fbav02", "av", "203.0.113.32", 24, "203.0.113.1", None, "av.fabrikam.com",
             "203.0.113.30"),
        }

    def test_one_vip_per_role_with_members_ports_and_no_nat_on_av(self) -> None:
        vips = {v["role"]: v for v in self.p["vips"]}
        assert set(vips) == {"access", "webconf", "av"}
        assert (vips["access"]["external_ip"], vips["access"]["public_ip"],
                vips["access"]["internal_ip"], vips["access"]["internal_fqdn"]) == (
            "172.20.0.10", "198.51.100.40", "10.20.0.10", "edgepool.corp.fabrikam.com")
        assert vips["access"]["external_ports"] == ["TCP 443", "TCP 5061"]
        assert vips["access"]["internal_ports"] == ["TCP 5061"]
        assert vips["webconf"]["external_ports"] == ["TCP 443"]
        assert vips["webconf"]["internal_ports"] == []  # internal servers reach each WCE
        assert vips["av"]["external_ports"] == ["TCP 443", "UDP 3478"]
        assert vips["av"]["internal_ports"] == ["TCP 5062", "TCP 443", "UDP 3478"]
        assert [m["server"] for m in vips["access"]["members"]] == ["fbedge01", "fbedge02"]
        assert [m["external_ip"] for m in vips["av"]["members"]] == ["203.0.113.31",
                                                                      "203.0.113.32"]
        assert vips["av"]["nat"].startswith("none")
        assert all(v["persistence"] and v["health_check"] for v in vips.values())

    def test_shared_certificates_carry_exportable_keys(self) -> None:
        certs = {c["id"]: c for c in self.p["certificates"]}
        assert rows(self.p["certificates"], "purpose", "subject_cn", "issuer", "ca",
                    "exportable_key") == {
            ("internal", "edgepool.corp.fabrikam.com", "internal", "Fabrikam Enterprise CA",
             True),
            ("internal", "avpool.corp.fabrikam.com", "internal", "Fabrikam Enterprise CA",
             True),
            # certificates.external defaults to separate: one certificate per external role.
            ("access", "sip.fabrikam.com", "public", "Entrust", True),
            ("webconf", "meet.fabrikam.com", "public", "Entrust", True),
            ("av_auth", "av.fabrikam.com", "internal", "Fabrikam Enterprise CA", True),
            ("reverse_proxy", "ocsweb.fabrikam.com", "public", "Entrust", False),
        }
        external = certs["external-sip-fabrikam-com"]
        # One name per SIP domain: fabrikam.net's clients look for sip.fabrikam.net.
        assert external["sans"] == ["sip.fabrikam.com", "sip.fabrikam.net"]
        assert external["servers"] == ["fbedge01", "fbedge02"]
        assert external["eku"] == ["Server Authentication"]  # no AOL, no client auth needed
        assert certs["external-meet-fabrikam-com"]["sans"] == ["meet.fabrikam.com"]
        assert certs["external-meet-fabrikam-com"]["servers"] == ["fbedge01", "fbedge02"]
        assert certs["av-auth"]["servers"] == ["fbav01", "fbav02"]
        assert certs["internal-edgepool"]["servers"] == ["fbedge01", "fbedge02"]
        # Internal Web Conferencing servers reach each member by its own name (8057 is not
        # load balanced), so the shared certificate carries the members' names too.
        assert certs["internal-edgepool"]["sans"] == [
            "edgepool.corp.fabrikam.com", "fbedge01.corp.fabrikam.com",
            "fbedge02.corp.fabrikam.com"]

    def test_public_dns_points_at_vips_and_every_sip_domain_has_its_records(self) -> None:
        assert rows([d for d in self.p["dns"] if d["scope"] == "external"],
                    "zone", "name", "type", "value", "port") == {
            ("fabrikam.com", "sip.fabrikam.com", "A", "198.51.100.40", None),
            ("fabrikam.com", "meet.fabrikam.com", "A", "198.51.100.41", None),
            ("fabrikam.com", "av.fabrikam.com", "A", "203.0.113.30", None),
            ("fabrikam.com", "ocsweb.fabrikam.com", "A", "198.51.100.50", None),
            ("fabrikam.com", "_sip._tls.fabrikam.com", "SRV", "sip.fabrikam.com", 443),
            ("fabrikam.com", "_sipfederationtls._tcp.fabrikam.com", "SRV", "sip.fabrikam.com",
             5061),
            ("fabrikam.net", "sip.fabrikam.net", "A", "198.51.100.40", None),
            ("fabrikam.net", "_sip._tls.fabrikam.net", "SRV", "sip.fabrikam.net", 443),
            ("fabrikam.net", "_sipfederationtls._tcp.fabrikam.net", "SRV", "sip.fabrikam.net",
             5061),
        }
        assert rows([d for d in self.p["dns"] if d["scope"] == "internal"],
                    "name", "value") == {
            ("fbedge01.corp.fabrikam.com", "10.20.0.11"),
            ("fbedge02.corp.fabrikam.com", "10.20.0.12"),
            ("fbav01.corp.fabrikam.com", "10.20.0.31"),
            ("fbav02.corp.fabrikam.com", "10.20.0.32"),
            ("edgepool.corp.fabrikam.com", "10.20.0.10"),
            ("avpool.corp.fabrikam.com", "10.20.0.30"),
        }

    def test_firewall_rules_target_vips_and_media_ranges_target_members(self) -> None:
        media = {(direction, *ends, proto, "50000-59999")
                 for member in ("203.0.113.31", "203.0.113.32")
                 for proto in ("TCP", "UDP")
                 for direction, ends in (("inbound", ("Internet", member)),
                                         ("outbound", (member, "Internet")))}
        lookups = {(d, src, "Internet", proto, port)
                   for src in ("172.20.0.11", "172.20.0.12", "203.0.113.31", "203.0.113.32")
                   for d, proto, port in (("outbound", "TCP", "80"),
                                          ("outbound", "UDP+TCP", "53"))}
        assert fw(self.p, "external") == {
            ("inbound", "Internet", "198.51.100.40", "TCP", "443"),
            ("inbound", "Internet", "198.51.100.40", "TCP", "5061"),
            # The Access Edges open federation connections themselves, each from its own
            # external address (no source-NAT address declared), never from the VIP.
            ("outbound", "172.20.0.11", "Internet", "TCP", "5061"),
            ("outbound", "172.20.0.12", "Internet", "TCP", "5061"),
            ("inbound", "Internet", "198.51.100.41", "TCP", "443"),
            ("inbound", "Internet", "203.0.113.30", "UDP", "3478"),
            ("inbound", "Internet", "203.0.113.30", "TCP", "443"),
            # After the first packet an A/V Edge answers from its own address and clients
            # send the rest there: each member needs UDP 3478 too.
            ("inbound", "Internet", "203.0.113.31", "UDP", "3478"),
            ("inbound", "Internet", "203.0.113.32", "UDP", "3478"),
            ("inbound", "Internet", "198.51.100.50", "TCP", "443"),  # the ISA listener
        } | media | lookups
        assert len([r for r in self.p["firewall"] if r["firewall"] == "external"]) == 26
        # The Director's address is known (pools[0].ip), so rules name it.
        assert fw(self.p, "internal") == {
            ("inbound", "10.20.1.5", "10.20.0.10", "TCP", "5061"),
            ("outbound", "10.20.0.11", "10.20.1.5", "TCP", "5061"),
            ("outbound", "10.20.0.12", "10.20.1.5", "TCP", "5061"),
            ("inbound", "Web", "10.20.0.11", "TCP", "8057"),
            ("inbound", "Web", "10.20.0.12", "TCP", "8057"),
            ("inbound", "Pools", "10.20.0.30", "TCP", "5062"),
            ("inbound", "Internal", "10.20.0.30", "TCP", "443"),
            ("inbound", "Internal", "10.20.0.30", "UDP", "3478"),
            ("outbound", "10.20.0.50", "10.20.2.10", "TCP", "443"),  # ISA -> pool01 (pools[1].ip)
            # every edge reaches both CRL distribution points of the internal CA
            *(("outbound", f"10.20.0.{n}", "10.20.5.20", "TCP", "80") for n in (11, 12, 31, 32)),
            *(("outbound", f"10.20.0.{n}", "10.20.1.10", "TCP", "389") for n in (11, 12, 31, 32)),
        }
        hop_rules = [r for r in self.p["firewall"] if r["ports"] == "5061"
                     and r["firewall"] == "internal"]
        assert {r["source_ip"] for r in hop_rules} == {"10.20.1.5", "10.20.0.11", "10.20.0.12"}

    def test_an_address_has_one_label_in_every_rule(self) -> None:
        labels: dict[str, set[str]] = {}
        for r in self.p["firewall"]:
            for ip, label in ((r["source_ip"], r["source"]),
                              (r["destination_ip"], r["destination"])):
                if ip:
                    labels.setdefault(ip, set()).add(label)
        assert {ip: len(names) for ip, names in labels.items() if len(names) > 1} == {}
        assert labels["198.51.100.40"] == {"198.51.100.40 (sip.fabrikam.com VIP; NAT to "
                                           "172.20.0.10)"}

    def test_second_servers_import_the_first_servers_configuration_and_certificates(
            self) -> None:
        order = [(w["server"], w["imports_from"], w["exports_to"]) for w in self.p["wizard"]]
        assert order == [("fbedge01", None, ["fbedge02"]), ("fbedge02", "fbedge01", []),
                         ("fbav01", None, ["fbav02"]), ("fbav02", "fbav01", [])]
        imported = screen(self.p, "fbedge02", "configure", "Import settings")[0]
        assert (imported["kind"], imported["value"]) == (
            "select", "fabrikam-lb-fbedge01-edge-config.xml")
        export = [a for a in screen(self.p, "fbedge01", "configure", "Finish")
                  if a["label"] == "Export"]
        assert export and export[0]["value"] == "fabrikam-lb-fbedge01-edge-config.xml"
        internal = screen(self.p, "fbedge02", "configure", "Internal interface")
        assert [a["value"] for a in internal if a["kind"] in ("select", "type")] == [
            "10.20.0.12", "edgepool.corp.fabrikam.com"]
        titles = [sc["title"] for sc in next(
            s for s in next(w for w in self.p["wizard"] if w["server"] == "fbav02")["steps"]
            if s["id"] == "certificates")["screens"]]
        assert "Edge internal interface: import the shared certificate" in titles
        assert "A/V authentication: import the shared certificate" in titles

    def test_exported_keys_get_vault_entries_and_copies_are_deleted(self) -> None:
        certs = [c["id"] for c in self.p["certificates"]]  # all five are shared
        first = step_actions(self.p, "fbedge01", "certificates")
        stored = [a["value"] for a in first if a["kind"] == "do" and "vault" in a["label"]]
        assert stored == ["fabrikam-lb/ocs-edge/pfx/internal-edgepool",
                          "fabrikam-lb/ocs-edge/pfx/external-sip-fabrikam-com",
                          "fabrikam-lb/ocs-edge/pfx/external-meet-fabrikam-com"]
        second = step_actions(self.p, "fbedge02", "certificates")
        assert [a["value"] for a in second if a["kind"] == "vault"] == stored
        assert sum(a["label"].startswith("Delete the .pfx") for a in second) == 3
        assert any("ocs-edge/pfx/" in a["label"] and "5 exported" in a["label"]
                   for a in self.p["checklist"]), certs

    def test_director_is_next_hop_and_every_pool_is_authorized(self) -> None:
        hop = screen(self.p, "fbedge01", "configure", "Internal next hop")
        assert hop[0]["value"] == "dir01.corp.fabrikam.com" and "Director" in hop[0]["why"]
        servers = screen(self.p, "fbedge01", "configure", "Authorized internal servers")
        assert [a["value"] for a in servers if a["kind"] == "type"] == [
            "dir01.corp.fabrikam.com", "pool01.corp.fabrikam.com", "pool02.corp.fabrikam.com"]
        domains = screen(self.p, "fbedge01", "configure", "Authorized internal SIP domains")
        assert [a["value"] for a in domains if a["kind"] == "type"] == ["fabrikam.com",
                                                                         "fabrikam.net"]

    def test_av_servers_activate_only_the_av_role(self) -> None:
        assert boxes(screen(self.p, "fbav01", "activate", "Select the edge roles")) == {
            "Activate Access Edge Server": "clear",
            "Activate Web Conferencing Edge Server": "clear",
            "Activate A/V Edge Server": "tick"}


class TestImOnlyEdge:
    """adatum-im: only the Access Edge, next hop a Standard Edition server."""

    p = plan("adatum-im")

    def test_nothing_of_web_conferencing_or_av_appears(self) -> None:
        assert {a["nic"] for a in self.p["addresses"]} == {"internal", "access"}
        # Only an Access Edge: its external certificate is the Access Edge's alone.
        assert [c["purpose"] for c in self.p["certificates"]] == ["internal", "access",
                                                                  "reverse_proxy"]
        assert self.p["certificates"][1]["sans"] == ["sip.adatum.com"]
        ports = {r["ports"] for r in self.p["firewall"]}
        assert not ports & {"8057", "5062", "3478", "50000-59999"}
        assert rows(self.p["dns"], "name", "type", "value") == {
            ("sip.adatum.com", "A", "192.0.2.10"),
            ("_sip._tls.adatum.com", "SRV", "sip.adatum.com"),
            ("_sipfederationtls._tcp.adatum.com", "SRV", "sip.adatum.com"),
            ("adedge01.ad.adatum.com", "A", "10.30.0.10"),
            ("ocsweb.adatum.com", "A", "192.0.2.20"),  # the ISA listener's public address
        }
        services = [a["label"] for a in screen(self.p, "adedge01", "services", "Start")
                    if a["kind"] == "check"]
        assert services == ["Service 'Office Communications Server Access Edge' is Running"]

    def test_wizard_activates_access_only_and_shows_no_meeting_or_av_boxes(self) -> None:
        assert boxes(screen(self.p, "adedge01", "activate", "Select the edge roles")) == {
            "Activate Access Edge Server": "tick",
            "Leave every other role box clear": "note"}
        runbook = self.p["wizard"][0]
        labels = [a["label"] for st in runbook["steps"] for sc in st["screens"]
                  for a in sc["actions"]]
        assert not [x for x in labels if "Web Conferencing" in x or "A/V" in x
                    or "anonymous" in x.lower()]
        ext = screen(self.p, "adedge01", "configure", "External interfaces")
        assert [a["value"] for a in ext if a["kind"] in ("select", "type")] == [
            "172.30.0.10", "sip.adatum.com"]
        features = boxes(screen(self.p, "adedge01", "configure", "Features"))
        assert features["Enable federation"] == "tick"
        assert features["Allow discovery of federation partners"] == "clear"
        assert features["Enable public IM connectivity"] == "clear"
        assert self.p["pic"] is None

    def test_standard_edition_next_hop_is_explained(self) -> None:
        hop = screen(self.p, "adedge01", "configure", "Internal next hop")[0]
        assert hop["value"] == "ocs-se01.ad.adatum.com"
        assert "Standard Edition" in hop["why"]
        assert self.p["hosts_file"] == [{"ip": "10.30.10.20", "fqdn": "ocs-se01.ad.adatum.com"}]


class TestAccessAndWebConferencingWithoutAv:
    """litware-noav: a lab edge with Access and Web Conferencing, no A/V, no federation."""

    p = plan("litware-noav")

    def test_no_av_and_no_federation_artifacts(self) -> None:
        assert [c["purpose"] for c in self.p["certificates"]] == ["internal", "access_webconf"]
        external = self.p["certificates"][1]
        assert external["sans"] == ["sip.litwareinc.com", "webconf.litwareinc.com"]
        assert (external["issuer"], external["ca"]) == ("internal", "Litware Lab CA")
        assert {r["ports"] for r in self.p["firewall"] if r["firewall"] == "external"} == {
            "443", "80", "53"}
        assert {d["name"] for d in self.p["dns"] if d["type"] == "SRV"} == {
            "_sip._tls.litwareinc.com"}
        features = boxes(screen(self.p, "lwedge01", "configure", "Features"))
        assert features["Enable federation"] == "clear"
        assert features["Allow anonymous users to join meetings"] == "tick"
        assert "Allow remote users to communicate with federated contacts" in features


class TestSplitAccessEdges:
    """woodgrove-split: one Access Edge for remote users, another for federation and PIC."""

    p = plan("woodgrove-split")

    def test_each_access_edge_gets_its_own_certificate_and_srv_record(self) -> None:
        external = {c["subject_cn"]: c for c in self.p["certificates"]
                    if c["purpose"] in ("access", "webconf")}
        # certificates.external: separate (the default): the Web Conferencing Edge on
        # wgedge-ra has a certificate of its own.
        assert external["sip.woodgrovebank.com"]["sans"] == ["sip.woodgrovebank.com"]
        assert external["meet.woodgrovebank.com"]["sans"] == ["meet.woodgrovebank.com"]
        assert external["meet.woodgrovebank.com"]["purpose"] == "webconf"
        assert external["sip.woodgrovebank.com"]["servers"] == ["wgedge-ra"]
        assert external["federation.woodgrovebank.com"]["servers"] == ["wgedge-fed"]
        # AOL is provided through the federation edge only, so only its certificate needs
        # Client Authentication.
        assert external["federation.woodgrovebank.com"]["eku"] == [
            "Server Authentication", "Client Authentication"]
        assert external["sip.woodgrovebank.com"]["eku"] == ["Server Authentication"]
        srv = {d["name"]: d["value"] for d in self.p["dns"] if d["type"] == "SRV"}
        assert srv == {"_sip._tls.woodgrovebank.com": "sip.woodgrovebank.com",
                       "_sipfederationtls._tcp.woodgrovebank.com":
                           "federation.woodgrovebank.com"}

    def test_federated_contacts_option_is_ticked_on_the_remote_access_edge_only(self) -> None:
        ra = boxes(screen(self.p, "wgedge-ra", "configure", "Features"))
        fed = boxes(screen(self.p, "wgedge-fed", "configure", "Features"))
        option = "Allow remote users to communicate with federated contacts"
        assert ra[option] == "tick" and fed[option] == "note"
        assert (ra["Enable remote user access"], ra["Enable federation"]) == ("tick", "clear")
        assert (fed["Enable remote user access"], fed["Enable federation"]) == ("clear", "tick")
        assert ra["Allow anonymous users to join meetings"] == "tick"
        assert fed["Allow anonymous users to join meetings"] == "clear"
        assert (fed["MSN / Windows Live"], fed["AOL"], fed["Yahoo!"]) == ("tick", "tick",
                                                                          "clear")

    def test_firewall_opens_each_feature_on_its_own_edge(self) -> None:
        ext = fw(self.p, "external")
        assert ("inbound", "Internet", "198.51.100.70", "TCP", "443") in ext
        assert ("inbound", "Internet", "198.51.100.80", "TCP", "443") not in ext
        assert ("inbound", "Internet", "198.51.100.80", "TCP", "5061") in ext
        assert ("inbound", "Internet", "198.51.100.70", "TCP", "5061") not in ext
        assert self.p["pic"]["edge"] == "wgedge-fed"
        assert self.p["pic"]["access_fqdn"] == "federation.woodgrovebank.com"


@pytest.mark.parametrize("name", ["contoso", "fabrikam-lb", "adatum-im", "woodgrove-split"])
def test_every_production_example_plans_without_warnings(name: str) -> None:
    assert plan(name)["warnings"] == []


def test_the_lab_example_carries_its_internal_ca_warning_into_the_plan() -> None:
    # Anonymous participants cannot trust a lab CA: a warning in lab, an error in production.
    assert [w["code"] for w in plan("litware-noav")["warnings"]] == ["anonymous-public-ca"]


def test_the_plan_as_data_is_exactly_what_dataclasses_asdict_makes() -> None:
    import dataclasses
    import json

    examples = sorted(INPUTS.glob("*.yaml"))
    assert len(examples) >= 4
    for path in examples:
        p = plan_file(path)
        data = p.to_dict()
        assert data == dataclasses.asdict(p), path.name
        # Same types all the way down (a tuple is not a list), so the same JSON.
        assert json.dumps(data) == json.dumps(dataclasses.asdict(p)), path.name
        assert repr(data) == repr(dataclasses.asdict(p)), path.name
