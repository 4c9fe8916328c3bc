"""Remote access facts that were wrong before issue 14, each worked out by hand.

fabrikam-lb (inputs/fabrikam-lb.yaml): Access + Web Conferencing on fbedge01 (AE 172.20.0.11)
and fbedge02 (AE 172.20.0.12, its roles listed as [webconf, access]) behind the access VIP
172.20.0.10 (public 198.51.100.40); A/V Edges fbav01 (203.0.113.31) and fbav02
(203.0.113.32) behind the A/V VIP 203.0.113.30.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

from runbook.plan.sites import plan_file

INPUTS = Path(__file__).resolve().parent.parent / "inputs"
FABRIKAM: dict[str, Any] = yaml.safe_load((INPUTS / "fabrikam-lb.yaml").read_text("utf-8"))


def fabrikam() -> dict[str, Any]:
    return copy.deepcopy(FABRIKAM)


def plan_of(tmp_path: Path, data: dict[str, Any]) -> dict[str, Any]:
    path = tmp_path / f"{data['site']}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return plan_file(path).to_dict()


def plan(name: str) -> dict[str, Any]:
    return plan_file(INPUTS / f"{name}.yaml").to_dict()


def rules(p: dict[str, Any], ports: str, protocol: str, direction: str) -> set[tuple[Any, ...]]:
    return {(r["source_ip"] or r["source"], r["destination_ip"] or r["destination"])
            for r in p["firewall"] if r["firewall"] == "external" and r["ports"] == ports
            and r["protocol"] == protocol and r["direction"] == direction}


class TestLoadBalancedFederationOut:
    """Wrong today 1: outbound TCP 5061 leaves from the members, never from the VIP."""

    def test_each_member_opens_its_own_connections(self) -> None:
        assert rules(plan("fabrikam-lb"), "5061", "TCP", "outbound") == {
            ("172.20.0.11", "Internet (any)"), ("172.20.0.12", "Internet (any)")}

    def test_a_declared_source_nat_address_is_the_one_source(self, tmp_path: Path) -> None:
        data = fabrikam()
        data["edge"]["load_balancer"]["access"]["source_nat_ip"] = "198.51.100.45"
        p = plan_of(tmp_path, data)
        assert rules(p, "5061", "TCP", "outbound") == {("198.51.100.45", "Internet (any)")}
        rule = next(r for r in p["firewall"] if r["source_ip"] == "198.51.100.45")
        assert rule["source"] == "198.51.100.45 (source NAT of fbedge01, fbedge02)"

    def test_inbound_5061_still_targets_the_vip(self) -> None:
        assert rules(plan("fabrikam-lb"), "5061", "TCP", "inbound") == {
            ("Internet (any)", "198.51.100.40")}


class TestLoadBalancedStun:
    """Wrong today 2: UDP 3478 to the A/V VIP and to each member's own public address."""

    def test_udp_3478_reaches_the_vip_and_every_member(self) -> None:
        assert rules(plan("fabrikam-lb"), "3478", "UDP", "inbound") == {
            ("Internet (any)", "203.0.113.30"), ("Internet (any)", "203.0.113.31"),
            ("Internet (any)", "203.0.113.32")}

    def test_tcp_443_stays_on_the_vip(self) -> None:
        assert ("Internet (any)", "203.0.113.30") in rules(plan("fabrikam-lb"), "443", "TCP",
                                                           "inbound")
        assert not {("Internet (any)", ip) for ip in ("203.0.113.31", "203.0.113.32")} & \
            rules(plan("fabrikam-lb"), "443", "TCP", "inbound")

    def test_a_single_av_edge_has_one_stun_rule(self) -> None:
        # contoso: one consolidated edge, A/V NIC 131.107.155.30 (no VIP, no member rule).
        p = plan("contoso")
        assert len([r for r in p["firewall"] if r["ports"] == "3478"
                    and r["firewall"] == "external"]) == 1


class TestConfigurationGroups:
    """Wrong today 3: servers with the same set of roles are one group in any order."""

    def test_fbedge02_lists_its_roles_in_another_order(self) -> None:
        servers = {s["name"]: s["roles"] for s in FABRIKAM["edge"]["servers"]}
        assert servers["fbedge01"] == ["access", "webconf"]
        assert servers["fbedge02"] == ["webconf", "access"]

    def test_it_still_imports_fbedge01s_configuration(self) -> None:
        p = plan("fabrikam-lb")
        order = {w["server"]: (w["imports_from"], w["exports_to"]) for w in p["wizard"]}
        assert order["fbedge01"] == (None, ["fbedge02"])
        assert order["fbedge02"] == ("fbedge01", [])


