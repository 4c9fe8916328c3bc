"""One search index per site and a small one for the home page (runbook.site.search).

The browser side (a site page loads only its own index, from file:// and over HTTP) is in
tests/test_browser.py.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from runbook.site.search import page_entries


def entries(html: str, location: str = "dns.html", title: str = "DNS") -> list[dict[str, str]]:
    return [json.loads(e) for e in page_entries(html, location, title)]


def test_the_h1_titles_the_page_entry_and_each_heading_with_an_id_starts_one() -> None:
    html = ('<h1 id="dns-records">DNS records</h1>\n<p>Publish these.</p>\n'
            '<h2 id="zone-contoso-com">Zone contoso.com<a class="headerlink" href="#zone-'
            'contoso-com" title="Permanent link">&para;</a></h2>\n'
            '<table>\n<tr>\n<td>sip</td>\n<td>A</td>\n</tr>\n</table>\n'
            '<h3>No id</h3>\n<p>still the zone</p>')
    assert entries(html) == [
        {"location": "dns.html", "title": "DNS records", "text": "Publish these."},
        {"location": "dns.html#zone-contoso-com", "title": "Zone contoso.com",
         "text": "sip A No id still the zone"},
    ]


def test_a_page_without_an_h1_is_titled_by_its_title_and_keeps_its_preface() -> None:
    assert entries('<p>Before.</p><h2 id="a">A</h2><p>x</p>', title="Firewall") == [
        {"location": "dns.html", "title": "Firewall", "text": "Before."},
        {"location": "dns.html#a", "title": "A", "text": "x"},
    ]


def test_topology_text_stays_escaped_in_the_index() -> None:
    html = '<h2 id="x">&lt;img src=x onerror=alert(1)&gt;</h2><p>a &amp; &lt;b&gt;</p>'
    found = entries(html)[1]
    assert found["title"] == "&lt;img src=x onerror=alert(1)&gt;"
    assert found["text"] == "a &amp; &lt;b&gt;"


def index(path: Path) -> list[dict[str, str]]:
    docs: list[dict[str, str]] = json.loads(path.read_text(encoding="utf-8"))["docs"]
    return docs


def test_each_site_has_an_index_of_its_own_pages_and_the_home_index_has_no_site_page(
        built_site: Path) -> None:
    home = index(built_site / "search" / "search_index.json")
    assert home and not [d for d in home if d["location"].startswith("sites/")]
    sites = sorted(p.name for p in (built_site / "sites").iterdir())
    assert len(sites) > 1
    for slug in sites:
        folder = built_site / "sites" / slug
        docs = index(folder / "search" / "search_index.json")
        pages = {p.relative_to(folder).as_posix() for p in folder.rglob("*.html")}
        # Every page of the site, and nothing but them (locations relative to the folder).
        assert {d["location"].split("#")[0] for d in docs} == pages
        script = (folder / "search" / "search_index.js").read_text(encoding="utf-8")
        assert script == "var __index = " + (folder / "search" / "search_index.json").read_text(
            encoding="utf-8")
        # Every entry's anchor is an element of its page.
        for doc in docs:
            if "#" in doc["location"]:
                name, anchor = doc["location"].split("#")
                html = (folder / name).read_text(encoding="utf-8")
                assert re.search(f'id="{re.escape(anchor)}"', html), doc["location"]


def test_the_site_index_has_the_search_settings_of_the_home_index(built_site: Path) -> None:
    home = json.loads((built_site / "search" / "search_index.json").read_text())["config"]
    site = json.loads((built_site / "sites" / "contoso-hq" / "search" /
                       "search_index.json").read_text())["config"]
    assert site == home and home["lang"] == ["en"]
