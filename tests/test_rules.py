"""Deployment rules: each one fails on a topology that breaks it and passes on one that does not.

Every failing case checks the field, the position (computed from the YAML written), the
severity and a message that says what is wrong and what to do. ``environment: lab`` turns
the A/V public-address rule, the A/V NAT rule and the PIC public-CA rule into warnings.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from runbook.errors import Problem, ValidationFailed
from runbook.plan.sites import plan_file
from runbook.topology.model import Topology, next_hop_pool
from runbook.topology.rules import LB_SERVERS_HINT, is_public
from tests.topo import INPUTS, at, contoso, dump, one, problems, value_at, where, write

S0 = "edge.servers[0]"
NICS = f"{S0}.nics"


def server(t: dict[str, Any], i: int = 0) -> dict[str, Any]:
    """Edge server ``i`` of a topology dict."""
    return t["edge"]["servers"][i]


def nics(t: dict[str, Any], i: int = 0) -> dict[str, Any]:
    """The NICs of edge server ``i``."""
    return server(t, i)["nics"]


def lab(t: dict[str, Any]) -> dict[str, Any]:
    """The same topology in a lab."""
    t["environment"] = "lab"
    return t


def check(tmp_path: Path, t: dict[str, Any]) -> tuple[list[Problem], Path]:
    """Write ``t`` and return every problem found with the file's path."""
    path = write(tmp_path, t)
    return problems(path), path


def error_at(tmp_path: Path, t: dict[str, Any], field: str) -> tuple[Problem, Path]:
    """The single problem at ``field``, asserted to be an error."""
    found, path = check(tmp_path, t)
    p = one(found, field)
    assert p.severity == "error", p.format()
    return p, path


def assert_clean(tmp_path: Path, t: dict[str, Any]) -> None:
    """``t`` has no problem at all, not even a warning."""
    found, _ = check(tmp_path, t)
    assert found == [], "\n".join(p.format() for p in found)


def load_balanced() -> dict[str, Any]:
    """Contoso scaled out: two Access + Web Conferencing servers, two A/V-only servers, VIPs."""
    t = contoso()

    def srv(name: str, roles: list[str], n: int) -> dict[str, Any]:
        nic: dict[str, Any] = {"internal": {"ip": f"10.0.0.{n}/24",
                                            "routes": [{"to": "10.0.0.0/8", "via": "10.0.0.1"}]}}
        if "access" in roles:
            nic["access"] = {"ip": f"172.16.0.{n}/24", "gateway": "172.16.0.1"}
            nic["webconf"] = {"ip": f"172.16.0.{n + 100}/24"}
        else:
            nic["av"] = {"ip": f"198.51.100.{n}/24", "gateway": "198.51.100.1"}
        return {"name": name, "roles": roles, "nics": nic}

    t["edge"]["servers"] = [srv("edge01", ["access", "webconf"], 11),
                            srv("edge02", ["access", "webconf"], 12),
                            srv("av01", ["av"], 21), srv("av02", ["av"], 22)]
    t["edge"]["load_balancer"] = {
        "access": {"external_ip": "172.16.0.10", "public_ip": "198.51.100.10",
                   "internal_ip": "10.0.0.10", "internal_fqdn": "edgepool.contoso.local"},
        "webconf": {"external_ip": "172.16.0.110", "public_ip": "198.51.100.11"},
        "av": {"external_ip": "198.51.100.20", "internal_ip": "10.0.0.20",
               "internal_fqdn": "avpool.contoso.local"}}
    return t


def test_contoso_passes_every_rule(tmp_path: Path) -> None:
    assert_clean(tmp_path, contoso())


def test_the_scaled_out_load_balanced_layout_passes_every_rule(tmp_path: Path) -> None:
    assert_clean(tmp_path, load_balanced())


# -- A/V Edge address ----------------------------------------------------------------------


@pytest.mark.parametrize("ip", [
    "10.1.0.12/24",       # RFC 1918
    "172.20.0.12/24",     # RFC 1918
    "192.168.1.12/24",    # RFC 1918
    "100.64.0.12/24",     # carrier-grade NAT, 100.64/10
    "100.127.255.12/24",  # still inside 100.64/10
    "127.0.0.12/24",      # loopback
    "169.254.0.12/24",    # link-local
])
def test_av_edge_on_a_non_public_address_is_rejected_in_production(tmp_path: Path,
                                                                    ip: str) -> None:
    t = contoso()
    nics(t)["av"]["ip"] = ip
    p, path = error_at(tmp_path, t, f"{NICS}.av.ip")
    addr = ip.split("/")[0]
    assert (p.line, p.col) == where(path, ip)
    assert p.code == "av-public"
    assert p.message == (f"the A/V Edge address {addr} is not publicly routable: media relay "
                         "needs a public address routed to this NIC without NAT")


