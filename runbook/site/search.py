"""One search index per site, and a small one for the home page.

Material's search loads its whole index before it shows the first result; with every site's
pages in it, that index grows by about 70 kB per site (68 MB at 1,000 sites). So the site
pages (``sites/<slug>/...``) are left out of Material's index (``search: exclude`` in their
page metadata, as Material documents), and each site gets an index of its own pages,
``sites/<slug>/search/search_index.json``, in the format Material's search reads
(``{"config": ..., "docs": [{"location", "title", "text"}, ...]}``, locations relative to
the site folder). With Material's offline plugin, each also gets the script form the offline
plugin writes, ``search_index.js`` (``var __index = ...``), so search works from ``file://``.
A site page tells Material's search to start from its site folder (its ``base``, see
``overrides/main.html``); the home page and the static pages keep Material's own index,
which then holds only them.

The entries of a page come from its converted Markdown (``on_page_content``): one per
heading with an id, as Material makes them, the text stripped of tags and kept as escaped
HTML text.
"""

from __future__ import annotations

import json
import re
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_HEADING = re.compile(r"<h([1-6])\b([^>]*)>(.*?)</h\1>", re.S)
_ID = re.compile(r'\bid="([^"]*)"')
_PERMALINK = re.compile(r'<a class="headerlink"[^>]*>.*?</a>', re.S)
_TAG = re.compile(r"<[^>]*>")


def site_of(src_uri: str) -> str | None:
    """The slug of the site a page belongs to (``sites/<slug>/...``), else ``None``."""
    parts = src_uri.split("/", 2)
    return parts[1] if len(parts) == 3 and parts[0] == "sites" else None


def _text(html: str) -> str:
    # Tags out, entities kept: what is left is still HTML text, safe where Material puts it.
    # Runs of whitespace as one space: str.split's whitespace is the regular expressions'
    # \s (str.isspace), and the split takes a third of the time of a substitution.
    return " ".join(_TAG.sub("", html).split())


def page_entries(html: str, location: str, title: str) -> list[str]:
    """Search entries of one page's converted Markdown, each as its JSON text.

    The first entry is the page itself (``location``, titled by its first ``<h1>`` or by
    ``title``), holding the text before the first heading with an id; every later heading
    with an id starts an entry ``location#id``. Headings without an id are text.
    """
    sections: list[list[str]] = [[location, "", ""]]
    parts: list[str] = []
    start = 0
    for match in _HEADING.finditer(html):
        parts.append(html[start:match.start()])
        start = match.end()
        level, attrs, inner = match.groups()
        ident = _ID.search(attrs)
        heading = _text(_PERMALINK.sub("", inner))
        if ident is None:
            parts.append(inner)
            continue
        if level == "1" and len(sections) == 1 and not _text("".join(parts)):
            sections[0][1] = heading
            continue
        sections[-1][2] = _text("".join(parts))
        parts = []
        sections.append([f"{location}#{ident.group(1)}", heading, ""])
    parts.append(html[start:])
    sections[-1][2] = _text("".join(parts))
    if not sections[0][1]:
        sections[0][1] = _text(title)
    return [json.dumps({"location": loc, "title": head, "text": text},
                       separators=(",", ":"))
            for loc, head, text in sections]


def _pack(entries: list[str]) -> bytes:
    # JSON texts hold no raw line break, so one separates them.
    return zlib.compress("\n".join(entries).encode("utf-8"), 1)


def _unpack(packed: bytes) -> list[str]:
    text = zlib.decompress(packed).decode("utf-8")
    return text.split("\n") if text else []


def site_index(config: dict[str, Any], entries: list[str], script: bool) -> dict[str, bytes]:
    """One site's search index from its pages' entries: ``search/search_index.json`` (and
    its script form ``search/search_index.js`` if ``script``), paths relative to the site's
    folder. ``config`` is the head of Material's own index (language, separator, pipeline,
    fields): every site is searched as the home page is."""
    head = json.dumps({"config": config}, separators=(",", ":"))
    data = "".join((head[:-1], ',"docs":[', ",".join(entries), "]}"))
    out = {"search/search_index.json": data.encode("utf-8")}
    if script:
        out["search/search_index.js"] = f"var __index = {data}".encode()
    return out


@dataclass
class SiteSearch:
    """The entries of every site page, by page, until the indexes are written.

    Held compressed: about 70 kB of entries per site would be 280 MB at 4,000 sites.
    """

    pages: dict[str, bytes] = field(default_factory=dict)

    def add(self, src_uri: str, url: str, html: str, title: str) -> None:
        """Index one site page from its converted Markdown (``url``: the page's URL)."""
        slug = site_of(src_uri)
        if slug is None:
            return
        location = url[len(f"sites/{slug}/"):] if url.startswith(f"sites/{slug}/") else url
        self.pages[src_uri] = _pack(page_entries(html, location, title))

    def take(self, src_uri: str) -> list[str]:
        """The entries of one page, no longer held here (a worker hands them on)."""
        packed = self.pages.pop(src_uri, None)
        return _unpack(packed) if packed is not None else []

    def write(self, site_dir: Path, config: dict[str, Any], script: bool) -> list[Path]:
        """Write every site's index (and its script form if ``script``); the files written.

        ``config`` is the head of Material's own index (language, separator, pipeline,
        fields): every site is searched as the home page is.
        """
        by_site: dict[str, list[str]] = {}
        for src_uri in sorted(self.pages):
            slug = site_of(src_uri)
            assert slug is not None
            by_site.setdefault(slug, []).append(src_uri)
        written = []
        # One site's entries unpacked at a time.
        for slug, pages in by_site.items():
            entries = [e for src_uri in pages for e in _unpack(self.pages.pop(src_uri))]
            for name, data in site_index(config, entries, script).items():
                path = site_dir / "sites" / slug / name
                path.parent.mkdir(parents=True, exist_ok=True)
                # A new file, never written through: a name under sites/ may be another
                # name of a file of the live site (runbook.site.publish's spare). runbook build
                # takes the sites' indexes from the cache, so this is a guard.
                path.unlink(missing_ok=True)
                path.write_bytes(data)
                written.append(path)
        return written