def feature_boxes(p: dict[str, Any], server: str) -> dict[str, tuple[str, str | None]]:
    runbook = next(w for w in p["wizard"] if w["server"] == server)
    step = next(s for s in runbook["steps"] if s["id"] == "configure")
    screen = next(sc for sc in step["screens"] if sc["title"] == "Features")
    return {a["label"]: (a["kind"], a["why"]) for a in screen["actions"]
            if a["kind"] in ("tick", "clear", "note")}


REMOTE_FEDERATED = "Allow remote users to communicate with federated contacts"


class TestRemoteUsersAndFederatedContacts:
    """Wrong today 4: the option is ticked only on the remote-access half of a split design."""

    def test_a_non_split_edge_without_federation_leaves_it_clear(self) -> None:
        # litware-noav: one Access Edge, remote access on, federation off, no split.
        kind, why = feature_boxes(plan("litware-noav"), "lwedge01")[REMOTE_FEDERATED]
        assert kind == "clear"
        assert why is not None and "split" in why

    def test_the_remote_access_half_of_a_split_design_ticks_it(self) -> None:
        # woodgrove-split: wgedge-ra has remote access and no federation.
        kind, _ = feature_boxes(plan("woodgrove-split"), "wgedge-ra")[REMOTE_FEDERATED]
        assert kind == "tick"

    def test_an_edge_with_federation_shows_it_greyed_out(self) -> None:
        kind, _ = feature_boxes(plan("contoso"), "edge01")[REMOTE_FEDERATED]
        assert kind == "note"


# -- certificates ----------------------------------------------------------------------------

SERVER_AUTH = "1.3.6.1.5.5.7.3.1"
CLIENT_AUTH = "1.3.6.1.5.5.7.3.2"


def certs(p: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["id"]: c for c in p["certificates"]}


def inf_ekus(inf: str) -> list[str]:
    section = inf.split("[EnhancedKeyUsageExtension]")[1].split("[")[0]
    return [line.split("=")[1].split(";")[0].strip() for line in section.splitlines()
            if line.startswith("OID")]


def cnf_ekus(cnf: str) -> list[str]:
    line = next(x for x in cnf.splitlines() if x.startswith("extendedKeyUsage"))
    return [e.strip() for e in line.split("=", 1)[1].split(",")]


class TestInternalInterfaceEku:
    """Wrong today 5: every OCS 2007 server certificate needs Server Authentication, which
    is all the Certificate Wizard asks for on the internal interface (Appendix B's sample
    request: OID 1.3.6.1.5.5.7.3.1 only); Client Authentication only where AOL needs it."""

    def test_page_inf_and_openssl_agree_on_server_authentication_only(self) -> None:
        from runbook.outputs.exports import certreq_inf, openssl_cnf

        p = plan("contoso")
        internal = certs(p)["internal-edge01"]
        assert internal["eku"] == ["Server Authentication"]
        inf = certreq_inf(p, internal)
        assert inf_ekus(inf) == [SERVER_AUTH]
        assert "CertificateTemplate:WebServer" in inf  # WebServer: Server Authentication
        assert cnf_ekus(openssl_cnf(p, internal)) == ["serverAuth"]

    def test_aol_puts_client_authentication_on_the_access_edge_certificate_only(self) -> None:
        from runbook.outputs.exports import certreq_inf, openssl_cnf

        # woodgrove-split: AOL through wgedge-fed (federation.woodgrovebank.com).
        p = plan("woodgrove-split")
        by_cn = {c["subject_cn"]: c for c in p["certificates"]}
        fed = by_cn["federation.woodgrovebank.com"]
        assert inf_ekus(certreq_inf(p, fed)) == [SERVER_AUTH, CLIENT_AUTH]
        assert cnf_ekus(openssl_cnf(p, fed)) == ["serverAuth", "clientAuth"]
        for c in p["certificates"]:
            if c is not fed:
                assert c["eku"] == ["Server Authentication"], c["id"]

    def test_an_internal_ca_certificate_with_client_auth_is_not_sent_to_webserver(
            self, tmp_path: Path) -> None:
        from runbook.outputs.exports import certreq_inf

        data = yaml.safe_load((INPUTS / "contoso.yaml").read_text("utf-8"))
        data["certificates"].pop("public_ca")
        data["environment"] = "lab"
        data["edge"]["features"]["public_im"] = ["aol"]
        p = plan_of(tmp_path, data)
        external = certs(p)["external-sip-contoso-com"]
        inf = certreq_inf(p, external)
        assert inf_ekus(inf) == [SERVER_AUTH, CLIENT_AUTH]
        assert "CertificateTemplate:WebServer" not in inf


