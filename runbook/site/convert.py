"""The site pages' Markdown converted on every core and kept in the build cache.

MkDocs' own build converts every page, one after the other, on one core, and keeps nothing
from one build to the next: about 45 s of CPU at a thousand sites, on every build. The
runbook plugin instead converts the generated site pages (``sites/<slug>/*.md``) itself,
through documented interfaces only:

- once the files and the navigation are known (``on_nav``), :func:`convert_pages` converts
  every site page with :class:`markdown.Markdown`, the extensions and their configuration
  taken from the MkDocs configuration, exactly as MkDocs' ``Page.render`` would, on
  ``jobs`` forked workers (:func:`runbook.engine.parallel.map_chunks`). Links are made
  relative the way MkDocs makes them (:class:`_Links`). Each result is a checked cache entry
  (:func:`runbook.engine.store.write_entry`) under a key of everything that changes it
  (:class:`Keys`), so a rebuild converts only the pages whose key is new;
- in ``on_page_markdown`` a converted page hands MkDocs only its first line, its ``# title``
  (MkDocs reads the page's title from it as from the whole page), and in
  ``on_page_content`` the plugin sets the page's ``toc``, ``present_anchor_ids`` and
  ``links_to_anchors`` (documented attributes of MkDocs' ``Page``) from the entry; the HTML
  is read back from the entry when the theme template needs it (``on_page_context``).

A page that would make MkDocs log anything while converting (a link to a missing or
excluded file, an absolute link), whose first line is not a ``# title`` followed by a blank
line, or whose Markdown another plugin changed before runbook's ``on_page_markdown``, is
left to MkDocs: it converts it as it always does and reports what it reports. The result is
the same bytes either way (``tests/test_convert.py`` compares it with a plain MkDocs build).
"""

from __future__ import annotations

import hashlib
import json
import logging
import marshal
import posixpath
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from html.parser import HTMLParser
from importlib import metadata
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit, urlunsplit

import markdown
from markdown.preprocessors import Preprocessor
from markdown.treeprocessors import Treeprocessor
from markdown.util import AMP_SUBSTITUTE

from runbook.engine.parallel import map_chunks
from runbook.engine.store import code_fingerprint, digest, load_value, read_entry, write_entry
from runbook.site.search import page_entries, site_of

if TYPE_CHECKING:
    from xml.etree.ElementTree import Element

    from mkdocs.config.defaults import MkDocsConfig
    from mkdocs.structure.files import File, Files

NAMESPACE = "page"
# Chunks of pages per worker: small enough that the last chunk leaves the other core idle
# only briefly.
TASKS_PER_JOB = 24
# Distributions whose code takes part in converting a page.
_DISTS = ("markdown", "pymdown-extensions", "pygments", "mkdocs", "mkdocs-material")


def _name(value: Any) -> str:
    """A stable name for a configuration value JSON cannot hold (a function, an instance)."""
    kind = value if isinstance(value, type) or callable(value) else type(value)
    return f"{getattr(kind, '__module__', '?')}.{getattr(kind, '__qualname__', repr(kind))}"


def _extension_spec(extension: Any) -> Any:
    if isinstance(extension, str):
        return extension
    if isinstance(extension, markdown.Extension):
        return [_name(extension), extension.getConfigs()]
    return _name(extension)


def conversion_fingerprint(config: MkDocsConfig) -> str:
    """What every page's conversion depends on besides its own Markdown: the extensions and
    their configuration, the versions of Python-Markdown, its extensions, Pygments, MkDocs,
    the theme and Python, the generator's code, and the link settings."""
    parts = []
    for dist in _DISTS:
        try:
            parts.append(f"{dist} {metadata.version(dist)}")
        except metadata.PackageNotFoundError:
            parts.append(f"{dist} absent")
    spec = {
        "extensions": [_extension_spec(e) for e in config.markdown_extensions],
        "configs": config.mdx_configs or {},
        "use_directory_urls": config.use_directory_urls,
    }
    return digest("convert", code_fingerprint(), sys.version, *parts,
                  json.dumps(spec, sort_keys=True, default=_name))


