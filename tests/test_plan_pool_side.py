"""The pool side (issue 14, item 2): what the internal servers hold for the edge, and where.

Values worked out by hand from the examples and the sources
(../shared/domain/ocs2007-remote-access.md §2):

- The Edge Servers tab of Global Properties lists each Access Edge by its internal FQDN, the
  internal VIP's FQDN behind a load balancer (R37, R38, R43), and the A/V authentication
  service as FQDN and port 5062 (R39; edge.md §1.2).
- The pool's Web Conferencing Edge Server tab has one entry per Web Conferencing Edge: its
  internal FQDN with port 8057 and its external FQDN with port 443 (R40-R42).
- The pool's Media tab names the A/V authentication service (R44); each Mediation Server is
  pointed at the same service (R46, R47).
- The Federation tab routes to the Director when there is one, else to the Access Edge's
  internal side, on 5061 (R48).
- Anonymous meetings on: the Meetings tab's Anonymous participants choice "Allow users to
  invite anonymous participants" (R50).
- Users are enabled for Remote user access, Federation and Public IM connectivity (R53-R55).

contoso: edge01 (internal zone contoso.local), webconf.contoso.com, no Director, Mediation
Server med01.contoso.local, all features on. fabrikam-lb: internal VIPs
edgepool.corp.fabrikam.com (access) and avpool.corp.fabrikam.com (A/V), fbedge01/fbedge02 in
corp.fabrikam.com, meet.fabrikam.com, Director dir01.corp.fabrikam.com, two Mediation
Servers. adatum-im: one Access Edge adedge01.ad.adatum.com, no Web Conferencing, no A/V, no
public IM. woodgrove-split: wgedge-ra (remote access, meetings, A/V) and wgedge-fed
(federation), Director dir01.corp.woodgrovebank.com.
"""

from __future__ import annotations

import copy
import html
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from runbook.plan.catalog import catalog
from runbook.plan.sites import plan_file

ROOT = Path(__file__).resolve().parent.parent
INPUTS = ROOT / "inputs"


def plan(name: str) -> dict[str, Any]:
    return plan_file(INPUTS / f"{name}.yaml").to_dict()


def plan_of(tmp_path: Path, data: dict[str, Any]) -> dict[str, Any]:
    path = tmp_path / f"{data['site']}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return plan_file(path).to_dict()


def setting(p: dict[str, Any], sid: str) -> dict[str, Any]:
    return next(s for s in p["pool_side"]["settings"] if s["id"] == sid)


def screen(p: dict[str, Any], title: str) -> list[tuple[str, str, str | None]]:
    found = next(s for s in p["pool_side"]["screens"] if s["title"] == title)
    return [(a["kind"], a["label"], a["value"]) for a in found["actions"]]


@pytest.fixture(scope="module")
def contoso() -> dict[str, Any]:
    return plan("contoso")


@pytest.fixture(scope="module")
def fabrikam() -> dict[str, Any]:
    return plan("fabrikam-lb")


class TestEdgeServersTab:
    def test_a_consolidated_edge_is_trusted_by_its_internal_fqdn(
            self, contoso: dict[str, Any]) -> None:
        ps = contoso["pool_side"]
        assert ps["access_edges"] == ["edge01.contoso.local"]
        assert (ps["av_auth_fqdn"], ps["av_auth_port"]) == ("edge01.contoso.local", 5062)
        assert setting(contoso, "trusted-av-auth")["entries"] == ["edge01.contoso.local:5062"]

    def test_an_array_is_trusted_by_its_internal_vips(self, fabrikam: dict[str, Any]) -> None:
        ps = fabrikam["pool_side"]
        assert ps["access_edges"] == ["edgepool.corp.fabrikam.com"]
        assert setting(fabrikam, "trusted-av-auth")["entries"] == [
            "avpool.corp.fabrikam.com:5062"]

    def test_split_edges_are_both_trusted(self) -> None:
        assert plan("woodgrove-split")["pool_side"]["access_edges"] == [
            "wgedge-fed.corp.woodgrovebank.com", "wgedge-ra.corp.woodgrovebank.com"]

    def test_where_it_lives(self, contoso: dict[str, Any]) -> None:
        where = setting(contoso, "trusted-access-edge")["where"]
        assert (where["path"], where["tab"]) == ("Forest node, Properties, Global Properties",
                                                 "Edge Servers")
        assert where["console"] == "Office Communications Server 2007 administrative snap-in"
        assert screen(contoso, "Global Properties, Edge Servers tab")[1:] == [
            ("type", "Access Edge and Web Conferencing Edge Servers list (internal FQDN)",
             "edge01.contoso.local"),
            ("type", "A/V Edge Servers list (internal FQDN and port)",
             "edge01.contoso.local:5062")]