def component_choices(p: dict[str, Any], server: str) -> list[str]:
    runbook = next(w for w in p["wizard"] if w["server"] == server)
    step = next(s for s in runbook["steps"] if s["id"] == "certificates")
    return [a["value"] for sc in step["screens"] for a in sc["actions"]
            if a["label"] == "Component"]


class TestCertificateWizardComponents:
    """Wrong today 6: the Select Component page's own option names."""

    def test_consolidated_edge(self) -> None:
        # contoso, combined external certificate: seed (Private Interface), R2 A/V guide.
        assert component_choices(plan("contoso"), "edge01") == [
            "Edge Server Private Interface", "Edge Server Public Interface",
            "A/V Authentication Certificate"]

    def test_separate_external_certificates(self) -> None:
        assert component_choices(plan("fabrikam-lb"), "fbedge01") == [
            "Edge Server Private Interface", "Access Edge Server Public Interface",
            "Web Conferencing Edge Server Public Interface"]

    def test_assign_to_names_the_same_component(self) -> None:
        p = plan("contoso")
        runbook = next(w for w in p["wizard"] if w["server"] == "edge01")
        step = next(s for s in runbook["steps"] if s["id"] == "certificates")
        assigned = [a["value"] for sc in step["screens"] for a in sc["actions"]
                    if a["label"] == "Assign to"]
        assert assigned == component_choices(p, "edge01")


class TestAvArrayInternalCertificate:
    """Wrong today 7: A/V Edges run no Web Conferencing Edge, so the A/V array's internal
    certificate names only its internal VIP and says why."""

    def test_names_and_notes(self) -> None:
        avpool = certs(plan("fabrikam-lb"))["internal-avpool"]
        assert avpool["sans"] == ["avpool.corp.fabrikam.com"]
        assert not any("Web Conferencing" in n for n in avpool["notes"])
        assert any("5062" in n and "VIP" in n for n in avpool["notes"])

    def test_the_access_arrays_certificate_still_names_its_members(self) -> None:
        edgepool = certs(plan("fabrikam-lb"))["internal-edgepool"]
        assert edgepool["sans"] == ["edgepool.corp.fabrikam.com", "fbedge01.corp.fabrikam.com",
                                    "fbedge02.corp.fabrikam.com"]
        assert any("8057" in n for n in edgepool["notes"])


class TestSeparateOrCombinedExternalCertificates:
    """Wrong today 8: certificates.external: separate (Microsoft's guidance, the default) or
    combined (the seed's lab)."""

    def test_combined_carries_both_names(self) -> None:
        p = plan("contoso")  # certificates.external: combined
        external = [c for c in p["certificates"] if c["id"].startswith("external-")]
        assert [(c["purpose"], c["sans"]) for c in external] == [
            ("access_webconf", ["sip.contoso.com", "webconf.contoso.com"])]

    def test_separate_gives_one_certificate_per_role(self, tmp_path: Path) -> None:
        data = yaml.safe_load((INPUTS / "contoso.yaml").read_text("utf-8"))
        data["certificates"]["external"] = "separate"
        p = plan_of(tmp_path, data)
        external = [c for c in p["certificates"] if c["id"].startswith("external-")]
        assert [(c["purpose"], c["subject_cn"], c["sans"], c["ca"]) for c in external] == [
            ("access", "sip.contoso.com", ["sip.contoso.com"], "DigiCert"),
            ("webconf", "webconf.contoso.com", ["webconf.contoso.com"], "DigiCert")]
        # The wizard's Step 4 requests each one.
        assert component_choices(p, "edge01") == [
            "Edge Server Private Interface", "Access Edge Server Public Interface",
            "Web Conferencing Edge Server Public Interface", "A/V Authentication Certificate"]

    def test_separate_is_the_default_and_what_microsoft_recommends(self) -> None:
        p = plan("fabrikam-lb")  # no certificates.external key
        choice = p["summary"]["external_certificates"]
        assert (choice["chosen"], choice["recommended"]) == ("separate", "separate")
        assert "two certificates" in choice["reason"]

    def test_the_page_says_which_is_recommended_and_why(self) -> None:
        from runbook.outputs.pages import render_site
        from runbook.outputs.templating import make_environment

        rendered = render_site(plan("contoso"), make_environment())
        page = next(v for k, v in rendered.items() if k.endswith("certificates.md"))
        assert "certificates.external: combined" in page
        assert "Microsoft recommends one certificate per role, not the choice made here" in page
        assert "two certificates on the external interface" in page
        assert "<td><code>Edge Server Private Interface</code></td>" in page