class Keys:
    """Cache keys of site pages.

    A page's key holds its Markdown, its path, :func:`conversion_fingerprint`, the names of
    the files of its site folder and the names of the files outside ``sites/``: what its
    links can resolve to. A page whose links reach another site's folder is not cached
    (:attr:`Converted.cacheable`).
    """

    def __init__(self, config: MkDocsConfig, files: Files) -> None:
        outside: list[str] = []
        folders: dict[str, list[str]] = {}
        for f in files:
            slug = site_of(f.src_uri)
            if slug is None:
                outside.append(f.src_uri)
            else:
                folders.setdefault(slug, []).append(f.src_uri)
        self._base = digest(conversion_fingerprint(config), *sorted(outside))
        self._folders = {slug: digest(*sorted(names)) for slug, names in folders.items()}

    def key(self, src_uri: str, markdown_text: str) -> str:
        """The cache key of the site page ``src_uri`` holding ``markdown_text``."""
        slug = site_of(src_uri)
        assert slug is not None
        return digest(self._base, self._folders[slug], src_uri, markdown_text)


class _Unsupported(Exception):
    """The page needs MkDocs' own conversion (it would log something, or is unusual)."""


class _Links(Treeprocessor):
    """Links and images made relative as MkDocs' build makes them, for the links MkDocs
    accepts without a message; anything else leaves the page to MkDocs (:class:`_Unsupported`).

    Records the links to anchors (for MkDocs' anchor check) and whether a link reached
    outside the page's own site folder and the files outside ``sites/``.
    """

    def __init__(self, md: markdown.Markdown, files: Files) -> None:
        super().__init__(md)
        self.files = files
        self.file: File | None = None
        self.links: list[tuple[str, str, str]] = []  # target src_uri, anchor, link as written
        self.foreign = False

    def start(self, file: File) -> None:
        self.file, self.links, self.foreign = file, [], False

    def run(self, root: Element) -> None:
        for element in root.iter():
            if element.tag == "a":
                key = "href"
            elif element.tag == "img":
                key = "src"
            else:
                continue
            url = element.get(key)
            assert url is not None
            element.set(key, self._url(url))

    def _url(self, url: str) -> str:
        from mkdocs.utils import get_relative_url

        assert self.file is not None
        scheme, netloc, path, query, anchor = urlsplit(url)
        if scheme or netloc:
            return url
        if url.startswith(("/", "\\")):
            raise _Unsupported("an absolute link")
        if AMP_SUBSTITUTE in url:
            return url
        if not path:
            if anchor:
                self.links.append((self.file.src_uri, anchor, url))
            return url
        path = unquote(path)
        target_uri = posixpath.normpath(
            posixpath.join(posixpath.dirname(self.file.src_uri), path).lstrip("/"))
        target = self.files.get_file_from_path(target_uri)
        if target is None or target.inclusion.is_excluded():  # type: ignore[no-untyped-call]
            raise _Unsupported(f"a link MkDocs reports: {url}")
        own = site_of(self.file.src_uri)
        theirs = site_of(target.src_uri)
        if theirs is not None and theirs != own:
            self.foreign = True
        if anchor:
            self.links.append((target.src_uri, anchor, url))
        return urlunsplit(("", "", get_relative_url(target.url, self.file.url), query, anchor))


class _Anchors(Treeprocessor):
    """The ids a page holds, as MkDocs collects them (elements' ids, ``<a name>``)."""

    def __init__(self, md: markdown.Markdown) -> None:
        super().__init__(md)
        self.found: set[str] = set()

    def run(self, root: Element) -> None:
        for element in root.iter():
            if anchor := element.get("id"):
                self.found.add(anchor)
            if element.tag == "a" and (anchor := element.get("name")):
                self.found.add(anchor)