class TestWebConferencingAndMedia:
    def test_one_entry_per_web_conferencing_edge(self, fabrikam: dict[str, Any]) -> None:
        entries = [(e["internal_fqdn"], e["internal_port"], e["external_fqdn"],
                    e["external_port"]) for e in fabrikam["pool_side"]["webconf_edges"]]
        assert entries == [("fbedge01.corp.fabrikam.com", 8057, "meet.fabrikam.com", 443),
                           ("fbedge02.corp.fabrikam.com", 8057, "meet.fabrikam.com", 443)]
        assert setting(fabrikam, "webconf-edge")["where"]["tab"] == (
            "Web Conferencing Edge Server")

    def test_both_pools_that_host_meetings_are_named_not_the_director(
            self, fabrikam: dict[str, Any]) -> None:
        notes = [a for a in screen(fabrikam, "Pool Properties, Web Conferencing Edge Server tab")
                 if a[0] == "note"]
        assert notes == [("note", "Do this on every pool that hosts meetings: "
                          "pool01.corp.fabrikam.com, pool02.corp.fabrikam.com", None)]

    def test_the_media_tab_selects_the_av_authentication_service(
            self, contoso: dict[str, Any], fabrikam: dict[str, Any]) -> None:
        assert ("select", "A/V Authentication Service", "edge01.contoso.local") in screen(
            contoso, "Pool Properties, Media tab")
        assert setting(fabrikam, "pool-av-auth")["entries"] == ["avpool.corp.fabrikam.com"]
        assert setting(contoso, "pool-av-auth")["where"]["tab"] == "Media"

    def test_an_im_only_edge_has_neither(self) -> None:
        p = plan("adatum-im")
        ps = p["pool_side"]
        assert ps["webconf_edges"] == [] and ps["av_auth_fqdn"] is None
        assert ps["av_auth_port"] is None and ps["anonymous_participants"] is None
        assert [s["id"] for s in ps["settings"]] == [
            "trusted-access-edge", "federation-route", "user-access"]


class TestMediationServers:
    def test_each_mediation_server_uses_the_av_edge(
            self, contoso: dict[str, Any], fabrikam: dict[str, Any]) -> None:
        assert contoso["pool_side"]["mediation"] == [
            {"fqdn": "med01.contoso.local", "av_edge": "edge01.contoso.local"}]
        assert [(m["fqdn"], m["av_edge"]) for m in fabrikam["pool_side"]["mediation"]] == [
            ("med01.corp.fabrikam.com", "avpool.corp.fabrikam.com"),
            ("med02.corp.fabrikam.com", "avpool.corp.fabrikam.com")]

    def test_on_the_general_tab_of_its_properties(self, fabrikam: dict[str, Any]) -> None:
        where = setting(fabrikam, "mediation-av-edge")["where"]
        assert (where["path"], where["tab"]) == ("Mediation Servers, the server, Properties",
                                                 "General")
        actions = screen(fabrikam, "Mediation Server Properties, General tab")
        assert [a for a in actions if a[0] == "select"] == [
            ("select", "A/V Edge Server (the A/V authentication service to use)",
             "avpool.corp.fabrikam.com")] * 2
        assert "med02.corp.fabrikam.com" in actions[2][1]

    def test_without_mediation_servers_there_is_no_step(self) -> None:
        p = plan("woodgrove-split")
        assert p["pool_side"]["mediation"] == []
        assert "Mediation Server Properties, General tab" not in [
            s["title"] for s in p["pool_side"]["screens"]]


