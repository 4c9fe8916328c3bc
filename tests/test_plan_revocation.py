"""Revocation and chains: the CRLs the edges must reach, and the CA certificates they import.

Expected values are worked out by hand from the examples and the sources the catalog cites:
every OCS 2007 server certificate carries a CRL distribution point (Certificate
Infrastructure, 2007); an Access Edge whose CRL was unreachable would not start until HTTP 80
out was allowed (exploringuc); a perimeter server needs an HTTP distribution point it can
reach, an LDAP one needs a domain controller (Exchange 2007 and Microsoft PKI guidance);
workgroup edges import CA certificates into the computer account's stores (Schertz).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from runbook.outputs.documents import change_request_markdown
from runbook.plan.sites import plan_file
from tests.topo import INPUTS, at, contoso, errors, problems, write


def plan_of(name: str) -> dict[str, Any]:
    result: dict[str, Any] = plan_file(INPUTS / name).to_dict()
    return result


def rule(plan: dict[str, Any], rule_id: str) -> dict[str, Any]:
    return next(r for r in plan["firewall"] if r["id"] == rule_id)


def test_each_edge_reaches_the_internal_cas_http_distribution_point() -> None:
    p = plan_of("contoso.yaml")
    internal, _public = p["trust"]["crl"]
    # contoso.yaml: internal_crl http://pki.contoso.local/..., ip 10.0.0.30; HTTP is port 80.
    assert (internal["ca"], internal["issuer"], internal["scheme"], internal["host"],
            internal["port"], internal["firewall"], internal["servers"]) == (
        "Contoso Issuing CA", "internal", "http", "pki.contoso.local", "80", "internal",
        ["edge01"])
    assert internal["url"] == "http://pki.contoso.local/CertEnroll/Contoso%20Issuing%20CA.crl"
    # The internal rules before it: 5061 in and out, 8057, ISA -> Web Components, 5062,
    # STUN TCP and UDP from inside (I01-I07); the CRL rule comes last.
    assert internal["rules"] == ["I08"]
    r = rule(p, "I08")
    assert (r["firewall"], r["direction"], r["source_ip"], r["destination_ip"], r["protocol"],
            r["ports"]) == ("internal", "outbound", "10.0.0.10", "10.0.0.30", "TCP", "80")
    assert "pki.contoso.local" in r["destination"]


def test_the_external_80_rule_leaves_from_the_gateway_nics_public_address() -> None:
    p = plan_of("contoso.yaml")
    public = p["trust"]["crl"][1]
    assert (public["issuer"], public["firewall"], public["port"], public["rules"]) == (
        "public", "external", "80", ["E12"])
    r = rule(p, "E12")
    # edge01's default gateway is on the Access Edge NIC, NATed to 198.51.100.10.
    assert (r["direction"], r["source_ip"], r["destination"], r["protocol"], r["ports"]) == (
        "outbound", "198.51.100.10", "Internet (any)", "TCP", "80")


def test_load_balanced_edges_reach_both_distribution_points_from_their_own_addresses() -> None:
    p = plan_of("fabrikam-lb.yaml")
    http, ldap, public = p["trust"]["crl"]
    members = {"10.20.0.11", "10.20.0.12", "10.20.0.31", "10.20.0.32"}
    for point, port, address in ((http, "80", "10.20.5.20"), (ldap, "389", "10.20.1.10")):
        assert point["port"] == port and len(point["rules"]) == 4
        rules = [rule(p, i) for i in point["rules"]]
        assert {r["source_ip"] for r in rules} == members  # never the internal VIPs
        assert {(r["destination_ip"], r["protocol"], r["ports"]) for r in rules} == {
            (address, "TCP", port)}
    assert ldap["scheme"] == "ldap" and ldap["host"] == "dc01.corp.fabrikam.com"
    # Out to the Internet: the Access Edge members from their own NIC (no VIP, no NAT given),
    # the A/V Edges from their public NIC addresses.
    sources = {rule(p, i)["source_ip"] for i in public["rules"]}
    assert sources == {"172.20.0.11", "172.20.0.12", "203.0.113.31", "203.0.113.32"}


def test_a_source_nat_address_is_the_one_source_of_the_access_edges_crl_downloads(
        tmp_path: Path) -> None:
    data = yaml.safe_load((INPUTS / "fabrikam-lb.yaml").read_text("utf-8"))
    data["edge"]["load_balancer"]["access"]["source_nat_ip"] = "198.51.100.45"
    p = plan_file(write(tmp_path, data)).to_dict()
    public = p["trust"]["crl"][-1]
    sources = [rule(p, i)["source_ip"] for i in public["rules"]]
    assert sources == ["198.51.100.45", "203.0.113.31", "203.0.113.32"]  # once, not per member


def test_without_a_named_distribution_point_the_rule_and_checklist_ask_for_it() -> None:
    p = plan_of("litware-noav.yaml")
    internal = p["trust"]["crl"][0]
    assert internal["url"] is None and internal["port"] == "80"
    [r] = [rule(p, i) for i in internal["rules"]]
    assert "certificates.internal_crl" in r["destination"] and r["destination_ip"] is None
    assert any("Litware Lab CA" in a["label"] and "CRL distribution point" in a["label"]
               for a in p["checklist"])
    assert any("certificates.internal_crl" in n for n in p["trust"]["notes"])


def test_the_edges_import_the_internal_root_and_the_public_intermediates() -> None:
    p = plan_of("contoso.yaml")
    imports = {(i["certificate"], i["store"]): i["servers"] for i in p["trust"]["imports"]}
    root, inter = ("Trusted Root Certification Authorities",
                   "Intermediate Certification Authorities")
    # One entry per certificate and store: the ISA server bridges SSL to the Web Components,
    # so it trusts the internal root too.
    assert imports[("Root certificate of Contoso Issuing CA's hierarchy", root)] == [
        "edge01", "reverse proxy (Microsoft ISA Server 2006)"]
    assert len(imports) == len(p["trust"]["imports"])
    assert p["trust"]["computers"] == ["edge01", "reverse proxy (Microsoft ISA Server 2006)"]
    # edge01 and the ISA server hold DigiCert certificates: both hand its chain to clients.
    assert imports[("Intermediate CA certificate(s) of DigiCert, from its download page",
                    inter)] == ["edge01", "reverse proxy (Microsoft ISA Server 2006)"]
    screens = [s["title"] for s in p["trust"]["screens"]]
    assert screens[2] == "Certificates snap-in"
    assert p["trust"]["screens"][2]["actions"][0]["label"] == "Computer account"
    assert screens[-2:] == [f"Certificate Import Wizard: {root}",
                            f"Certificate Import Wizard: {inter}"]
    imported = [a["label"] for a in p["trust"]["screens"][-1]["actions"] if a["kind"] == "do"]
    assert imported[1:] == [
        "Import the .cer file of: CA certificate of Contoso Issuing CA, when it is an issuing "
        "CA below a separate root",
        "Import the .cer file of: Intermediate CA certificate(s) of DigiCert, from its "
        "download page"]


def test_the_av_only_servers_import_no_public_intermediate() -> None:
    p = plan_of("fabrikam-lb.yaml")
    [inter] = [i for i in p["trust"]["imports"] if i["certificate"].startswith("Intermediate")]
    # fbav01/fbav02 hold only internal-CA certificates (internal interface, A/V auth).
    assert inter["servers"] == ["fbedge01", "fbedge02", "reverse proxy (Microsoft ISA Server 2006)"]
    step4 = next(s for s in p["wizard"][2]["steps"] if s["id"] == "certificates")
    assert not any("Intermediate" in a["label"] for sc in step4["screens"]
                   for a in sc["actions"])


def test_without_a_public_ca_every_outside_computer_must_trust_the_internal_root() -> None:
    p = plan_of("litware-noav.yaml")
    [warning] = [a for a in p["trust"]["internal"] if a["kind"] == "warning"]
    assert "Litware Lab CA" in warning["label"] and "outside" in warning["label"]


def test_the_change_request_and_pages_carry_the_crl_rules() -> None:
    p = plan_of("contoso.yaml")
    text = change_request_markdown(p)
    assert "I01, I02, I03, I04, I05, I06, I07, I08" in text


@pytest.mark.parametrize(("url", "words"), [
    ("https://pki.contoso.local/ca.crl", "is an HTTPS URL"),
    ("ldap:///CN=Contoso,CN=CDP", "names no host"),
    ("ftp://pki.contoso.local/ca.crl", "is not an http:// or ldap:// URL"),
    ("http://pki/ca.crl", "not a fully qualified name"),
    ("http://pki.contoso.local/a b.crl", "white space"),
])
def test_a_bad_distribution_point_is_an_error_at_its_line(
        tmp_path: Path, url: str, words: str) -> None:
    data = contoso()
    data["certificates"]["internal_crl"] = [{"url": url}]
    path = write(tmp_path, data)
    [problem] = at(errors(path), "certificates.internal_crl[0].url")
    assert words in problem.message and problem.line > 1


def test_only_ldap_distribution_points_warn_and_ask_for_http(tmp_path: Path) -> None:
    data = contoso()
    data["certificates"]["internal_crl"] = [
        {"url": "ldap://dc01.contoso.local/CN=Contoso,CN=CDP?certificateRevocationList"}]
    [problem] = at(problems(write(tmp_path, data)), "certificates.internal_crl[0].url")
    assert (problem.severity, problem.code) == ("warning", "crl-ldap")
    assert "http://" in problem.message


def test_a_distribution_point_off_the_internal_routes_warns(tmp_path: Path) -> None:
    data = contoso()
    # edge01's internal NIC reaches 10.0.0.0/24 and routes 10.0.0.0/8: 192.168.5.5 would
    # leave through the default gateway on the Access Edge NIC.
    data["certificates"]["internal_crl"] = [{"url": "http://pki.contoso.local/ca.crl",
                                             "ip": "192.168.5.5"}]
    [problem] = at(problems(write(tmp_path, data)), "certificates.internal_crl[0].ip")
    assert (problem.severity, problem.code) == ("warning", "crl-unrouted")
    assert "edge01" in problem.message and "routes" in problem.message


def test_a_distribution_point_url_is_data_on_every_page(tmp_path: Path) -> None:
    from runbook.outputs.pages import render_site
    from runbook.outputs.templating import make_environment

    data = contoso()
    payload = "http://pki.contoso.local/<script>alert(1)</script>{{7*7}}.crl"
    data["certificates"]["internal_crl"] = [{"url": payload, "ip": "10.0.0.30"}]
    p = plan_file(write(tmp_path, data)).to_dict()
    assert p["trust"]["crl"][0]["url"] == payload
    pages = render_site(p, make_environment())
    for name in ("certificates.md", "firewall.md"):
        # Line-break opportunities (<wbr>, after the URL's dots and slashes) are no text.
        text = pages[f"sites/contoso-hq/{name}"].replace("<wbr>", "")
        assert "<script>" not in text, name
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text, name
        after = text.split("alert(1)&lt;/script&gt;")[1][:40]
        assert "7*7" in after and "49" not in after, name  # shown, never evaluated