def test_av_edge_on_a_private_address_is_only_a_warning_in_a_lab(tmp_path: Path) -> None:
    t = lab(contoso())
    nics(t)["av"]["ip"] = "10.1.0.12/24"
    found, path = check(tmp_path, t)
    p = one(found, f"{NICS}.av.ip")
    assert p.severity == "warning"
    assert (p.line, p.col) == where(path, "10.1.0.12/24")
    assert "not publicly routable" in p.message
    assert [x for x in found if x.severity == "error"] == []


@pytest.mark.parametrize("ip", [
    "192.0.2.12/24",      # TEST-NET-1, documentation stand-in for a public address
    "198.51.100.12/24",   # TEST-NET-2
    "203.0.113.12/24",    # TEST-NET-3
    "131.107.155.3/24",   # a genuinely public address
    "100.128.0.12/24",    # just past 100.64/10
    "172.32.0.12/24",     # just past 172.16/12
])
def test_av_edge_on_a_public_or_documentation_address_is_accepted(tmp_path: Path,
                                                                   ip: str) -> None:
    t = contoso()
    nics(t)["av"]["ip"] = ip
    assert_clean(tmp_path, t)


def test_the_unspecified_address_is_never_public() -> None:
    assert not is_public("0.0.0.0")
    assert not is_public("0.1.2.3")
    assert is_public("198.51.100.12")


def test_av_edge_behind_nat_is_rejected(tmp_path: Path) -> None:
    t = contoso()
    nics(t)["av"]["public_ip"] = "203.0.113.12"
    p, path = error_at(tmp_path, t, f"{NICS}.av.public_ip")
    assert (p.line, p.col) == where(path, "203.0.113.12")
    assert p.code == "av-nat"
    assert p.message == ("the A/V Edge must not be behind NAT: give the NIC its public "
                         "address directly and remove public_ip")


def test_av_edge_behind_nat_is_only_a_warning_in_a_lab(tmp_path: Path) -> None:
    t = lab(contoso())
    nics(t)["av"]["public_ip"] = "203.0.113.12"
    found, _ = check(tmp_path, t)
    assert one(found, f"{NICS}.av.public_ip").severity == "warning"


def test_a_load_balanced_av_edge_on_a_private_address_is_rejected(tmp_path: Path) -> None:
    # behind a load balancer each A/V Edge still hands clients its own address
    t = load_balanced()
    nics(t, 2)["av"] = {"ip": "10.50.0.21/24", "gateway": "10.50.0.1"}
    p, path = error_at(tmp_path, t, "edge.servers[2].nics.av.ip")
    assert (p.line, p.col) == where(path, "10.50.0.21/24")
    assert "the A/V Edge address 10.50.0.21 is not publicly routable" in p.message


def test_an_av_vip_behind_nat_is_rejected(tmp_path: Path) -> None:
    t = load_balanced()
    t["edge"]["load_balancer"]["av"]["public_ip"] = "203.0.113.99"
    p, path = error_at(tmp_path, t, "edge.load_balancer.av.public_ip")
    assert (p.line, p.col) == where(path, "203.0.113.99")
    assert "must not be behind NAT: remove public_ip" in p.message


# -- NICs and addresses --------------------------------------------------------------------


def test_a_role_without_its_own_nic_is_rejected(tmp_path: Path) -> None:
    t = contoso()
    del nics(t)["av"]
    p, path = error_at(tmp_path, t, NICS)
    assert (p.line, p.col) == where(path, "internal:\n")  # the nics mapping starts there
    assert p.message == ("role 'av' runs on edge01 but has no NIC: add nics.av with its own "
                         "address")


def test_a_consolidated_edge_by_default_needs_all_three_role_nics(tmp_path: Path) -> None:
    t = contoso()
    del server(t)["roles"]  # default: access, webconf and av
    del nics(t)["webconf"]
    t["edge"]["fqdns"].pop("webconf")
    p, _ = error_at(tmp_path, t, NICS)
    assert "role 'webconf' runs on edge01 but has no NIC" in p.message


def test_a_nic_for_a_role_the_server_does_not_run_is_rejected(tmp_path: Path) -> None:
    t = contoso()
    server(t)["roles"] = ["access", "webconf"]
    t["edge"]["fqdns"].pop("av")
    p, path = error_at(tmp_path, t, f"{NICS}.av")
    assert (p.line, p.col) == where(path, "name: A/V Edge")
    assert p.message == ("edge01 has a av NIC but does not run that role: remove the NIC or "
                         "add 'av' to roles")


def test_a_server_without_the_av_role_and_nic_is_accepted(tmp_path: Path) -> None:
    t = contoso()
    server(t)["roles"] = ["access", "webconf"]
    del nics(t)["av"]
    t["edge"]["fqdns"].pop("av")
    del t["mediation"]  # its A/V Edge setting would point nowhere (a warning)
    assert_clean(tmp_path, t)


