"""The plan for ``inputs/contoso.yaml``, field by field, against values worked out by hand.

Contoso is the seed article's lab: one Consolidated Edge Server ``edge01`` with an internal
NIC 10.0.0.10/24, an Access Edge NIC 172.16.0.10/24 NATed to 198.51.100.10 (the only default
gateway, 172.16.0.1), a Web Conferencing NIC 172.16.0.11/24 NATed to 198.51.100.11 and an
A/V Edge NIC on the public 198.51.100.12/24; pool01.contoso.local (Enterprise) as next hop;
remote access, anonymous meetings, federation and PIC with MSN, AOL and Yahoo!; DigiCert as
public CA and "Contoso Issuing CA" as internal CA.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from runbook.plan.sites import plan_file
from tests.topo import CONTOSO, ROOT

EDGE = "edge01"
EDGE_FQDN = "edge01.contoso.local"          # name + "." + domains.internal
ACCESS, WEBCONF, AV = "sip.contoso.com", "webconf.contoso.com", "av.contoso.com"
ACCESS_PUBLIC, WEBCONF_PUBLIC, AV_IP = "198.51.100.10", "198.51.100.11", "198.51.100.12"
INTERNAL_IP = "10.0.0.10"
POOL = "pool01.contoso.local"
RP, RP_PUBLIC = "webext.contoso.com", "198.51.100.20"  # reverse_proxy: fqdn, public_ip


@pytest.fixture(scope="module")
def plan() -> Iterator[dict[str, Any]]:
    """Contoso's plan as plain data, built from the repository root like the CLI would."""
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(ROOT)
        yield plan_file(CONTOSO).to_dict()


def screen(plan: dict[str, Any], step_id: str, title: str) -> list[dict[str, Any]]:
    """The actions of one wizard screen on edge01."""
    [runbook] = plan["wizard"]
    step = next(s for s in runbook["steps"] if s["id"] == step_id)
    return next(sc for sc in step["screens"] if sc["title"] == title)["actions"]


def typed(actions: list[dict[str, Any]]) -> dict[str, str]:
    """label -> value of the actions that enter or pick a value."""
    return {a["label"]: a["value"] for a in actions if a["kind"] in ("type", "select")}


# -- meta ----------------------------------------------------------------------------------


def test_the_plan_names_its_site_and_provenance(plan: dict[str, Any]) -> None:
    meta = plan["meta"]
    assert (meta["site"], meta["organization"], meta["environment"]) == (
        "contoso-hq", "Contoso Ltd", "production")
    assert meta["source"] == "inputs/contoso.yaml"
    assert meta["provenance"].startswith("Generated from inputs/contoso.yaml")
    assert meta["generator"] in meta["provenance"]


def test_contoso_has_no_warnings(plan: dict[str, Any]) -> None:
    assert plan["warnings"] == []


# -- addresses -----------------------------------------------------------------------------


def test_addresses_have_one_row_per_nic_with_nat_and_gateway(plan: dict[str, Any]) -> None:
    keys = ("server", "nic", "role", "ip", "prefix", "gateway", "public_ip", "fqdn")
    rows = [tuple(row[k] for k in keys) for row in plan["addresses"]]
    assert rows == [
        (EDGE, "internal", "internal", INTERNAL_IP, 24, None, None, EDGE_FQDN),
        (EDGE, "access", "access", "172.16.0.10", 24, "172.16.0.1", ACCESS_PUBLIC, ACCESS),
        (EDGE, "webconf", "webconf", "172.16.0.11", 24, None, WEBCONF_PUBLIC, WEBCONF),
        (EDGE, "av", "av", AV_IP, 24, None, None, AV),
    ]
    assert {row["netmask"] for row in plan["addresses"]} == {"255.255.255.0"}


def test_public_dns_uses_the_nat_address_when_there_is_one(plan: dict[str, Any]) -> None:
    assert [row["dns_address"] for row in plan["addresses"]] == [
        INTERNAL_IP, ACCESS_PUBLIC, WEBCONF_PUBLIC, AV_IP]


def test_the_internal_nic_reaches_10_slash_8_through_a_persistent_route(
        plan: dict[str, Any]) -> None:
    [route] = plan["routes"]
    assert (route["server"], route["to"], route["via"]) == (EDGE, "10.0.0.0/8", "10.0.0.1")
    assert route["command"] == "route -p add 10.0.0.0 mask 255.0.0.0 10.0.0.1"


# -- certificates --------------------------------------------------------------------------


