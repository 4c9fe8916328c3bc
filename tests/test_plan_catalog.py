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
    assert c.dns_records["federation-srv"].name_pattern == "_sipfederationtls._tcp.<SIP domain>"
    assert (c.dns_records["federation-srv"].record_name(domain="contoso.com")
            == "_sipfederationtls._tcp.contoso.com")
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
             "screens": c.screens, "wizard": c.wizard, "ui": c.ui,
             "providers": c.providers, "roles": c.roles,
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


def test_a_dns_pattern_may_use_only_the_fields_the_deriver_gives_its_kind() -> None:
    data = raw()
    data["dns_records"]["internal-a"]["purpose"] = "Internal interface of {server} in {domain}"
    with pytest.raises(ValidationError, match=r"dns_records.internal-a: \{domain\} is not given"):
        Catalog.model_validate(data)
    data = raw()
    data["dns_records"]["remote-access-srv"]["name"] = "_sip._tls.{domian}"
    with pytest.raises(ValidationError, match=r"no field \{domian\}"):
        Catalog.model_validate(data)
    data = raw()
    del data["dns_records"]["federation-srv"]
    with pytest.raises(ValidationError, match="no 'federation-srv'"):
        Catalog.model_validate(data)


def test_the_provider_addresses_are_marked_unconfirmed() -> None:
    # No source read gives the providers' Access Edge FQDNs (KB 897567 lists IP addresses).
    for provider in catalog().providers.values():
        assert provider.unconfirmed and "897567" in provider.unconfirmed