# -- reverse proxy ---------------------------------------------------------------------------
# contoso: reverse_proxy webext.contoso.com, listener 172.16.1.20 (NAT from 198.51.100.20),
# internal 10.0.0.20, ISA Server 2006 (SP1); Web Components on pool01.contoso.local.


def rp_screen(p: dict[str, Any], title: str) -> list[dict[str, Any]]:
    return next(sc for sc in p["reverse_proxy"]["screens"] if sc["title"] == title)["actions"]


class TestReverseProxy:
    p = plan("contoso")

    def test_publishes_the_three_web_components_paths(self) -> None:
        rp = self.p["reverse_proxy"]
        assert [u["url"] for u in rp["urls"]] == [
            "https://webext.contoso.com/ABS/ext",
            "https://webext.contoso.com/GroupExpansion/ext/service.asmx",
            "https://webext.contoso.com/etc/place/null"]
        assert (rp["internal_site"], rp["dns_address"]) == ("pool01.contoso.local",
                                                            "198.51.100.20")

    def test_public_a_record_and_firewall_rules(self) -> None:
        assert ("webext.contoso.com", "A", "198.51.100.20") in {
            (d["name"], d["type"], d["value"]) for d in self.p["dns"] if d["scope"] == "external"}
        mine = {(r["firewall"], r["direction"], r["source_ip"] or r["source"],
                 r["destination_ip"] or r["destination"], r["protocol"], r["ports"])
                for r in self.p["firewall"] if r["role"] == "reverse_proxy"}
        assert mine == {
            ("external", "inbound", "Internet (any)", "198.51.100.20", "TCP", "443"),
            ("internal", "outbound", "10.0.0.20", "Web Components (pool01.contoso.local)",
             "TCP", "443")}

    def test_listener_certificate(self) -> None:
        cert = certs(self.p)["reverse-proxy"]
        assert (cert["subject_cn"], cert["sans"], cert["issuer"], cert["ca"]) == (
            "webext.contoso.com", ["webext.contoso.com"], "public", "DigiCert")
        assert any("first subject alternative name" in n for n in cert["notes"])
        assert any("Contoso Issuing CA" in n and "Trusted Root" in n for n in cert["notes"])

    def test_isa_wizard_screen_by_screen(self) -> None:
        titles = [sc["title"] for sc in self.p["reverse_proxy"]["screens"]]
        assert titles[0] == "Before the rule" and titles[-1] == "Test from the Internet"
        assert "Server Connection Security" in titles
        internal = {a["label"]: a["value"] for a in rp_screen(self.p,
                                                               "Internal Publishing Details")}
        assert internal["Internal site name"] == "pool01.contoso.local"
        assert internal["Path"] == "/ABS/ext/*, /GroupExpansion/ext/service.asmx, /etc/place/null/*"
        listener = {a["label"]: a["value"] for a in rp_screen(self.p, "Select Web Listener")}
        assert (listener["IP address"], listener["Certificate"]) == (
            "172.16.1.20:443", "webext.contoso.com")
        assert rp_screen(self.p, "Server Connection Security")[0]["label"] == (
            "Use SSL to connect to the published Web server or server farm")
        done = [a["label"] for a in rp_screen(self.p, "Completing the New Web Publishing Rule "
                                                       "Wizard")]
        assert done == ["Finish", "Apply", "Test Rule"]

    def test_the_pool_is_given_the_external_web_farm_fqdn(self) -> None:
        screen = next(sc for sc in self.p["pool_side"]["screens"]
                      if sc["title"] == "Pool Properties, Web Component Properties")
        assert screen["actions"][0]["value"] == "webext.contoso.com"

    def test_isa_without_sp1_has_no_test_rule_and_one_name_only(self) -> None:
        p = plan("adatum-im")  # reverse_proxy.sp1: false
        done = [a["label"] for a in rp_screen(p, "Completing the New Web Publishing Rule "
                                                  "Wizard")]
        assert done == ["Finish", "Apply"]
        assert any("no SP1" in n for n in certs(p)["reverse-proxy"]["notes"])

    def test_a_generic_reverse_proxy(self) -> None:
        p = plan("woodgrove-split")
        rule = {a["label"]: a["value"] for a in rp_screen(p, "Publishing rule")}
        assert rule["Published host name"] == "ocsweb.woodgrovebank.com"
        assert rule["Forward to"].startswith("https://") and rule["Forward to"].endswith(":443")

    def test_the_page(self) -> None:
        from runbook.outputs.pages import render_site
        from runbook.outputs.templating import make_environment

        rendered = render_site(self.p, make_environment())
        page = rendered["sites/contoso-hq/reverse-proxy.md"]
        assert "`webext.contoso.com`" in page
        # It may break on a narrow screen after its dots and slashes, never elsewhere.
        assert ("<td><code>https://<wbr>webext.<wbr>contoso.<wbr>com/<wbr>ABS/ext</code></td>"
                in page)
        assert "Use SSL to connect to the published Web server or server farm" in page