def test_three_certificates_internal_external_and_av_authentication(
        plan: dict[str, Any]) -> None:
    keys = ("purpose", "subject_cn", "sans", "issuer", "ca", "exportable_key", "servers")
    certs = [tuple(c[k] for k in keys) for c in plan["certificates"]]
    assert certs == [
        ("internal", EDGE_FQDN, [EDGE_FQDN], "internal", "Contoso Issuing CA", False, [EDGE]),
        # Access + Web Conferencing share one public SAN certificate; sip.<sip domain> is
        # already the Access Edge name, so it is not repeated
        ("access_webconf", ACCESS, [ACCESS, WEBCONF], "public", "DigiCert", False, [EDGE]),
        ("av_auth", AV, [AV], "internal", "Contoso Issuing CA", False, [EDGE]),
        # The ISA listener: the external web farm FQDN alone, from the public CA.
        ("reverse_proxy", RP, [RP], "public", "DigiCert", False,
         ["reverse proxy (Microsoft ISA Server 2006)"]),
    ]


def test_certificates_are_assigned_to_the_right_interfaces(plan: dict[str, Any]) -> None:
    internal, external, av = (c["interface"] for c in plan["certificates"][:3])
    assert "Internal interface" in internal
    assert "Access Edge external" in external and "Web Conferencing Edge external" in external
    assert "A/V Authentication" in av
    assert "no certificate on the A/V external interface" in av


def test_aol_puts_client_authentication_in_the_external_certificate_eku(
        plan: dict[str, Any]) -> None:
    internal, external, av, rp = (c["eku"] for c in plan["certificates"])
    assert rp == ["Server Authentication"]
    assert external == ["Server Authentication", "Client Authentication"]
    assert av == ["Server Authentication"]
    assert "Server Authentication" in internal
    assert {c["key_size"] for c in plan["certificates"]} == {2048}


# -- DNS -------------------------------------------------------------------------------------


def test_dns_records_public_names_srv_records_and_the_manual_internal_a_record(
        plan: dict[str, Any]) -> None:
    keys = ("zone", "name", "type", "value", "port", "priority", "weight")
    records = [tuple(r[k] for k in keys) for r in plan["dns"]]
    expected = [
        ("contoso.com", ACCESS, "A", ACCESS_PUBLIC, None, None, None),
        ("contoso.com", WEBCONF, "A", WEBCONF_PUBLIC, None, None, None),
        ("contoso.com", AV, "A", AV_IP, None, None, None),
        ("contoso.com", "_sip._tls.contoso.com", "SRV", ACCESS, 443, 0, 0),
        ("contoso.com", "_sipfederationtls._tcp.contoso.com", "SRV", ACCESS, 5061, 0, 0),
        ("contoso.local", EDGE_FQDN, "A", INTERNAL_IP, None, None, None),
        ("contoso.com", RP, "A", RP_PUBLIC, None, None, None),  # the ISA listener's NAT
    ]
    assert sorted(records, key=str) == sorted(expected, key=str)
    assert len(records) == len(expected)


def test_each_dns_record_says_who_adds_it(plan: dict[str, Any]) -> None:
    for record in plan["dns"]:
        assert record["purpose"]
        if record["zone"] == "contoso.local":
            assert "by hand" in record["added_by"]
            assert "not a domain member" in record["reason"]
            assert "secure dynamic updates" in record["reason"]
        else:
            assert "Public DNS" in record["added_by"]


# -- firewall --------------------------------------------------------------------------------

