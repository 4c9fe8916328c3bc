"""The product catalog: OCS 2007's ports, names and addresses as cited data, read by the deriver.

Expected values are worked out by hand from the sources the catalog cites: the OCS 2007 Edge
Server Deployment Guide's firewall and DNS tables, the Server SDK's WMI defaults, the R2 "Deploy
Load Balancers" port tables and the seed article's wizard steps.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel, ValidationError

from runbook.plan import derive
from runbook.plan.catalog import CATALOGS, Catalog, Cited, catalog
from runbook.plan.sites import plan_file
from tests.topo import INPUTS, ROOT, contoso, one, problems, write


def raw() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((CATALOGS / "ocs2007.yaml").read_text("utf-8"))
    return data


def test_the_ports_are_the_documented_defaults() -> None:
    c = catalog("ocs2007")
    # (role, side, direction, protocols, port) per the 2007 firewall table and WMI defaults
    expected = {
        "access-remote": ("access", "external", "inbound", ("TCP",), "443"),
        "access-federation-in": ("access", "external", "inbound", ("TCP",), "5061"),
        "access-federation-out": ("access", "external", "outbound", ("TCP",), "5061"),
        "webconf-psom": ("webconf", "external", "inbound", ("TCP",), "443"),
        "av-stun-udp": ("av", "external", "inbound", ("UDP",), "3478"),
        "av-stun-tcp": ("av", "external", "inbound", ("TCP",), "443"),
        "av-media-in": ("av", "external", "inbound", ("TCP", "UDP"), "50000-59999"),
        "av-media-out": ("av", "external", "outbound", ("TCP", "UDP"), "50000-59999"),
        "access-internal-in": ("access", "internal", "inbound", ("TCP",), "5061"),
        "webconf-internal": ("webconf", "internal", "inbound", ("TCP",), "8057"),
        "av-auth": ("av", "internal", "inbound", ("TCP",), "5062"),
    }
    for key, (role, side, direction, protocols, port) in expected.items():
        p = c.ports[key]
        assert (p.role, p.side, p.direction, p.protocols, p.port) == \
            (role, side, direction, protocols, port), key


def test_the_vip_ports_are_the_load_balancer_tables() -> None:
    c = catalog()
    assert c.vip_ports("external", "access") == ["TCP 443", "TCP 5061"]
    assert c.vip_ports("external", "webconf") == ["TCP 443"]
    assert c.vip_ports("external", "av") == ["TCP 443", "UDP 3478"]
    assert c.vip_ports("internal", "access") == ["TCP 5061"]
    assert c.vip_ports("internal", "webconf") == []  # the WCE internal side is not balanced
    assert c.vip_ports("internal", "av") == ["TCP 5062", "TCP 443", "UDP 3478"]


def test_names_services_steps_and_certificate_rules() -> None:
    c = catalog()
    assert c.role_names() == {"access": "Access Edge", "webconf": "Web Conferencing Edge",
                              "av": "A/V Edge", "internal": "Internal"}
    assert c.roles["av"].services == ("Office Communications Server Audio/Video Edge",
                                      "Office Communications Server Audio/Video Authentication")
    assert c.service_account.name == "RTCProxyService"
    assert c.step_titles() == {1: "Install Files for Edge Server", 2: "Activate Edge Server",
                               3: "Configure Edge Server",
                               4: "Configure Certificates for Edge Server",
                               5: "Start Services", 6: "Validate Edge Server"}
    assert c.eku_names("access_webconf") == ["Server Authentication"]
    assert c.eku_names("access_webconf", aol=True) == ["Server Authentication",
                                                      "Client Authentication"]
    assert c.eku_names("av_auth") == ["Server Authentication"]
    assert c.dns_records["federation-srv"].name == "_sipfederationtls._tcp.<SIP domain>"
    assert c.port(c.dns_records["federation-srv"].port or "") == "5061"
    assert c.port(c.dns_records["remote-access-srv"].port or "") == "443"
    assert c.provider_filter.option == ("Allow communications only from users verified by "
                                        "this provider")


def _facts(value: Any, where: str = "") -> list[tuple[str, Cited]]:
    """Every cited fact in a catalog value, found by walking it (no section can be missed)."""
    found: list[tuple[str, Cited]] = []
    if isinstance(value, Cited):
        found.append((where, value))
    if isinstance(value, BaseModel):
        for name in type(value).model_fields:
            found += _facts(getattr(value, name), f"{where}.{name}")
    elif isinstance(value, dict):
        for k, v in value.items():
            found += _facts(v, f"{where}.{k}")
    elif isinstance(value, tuple | list):
        for i, v in enumerate(value):
            found += _facts(v, f"{where}[{i}]")
    return found


def test_every_fact_cites_a_source_with_a_title_and_a_web_address() -> None:
    c = catalog()
    for key, source in c.sources.items():
        assert source.title and re.match(r"https?://[^\s/]+/\S*", source.url), key
    text = (CATALOGS / "ocs2007.yaml").read_text("utf-8")
    assert "/work/" not in text and "/tmp/" not in text  # nothing machine-specific
    facts = _facts(c)
    cited = {s for _, fact in facts for s in fact.sources}
    for where, fact in facts:
        assert fact.sources and set(fact.sources) <= set(c.sources), where
    assert set(c.sources) - cited == set()  # no source listed but never cited


def test_every_port_record_certificate_rule_and_label_is_a_cited_fact() -> None:
    # Each kind of product fact is a Cited model, whose sources the loader requires.
    c = catalog()
    where = {w for w, _ in _facts(c)}
    kinds = {"ports": c.ports, "dns_records": c.dns_records, "certificates": c.certificates,
             "wizard": c.wizard, "providers": c.providers, "roles": c.roles,
             "validation.wizard": c.validation.wizard, "validation.tests": c.validation.tests,
             "trust.stores": c.trust.stores, "pool_side": c.pool_side}
    for section, table in kinds.items():
        assert table, section
        for key in table:
            assert f".{section}.{key}" in where, (section, key)
    for i, _ in enumerate(c.reverse_proxy.isa_screens):
        assert f".reverse_proxy.isa_screens[{i}]" in where
    for i, _ in enumerate(c.trust.snap_in):
        assert f".trust.snap_in[{i}]" in where
    data = raw()
    data["validation"]["tests"]["av-call"].pop("sources")
    with pytest.raises(ValidationError, match="sources"):
        Catalog.model_validate(data)
    data = raw()
    data["trust"]["snap_in"][0]["sources"] = ["nowhere"]
    with pytest.raises(ValidationError, match="unknown source 'nowhere'"):
        Catalog.model_validate(data)


def test_the_provider_addresses_are_marked_unconfirmed() -> None:
    # No source read gives the providers' Access Edge FQDNs (KB 897567 lists IP addresses).
    for provider in catalog().providers.values():
        assert provider.unconfirmed and "897567" in provider.unconfirmed


@pytest.mark.parametrize(("change", "message"), [
    (lambda d: d["ports"]["av-auth"].update(sources=["nowhere"]), "unknown source 'nowhere'"),
    (lambda d: d["load_balancer"]["external"].update(av=["av-stun"]), "unknown port id"),
    (lambda d: d["certificates"]["av_auth"].update(ekus=["code_signing"]), "unknown EKU"),
    (lambda d: d["ports"]["av-auth"].pop("sources"), "sources"),
    (lambda d: d["ports"]["av-auth"].update(colour="red"), "colour"),
])
def test_a_broken_catalog_fails_to_load(change: Any, message: str) -> None:
    data = raw()
    change(data)
    with pytest.raises(ValidationError, match=message):
        Catalog.model_validate(data)


def test_the_deriver_reads_ports_and_names_from_the_catalog(
        monkeypatch: pytest.MonkeyPatch) -> None:
    data = raw()
    data["ports"]["access-federation-in"]["port"] = "5071"
    data["ports"]["webconf-internal"]["port"] = "8058"
    data["roles"]["av"]["name"] = "Media Relay"
    data["steps"][4]["title"] = "Start the Services"
    changed = Catalog.model_validate(data)
    monkeypatch.setattr(derive, "catalog", lambda product: changed)
    p = plan_file(INPUTS / "contoso.yaml").to_dict()
    inbound = {(r["ports"], r["purpose"]) for r in p["firewall"]}
    assert ("5071", "SIP/MTLS: federation and public IM from partners") in inbound
    assert ("8058", "PSOM/MTLS: internal Web Conferencing servers connect to each edge") \
        in inbound
    srv = next(d for d in p["dns"] if d["name"].startswith("_sipfederationtls"))
    assert srv["port"] == 5071
    assert "Media Relay" in p["summary"]["role_names"]
    assert p["wizard"][0]["steps"][4]["title"] == "Start the Services"


def test_the_deriver_has_no_port_literals_left() -> None:
    source = (ROOT / "runbook" / "plan" / "derive.py").read_text("utf-8")
    assert re.findall(r"\b(443|5061|5062|3478|8057|50000)\b", source) == []


def test_the_topology_names_its_product_and_defaults_to_ocs2007(tmp_path: Path) -> None:
    p = plan_file(INPUTS / "contoso.yaml")
    assert p.meta.product == "ocs2007"
    data = contoso()
    data["product"] = "ocs2007r2"
    found = problems(write(tmp_path, data))
    problem = one(found, "product")
    assert problem.severity == "error" and "ocs2007" in problem.message


def test_the_topology_layer_names_roles_and_providers_as_the_catalog_does() -> None:
    # topology/ sits below plan/ and cannot read the catalog; its messages use its own names,
    # which must stay the catalog's.
    from runbook.topology.model import PROVIDERS, ROLE_NAMES

    c = catalog()
    assert c.role_names() == ROLE_NAMES
    assert {k: v.name for k, v in c.providers.items()} == PROVIDERS


def test_every_step_a_runbook_names_is_named_by_its_catalog_title() -> None:
    # The seed article's six steps; "Step 4: Configure Certificates" is not the wizard's name.
    titles = {1: "Install Files for Edge Server", 2: "Activate Edge Server",
              3: "Configure Edge Server", 4: "Configure Certificates for Edge Server",
              5: "Start Services", 6: "Validate Edge Server"}
    named = []
    for name in ("contoso.yaml", "woodgrove-split.yaml", "fabrikam-lb.yaml"):
        text = plan_file(INPUTS / name).to_json()
        named += re.findall(r"Step (\d): ([A-Z][A-Za-z ]*[a-z])", text)
    assert {n for n, _ in named} == {"1", "2", "3", "4", "5", "6"}
    assert [(n, t) for n, t in named if titles[int(n)] != t] == []
