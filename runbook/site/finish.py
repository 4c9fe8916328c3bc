"""Finished site pages: each site's pages built once by MkDocs, kept in the cache, and
published as files while they stay the same.

A thousand sites are about 8,000 pages. MkDocs builds every page of a site on one core on
every build (Markdown, the theme template, writing it), about 8 ms a page: a rebuild after one
edit would cost a minute. MkDocs has no public way to build some pages and not others, so the
runbook plugin divides the work between MkDocs builds instead, through MkDocs' public API
(``mkdocs.commands.build.build``) and plugin events only:

- the build everybody runs (``runbook build`` or ``mkdocs build``) computes, in its plugin's
  ``on_files``, a key for each site (:func:`site_keys`): everything that changes the site's
  finished pages (their Markdown, the names of the files they may link to, the MkDocs
  configuration, the theme's files and the versions of everything that takes part);
- the sites whose key is not in the cache are built by **site builds**: the same MkDocs
  build, forked from it (:func:`build_sites`), that holds the home, reference and static
  pages and those sites' pages, on every core. Each site page's finished HTML (what MkDocs
  would write) and its search entries are taken in the plugin's ``on_post_page`` and kept in
  the cache, named by their content; nothing else of a site build is kept;
- the build then publishes each site page as a file (``File.generated`` from the cached copy),
  so MkDocs builds only the pages outside ``sites/`` itself.

A page is the same bytes either way: a site page's HTML depends on its own site only (each
site's pages carry their own navigation, ``runbook.site.nav``), and ``tests/test_finish.py``
compares the result with a plain MkDocs build of every page. A site build that logged a
warning is not kept, so the warning is reported again on every build, as MkDocs would; its
messages reach the build's own log, so ``strict`` fails there.
"""

from __future__ import annotations

import contextlib
import csv
import functools
import hashlib
import inspect
import json
import logging
import os
import shutil
import sys
import tempfile
import types
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runbook.engine.parallel import map_chunks
from runbook.engine.store import (
    Cache,
    code_fingerprint,
    content_name,
    digest,
    replace_file,
    write_file,
)
from runbook.site.search import site_index, site_of

if TYPE_CHECKING:
    from mkdocs.config.defaults import MkDocsConfig
    from mkdocs.structure.files import Files

    from runbook.site.plugin import RunbookPlugin

NAMESPACE = "finished"
# The cache's record of what each output folder holds, by its path (the plugin's _place).
PUBLISHED = "site-files"
# Site builds per worker: each costs a fixed part (the home and reference pages, the theme's
# files), so few, but more than one so the last to finish leaves the other core idle briefly.
TASKS_PER_JOB = 3
# At most this many sites per site build, whatever the number of sites: a build holds every
# page of its sites (MkDocs reads them all before it writes one), so its memory stays bounded.
MAX_SITES_PER_BUILD = 150
# Distributions whose code takes part in a finished page.
DISTS = ("markdown", "pymdown-extensions", "pygments", "mkdocs", "mkdocs-material", "jinja2",
         "markupsafe", "pyyaml")
# Settings that change where or how a build runs, never what a page holds.
_NOT_OUTPUT = frozenset({"site_dir", "config_file_path", "docs_dir", "dev_addr", "watch",
                         "strict", "plugins", "theme", "markdown_extensions", "mdx_configs"})


@dataclass(frozen=True)
class FinishedPage:
    """One published file of a site build: a site page as MkDocs built it, or a file of the
    site's search index (``url`` empty)."""

    src_uri: str  # the page's Markdown (sites/<slug>/....md), or "" for a search index file
    dest_uri: str  # where it is published in the site
    url: str  # the page's URL as MkDocs gives it ("" for a search index file)
    name: str  # the cached copy's name in the cache's files/ folder
    #: The file itself when its copy could not be written (a full cache disk): it is
    #: published from memory then, and not kept.
    data: bytes | None = None

    def to_data(self) -> list[Any]:
        """The file as cache data (with its bytes when it has no copy)."""
        data: list[Any] = [self.src_uri, self.dest_uri, self.url, self.name]
        return data if self.data is None else [*data, self.data]

    @classmethod
    def from_data(cls, data: Any) -> FinishedPage | None:
        """A file from :meth:`to_data`, or None for anything else."""
        if (not isinstance(data, list) or len(data) not in (4, 5)
                or not all(isinstance(v, str) for v in data[:4])
                or (len(data) == 5 and not isinstance(data[4], bytes))):
            return None
        return cls(data[0], data[1], data[2], data[3], data[4] if len(data) == 5 else None)