# (firewall, direction, source contains, destination contains, protocol, ports)
EXTERNAL = [
    ("inbound", "Internet", ACCESS_PUBLIC, "TCP", "443"),        # remote users
    ("inbound", "Internet", ACCESS_PUBLIC, "TCP", "5061"),       # federation and PIC in
    ("outbound", ACCESS_PUBLIC, "Internet", "TCP", "5061"),      # federation and PIC out
    ("inbound", "Internet", WEBCONF_PUBLIC, "TCP", "443"),       # PSOM
    ("inbound", "Internet", AV_IP, "UDP", "3478"),               # STUN/UDP
    ("inbound", "Internet", AV_IP, "TCP", "443"),                # STUN/TCP
    ("inbound", "Internet", AV_IP, "TCP", "50000-59999"),        # RTP, OCS 2007: both
    ("outbound", AV_IP, "Internet", "TCP", "50000-59999"),       # protocols, both ways
    ("inbound", "Internet", AV_IP, "UDP", "50000-59999"),
    ("outbound", AV_IP, "Internet", "UDP", "50000-59999"),
    ("outbound", "172.16.0.10", "Internet", "TCP", "80"),        # CRLs, from the gateway NIC
    ("outbound", "172.16.0.10", "Internet", "UDP+TCP", "53"),    # DNS
    ("inbound", "Internet", RP_PUBLIC, "TCP", "443"),            # reverse proxy listener
]
INTERNAL = [
    ("inbound", POOL, INTERNAL_IP, "TCP", "5061"),               # SIP from the next hop
    ("outbound", INTERNAL_IP, POOL, "TCP", "5061"),              # SIP to the next hop
    ("inbound", POOL, INTERNAL_IP, "TCP", "8057"),               # Web Conferencing servers
    ("inbound", POOL, INTERNAL_IP, "TCP", "5062"),               # A/V authentication
    ("inbound", "Internal", INTERNAL_IP, "TCP", "443"),          # STUN from inside
    ("inbound", "Internal", INTERNAL_IP, "UDP", "3478"),
    ("outbound", "10.0.0.20", POOL, "TCP", "443"),               # reverse proxy -> Web Comp.
    ("outbound", INTERNAL_IP, "10.0.0.30", "TCP", "80"),         # the internal CA's CRL
]


@pytest.mark.parametrize(("firewall", "expected"), [("external", EXTERNAL),
                                                    ("internal", INTERNAL)])
def test_firewall_rules_are_exactly_the_ocs_2007_edge_ports(
        plan: dict[str, Any], firewall: str, expected: list[tuple[str, ...]]) -> None:
    rules = [r for r in plan["firewall"] if r["firewall"] == firewall]
    assert len(rules) == len(expected)
    for direction, src, dst, proto, ports in expected:
        hits = [r for r in rules if r["direction"] == direction and src in r["source"]
                and dst in r["destination"] and r["protocol"] == proto and r["ports"] == ports]
        assert len(hits) == 1, (direction, src, dst, proto, ports)
        assert hits[0]["purpose"]


def test_firewall_rules_have_stable_ids(plan: dict[str, Any]) -> None:
    ids = [r["id"] for r in plan["firewall"]]
    assert ids == [f"E{i:02d}" for i in range(1, 14)] + [f"I{i:02d}" for i in range(1, 9)]


# -- wizard ----------------------------------------------------------------------------------


def test_edge01_has_the_six_deployment_wizard_steps_in_order(plan: dict[str, Any]) -> None:
    [runbook] = plan["wizard"]
    assert (runbook["server"], runbook["fqdn"], runbook["roles"]) == (
        EDGE, EDGE_FQDN, ["access", "webconf", "av"])
    assert runbook["imports_from"] is None and runbook["exports_to"] == []
    assert [(s["number"], s["id"]) for s in runbook["steps"]] == [
        (1, "install"), (2, "activate"), (3, "configure"), (4, "certificates"),
        (5, "services"), (6, "validate")]


def test_activation_ticks_all_three_roles(plan: dict[str, Any]) -> None:
    actions = screen(plan, "activate", "Select the edge roles")
    assert [(a["kind"], a["label"]) for a in actions if a["kind"] in ("tick", "clear")] == [
        ("tick", "Activate Access Edge Server"),
        ("tick", "Activate Web Conferencing Edge Server"),
        ("tick", "Activate A/V Edge Server")]


def test_secrets_are_vault_actions_naming_the_entries_from_the_topology(
        plan: dict[str, Any]) -> None:
    [runbook] = plan["wizard"]
    vault = [a for s in runbook["steps"] for sc in s["screens"] for a in sc["actions"]
             if a["kind"] == "vault"]
    assert [(a["label"], a["value"]) for a in vault] == [
        ("Product key", "contoso-hq/ocs/product-key"),
        ("Password for RTCProxyService", "contoso-hq/ocs/RTCProxyService"),
        # the Validation Wizard's two test users: passwords from the vault, never printed
        ("User 1: password", "contoso-hq/ocs-edge/test-user-1"),
        ("User 2: password", "contoso-hq/ocs-edge/test-user-2")]
    assert typed(screen(plan, "install", "Customer Information")) == {
        "Organization": "Contoso Ltd"}


