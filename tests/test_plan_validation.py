"""Validation: Step 6's Validation Wizard and the end-to-end tests that prove a deployment.

Expected values are worked out by hand from the examples and the cited sources: the OCS 2007
LCSCmd Diag action (which the Validation Wizard runs) takes two test users and federated user
URIs; Communicator signs in from outside through the _sip._tls SRV record and TLS 443 (R2
sign-in and discovery); anonymous participants join with the meeting key; A/V needs STUN
3478/443 and the 50,000-59,999 range; federation failures show as event 14428; a wizard pass
is not proof (the R2 Web Scheduler case). Rule ids follow the firewall's order (see
tests/test_plan_contoso.py: E01 443 remote, E02/E03 5061 in/out, E04 PSOM, E05/E06 STUN,
E07-E10 media, E11 reverse proxy; I04 reverse proxy to the Web Components, I05 5062).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from runbook.outputs.documents import change_request, change_request_markdown
from runbook.plan.sites import plan_file
from tests.topo import INPUTS, contoso, write


def plan_of(name: str) -> dict[str, Any]:
    result: dict[str, Any] = plan_file(INPUTS / name).to_dict()
    return result


def by_id(plan: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {t["id"]: t for t in plan["validation"]["tests"]}


def test_contoso_runs_every_test_its_features_call_for_in_order() -> None:
    p = plan_of("contoso.yaml")
    # remote access, reverse proxy, anonymous meetings, A/V, federation, public IM: all seven
    assert [t["id"] for t in p["validation"]["tests"]] == [
        "signin-auto", "signin-manual", "address-book", "meeting-anonymous", "av-call",
        "federation", "pic"]


def test_an_im_only_site_tests_sign_in_the_address_book_and_federation_only() -> None:
    # adatum-im: one Access Edge, no Web Conferencing or A/V Edge, a reverse proxy,
    # federation with discovery off, no public IM provider.
    p = plan_of("adatum-im.yaml")
    tests = by_id(p)
    assert list(tests) == ["signin-auto", "signin-manual", "address-book", "federation"]
    # Discovery is off: the test's partner, adatum's first (contoso.com), must be on the
    # Allow tab.
    assert tests["federation"]["title"] == "Federation with contoso.com"
    assert tests["federation"]["on_failure"][0] == (
        "contoso.com is on the Allow tab of adedge01 (discovery is off)")


def test_automatic_sign_in_names_the_srv_record_the_address_and_the_rule() -> None:
    t = by_id(plan_of("contoso.yaml"))["signin-auto"]
    assert t["where"].startswith("A computer on the Internet")
    assert t["rules"] == ["E01"]
    assert t["on_failure"][:3] == [
        "nslookup -type=SRV _sip._tls.contoso.com answers sip.contoso.com, port 443",
        "sip.contoso.com resolves to 198.51.100.10 from outside",
        "telnet sip.contoso.com 443 opens a connection from outside"]
    assert "DigiCert" in t["on_failure"][3]
    assert t["on_failure"][-1] == "Firewall rules E01 are in place"
    assert any("Cannot sign in to Communicator" in f for f in t["failure"])
    vault = [a for a in t["steps"] if a["kind"] == "vault"]
    assert [a["value"] for a in vault] == ["contoso-hq/ocs-edge/test-user-1"]


def test_a_second_sip_domain_is_signed_in_too() -> None:
    t = by_id(plan_of("fabrikam-lb.yaml"))["signin-auto"]
    [again] = [a for a in t["steps"] if a["label"].startswith("Repeat")]
    assert again["label"] == "Repeat with a test user of fabrikam.net"


def test_manual_sign_in_types_the_access_edge_and_its_port() -> None:
    t = by_id(plan_of("contoso.yaml"))["signin-manual"]
    typed = {a["label"]: a["value"] for a in t["steps"] if a["kind"] in ("type", "select")}
    assert typed["External server name"] == "sip.contoso.com:443"
    assert typed["Transport"] == "TLS"


def test_manual_sign_in_is_checked_before_the_configuration_is_set_back() -> None:
    plan = plan_of("contoso.yaml")
    t = by_id(plan)["signin-manual"]
    assert t["then"] == [{"kind": "do", "label": "Set Advanced back to automatic configuration",
                          "value": None, "why": None}]
    assert all("back" not in a["label"] for a in t["steps"])
    # Paper's screen and the web's list: the check, then the setting back.
    [screen] = [s for s in plan["validation"]["screens"] if s["title"] == t["title"]]
    labels = [a["label"] for a in screen["actions"]]
    assert labels.index(t["check"]["label"]) + 1 == labels.index(t["then"][0]["label"])
    from runbook.outputs.checklists import site_checklists

    web = site_checklists(plan, ["runbook.md"])["validation/signin-manual"]
    assert [a["label"] for a in web.content[0]["actions"]][-2:] == [
        f"Success: {t['success']}", "Set Advanced back to automatic configuration"]


def test_the_reverse_proxy_is_tested_from_outside() -> None:
    t = by_id(plan_of("contoso.yaml"))["address-book"]
    assert t["rules"] == ["E11", "I04"]
    urls = [a["label"] for a in t["steps"] if a["kind"] == "check"]
    assert urls == [f"https://webext.contoso.com{path} opens in a browser without a "
                    "certificate warning"
                    for path in ("/ABS/ext", "/GroupExpansion/ext/service.asmx",
                                 "/etc/place/null")]
    assert "webext.contoso.com resolves to 198.51.100.20 from outside" in t["on_failure"]


def test_without_a_reverse_proxy_there_is_no_address_book_test_and_content_is_expected_missing(
        tmp_path: Path) -> None:
    data = contoso()
    del data["reverse_proxy"]
    p = plan_file(write(tmp_path, data)).to_dict()
    tests = by_id(p)
    assert "address-book" not in tests
    assert any("no reverse proxy" in c for c in tests["meeting-anonymous"]["on_failure"])


def test_the_av_call_crosses_stun_media_and_authentication_rules() -> None:
    t = by_id(plan_of("contoso.yaml"))["av-call"]
    assert t["rules"] == ["E05", "E06", "E07", "E09", "E08", "E10", "I05"]
    assert "Pool Properties, Media tab: A/V Authentication Service = edge01.contoso.local" \
        in t["on_failure"]


def test_load_balanced_av_edges_are_tested_on_each_members_own_address() -> None:
    p = plan_of("fabrikam-lb.yaml")
    t = by_id(p)["av-call"]
    members = [r["id"] for r in p["firewall"] if r["ports"] == "3478"
               and r["destination_ip"] in ("203.0.113.31", "203.0.113.32")]
    assert len(members) == 2 and set(members) <= set(t["rules"])
    assert t["on_failure"][-2] == ("The A/V authentication certificate is the same (issuer "
                                   "and key) on fbav01, fbav02")


def test_federation_without_a_named_partner_asks_for_one(tmp_path: Path) -> None:
    data = contoso()
    data["edge"]["federation_partners"] = []
    p = plan_file(write(tmp_path, data)).to_dict()
    t = by_id(p)["federation"]
    assert t["title"] == "Federation with a named partner"
    assert t["steps"][0]["kind"] == "check"  # with a line to write the agreed domain on
    assert "names no federation partner" in (t["steps"][0]["why"] or "")
    assert t["rules"] == ["E02", "E03"]
    assert t["on_failure"][0] == ("The partner finds _sipfederationtls._tcp.contoso.com -> "
                                  "sip.contoso.com, port 5061")
    assert any("Event 14428" in c for c in t["on_failure"])


def test_the_first_federation_partner_names_the_test_and_the_wizard_uri() -> None:
    # contoso lists fabrikam.com first (edge.federation_partners).
    p = plan_of("contoso.yaml")
    t = by_id(p)["federation"]
    assert t["title"] == "Federation with fabrikam.com"
    assert t["steps"][0]["label"] == "A user of contoso.com adds a contact of fabrikam.com"
    step6 = p["wizard"][0]["steps"][5]
    users = next(s for s in step6["screens"] if s["title"].startswith("Test users"))
    [uri] = [a for a in users["actions"] if a["label"] == "Federated user URIs"]
    assert uri["value"] == "sip:<partner user>@fabrikam.com"


def test_public_im_is_tested_with_the_first_provider_once_it_is_provisioned() -> None:
    t = by_id(plan_of("contoso.yaml"))["pic"]
    assert t["title"] == "Public IM with MSN / Windows Live"
    assert t["steps"][0]["label"] == "MSN / Windows Live has confirmed provisioning"
    assert "(network address federation.messenger.msn.com)" in t["on_failure"][1]


def test_the_validation_wizard_asks_for_test_users_from_the_vault_and_says_a_pass_is_not_proof(
        ) -> None:
    p = plan_of("contoso.yaml")
    step6 = p["wizard"][0]["steps"][5]
    titles = [s["title"] for s in step6["screens"]]
    assert titles == ["Deployment Wizard", "Validation options",
                      "Test users: SIP URI, account and password of two users, and their pool",
                      "Results"]
    users = step6["screens"][2]["actions"]
    assert [a["value"] for a in users if a["kind"] == "vault"] == [
        "contoso-hq/ocs-edge/test-user-1", "contoso-hq/ocs-edge/test-user-2"]
    assert {a["label"]: a["value"] for a in users if a["kind"] == "type"}["Pool"] == \
        "pool01.contoso.local"
    [note] = [a for a in step6["screens"][3]["actions"] if a["kind"] == "note"]
    assert "not proof" in note["label"]


def test_an_av_only_server_validates_its_configuration_without_test_users() -> None:
    p = plan_of("fabrikam-lb.yaml")
    fbav01 = next(w for w in p["wizard"] if w["server"] == "fbav01")
    titles = [s["title"] for s in fbav01["steps"][5]["screens"]]
    assert titles == ["Deployment Wizard", "Validation options", "Results"]


def test_the_tests_become_screens_with_success_failure_and_what_to_check() -> None:
    p = plan_of("contoso.yaml")
    v = p["validation"]
    assert [s["title"] for s in v["screens"]] == [t["title"] for t in v["tests"]]
    for test, screen in zip(v["tests"], v["screens"], strict=True):
        labels = [a["label"] for a in screen["actions"]]
        assert labels[0] == f"Where: {test['where']}"
        assert f"Success: {test['success']}" in labels
        assert len([x for x in labels if x.startswith("Failure: ")]) == len(test["failure"])
        [checks] = [a for a in screen["actions"] if a["label"] == "If it fails, check"]
        assert checks["why"] == "; ".join(test["on_failure"])


def test_the_change_requests_validation_plan_has_the_reverse_proxy_and_the_tests() -> None:
    p = plan_of("contoso.yaml")
    sections = {s["title"]: s["checks"] for s in change_request(p)["validation"]}
    assert [c["label"] for c in sections["Reverse proxy (webext.contoso.com)"]] == [
        f"https://webext.contoso.com{path} answers over HTTPS without a certificate warning"
        for path in ("/ABS/ext", "/GroupExpansion/ext/service.asmx", "/etc/place/null")]
    tests = sections["End-to-end tests from outside"]
    assert len(tests) == 7 and tests[0]["label"].startswith(
        "Remote sign-in, automatic configuration: Communicator signs in")
    text = change_request_markdown(p)
    assert "### Reverse proxy (webext.contoso.com)" in text
    assert "### End-to-end tests from outside" in text
    assert "### Validate Edge Server: Validation options" in text
    assert "- Validate Local Server Configuration (edge01)" in text


def test_the_change_request_markdown_lists_each_validation_check_on_its_own_line() -> None:
    md = change_request_markdown(plan_of("contoso.yaml"))
    section = md[md.index("## 5. Validation plan"):md.index("## 6. Backout plan")]
    assert ("\n- Validate Local Server Configuration (edge01)\n"
            "- Validate Connectivity (edge01)\n\n### ") in section
    assert "(edge01)-" not in section  # no two checks run together on one line