def test_a_public_address_used_twice_is_rejected_at_the_second_use(tmp_path: Path) -> None:
    t = contoso()
    nics(t)["webconf"]["public_ip"] = "198.51.100.10"  # the Access Edge's NAT address
    p, path = error_at(tmp_path, t, f"{NICS}.webconf.public_ip")
    assert (p.line, p.col) == where(path, "198.51.100.10", nth=2)
    assert p.message == ("address 198.51.100.10 is already used at "
                         f"{NICS}.access.public_ip: every NIC, public address and VIP needs "
                         "its own address")


def test_a_nic_address_used_twice_is_rejected(tmp_path: Path) -> None:
    t = contoso()
    nics(t)["webconf"]["ip"] = "172.16.0.10/24"
    p, path = error_at(tmp_path, t, f"{NICS}.webconf.ip")
    assert (p.line, p.col) == where(path, "172.16.0.10/24", nth=2)
    assert f"address 172.16.0.10 is already used at {NICS}.access.ip" in p.message


def test_a_nic_address_reused_as_a_public_ip_is_rejected(tmp_path: Path) -> None:
    t = contoso()
    nics(t)["webconf"]["public_ip"] = "198.51.100.12"  # the A/V Edge's own address
    # webconf comes first in the file, so the A/V NIC's address is the second use
    p, path = error_at(tmp_path, t, f"{NICS}.av.ip")
    assert (p.line, p.col) == where(path, "198.51.100.12/24")
    assert f"address 198.51.100.12 is already used at {NICS}.webconf.public_ip" in p.message


def test_a_pool_address_used_by_the_edge_is_rejected(tmp_path: Path) -> None:
    t = contoso()
    t["pools"][0]["ip"] = "10.0.0.10"
    p, path = error_at(tmp_path, t, "pools[0].ip")
    assert (p.line, p.col) == value_at(path, "ip", "10.0.0.10")
    assert f"address 10.0.0.10 is already used at {NICS}.internal.ip" in p.message


def test_a_vip_address_used_by_a_server_nic_is_rejected(tmp_path: Path) -> None:
    t = load_balanced()
    t["edge"]["load_balancer"]["webconf"]["external_ip"] = "172.16.0.111"  # edge01's webconf
    p, path = error_at(tmp_path, t, "edge.load_balancer.webconf.external_ip")
    assert (p.line, p.col) == value_at(path, "external_ip", "172.16.0.111")
    assert "address 172.16.0.111 is already used at edge.servers[0].nics.webconf.ip" in p.message


def test_an_internal_nic_on_an_external_nics_subnet_is_rejected(tmp_path: Path) -> None:
    t = contoso()
    nics(t)["internal"]["ip"] = "172.16.0.20/24"
    nics(t)["internal"]["routes"] = [{"to": "10.0.0.0/8", "via": "172.16.0.254"}]
    found, path = check(tmp_path, t)
    hits = at(found, f"{NICS}.internal.ip")
    # One finding per server, naming every external NIC that shares the subnet.
    assert [p.message for p in hits] == [
        "the internal NIC 172.16.0.20/24 shares a subnet with the access, webconf NIC(s): "
        "put it on an internal subnet of its own"]
    assert {(p.line, p.col) for p in hits} == {where(path, "172.16.0.20/24")}
    assert all(p.severity == "error" for p in hits)


# -- gateways and routes -------------------------------------------------------------------


def test_a_server_without_a_default_gateway_is_rejected(tmp_path: Path) -> None:
    t = contoso()
    del nics(t)["access"]["gateway"]
    p, path = error_at(tmp_path, t, NICS)
    assert (p.line, p.col) == where(path, "internal:\n")
    assert p.message == ("edge01 has no default gateway: set gateway on one external NIC "
                         "(usually the Access Edge NIC)")


def test_a_second_default_gateway_is_rejected(tmp_path: Path) -> None:
    t = contoso()
    nics(t)["webconf"]["gateway"] = "172.16.0.1"
    p, path = error_at(tmp_path, t, f"{NICS}.webconf.gateway")
    assert (p.line, p.col) == value_at(path, "gateway", "172.16.0.1", nth=2)
    assert p.message == ("edge01 has more than one default gateway (also on access): keep "
                         "exactly one, on one external NIC")


def test_the_gateway_may_sit_on_the_av_nic_instead(tmp_path: Path) -> None:
    t = contoso()
    del nics(t)["access"]["gateway"]
    nics(t)["av"]["gateway"] = "198.51.100.1"
    assert_clean(tmp_path, t)


def test_a_gateway_outside_its_nics_subnet_is_rejected(tmp_path: Path) -> None:
    t = contoso()
    nics(t)["access"]["gateway"] = "172.17.0.1"
    p, path = error_at(tmp_path, t, f"{NICS}.access.gateway")
    assert (p.line, p.col) == where(path, "172.17.0.1")
    assert p.message == ("gateway 172.17.0.1 is outside the NIC's subnet 172.16.0.0/24: use a "
                         "router on that subnet")