def test_the_internal_interface_screen_uses_the_internal_nic(plan: dict[str, Any]) -> None:
    actions = screen(plan, "configure", "Internal interface")
    assert typed(actions) == {"Internal IP address": INTERNAL_IP, "Internal FQDN": EDGE_FQDN}
    [warning] = [a for a in actions if a["kind"] == "warning"]
    assert f"{EDGE_FQDN} -> {INTERNAL_IP}" in warning["label"]
    assert "contoso.local zone" in warning["label"]
    assert "by hand" in warning["label"]


def test_the_external_interfaces_screen_uses_each_roles_own_nic_and_name(
        plan: dict[str, Any]) -> None:
    # the wizard binds to the addresses on the server, not the NAT addresses
    assert typed(screen(plan, "configure", "External interfaces")) == {
        "Access Edge IP address": "172.16.0.10", "Access Edge FQDN": ACCESS,
        "Web Conferencing Edge IP address": "172.16.0.11", "Web Conferencing Edge FQDN": WEBCONF,
        "A/V Edge IP address": AV_IP, "A/V Edge FQDN": AV}


def test_feature_boxes_follow_the_topology(plan: dict[str, Any]) -> None:
    actions = screen(plan, "configure", "Features")
    boxes = {a["label"]: a["kind"] for a in actions if a["kind"] in ("tick", "clear")}
    assert boxes == {
        "Enable remote user access": "tick",
        "Enable federation": "tick",
        "Allow discovery of federation partners": "tick",   # federation_discovery default
        "Allow anonymous users to join meetings": "tick",
        "Enable public IM connectivity": "tick",
        "MSN / Windows Live": "tick", "AOL": "tick", "Yahoo!": "tick"}
    [note] = [a for a in actions
              if a["label"] == "Allow remote users to communicate with federated contacts"]
    assert (note["kind"], note["value"]) == ("note", "greyed out")  # federation is on here


def test_next_hop_sip_domain_and_authorized_server(plan: dict[str, Any]) -> None:
    assert typed(screen(plan, "configure", "Internal next hop")) == {
        "Next hop FQDN": POOL, "Port": "5061"}
    assert typed(screen(plan, "configure", "Authorized internal SIP domains")) == {
        "Authorized internal SIP domain": "contoso.com"}
    assert typed(screen(plan, "configure", "Authorized internal servers")) == {
        "Authorized internal server": POOL}


def test_every_role_service_is_started_and_validated(plan: dict[str, Any]) -> None:
    services = [a["label"] for a in screen(plan, "services", "Start the services")
                if a["kind"] == "check"]
    assert len(services) == 4  # Access, Web Conferencing, A/V and A/V Authentication
    validated = [a["label"] for a in screen(plan, "validate", "Validation options")
                 if a["kind"] == "tick"]
    assert validated == ["Validate Local Server Configuration", "Validate Connectivity"]


# -- Public IM Connectivity ------------------------------------------------------------------


def test_pic_lists_the_three_providers_and_what_to_submit(plan: dict[str, Any]) -> None:
    pic = plan["pic"]
    assert (pic["edge"], pic["access_fqdn"]) == (EDGE, ACCESS)
    assert [p["id"] for p in pic["providers"]] == ["msn", "aol", "yahoo"]
    assert all(p["network_address"] for p in pic["providers"])
    submit = {row["field"]: row["value"] for row in pic["submit"]}
    assert submit["SIP domain(s)"] == "contoso.com"
    assert submit["Access Edge external FQDN"] == ACCESS
    assert submit["Organization"] == "Contoso Ltd"
    assert submit["Providers"] == ", ".join(p["name"] for p in pic["providers"])
    known = {"SIP domain(s)", "Access Edge external FQDN", "Organization", "Providers"}
    blanks = {k: v for k, v in submit.items() if k not in known}
    assert blanks, "the form has fields the topology cannot fill"
    assert set(blanks.values()) == {None}  # left blank as None, never invented


def test_pic_steps_wait_for_and_test_each_provider(plan: dict[str, Any]) -> None:
    steps = {s["title"]: s["actions"] for s in plan["pic"]["steps"]}
    names = [p["name"] for p in plan["pic"]["providers"]]
    for title in ("Wait for each provider", "Test"):
        assert len(steps[title]) == 3
        for name, action in zip(names, steps[title], strict=True):
            assert name in action["label"]


# -- JSON ------------------------------------------------------------------------------------


def test_the_plan_json_is_valid_and_deterministic() -> None:
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(ROOT)
        first, second = plan_file(CONTOSO).to_json(), plan_file(CONTOSO).to_json()
    assert first == second
    assert json.loads(first)["meta"]["site"] == "contoso-hq"