@pytest.mark.parametrize(("change", "message"), [
    (lambda d: d["ports"]["av-auth"].update(sources=["nowhere"]), "unknown source 'nowhere'"),
    (lambda d: d["load_balancer"]["external"].update(av=["av-stun"]), "unknown port id"),
    (lambda d: d["certificates"]["av_auth"].update(ekus=["code_signing"]), "unknown EKU"),
    (lambda d: d["ekus"]["server_auth"].update(sources=["nowhere"]),
     "ekus.server_auth cites unknown source 'nowhere'"),
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


# -- screen titles and UI names -------------------------------------------------------------

#: The kinds of action whose label is a name on the screen (a button, box, field or option).
UI_KINDS = {"click", "select", "tick", "clear", "type", "vault"}
#: Generic buttons the deriver may write as they are.
GENERIC_BUTTONS = {"Next", "Finish", "OK", "Yes"}


def _pattern(name: str) -> re.Pattern[str]:
    """A catalog name as a pattern: each ``{field}`` stands for a value from the topology."""
    parts = re.split(r"\{[A-Za-z_]\w*\}", name)
    return re.compile("^" + ".+".join(map(re.escape, parts)) + "$")


def _screens(p: dict[str, Any]) -> list[dict[str, Any]]:
    """Every screen of a plan (the PIC stages too), wherever it is shown."""
    found = [sc for server in p["wizard"] for step in server["steps"] for sc in step["screens"]]
    for section in ("pool_side", "federation", "reverse_proxy", "trust", "validation"):
        found += (p[section] or {}).get("screens", [])
    found += (p["pic"] or {}).get("steps", [])
    return found


def _ui_names(c: Catalog) -> list[str]:
    """Every name of a button, box, field or option the catalog holds."""
    return [*(x.label for x in c.wizard.values()), *(x.label for x in c.ui.values()),
            *(r.activate_option for r in c.roles.values()), *(p.name for p in c.providers.values()),
            *(u.field for u in c.pool_side.values()),
            *(o for u in c.pool_side.values() for o in u.options.values()),
            c.federation.partner_domain.label, c.federation.partner_edge.label,
            *(w.label for w in c.validation.wizard.values()),
            *(x.choice for x in c.reverse_proxy.isa_screens), *(x.choice for x in c.trust.snap_in)]


@pytest.mark.parametrize("example", sorted(p.name for p in INPUTS.glob("*.yaml")))
def test_every_screen_title_and_ui_name_of_a_plan_is_a_catalog_name(example: str) -> None:
    # Every screen a runbook shows is titled as the catalog names it, and every button, box,
    # field or option it has you click, tick, type into or choose is a catalog name (with its
    # sources), the generic Next, Finish, OK and Yes buttons aside.
    c = catalog()
    p = plan_file(INPUTS / example).to_dict()
    titles = [_pattern(t) for t in c.screen_titles()]
    names = [_pattern(n) for n in _ui_names(c)]
    screens = _screens(p)
    assert screens
    assert [s["title"] for s in screens if not any(t.match(s["title"]) for t in titles)] == []
    labels = [a["label"] for s in screens for a in s["actions"] if a["kind"] in UI_KINDS]
    labels += [f["field"] for f in (p["pic"] or {}).get("submit", [])]
    assert [x for x in labels
            if x not in GENERIC_BUTTONS and not any(n.match(x) for n in names)] == []


def test_every_catalog_screen_and_name_is_shown_by_some_example() -> None:
    # No dead entries: each screen title and each name of `wizard` and `ui` appears in one of
    # the example plans (a few `ui` names are used inside a sentence or as a value instead).
    c = catalog()
    plans = [plan_file(path).to_dict() for path in sorted(INPUTS.glob("*.yaml"))]
    screens = [s for p in plans for s in _screens(p)]
    titles = {s["title"] for s in screens}
    texts = {x for s in screens for a in s["actions"] for x in (a["label"], a["value"]) if x}
    texts |= {f["field"] for p in plans for f in (p["pic"] or {}).get("submit", [])}
    assert [k for k, x in c.screens.items()
            if not any(_pattern(x.title).match(t) for t in titles)] == []
    in_text = {"im_provider_tab", "communicator_advanced"}  # "open the ..., IM Provider tab"
    unused = [k for section in (c.wizard, c.ui) for k, x in section.items()
              if not any(_pattern(x.label).match(t) for t in texts)]
    assert set(unused) <= in_text
    joined = "\n".join(texts)
    assert all(c.ui_name(k) in joined for k in in_text)


def test_the_seed_articles_names_are_where_the_seed_says() -> None:
    # Worked out by hand from the seed article (Elan Shudnow, OCS 2007 Enterprise Deployment,
    # Part 5); each is cited to `seed` and shown on the screen the article describes.
    c = catalog()
    p = plan_file(INPUTS / "contoso.yaml").to_dict()
    steps = p["wizard"][0]["steps"]

    def screen(step: int, title: str) -> list[tuple[str, str, str | None]]:
        found = next(s for s in steps[step - 1]["screens"] if s["title"] == title)
        return [(a["kind"], a["label"], a["value"]) for a in found["actions"]]

    for section, key in (("wizard", "deploy_other_roles"), ("wizard", "deploy_edge"),
                         ("wizard", "accept_license"), ("wizard", "create_certificate"),
                         ("wizard", "remote_federated"), ("screens", "deployment_wizard")):
        assert "seed" in getattr(c, section)[key].sources, key
    # "Click Deploy Other Server Roles > Deploy Edge Server to Continue."
    # "Click Install for Install Files for Edge Server to Continue"
    assert screen(1, "Deployment Wizard")[:3] == [
        ("click", "Deploy Other Server Roles", None), ("click", "Deploy Edge Server", None),
        ("click", "Install", None)]
    # "Select “I accept the terms in the license agreement .”  Click Next to Continue."
    assert ("select", "I accept the terms in the license agreement", None) in \
        screen(1, "Welcome and License Agreement")
    # "You will be asked for Customer Information such as Product Key, Name, and your
    # Organization Name."
    assert [k for k, _, _ in screen(1, "Customer Information")] == ["type", "vault", "click"]
    # "Click Run for Active Edge Server to Continue." / "... Service Account: RTCProxyService"
    assert screen(2, "Deployment Wizard")[0][:2] == ("click", "Run")
    assert [k for k, label, _ in screen(2, "Service account")
            if label == "Password for RTCProxyService"] == ["vault"]
    # "Now let me explain why Allow remote users to communicate with federated contacts is
    # greyed out." (federation runs on the same Access Edge)
    assert ("note", "Allow remote users to communicate with federated contacts",
            "greyed out") in screen(3, "Features")
    # "Because our SIP Domain will be ..., that is what we will choose when specifying what
    # our Authorized Internal SIP Domains are."
    assert {k for k, label, _ in screen(3, "Authorized internal SIP domains")
            if label == "Authorized internal SIP domain"} == {"type"}
    # "We will first choose to Create a new Certificate.  One you have done this, you will
    # want to make sure you select only your Edge Server Private Interface."
    internal = next(s for s in steps[3]["screens"]
                    if s["title"].startswith(c.certificates["internal"].title + ": "))
    actions = [(a["kind"], a["label"], a["value"]) for a in internal["actions"]]
    assert actions[:2] == [("select", "Create a new certificate", None),
                           ("select", "Component", "Edge Server Private Interface")]
    # The page names the seed skips come from the R2 wizard's own page, marked unconfirmed.
    assert c.wizard["delayed_request"].sources == ("av-cert-wizard-r2",)
    assert c.wizard["delayed_request"].unconfirmed
    assert c.wizard["process_pending"].unconfirmed


def test_the_deriver_reads_screen_titles_and_names_from_the_catalog(
        monkeypatch: pytest.MonkeyPatch) -> None:
    data = raw()
    data["screens"]["deployment_wizard"]["title"] = "Setup"
    data["screens"]["certificates_request"]["title"] = "{subject} ({certificate})"
    data["wizard"]["delayed_request"]["label"] = "Offline request"
    data["ui"]["pic_allow"]["label"] = "Federate with {provider}"
    changed = Catalog.model_validate(data)
    monkeypatch.setattr(derive, "catalog", lambda product: changed)
    p = plan_file(INPUTS / "contoso.yaml").to_dict()
    steps = p["wizard"][0]["steps"]
    assert all(step["screens"][0]["title"] != "Deployment Wizard" for step in steps)
    titles = [s["title"] for s in steps[3]["screens"]]
    assert "Setup" in titles
    assert f"{p['wizard'][0]['fqdn']} (Edge internal interface)" in titles
    labels = {a["label"] for s in _screens(p) for a in s["actions"]}
    assert "Offline request" in labels
    assert "Prepare the request now, but send it later" not in labels
    assert any(x.startswith("Federate with ") for x in labels)


def test_the_deriver_types_no_screen_title_or_ui_name_itself() -> None:
    # Read as a specification of derive.py: a Screen, a PIC stage or field, and the label of
    # an action on a button, box or option take their text from the catalog; only the generic
    # buttons are written out.
    import ast

    tree = ast.parse((ROOT / "runbook" / "plan" / "derive.py").read_text("utf-8"))
    inline = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)):
            continue
        name, args = node.func.id, node.args
        if name in ("Screen", "PicStep", "PicField") and args:
            text = args[0]
        elif name == "Action" and len(args) > 1 and (
                not isinstance(args[0], ast.Constant) or args[0].value in UI_KINDS):
            text = args[1]
        else:
            continue
        if isinstance(text, ast.JoinedStr) or (
                isinstance(text, ast.Constant) and text.value not in GENERIC_BUTTONS):
            inline.append((node.lineno, ast.unparse(text)))
    assert inline == []