def test_a_gateway_equal_to_the_nics_own_address_is_rejected(tmp_path: Path) -> None:
    t = contoso()
    nics(t)["access"]["gateway"] = "172.16.0.10"
    p, _ = error_at(tmp_path, t, f"{NICS}.access.gateway")
    assert p.message == "the gateway is the NIC's own address: use the router's address"


def test_a_gateway_on_the_internal_nic_is_rejected(tmp_path: Path) -> None:
    t = contoso()
    nics(t)["internal"]["gateway"] = "10.0.0.1"
    p, path = error_at(tmp_path, t, f"{NICS}.internal.gateway")
    assert (p.line, p.col) == value_at(path, "gateway", "10.0.0.1")
    assert p.message == ("the internal NIC must not have a default gateway: remove it and list "
                         "the internal networks under routes")


def test_a_route_via_a_router_outside_the_internal_subnet_is_rejected(tmp_path: Path) -> None:
    t = contoso()
    nics(t)["internal"]["routes"][0]["via"] = "10.9.0.1"
    field = f"{NICS}.internal.routes[0].via"
    p, path = error_at(tmp_path, t, field)
    assert (p.line, p.col) == where(path, "10.9.0.1")
    assert p.message == ("router 10.9.0.1 is not on the internal NIC's subnet 10.0.0.0/24: use "
                         "a router reachable from that NIC")


def test_routes_on_an_external_nic_are_rejected(tmp_path: Path) -> None:
    t = contoso()
    nics(t)["access"]["routes"] = [{"to": "192.168.0.0/16", "via": "172.16.0.1"}]
    p, _ = error_at(tmp_path, t, f"{NICS}.access.routes")
    assert p.message == ("static routes belong on the internal NIC: move them to "
                         "nics.internal.routes")


def test_a_default_route_on_the_internal_nic_is_rejected(tmp_path: Path) -> None:
    t = contoso()
    nics(t)["internal"]["routes"].append({"to": "0.0.0.0/0", "via": "10.0.0.1"})
    p, path = error_at(tmp_path, t, f"{NICS}.internal.routes[1].to")
    assert (p.line, p.col) == where(path, "0.0.0.0/0")
    assert "list internal networks only" in p.message


def test_several_routes_through_an_internal_router_are_accepted(tmp_path: Path) -> None:
    t = contoso()
    nics(t)["internal"]["routes"] = [{"to": "10.0.0.0/8", "via": "10.0.0.1"},
                                     {"to": "192.168.0.0/16", "via": "10.0.0.254"}]
    assert_clean(tmp_path, t)


# -- public reachability of Access and Web Conferencing -------------------------------------


def test_private_webconf_address_without_public_ip_is_a_warning_in_production(
        tmp_path: Path) -> None:
    t = contoso()
    del nics(t)["webconf"]["public_ip"]
    found, path = check(tmp_path, t)
    p = one(found, f"{NICS}.webconf.ip")
    assert p.severity == "warning"
    assert p.code == "no-public-ip"
    assert (p.line, p.col) == where(path, "172.16.0.11/24")
    assert p.message == ("172.16.0.11 is private and has no public_ip: public DNS cannot point "
                         "at it; add the NAT address as public_ip")
    assert [x for x in found if x.severity == "error"] == []


def test_private_access_address_without_public_ip_is_a_warning_in_production(
        tmp_path: Path) -> None:
    t = contoso()
    del nics(t)["access"]["public_ip"]
    found, _ = check(tmp_path, t)
    assert one(found, f"{NICS}.access.ip").severity == "warning"


def test_private_access_address_without_public_ip_is_fine_in_a_lab(tmp_path: Path) -> None:
    t = lab(contoso())
    del nics(t)["access"]["public_ip"], nics(t)["webconf"]["public_ip"]
    assert_clean(tmp_path, t)


def test_a_public_access_address_needs_no_public_ip(tmp_path: Path) -> None:
    t = contoso()
    nics(t)["access"] = {"ip": "203.0.113.10/24", "gateway": "203.0.113.1"}
    assert_clean(tmp_path, t)


# -- names and zones -----------------------------------------------------------------------


def test_an_internal_fqdn_outside_the_internal_zone_is_rejected(tmp_path: Path) -> None:
    t = contoso()
    server(t)["fqdn"] = "edge01.contoso.com"
    p, path = error_at(tmp_path, t, f"{S0}.fqdn")
    assert (p.line, p.col) == value_at(path, "fqdn", "edge01.contoso.com")
    assert p.message == ("internal name edge01.contoso.com is not in the internal zone "
                         "contoso.local: the edge's internal FQDN must be an AD DNS name")


def test_an_explicit_internal_fqdn_inside_the_internal_zone_is_accepted(tmp_path: Path) -> None:
    t = contoso()
    server(t)["fqdn"] = "edge01.perimeter.contoso.local"
    assert_clean(tmp_path, t)