class _RawIds(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if value is not None and (name == "id" or (name == "name" and tag == "a")):
                self.found.add(value)


class _RawAnchors(Preprocessor):
    """The ids in a page's raw HTML, as MkDocs collects them: a preprocessor just before
    Python-Markdown's ``html_block`` (priority 21, as MkDocs registers its own), so it reads
    the text the earlier preprocessors leave, and not what they stashed (the HTML blocks of
    :mod:`runbook.outputs.htmlblocks`)."""

    def __init__(self) -> None:
        super().__init__()
        self.found: set[str] = set()

    def run(self, lines: list[str]) -> list[str]:
        parser = _RawIds()
        parser.feed("\n".join(lines))
        parser.close()
        self.found = parser.found
        return lines


class Converter:
    """One Markdown converter for many pages (reset between them), with the extensions and
    configuration MkDocs would use and the same link handling."""

    def __init__(self, config: MkDocsConfig, files: Files) -> None:
        self.md = markdown.Markdown(extensions=config.markdown_extensions,
                                    extension_configs=config.mdx_configs or {})
        self.anchors = _Anchors(self.md)
        self.md.treeprocessors.register(self.anchors, "mkdocs_extract_anchors", 5)
        self.raw = _RawAnchors()
        self.md.preprocessors.register(self.raw, "mkdocs_raw_html", 21)
        self.links = _Links(self.md, files)
        self.md.treeprocessors.register(self.links, "relpath", 0)

    def convert(self, file: File, text: str) -> Converted:
        """``text`` (the page's Markdown, without front matter) as MkDocs would convert it.

        Raises :class:`_Unsupported` for a page MkDocs must convert itself.
        """
        self.md.reset()
        self.anchors.found = set()
        self.links.start(file)
        self.raw.found = set()
        html = self.md.convert(text)
        toc = getattr(self.md, "toc_tokens", [])
        location = file.url
        slug = site_of(file.src_uri)
        if slug is not None and location.startswith(f"sites/{slug}/"):
            location = location[len(f"sites/{slug}/"):]
        entries = page_entries(html, location, "")
        return Converted(
            html=html, toc=_plain_tokens(toc),
            anchors=sorted(self.anchors.found | self.raw.found), links=list(self.links.links),
            entries=entries, titled=bool(json.loads(entries[0])["title"]),
            cacheable=not self.links.foreign)


def _plain_tokens(tokens: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{**t, "children": _plain_tokens(t.get("children", []))} for t in tokens]


@dataclass
class Converted:
    """A site page converted: its HTML, its table of contents (Python-Markdown's
    ``toc_tokens``), the ids it holds, its links to anchors, its search entries (JSON texts;
    ``titled``: the first has a title of its own, else it takes the page's title)."""

    html: str
    toc: list[dict[str, Any]]
    anchors: list[str]
    links: list[tuple[str, str, str]]
    entries: list[str]
    titled: bool
    cacheable: bool = True

    def to_data(self) -> bytes:
        """The entry's payload."""
        return marshal.dumps([self.html, self.toc, self.anchors, self.links, self.entries,
                              self.titled])

    @classmethod
    def from_data(cls, payload: bytes | None) -> Converted | None:
        """The page of :meth:`to_data`, or None for bytes that are not one."""
        value = load_value(payload)
        if not (isinstance(value, list) and len(value) == 6):
            return None
        html, toc, anchors, links, entries, titled = value
        return cls(html, toc, anchors, [tuple(link) for link in links], entries, titled)


def split_source(text: str) -> tuple[str, dict[str, Any]]:
    """A page's Markdown and its front matter, as MkDocs' ``Page.read_source`` splits them."""
    from mkdocs.utils.meta import get_data

    body, meta = get_data(text)
    return body, meta


def tiny_source(text: str) -> str | None:
    """The first line of ``text`` when it is a ``# title`` followed by a blank line (MkDocs
    takes the page's title from it as from the whole page), else None."""
    first, sep, rest = text.partition("\n")
    if first.startswith("# ") and sep and (not rest or rest.startswith("\n")):
        return first + "\n"
    return None


@dataclass
class Prepared:
    """What :func:`convert_pages` did: per page, its key and Markdown digest; and counts."""

    pages: dict[str, tuple[str, str]] = field(default_factory=dict)  # src_uri -> key, digest
    held: dict[str, bytes] = field(default_factory=dict)  # entries the cache could not store
    converted: int = 0
    cached: int = 0
    left: int = 0  # left to MkDocs


def text_digest(text: str) -> str:
    """The digest a page's Markdown is recognised by in ``on_page_markdown``."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def entry_path(root: str, key: str) -> str:
    """Where the page entry of ``key`` is kept under the cache folder ``root``."""
    return f"{root}/{NAMESPACE}/{key[:2]}/{key}"


def convert_pages(config: MkDocsConfig, files: Files, cache_root: str, jobs: int) -> Prepared:
    """Convert every site page of ``files`` whose entry is not in the cache, on ``jobs``
    workers; each result is stored as a checked entry. Returns what each page's entry is."""
    import os

    keys = Keys(config, files)
    prepared = Prepared()
    # The pages to convert, without their Markdown: a thousand sites' pages are hundreds of
    # megabytes, so each worker reads its own pages' sources again.
    todo: list[tuple[File, str, str]] = []  # file, key, digest of its Markdown
    for file in files.documentation_pages():
        if site_of(file.src_uri) is None:
            continue
        body, _ = split_source(file.content_string)
        if tiny_source(body) is None:
            prepared.left += 1
            continue
        key = keys.key(file.src_uri, body)
        text_hash = text_digest(body)
        if os.path.exists(entry_path(cache_root, key)):
            prepared.pages[file.src_uri] = (key, text_hash)
            prepared.cached += 1
        else:
            todo.append((file, key, text_hash))
        del body

    def run(chunk: Sequence[tuple[File, str, str]]
            ) -> list[tuple[str, str, str, bytes | None, bool]]:
        converter = Converter(config, files)
        out: list[tuple[str, str, str, bytes | None, bool]] = []
        for file, key, text_hash in chunk:
            body, _ = split_source(file.content_string)
            if text_digest(body) != text_hash:  # changed meanwhile: MkDocs reads it anew
                out.append((file.src_uri, key, text_hash, None, False))
                continue
            try:
                page = converter.convert(file, body)
            except _Unsupported:
                out.append((file.src_uri, key, text_hash, None, False))
                continue
            payload = page.to_data()
            stored = page.cacheable and write_entry(entry_path(cache_root, key), payload)
            # An entry that was not stored travels back to be held in memory instead.
            out.append((file.src_uri, key, text_hash, None if stored else payload, True))
        return out

    for chunk in map_chunks(run, todo, jobs, tasks_per_job=TASKS_PER_JOB):
        for src_uri, key, text_hash, payload, ok in chunk:
            if not ok:
                prepared.left += 1
                continue
            prepared.converted += 1
            prepared.pages[src_uri] = (key, text_hash)
            if payload is not None:
                prepared.held[src_uri] = payload
    return prepared


def read_converted(cache_root: str, src_uri: str, key: str, prepared: Prepared
                   ) -> Converted | None:
    """The converted page of ``key``: from memory if it could not be stored, else from its
    checked entry (None when that is damaged or gone: counted, and the caller converts)."""
    payload = prepared.held.get(src_uri)
    if payload is None:
        payload = read_entry(entry_path(cache_root, key), NAMESPACE)
    return Converted.from_data(payload)


def log_counts(prepared: Prepared) -> None:
    """One debug line: how many site pages were converted, read from the cache, left."""
    logging.getLogger("mkdocs.plugins.runbook").debug(
        "site pages: %d converted, %d from the cache, %d converted by MkDocs",
        prepared.converted, prepared.cached, prepared.left)