class TestFederationRoute:
    def test_without_a_director_the_access_edge_internal_side(
            self, contoso: dict[str, Any]) -> None:
        assert contoso["pool_side"]["federation_route"] == {
            "fqdn": "edge01.contoso.local", "port": 5061, "via": "access_edge"}

    def test_with_a_director_the_director(self, fabrikam: dict[str, Any]) -> None:
        assert fabrikam["pool_side"]["federation_route"] == {
            "fqdn": "dir01.corp.fabrikam.com", "port": 5061, "via": "director"}
        assert plan("woodgrove-split")["pool_side"]["federation_route"]["fqdn"] == (
            "dir01.corp.woodgrovebank.com")

    def test_on_the_federation_tab(self, contoso: dict[str, Any]) -> None:
        assert screen(contoso, "Global Properties, Federation tab")[1:] == [
            ("tick", "Enable federation and public IM connectivity", None),
            ("type", "FQDN", "edge01.contoso.local"), ("type", "Port", "5061")]

    def test_no_route_when_nobody_federates(self) -> None:
        assert plan("litware-noav")["pool_side"]["federation_route"] is None


class TestMeetingsAndUsers:
    def test_anonymous_meetings_allow_users_to_invite_anonymous_participants(
            self, contoso: dict[str, Any]) -> None:
        assert contoso["pool_side"]["anonymous_participants"] == (
            "Allow users to invite anonymous participants")
        where = setting(contoso, "anonymous-participants")["where"]
        assert (where["tab"], where["field"]) == ("Meetings", "Anonymous participants")
        why = next(a["why"] for s in contoso["pool_side"]["screens"]
                   if s["title"] == "Global Properties, Meetings tab" for a in s["actions"]
                   if a["kind"] == "select")
        assert "Enforce per user" in why and "Allow anonymous participants" in why

    def test_no_meeting_policy_step_without_anonymous_meetings(self, tmp_path: Path) -> None:
        data = yaml.safe_load((INPUTS / "contoso.yaml").read_text("utf-8"))
        data = copy.deepcopy(data)
        data["edge"]["features"]["anonymous_meetings"] = False
        p = plan_of(tmp_path, data)
        assert p["pool_side"]["anonymous_participants"] is None
        assert "Global Properties, Meetings tab" not in [
            s["title"] for s in p["pool_side"]["screens"]]

    def test_users_are_enabled_for_what_the_edge_offers(self, contoso: dict[str, Any]) -> None:
        assert contoso["pool_side"]["user_settings"] == [
            "Remote user access", "Federation", "Public IM connectivity"]
        assert plan("adatum-im")["pool_side"]["user_settings"] == [
            "Remote user access", "Federation"]
        where = setting(contoso, "user-access")["where"]
        assert "Configure Office Communications Server Users Wizard" in where["path"]


def test_every_place_cites_sources_the_catalog_lists() -> None:
    sources = set(catalog().sources)
    for name in ("contoso", "fabrikam-lb", "adatum-im", "woodgrove-split", "litware-noav"):
        for s in plan(name)["pool_side"]["settings"]:
            assert s["where"]["sources"], (name, s["id"])
            assert set(s["where"]["sources"]) <= sources, (name, s["id"])


def test_the_pool_side_page_through_a_real_build(repository_site: Path) -> None:
    """Built by MkDocs with the plugin: the page is in the site's navigation after the
    installation runbook, the overview links it, and it shows the hand-worked values."""
    page = (repository_site / "sites" / "contoso-hq" / "pool.html").read_text("utf-8")
    text = visible(page)
    assert "Pool side — Contoso HQ edge deployment" in text
    assert "Trusted A/V authentication service edge01.contoso.local:5062 Edge Servers tab of " \
        "Forest node, Properties, Global Properties Field: A/V Edge Servers list (internal " \
        "FQDN and port)" in text
    assert "Type edge01.contoso.local:5062 in A/V Edge Servers list" in text
    assert "Select A/V Edge Server (the A/V authentication service to use): " \
        "edge01.contoso.local" in text
    assert "Select Anonymous participants: Allow users to invite anonymous participants" in text
    overview = (repository_site / "sites" / "contoso-hq" / "index.html").read_text("utf-8")
    assert 'href="pool.html"' in overview
    links = re.findall(r'<a href="([a-z-]+\.html)" class="md-nav__link', page)
    assert links.index("pool.html") == links.index("runbook.html") + 1


def visible(page: str) -> str:
    """The text a reader sees in the page's article, white space collapsed."""
    article = page[page.index("<article"):page.index("</article>")]
    # A line-break opportunity (<wbr>) is no character: "edge01.<wbr>contoso.local" reads whole.
    article = article.replace("<wbr>", "")
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", article)).split()).replace(
        " :", ":").replace(" ,", ",")