def test_a_role_fqdn_outside_the_external_zone_is_rejected(tmp_path: Path) -> None:
    t = contoso()
    t["edge"]["fqdns"]["webconf"] = "webconf.fabrikam.com"
    p, path = error_at(tmp_path, t, "edge.fqdns.webconf")
    assert (p.line, p.col) == where(path, "webconf.fabrikam.com")
    assert p.message == ("webconf.fabrikam.com is not in the external zone contoso.com: use a "
                         "name under contoso.com")


def test_a_name_merely_ending_in_the_zones_text_is_not_inside_it(tmp_path: Path) -> None:
    t = contoso()
    t["edge"]["fqdns"]["av"] = "avcontoso.com"  # a sibling of contoso.com, under com
    p, _ = error_at(tmp_path, t, "edge.fqdns.av")
    assert p.message.startswith("avcontoso.com is not in the external zone contoso.com")


def test_two_roles_sharing_a_public_name_are_rejected(tmp_path: Path) -> None:
    t = contoso()
    t["edge"]["fqdns"]["webconf"] = "sip.contoso.com"
    p, _ = error_at(tmp_path, t, "edge.fqdns.webconf")
    assert p.message == ("sip.contoso.com is already the access name: each role needs its own "
                         "public name and address")


# -- domain membership -----------------------------------------------------------------------


def test_a_domain_joined_edge_is_rejected(tmp_path: Path) -> None:
    t = contoso()
    server(t)["domain_joined"] = True
    p, path = error_at(tmp_path, t, f"{S0}.domain_joined")
    assert (p.line, p.col) == value_at(path, "domain_joined", "true")
    assert p.message == ("an edge server must stay in a workgroup, never joined to the "
                         "internal domain: set it to false")


def test_a_workgroup_edge_is_accepted(tmp_path: Path) -> None:
    t = contoso()
    server(t)["domain_joined"] = False
    assert_clean(tmp_path, t)


# -- next hop ----------------------------------------------------------------------------------


def test_a_next_hop_that_is_not_a_declared_pool_is_rejected_with_a_hint(tmp_path: Path) -> None:
    t = contoso()
    t["next_hop"] = "pool1.contoso.local"
    p, path = error_at(tmp_path, t, "next_hop")
    assert (p.line, p.col) == where(path, "pool1.contoso.local")
    assert p.message == ("pool1.contoso.local is not one of the pools (pool01.contoso.local); "
                         "did you mean 'pool01.contoso.local'? Declare it under pools or pick "
                         "one")


def with_director(t: dict[str, Any]) -> dict[str, Any]:
    """Contoso with a second pool and a Director declared after them, no explicit next hop."""
    t["pools"] = [{"fqdn": "pool01.contoso.local", "kind": "enterprise"},
                  {"fqdn": "se01.contoso.local", "kind": "standard"},
                  {"fqdn": "dir01.contoso.local", "kind": "director"}]
    del t["next_hop"]
    return t


def next_hop_on_the_wizard_screen(path: Path) -> tuple[str, str]:
    """The next hop FQDN and port the Configure Edge Server wizard asks for."""
    wizard = plan_file(path).wizard[0]
    step3 = next(s for s in wizard.steps if s.id == "configure")
    screen = next(sc for sc in step3.screens if sc.title == "Internal next hop")
    values = {a.label: a.value for a in screen.actions if a.kind == "type"}
    return values["Next hop FQDN"], values["Port"]


def test_the_default_next_hop_is_the_director_when_there_is_one(tmp_path: Path) -> None:
    t = with_director(contoso())
    path = write(tmp_path, t)
    assert problems(path) == []
    assert next_hop_pool(Topology.model_validate(t)).fqdn == "dir01.contoso.local"
    assert next_hop_on_the_wizard_screen(path) == ("dir01.contoso.local", "5061")
    hop = plan_file(path).summary.next_hop
    assert hop is not None
    assert (hop.fqdn, hop.kind, hop.explicit) == ("dir01.contoso.local", "director", False)


def test_the_default_next_hop_is_the_first_pool_without_a_director(tmp_path: Path) -> None:
    t = with_director(contoso())
    t["pools"] = list(reversed(t["pools"][:2]))  # se01 first, then pool01; no Director
    path = write(tmp_path, t)
    assert problems(path) == []
    assert next_hop_on_the_wizard_screen(path) == ("se01.contoso.local", "5061")


def test_an_explicit_next_hop_wins_over_the_director(tmp_path: Path) -> None:
    t = with_director(contoso())
    t["next_hop"] = "pool01.contoso.local"
    path = write(tmp_path, t)
    assert problems(path) == []
    assert next_hop_on_the_wizard_screen(path) == ("pool01.contoso.local", "5061")


# -- Public IM Connectivity ------------------------------------------------------------------


def test_public_im_without_federation_is_rejected(tmp_path: Path) -> None:
    t = contoso()
    t["edge"]["features"]["federation"] = False
    p, path = error_at(tmp_path, t, "edge.features.public_im")
    assert (p.line, p.col) == where(path, "- msn")
    assert p.message == ("Public IM Connectivity runs over federation: enable federation on "
                         "this Access Edge or remove the providers")