class TestReverseProxyRules:
    def test_production_remote_access_without_one_is_warned(self, tmp_path: Path) -> None:
        data = yaml.safe_load((INPUTS / "contoso.yaml").read_text("utf-8"))
        data.pop("reverse_proxy")
        [warning] = plan_of(tmp_path, data)["warnings"]
        assert warning["code"] == "no-reverse-proxy"
        assert ("no address book, no distribution group expansion and no meeting content"
                in warning["message"])

    def test_an_im_only_edge_misses_no_meeting_content(self, tmp_path: Path) -> None:
        data = yaml.safe_load((INPUTS / "adatum-im.yaml").read_text("utf-8"))
        data.pop("reverse_proxy")
        [warning] = plan_of(tmp_path, data)["warnings"]
        assert "no address book and no distribution group expansion" in warning["message"]
        assert "meeting content" not in warning["message"]

    def test_a_name_outside_the_external_zone_is_an_error(self, tmp_path: Path) -> None:
        from runbook.errors import ValidationFailed

        data = yaml.safe_load((INPUTS / "contoso.yaml").read_text("utf-8"))
        data["reverse_proxy"]["fqdn"] = "webext.contoso.local"
        try:
            plan_of(tmp_path, data)
        except ValidationFailed as failed:
            text = "\n".join(p.format() for p in failed.problems)
        else:
            raise AssertionError("expected a validation failure")
        assert "reverse_proxy.fqdn" in text and "external zone contoso.com" in text


class TestReverseProxyInTheDocuments:
    p = plan("contoso")

    def test_the_change_request_has_a_step_and_its_backout(self) -> None:
        from runbook.outputs.documents import change_request

        cr = change_request(self.p)
        titles = [i["title"] for i in cr["implementation"]]
        assert "Reverse proxy: publish webext.contoso.com" in titles
        # Published before the pool is told its external web farm FQDN.
        assert titles.index("Reverse proxy: publish webext.contoso.com") < titles.index(
            "Pool side: trust the edge, route federation, enable users")
        undo = next(i for i in cr["backout"] if i["id"] == "reverse_proxy")
        assert "webext.contoso.com" in undo["backout"]

    def test_the_field_runbook_has_the_isa_screens_and_a_sign_off(self) -> None:
        import subprocess

        from runbook.outputs.documents import field_runbook_pdf

        done = subprocess.run(["pdftotext", "-", "-"], input=field_runbook_pdf(self.p),
                              capture_output=True, check=True)
        text = " ".join(done.stdout.decode("utf-8").split())
        assert "Reverse proxy: publish webext.contoso.com" in text
        assert "Use SSL to connect to the published Web server or server farm" in text
        assert "Reverse proxy done" in text


def test_the_proxy_to_web_components_rule_names_the_pools_address() -> None:
    # fabrikam-lb: the reverse proxy forwards to pool01's
    # Web Components, whose address the topology gives (pools[1].ip: 10.20.2.10).
    p = plan("fabrikam-lb")
    [rule] = [r for r in p["firewall"]
              if r["role"] == "reverse_proxy" and r["firewall"] == "internal"]
    assert rule["destination_ip"] == "10.20.2.10"
    assert rule["destination"] == "10.20.2.10 (Web Components, pool01.corp.fabrikam.com)"
    assert rule["protocol"] == "TCP" and rule["ports"] == "443"


def test_a_second_pool_is_not_published_and_the_page_says_so() -> None:
    # fabrikam-lb has two Enterprise pools; the proxy publishes the first one only.
    notes = plan("fabrikam-lb")["reverse_proxy"]["notes"]
    [note] = [n for n in notes if n.startswith("Not published")]
    assert "pool02.corp.fabrikam.com" in note and "pool01" not in note
    assert not [n for n in plan("contoso")["reverse_proxy"]["notes"]
                if n.startswith("Not published")]