def entry_names(value: Any) -> list[str]:
    """The cached copies a finished-pages entry names (for the prune)."""
    if not isinstance(value, list):
        return []
    return [p.name for p in map(FinishedPage.from_data, value) if p is not None]


@dataclass
class FinishStats:
    """What a build did with the site pages."""

    sites_built: int = 0
    sites_cached: int = 0
    pages_built: int = 0
    pages_cached: int = 0
    site_builds: int = 0
    #: Sites whose build logged a warning (not kept, so it is reported again).
    not_kept: list[str] = field(default_factory=list)
    #: The files the site builds placed in the build's site folder themselves
    #: (:func:`place_file`; site-relative paths).
    placed: set[str] = field(default_factory=set)
    #: The cache copies the site builds found intact, with their status
    #: (:class:`runbook.engine.store.Verified`).
    verified: dict[str, tuple[int, int, int, int]] = field(default_factory=dict)


def _name(value: Any) -> str:
    kind = value if isinstance(value, type) or callable(value) else type(value)
    return f"{getattr(kind, '__module__', '?')}.{getattr(kind, '__qualname__', repr(kind))}"


def _plain(value: Any) -> Any:
    """``value`` as JSON data that names what it is, for a key (never an object's address)."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, set | frozenset):
        return sorted((_plain(v) for v in value), key=repr)
    configs = getattr(value, "getConfigs", None)  # a Markdown extension object
    if callable(configs):
        return [_name(value), _plain(configs())]
    patterns = getattr(value, "patterns", None)  # a PathSpec (not_in_nav, exclude_docs)
    if isinstance(patterns, list | tuple):
        return [_name(value), [str(getattr(p, "pattern", p)) for p in patterns]]
    if hasattr(value, "language"):  # the theme's Locale
        return str(value)
    return _name(value)


def _dist_versions() -> list[str]:
    out = []
    for dist in DISTS:
        try:
            out.append(f"{dist} {metadata.version(dist)}")
        except metadata.PackageNotFoundError:
            out.append(f"{dist} absent")
    return out


def _installed_roots() -> list[Path]:
    """Folders of installed packages whose files their version stands for."""
    import material  # type: ignore[import-untyped]
    import mkdocs

    return [Path(mkdocs.__file__).resolve().parent, Path(material.__file__).resolve().parent]


def _folder_digest(folder: Path) -> str:
    """Every file of ``folder``: its path and its content."""
    h = hashlib.sha256()
    for top, dirs, names in sorted(os.walk(folder)):
        dirs.sort()
        for name in sorted(names):
            path = Path(top, name)
            h.update(path.relative_to(folder).as_posix().encode("utf-8") + b"\0")
            try:
                h.update(hashlib.sha256(path.read_bytes()).digest())
            except OSError:
                h.update(b"unreadable")
    return h.hexdigest()


def theme_fingerprint(config: MkDocsConfig) -> str:
    """The theme: its name and settings, and its folders (those of an installed package by
    the package's version, see :func:`_dist_versions`; any other by its files)."""
    theme = config.theme
    roots = _installed_roots()
    folders = []
    for folder in theme.dirs:
        path = Path(folder).resolve()
        if any(path == root or path.is_relative_to(root) for root in roots):
            folders.append(f"installed:{path.name}")
        elif path.is_dir():
            made = _folder_digest(path)
            if made not in folders:  # a copy of a folder before it adds nothing
                folders.append(made)
    settings = {k: _plain(v) for k, v in theme.items()}
    return digest("theme", str(theme.name), json.dumps(settings, sort_keys=True), *folders)


def _top_levels(dist: metadata.Distribution) -> set[str]:
    """The top-level names ``dist`` installs: its ``top_level.txt``, else the first part of
    each file it lists that can be imported (a folder, or a module: ``.py``, ``.so``, ...).
    This is the rule of ``importlib.metadata.packages_distributions`` from Python 3.12 on, on
    every version (3.11's looks at ``.py`` files only). The list is read from ``RECORD`` (the
    wheel format's CSV) as text: building ``dist.files`` and reading the metadata of every
    installed distribution cost each build process 0.2 to 0.45 s."""
    declared = (dist.read_text("top_level.txt") or "").split()
    if declared:
        return set(declared)
    record = dist.read_text("RECORD")
    if record:
        paths = [row[0] for row in csv.reader(record.splitlines()) if row]
    else:  # an egg or a legacy install: its own list
        paths = [str(path) for path in dist.files or ()]
    names = set()
    for path in paths:  # relative paths, split as pathlib splits them
        parts = [part for part in path.split("/") if part not in ("", ".")]
        if len(parts) > 1:
            names.add(parts[0])
        elif parts:
            names.add(inspect.getmodulename(parts[0]) or "")
    return {name for name in names if name and "." not in name}


@functools.cache
def _distributions() -> list[tuple[metadata.Distribution, frozenset[str]]]:
    return [(dist, frozenset(_top_levels(dist))) for dist in metadata.distributions()]


@functools.cache
def distributions_of(top: str) -> list[str]:
    """The names of the installed distributions that install the top-level package ``top``
    (what ``packages_distributions()`` maps it to, by :func:`_top_levels`' rule), reading the
    metadata only of those."""
    found = (dist.metadata["Name"] for dist, names in _distributions() if top in names)
    return [name for name in found if name]  # None: removed since (a long `runbook serve`)


def code_of(module_name: str, module: Any = None) -> str:
    """What names the code of ``module_name``: the versions of the distributions that install
    its top-level package, else its file's content (a project's hooks.py), else its name."""
    top = module_name.split(".", 1)[0]
    found = distributions_of(top)
    if found:
        versions = []
        for dist in sorted(set(found)):
            try:
                versions.append(f"{dist} {metadata.version(dist)}")
            except metadata.PackageNotFoundError:
                versions.append(f"{dist} absent")
        return f"{top}: {', '.join(versions)}"
    path = getattr(module if module is not None else sys.modules.get(module_name),
                   "__file__", None)
    if isinstance(path, str) and os.path.isfile(path):
        return f"{module_name}: {hashlib.sha256(Path(path).read_bytes()).hexdigest()}"
    return module_name


def _plugin_part(name: str, plugin: Any, own: object) -> list[Any]:
    if plugin is own:  # runbook's settings reach pages through the Markdown it makes
        return [name, _name(plugin), None]
    if isinstance(plugin, types.ModuleType):  # a hook (mkdocs.yml hooks:): a module
        return [name, code_of(plugin.__name__, plugin), None]
    settings = getattr(plugin, "config", None)
    return [name, code_of(type(plugin).__module__), _name(plugin),
            _plain(dict(settings)) if isinstance(settings, Mapping) else None]


def _extension_part(extension: Any) -> Any:
    if isinstance(extension, str):
        module = extension if "." in extension else f"markdown.extensions.{extension}"
        return [extension, code_of(module)]
    return [_plain(extension), code_of(type(extension).__module__)]


def config_fingerprint(config: MkDocsConfig, own: object) -> str:
    """Every setting of ``config`` that reaches a page (not where or how it is built), the
    Markdown extensions and their settings, and the plugins and hooks with their settings
    but ``own`` (the runbook plugin, whose settings reach pages through the Markdown); each
    extension, plugin and hook with its code (:func:`code_of`)."""
    settings = {k: _plain(v) for k, v in config.items() if k not in _NOT_OUTPUT}
    extensions = [_extension_part(e) for e in config.markdown_extensions]
    plugins = [_plugin_part(name, plugin, own) for name, plugin in config.plugins.items()]
    return digest("config", json.dumps(settings, sort_keys=True),
                  json.dumps(extensions), json.dumps(_plain(config.mdx_configs or {})),
                  json.dumps(plugins))


def _content_id(content: Any) -> str:
    """What names a generated file's content: a spilled copy's name is its content's hash."""
    if isinstance(content, Path):
        return content.name
    return content_name(content if isinstance(content, bytes) else str(content).encode())


def site_keys(config: MkDocsConfig, own: object, generated: Mapping[str, Any],
              outside: Sequence[str]) -> dict[str, str]:
    """The cache key of each site's finished pages: its pages' Markdown and paths, the names
    of its folder's files and of the files outside ``sites/`` (``outside``: what its links
    may reach), the configuration, the theme, the build date (``SOURCE_DATE_EPOCH``), the
    versions of Python, runbook and :data:`DISTS`."""
    base = digest(NAMESPACE, "3", code_fingerprint(), sys.version, *_dist_versions(),
                  config_fingerprint(config, own), theme_fingerprint(config),
                  # The build date MkDocs gives the templates.
                  os.environ.get("SOURCE_DATE_EPOCH", ""), *sorted(outside))
    parts: dict[str, list[str]] = {}
    for path, content in generated.items():
        slug = site_of(path)
        if slug is not None:
            parts.setdefault(slug, []).append(
                f"{path}={_content_id(content)}" if path.endswith(".md") else path)
    return {slug: digest(base, slug, *sorted(names)) for slug, names in parts.items()}


def lookup(cache: Cache, keys: Mapping[str, str], present: frozenset[str]
           ) -> tuple[dict[str, list[FinishedPage]], list[str]]:
    """The finished pages of each site found in the cache, and the sites not found (or
    whose cached copies are gone: ``present`` lists the cache's files/ folder)."""
    found: dict[str, list[FinishedPage]] = {}
    missing: list[str] = []
    for slug, key in keys.items():
        value = cache.get_value(NAMESPACE, key)
        pages = [FinishedPage.from_data(p) for p in value] if isinstance(value, list) else []
        if (not pages or any(p is None or p.data is not None or p.name not in present
                             for p in pages)):
            if value is not None:
                cache.hits[NAMESPACE] -= 1
                cache.misses[NAMESPACE] += 1
            missing.append(slug)
        else:
            found[slug] = [p for p in pages if p is not None]
    return found, missing


class _Capture(logging.Handler):
    """What a site build logs that a build shows: its pages' messages, not its progress."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[tuple[str, int, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno < logging.INFO or (record.name == "mkdocs.commands.build"
                                             and record.levelno < logging.ERROR):
            # "Cleaning site directory", "Documentation built in ...", debug output, and
            # the build module's warnings ("Template skipped"), which the parent build,
            # running the same templates, logs itself.
            return
        self.records.append((record.name, record.levelno, record.getMessage()))


@dataclass
class _Job:
    config: MkDocsConfig
    plugin: RunbookPlugin
    keys: Mapping[str, str]
    cache_root: Path
    site_dir: str | None  # where the site builds place their files, or None


_JOB: _Job | None = None


def _build_chunk(slugs: Sequence[str]) -> tuple[dict[str, list[list[Any]]],
                                                list[tuple[str, int, str]], list[str],
                                                list[str], list[str],
                                                dict[str, tuple[int, int, int, int]]]:
    """In a forked worker: one MkDocs build of the sites ``slugs`` (with the pages outside
    ``sites/``), their finished pages kept and placed in the build's site folder with their
    sites' other files; returns the pages, the build's messages, the sites not kept (their
    build logged a warning), the files placed, the sites whose pages the build stopped
    before (an error) and the cache copies found intact."""
    from mkdocs.commands.build import build
    from mkdocs.exceptions import Abort

    assert _JOB is not None
    job = _JOB
    capture = _Capture()
    for name in ("mkdocs", ""):
        logger = logging.getLogger(name)
        for handler in list(logger.handlers):
            logger.removeHandler(handler)
    logging.getLogger("mkdocs").addHandler(capture)
    logging.getLogger("mkdocs").propagate = False
    scratch = Path(tempfile.mkdtemp(prefix="runbook-site-build-"))
    config = job.config
    config.site_dir = str(scratch)
    job.plugin.begin_site_build(set(slugs), job.site_dir)
    try:
        # Strict mode and a warning: the warning travels back in capture.records. An error
        # (a page, a plugin or a hook failed) stops the build where it happened: its message
        # travels back too, and the sites whose pages it did not build are named.
        with contextlib.suppress(Abort):
            build(config)
        expected = {slug: job.plugin.site_pages(slug) for slug in slugs}
        pages, placed, seen = job.plugin.end_site_build()
        head = _search_head(scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    records, not_kept = _attribute(capture.records, slugs, job.plugin.outside_pages())
    script = job.plugin.search_script(config)
    cache = Cache(job.cache_root)
    out: dict[str, list[list[Any]]] = {}
    for slug in slugs:
        made = pages.get(slug, {})
        entry = [FinishedPage(src_uri, dest_uri, url, name, data)
                 for src_uri, (dest_uri, url, name, data, _) in sorted(made.items())]
        if head is not None:
            entries = [e for _, (*_, found) in sorted(made.items()) for e in found]
            for path, data in site_index(head, entries, script).items():
                name, kept = spill_copy(job.cache_root / "files", data)
                dest_uri = f"sites/{slug}/{path}"
                entry.append(FinishedPage("", dest_uri, "", name, None if kept else data))
                if job.site_dir is not None and place_file(job.site_dir, dest_uri, data):
                    placed.add(dest_uri)
        out[slug] = [page.to_data() for page in entry]
        whole = all(page.data is None for page in entry)
        if slug not in not_kept and entry and whole:
            cache.put_value(NAMESPACE, job.keys[slug], out[slug])
    stopped = [slug for slug, wanted in expected.items()
               if wanted is None or set(wanted) != set(pages.get(slug, {}))]
    return out, records, sorted(not_kept), sorted(placed), stopped, seen


def place_file(site_dir: str, dest_uri: str, data: bytes) -> bool:
    """A site build's file placed in the build's site folder ``site_dir`` as a file of its
    own (:func:`runbook.engine.store.replace_file`: a name the spare shares with the live
    site is replaced, never written through). False when it could not be placed (a folder or
    a full disk in the way): the build places it after.

    The site builds place what they made themselves, on every core, while they hold it: the
    build would copy it back from the cache afterwards, on one (a cold build of a thousand
    sites: 11,700 pages and search indexes, 520 MB)."""
    try:
        replace_file(f"{site_dir}/{dest_uri}", data)
    except OSError:
        return False
    return True


def spill_copy(folder: Path, data: bytes) -> tuple[str, bool]:
    """``data`` kept in ``folder`` under its content's name: (the name, whether it is kept;
    not on a full disk, which write_file counts)."""
    name = content_name(data)
    target = folder / name
    return name, target.is_file() or write_file(target, data)


def _search_head(site_dir: Path) -> dict[str, Any] | None:
    """The ``config`` of Material's search index a build wrote (None: no search plugin)."""
    path = site_dir / "search" / "search_index.json"
    try:
        head: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))["config"]
    except (OSError, ValueError, KeyError):
        return None
    return head