def test_no_federation_and_no_public_im_is_accepted(tmp_path: Path) -> None:
    t = contoso()
    t["edge"]["features"].update(federation=False, public_im=[])
    del t["edge"]["federation_partners"]  # unused without federation (a warning)
    assert_clean(tmp_path, t)


def test_public_im_without_a_public_ca_is_rejected_in_production(tmp_path: Path) -> None:
    t = contoso()
    del t["certificates"]["public_ca"]
    found, path = check(tmp_path, t)
    pic = [p for p in at(found, "edge.features.public_im") if p.code == "pic-public-ca"]
    assert len(pic) == 1
    assert pic[0].severity == "error"
    assert (pic[0].line, pic[0].col) == where(path, "- msn")
    assert pic[0].message == ("Public IM Connectivity needs the Access Edge certificate from a "
                              "public CA: set certificates.public_ca")


def test_public_im_without_a_public_ca_is_only_a_warning_in_a_lab(tmp_path: Path) -> None:
    t = lab(contoso())
    del t["certificates"]["public_ca"]
    found, _ = check(tmp_path, t)
    assert [(p.path, p.severity, p.code) for p in found] == [
        ("edge.features.anonymous_meetings", "warning", "anonymous-public-ca"),
        ("edge.features.public_im", "warning", "pic-public-ca")]


def test_aol_adds_client_authentication_to_the_external_certificate(tmp_path: Path) -> None:
    t = contoso()
    t["edge"]["features"]["public_im"] = ["aol"]
    plan = plan_file(write(tmp_path, t))
    external = next(c for c in plan.certificates if c.purpose == "access_webconf")
    assert external.eku == ["Server Authentication", "Client Authentication"]
    assert plan.pic is not None and plan.pic.needs_client_auth_eku is True


def test_without_aol_the_external_certificate_has_server_authentication_only(
        tmp_path: Path) -> None:
    t = contoso()
    t["edge"]["features"]["public_im"] = ["msn", "yahoo"]
    plan = plan_file(write(tmp_path, t))
    external = next(c for c in plan.certificates if c.purpose == "access_webconf")
    assert external.eku == ["Server Authentication"]
    assert plan.pic is not None and plan.pic.needs_client_auth_eku is False


# -- load balancing ----------------------------------------------------------------------------


def test_av_sharing_a_server_once_roles_are_load_balanced_is_rejected(tmp_path: Path) -> None:
    t = load_balanced()
    server(t, 0)["roles"].append("av")
    nics(t, 0)["av"] = {"ip": "198.51.100.31/24"}
    p, path = error_at(tmp_path, t, "edge.servers[0].roles")
    assert (p.line, p.col) == where(path, "- access")  # edge01's roles list
    assert p.message == ("with load balancing the A/V Edge runs on servers of its own: move it "
                         "off this server; load-balancing all three roles needs four servers: "
                         "two or more running Access + Web Conferencing and two or more running "
                         "only the A/V Edge")


def test_the_layout_hint_says_four_servers_balance_all_three_roles() -> None:
    assert "all three roles needs four servers" in LB_SERVERS_HINT


def test_a_load_balanced_role_without_a_vip_is_rejected(tmp_path: Path) -> None:
    t = load_balanced()
    del t["edge"]["load_balancer"]["webconf"]
    p, path = error_at(tmp_path, t, "edge.load_balancer")
    line, _ = where(path, "load_balancer:\n")
    assert (p.line, p.col) == (line + 1, 5)  # where the load_balancer mapping starts
    assert p.message == ("the Web Conferencing Edge role runs on 2 servers: add "
                         "load_balancer.webconf with its VIP")


def test_two_av_edges_without_a_load_balancer_are_rejected(tmp_path: Path) -> None:
    t = load_balanced()
    t["edge"]["load_balancer"] = None
    found, _ = check(tmp_path, t)
    messages = [p.message for p in at(found, "edge.servers")]
    assert ("the A/V Edge role runs on 2 servers, which needs a hardware load balancer: add "
            "edge.load_balancer with a VIP for av") in messages


def test_a_vip_for_a_role_on_one_server_is_rejected(tmp_path: Path) -> None:
    t = contoso()
    t["edge"]["load_balancer"] = {"av": {"external_ip": "198.51.100.20",
                                         "internal_ip": "10.0.0.20",
                                         "internal_fqdn": "avpool.contoso.local"}}
    found, _ = check(tmp_path, t)
    vip = one(found, "edge.load_balancer.av")
    assert vip.message.startswith("a VIP for the A/V Edge needs two or more servers running it, "
                                  "found 1: load-balancing all three roles needs four servers")
    whole = one(found, "edge.load_balancer")
    assert "a load balancer is declared but every role runs on one server" in whole.message


def test_a_vip_missing_its_internal_address_is_rejected(tmp_path: Path) -> None:
    t = load_balanced()
    del t["edge"]["load_balancer"]["access"]["internal_ip"]
    p, _ = error_at(tmp_path, t, "edge.load_balancer.access")
    assert p.message == "the access VIP needs internal_ip: add it"