@pytest.mark.parametrize(("change", "message"), [
    (lambda d: d["screens"].pop("deployment_wizard"), "screens lacks deployment_wizard"),
    (lambda d: d["wizard"].pop("delayed_request"), "wizard lacks delayed_request"),
    (lambda d: d["ui"].update(colour={"label": "Red", "sources": ["seed"]}), "colour"),
    (lambda d: d["screens"]["pool_media"].update(kind="tab"), "kind"),
    (lambda d: d["screens"]["pool_media"].update(sources=["nowhere"]),
     "screens.pool_media cites unknown source 'nowhere'"),
    (lambda d: d["wizard"]["role_ip"].update(label="{} IP address"), "written {name}"),
    (lambda d: d["reverse_proxy"]["isa_screens"][0].update(id="users"), "each id once"),
])
def test_a_broken_name_fails_to_load(change: Any, message: str) -> None:
    data = raw()
    change(data)
    with pytest.raises(ValidationError, match=re.escape(message)):
        Catalog.model_validate(data)


def test_a_name_is_filled_in_with_exactly_its_fields() -> None:
    c = catalog()
    assert c.screen("certificates_import", certificate="A/V authentication") == \
        "A/V authentication: import the shared certificate"
    assert c.label("role_ip", role="Access Edge") == "Access Edge IP address"
    assert c.test_title("federation", partner="fabrikam.com") == "Federation with fabrikam.com"
    with pytest.raises(ValueError, match="has fields"):
        c.screen("certificates_import")
    with pytest.raises(ValueError, match="has fields"):
        c.label("run", role="Access Edge")


def test_a_key_given_twice_in_the_catalog_is_refused_not_replaced() -> None:
    from runbook.plan.catalog import load_catalog_yaml

    text = (CATALOGS / "ocs2007.yaml").read_text("utf-8")
    assert load_catalog_yaml(text) == raw()  # the catalog names every key once
    twice = text.replace("\nsources:\n", "\nsources:\n  seed: {title: again, url: x}\n", 1)
    with pytest.raises(ValueError, match="'seed' is given twice in one mapping"):
        load_catalog_yaml(twice)