def _attribute(records: list[tuple[str, int, str]], slugs: Sequence[str],
               outside: Sequence[str]) -> tuple[list[tuple[str, int, str]], set[str]]:
    """What of a site build's messages its parent build logs, and the sites not to keep.

    A message naming a page of the build's sites is that site's: logged, and a warning keeps
    the site out of the cache (so the next build reports it again). A message naming a page
    outside ``sites/`` is logged by the parent build itself, which builds those pages: left
    out. Any other message is logged, and a warning keeps every site of the build out.
    """
    kept: list[tuple[str, int, str]] = []
    not_kept: set[str] = set()
    for name, level, message in records:
        named = {s for s in slugs if f"sites/{s}/" in message}
        if not named and any(f"'{uri}'" in message for uri in outside):
            continue
        kept.append((name, level, message))
        if level >= logging.WARNING:
            not_kept |= named or set(slugs)
    return kept, not_kept


def build_sites(config: MkDocsConfig, plugin: RunbookPlugin, slugs: Sequence[str],
                keys: Mapping[str, str], cache_root: Path, jobs: int,
                site_dir: str | None = None
                ) -> tuple[dict[str, list[FinishedPage]], FinishStats]:
    """Build the sites ``slugs`` in MkDocs builds forked from this one, on ``jobs`` cores,
    and keep their finished pages in the cache; return them. With ``site_dir``, the site
    builds also place those pages and search indexes there (:func:`place_file`; the stats
    list them). What those builds log is logged here, under the same names and levels."""
    global _JOB
    stats = FinishStats()
    if not slugs:
        return {}, stats
    _JOB = _Job(config, plugin, keys, cache_root, site_dir)
    try:
        per_job = max(TASKS_PER_JOB, -(-len(slugs) // (max(1, jobs) * MAX_SITES_PER_BUILD)))
        results = map_chunks(_build_chunk, list(slugs), jobs, tasks_per_job=per_job,
                             isolate=True)
    finally:
        _JOB = None
    found: dict[str, list[FinishedPage]] = {}
    logged: set[tuple[str, int, str]] = set()
    stopped: list[str] = []
    for pages, records, not_kept, placed, cut_short, seen in results:
        stopped += cut_short
        stats.site_builds += 1
        stats.placed.update(placed)
        stats.verified.update(seen)
        for record in records:
            if record not in logged:  # a message of no site comes from every site build
                logged.add(record)
                logging.getLogger(record[0]).log(record[1], record[2])
        stats.not_kept += not_kept
        for slug, entry in pages.items():
            found[slug] = [p for p in map(FinishedPage.from_data, entry) if p is not None]
    if stopped:
        # MkDocs stops a build at an error; so does this one, rather than publish a site
        # without the pages that build never made.
        from mkdocs.exceptions import PluginError

        raise PluginError(f"the pages of {', '.join(sorted(stopped))} were not built: "
                          "their site build stopped at an error (logged above)")
    stats.sites_built = len(found)
    stats.pages_built = page_count(found)
    return found, stats


def page_count(found: Mapping[str, list[FinishedPage]]) -> int:
    """How many site pages ``found`` holds (not their search index files)."""
    return sum(1 for pages in found.values() for page in pages if page.url)


def published_files(files: Files) -> list[str]:
    """The names of the files outside ``sites/``: what a site page's links may reach there."""
    return [f.src_uri for f in files if site_of(f.src_uri) is None]
