"""Topology rules for federation partners and Mediation Servers (issue 14, items 2 and 3).

Each broken case checks the field, the position of the value in the YAML written, the
severity and a message saying what is wrong and what to do. contoso lists the partners
fabrikam.com (Access Edge sip.fabrikam.com) and litwareinc.com, and the Mediation Server
med01.contoso.local; its own SIP domain is contoso.com and its Access Edge sip.contoso.com.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from runbook.topology.validate import load_topology
from tests.topo import at, contoso, problems, where, write

PARTNERS = "edge.federation_partners"


def found(tmp_path: Path, t: dict[str, Any]) -> tuple[list[Any], Path]:
    path = write(tmp_path, t)
    return problems(path), path


def partners(t: dict[str, Any]) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = t["edge"]["federation_partners"]
    return result


def test_the_examples_partners_and_mediation_server_are_accepted(tmp_path: Path) -> None:
    assert found(tmp_path, contoso())[0] == []


def test_our_own_sip_domain_is_no_partner(tmp_path: Path) -> None:
    t = contoso()
    partners(t)[1]["domain"] = "Contoso.COM"
    probs, path = found(tmp_path, t)
    [p] = at(probs, f"{PARTNERS}[1].domain")
    assert p.severity == "error"
    assert (p.line, p.col) == where(path, "Contoso.COM")
    assert p.message == ("contoso.com is one of this site's own SIP domains (domains.sip): a "
                         "federation partner is another organization; remove the entry or "
                         "correct the domain")


def test_a_partner_listed_twice_is_refused_whatever_the_case(tmp_path: Path) -> None:
    t = contoso()
    partners(t).append({"domain": "FABRIKAM.com"})
    probs, path = found(tmp_path, t)
    [p] = at(probs, f"{PARTNERS}[2].domain")
    assert p.severity == "error"
    assert (p.line, p.col) == where(path, "FABRIKAM.com")
    assert p.message == ("partner fabrikam.com is already listed as "
                         "edge.federation_partners[0] (domains are compared without case): "
                         "list each partner once")


def test_a_partner_entry_naming_our_own_access_edge_is_refused(tmp_path: Path) -> None:
    t = contoso()
    partners(t)[0]["access_edge"] = "sip.contoso.com"
    probs = found(tmp_path, t)[0]
    [p] = at(probs, f"{PARTNERS}[0].access_edge")
    assert p.severity == "error"
    assert "this site's own Access Edge" in p.message


def test_malformed_domain_and_fqdn_are_refused_with_their_position(tmp_path: Path) -> None:
    t = contoso()
    partners(t)[0] = {"domain": "fabrikam", "access_edge": "sip..fabrikam.com"}
    path = write(tmp_path, t)
    probs = load_topology(path).problems
    domain = at(probs, f"{PARTNERS}[0].domain")
    edge = at(probs, f"{PARTNERS}[0].access_edge")
    assert len(domain) == 1 and "is not a fully qualified name" in domain[0].message
    assert (domain[0].line, domain[0].col) == where(path, "fabrikam")
    assert len(edge) == 1 and "empty label" in edge[0].message
    assert all(p.severity == "error" for p in domain + edge)


def test_an_unknown_key_in_a_partner_is_refused(tmp_path: Path) -> None:
    t = contoso()
    partners(t)[0]["acess_edge"] = "sip.fabrikam.com"
    probs = found(tmp_path, t)[0]
    assert [p.path for p in probs if p.severity == "error"] == [
        f"{PARTNERS}[0].acess_edge"]


def test_partners_without_federation_are_a_warning(tmp_path: Path) -> None:
    t = contoso()
    t["edge"]["features"].update(federation=False, public_im=[])
    probs = found(tmp_path, t)[0]
    assert [(p.severity, p.code, p.path) for p in probs] == [
        ("warning", "partners-without-federation", PARTNERS)]


def test_discovery_off_without_partners_is_a_warning_naming_the_edge(tmp_path: Path) -> None:
    t = contoso()
    t["edge"]["features"]["federation_discovery"] = False
    del t["edge"]["federation_partners"]
    probs = found(tmp_path, t)[0]
    assert [(p.severity, p.code) for p in probs] == [("warning", "no-federation-partners")]
    assert "discovery of partners is off on edge01" in probs[0].message
    assert "federate with nobody" in probs[0].message


def test_a_mediation_server_listed_twice_or_as_a_pool_is_refused(tmp_path: Path) -> None:
    t = contoso()
    t["mediation"] = [{"fqdn": "med01.contoso.local"}, {"fqdn": "MED01.contoso.local"},
                      {"fqdn": "pool01.contoso.local"}]
    probs, path = found(tmp_path, t)
    [twice] = at(probs, "mediation[1].fqdn")
    assert twice.message == ("Mediation Server med01.contoso.local is already listed as "
                             "mediation[0]: list each once")
    assert (twice.line, twice.col) == where(path, "MED01.contoso.local")
    [pool] = at(probs, "mediation[2].fqdn")
    assert pool.severity == "error" and "is also pools[0]" in pool.message


def test_a_mediation_server_is_not_an_edge_server(tmp_path: Path) -> None:
    t = contoso()
    t["mediation"] = [{"fqdn": "edge01.contoso.local"}]
    [p] = at(found(tmp_path, t)[0], "mediation[0].fqdn")
    assert p.severity == "error" and "never on an edge server" in p.message


def test_mediation_without_an_av_edge_is_a_warning(tmp_path: Path) -> None:
    t = contoso()
    server = t["edge"]["servers"][0]
    server["roles"] = ["access", "webconf"]
    del server["nics"]["av"]
    t["edge"]["fqdns"].pop("av")
    probs = found(tmp_path, t)[0]
    assert [(p.severity, p.code, p.path) for p in probs] == [
        ("warning", "mediation-without-av", "mediation")]