def test_access_and_webconf_may_share_servers_behind_the_load_balancer(tmp_path: Path) -> None:
    t = load_balanced()
    assert server(t, 0)["roles"] == ["access", "webconf"]
    assert_clean(tmp_path, t)


def test_a_single_av_server_behind_balanced_access_needs_no_vip(tmp_path: Path) -> None:
    t = load_balanced()
    del t["edge"]["servers"][3], t["edge"]["load_balancer"]["av"]
    assert_clean(tmp_path, t)


# -- servers have names and FQDNs of their own (issue 17) ----------------------------------


def second_server(t: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """Contoso with a second Access Edge (its own addresses) changed by ``changes``."""
    t["edge"]["servers"].append({
        "name": "edge02", "roles": ["access"],
        "nics": {"internal": {"ip": "10.0.0.20/24"},
                 "access": {"ip": "172.16.0.20/24", "gateway": "172.16.0.1",
                            "public_ip": "198.51.100.20"}},
        **changes})
    return t


@pytest.mark.parametrize("name", ["edge01", "EDGE01", "Edge01"])
def test_two_servers_with_one_name_in_any_case_are_rejected_at_the_second(
        tmp_path: Path, name: str) -> None:
    t = second_server(contoso(), name=name)
    p, path = error_at(tmp_path, t, "edge.servers[1].name")
    assert (p.line, p.col) == value_at(path, "name", name, nth=1 if name != "edge01" else 2)
    assert p.message == ("server name edge01 is already used by edge.servers[0] (names are "
                         "compared without case, as Windows and DNS do): give each server its "
                         "own name")
    assert at(problems(path), "edge.servers[1].fqdn") == []  # the same name is one finding


def test_two_servers_with_one_fqdn_are_rejected_at_the_second(tmp_path: Path) -> None:
    t = second_server(contoso(), fqdn="EDGE01.contoso.local")
    p, path = error_at(tmp_path, t, "edge.servers[1].fqdn")
    assert (p.line, p.col) == value_at(path, "fqdn", "EDGE01.contoso.local")
    assert p.message == ("internal FQDN edge01.contoso.local is already the FQDN of "
                         "edge.servers[0]: each server needs its own")


def test_a_server_named_like_a_pool_is_rejected(tmp_path: Path) -> None:
    t = contoso()
    server(t)["fqdn"] = "pool01.contoso.local"
    p, path = error_at(tmp_path, t, f"{S0}.fqdn")
    assert (p.line, p.col) == value_at(path, "fqdn", "pool01.contoso.local", nth=2)
    assert p.message == ("internal FQDN pool01.contoso.local is also the FQDN of pools[0]: an "
                         "edge server is never a pool or Director; give the edge server its "
                         "own name")


def test_a_server_whose_default_fqdn_is_a_pools_is_rejected_at_its_name(tmp_path: Path) -> None:
    t = contoso()
    server(t)["name"] = "pool01"  # pool01 + contoso.local
    p, _ = error_at(tmp_path, t, f"{S0}.name")
    assert p.message.startswith("internal FQDN pool01.contoso.local is also the FQDN of pools[0]")


@pytest.mark.parametrize("gateway", ["172.16.0.0", "172.16.0.255"])
def test_a_gateway_on_the_network_or_broadcast_address_is_rejected(tmp_path: Path,
                                                                   gateway: str) -> None:
    t = contoso()
    nics(t)["access"]["gateway"] = gateway  # the access NIC is 172.16.0.10/24
    p, path = error_at(tmp_path, t, f"{NICS}.access.gateway")
    assert (p.line, p.col) == where(path, gateway)
    assert p.message == (f"gateway {gateway} is the network or broadcast address of "
                         "172.16.0.0/24, never a router: use the router's address")


@pytest.mark.parametrize(("via", "message"), [
    ("10.0.0.0", "router 10.0.0.0 is the network or broadcast address of 10.0.0.0/24: use the "
                 "router's address"),
    ("10.0.0.255", "router 10.0.0.255 is the network or broadcast address of 10.0.0.0/24: use "
                   "the router's address"),
    ("10.0.0.10", "the router is the NIC's own address: use the router's address"),
])
def test_a_route_via_the_network_broadcast_or_own_address_is_rejected(
        tmp_path: Path, via: str, message: str) -> None:
    t = contoso()
    nics(t)["internal"]["routes"][0]["via"] = via  # the internal NIC is 10.0.0.10/24
    p, _ = error_at(tmp_path, t, f"{NICS}.internal.routes[0].via")
    assert p.message == message


# -- every FQDN names one thing (issue 17, item 5) -------------------------------------------


def internal_under_external(t: dict[str, Any]) -> dict[str, Any]:
    """``t`` with its internal zone inside the public one (corp.contoso.com): internal names
    then pass the external zone's check, so only the FQDN rule tells them apart."""
    moved: dict[str, Any] = yaml.safe_load(dump(t).replace("contoso.local", "corp.contoso.com"))
    return moved


RP_FQDN = "webext.contoso.com"  # contoso's reverse proxy


@pytest.mark.parametrize(("field", "change", "first"), [
    ("edge.fqdns.access", lambda t: t["edge"]["fqdns"].update(access="pool01.corp.contoso.com"),
     "the FQDN of pools[0]"),
    ("edge.fqdns.webconf", lambda t: t["edge"]["fqdns"].update(
        webconf="edge01.corp.contoso.com"), "the internal FQDN of edge.servers[0]"),
    ("edge.fqdns.av", lambda t: t["edge"]["fqdns"].update(av="pool01.corp.contoso.com"),
     "the FQDN of pools[0]"),
    ("reverse_proxy.fqdn", lambda t: t["reverse_proxy"].update(fqdn="sip.contoso.com"),
     "the Access Edge's public name (edge.fqdns.access)"),
    ("reverse_proxy.fqdn", lambda t: t["reverse_proxy"].update(fqdn="av.contoso.com"),
     "the A/V Edge's public name (edge.fqdns.av)"),
    ("reverse_proxy.fqdn", lambda t: t["reverse_proxy"].update(fqdn="pool01.corp.contoso.com"),
     "the FQDN of pools[0]"),
    ("reverse_proxy.fqdn", lambda t: t["reverse_proxy"].update(fqdn="edge01.corp.contoso.com"),
     "the internal FQDN of edge.servers[0]"),
    (f"{S0}.fqdns.webconf", lambda t: server(t).update(fqdns={"webconf": "sip.contoso.com"}),
     "the Access Edge's public name (edge.fqdns.access)"),
])
def test_a_public_name_that_is_another_hosts_fqdn_is_rejected(
        tmp_path: Path, field: str, change: Any, first: str) -> None:
    t = internal_under_external(contoso())
    change(t)
    p, path = error_at(tmp_path, t, field)
    name = p.message.split(" ", 1)[0]
    # The later of the two places the name is written.
    key = field.rsplit(".", 1)[1]
    nth = 2 if f"fqdn: {name}\n" in path.read_text("utf-8").split("reverse_proxy:")[0] \
        and key == "fqdn" else 1
    assert (p.line, p.col) == value_at(path, key, name, nth=nth)
    assert p.message == (f"{name} is already {first}: one name for two hosts or roles sends "
                         "DNS, certificates and clients to the wrong one; give this one a name "
                         "of its own")


@pytest.mark.parametrize(("role", "fqdn", "first"), [
    ("access", "pool01.corp.contoso.com", "the FQDN of pools[0]"),
    ("access", "edge01.corp.contoso.com", "the internal FQDN of edge.servers[0]"),
    ("av", "av01.corp.contoso.com", "the internal FQDN of edge.servers[2]"),
    ("av", "edgepool.corp.contoso.com", "the internal FQDN of the Access Edge VIP"),
])
def test_an_internal_vip_named_like_another_host_is_rejected(
        tmp_path: Path, role: str, fqdn: str, first: str) -> None:
    t = internal_under_external(load_balanced())
    t["edge"]["load_balancer"][role]["internal_fqdn"] = fqdn
    p, path = error_at(tmp_path, t, f"edge.load_balancer.{role}.internal_fqdn")
    assert (p.line, p.col) == value_at(path, "internal_fqdn", fqdn,
                                       nth=2 if "VIP" in first else 1)
    assert p.message.startswith(f"{fqdn} is already {first}: ")


def test_a_director_named_as_the_access_edge_is_rejected_and_nothing_is_planned(
        tmp_path: Path) -> None:
    # The plan used to take the Access Edge's public name as the next hop's.
    t = internal_under_external(contoso())
    t["pools"].insert(0, {"fqdn": "dir01.corp.contoso.com", "kind": "director"})
    t["next_hop"] = "dir01.corp.contoso.com"
    t["edge"]["fqdns"]["access"] = "dir01.corp.contoso.com"
    p, path = error_at(tmp_path, t, "edge.fqdns.access")
    assert p.message.startswith("dir01.corp.contoso.com is already the FQDN of pools[0]: ")
    with pytest.raises(ValidationFailed):
        plan_file(path)


def test_a_servers_own_name_for_the_edge_wide_role_is_not_a_repeat(tmp_path: Path) -> None:
    t = internal_under_external(contoso())
    server(t)["fqdns"] = {"access": "sip.contoso.com"}
    found, _ = check(tmp_path, t)
    assert at(found, f"{S0}.fqdns.access") == []
    assert not [p for p in found if "is already" in p.message]


def test_the_examples_pass_the_fqdn_rule(tmp_path: Path) -> None:
    for example in sorted(INPUTS.glob("*.yaml")):
        assert not [p.format() for p in problems(example) if "is already" in p.message]
