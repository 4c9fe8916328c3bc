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


def test_every_run_of_whitespace_is_one_space_and_the_ends_are_trimmed() -> None:
    # Tabs, line breaks, form feeds, no-break and em spaces, the separators U+001C-U+001F.
    html = ('<h2 id="a">\t A\u00a0\u2003 B \n</h2>'
            '<p>\n one\t\ttwo\x0cthree\x1cfour\u2028five\u3000 </p>\n<p>six\u200bseven</p>')
    assert entries(html)[1] == {"location": "dns.html#a", "title": "A B",
                                "text": "one two three four five six\u200bseven"}


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


# --- What the per-site search relies on in Material -----------------------------------------
# Search per site reads three things of Material that are file formats, not Python names: its
# index (search_index.json: config and docs), the script form its offline plugin writes
# (search_index.js), and the page configuration its search starts from (the `base` of the
# page's __config, which overrides/main.html points at the site's folder). These tests say
# which of them a Material upgrade changed; tests/test_browser.py shows search working.


def test_materials_offline_plugin_still_writes_the_index_as_a_script_of_that_form(
        built_site: Path) -> None:
    home = (built_site / "search" / "search_index.js").read_text(encoding="utf-8")
    assert home.startswith("var __index = "), "Material's offline plugin changed its script"
    data = json.loads(home[len("var __index = "):])
    assert data == json.loads((built_site / "search" / "search_index.json").read_text())
    site = (built_site / "sites" / "contoso-hq" / "search" / "search_index.js").read_text()
    assert site.startswith("var __index = ")


def test_materials_page_configuration_still_has_the_base_a_site_page_points_at_its_folder(
        built_site: Path) -> None:
    def config(page: str) -> dict[str, object]:
        html = (built_site / page).read_text(encoding="utf-8")
        found = re.search(r'<script id="__config" type="application/json">(.*?)</script>',
                          html, re.S)
        assert found, f"{page}: Material's page configuration (#__config) is gone"
        value: dict[str, object] = json.loads(found.group(1))
        return value

    assert config("index.html")["base"] == "."
    assert config("sites/contoso-hq/dns.html")["base"] == "../.."
    # The site page's script sets it to the site's own folder, where its index is.
    page = (built_site / "sites/contoso-hq/dns.html").read_text(encoding="utf-8")
    assert 'a.base="./";' in page
