"""An opt-in MkDocs build, split across cores and skipping pages that have not changed.

The default site build is MkDocs' own ``mkdocs.commands.build.build`` with the runbook
plugin's events (:mod:`runbook.site.build`). This module is the opt-in fast path
(:mod:`runbook.engine.optin`): ``RUNBOOK_SITE_BUILD=split``. It calls MkDocs' private
page-building steps (``_populate_page``, ``_build_page``, ``File._content``) and Material's
search index internals, so it is used only with the exact versions in :data:`VERIFIED`;
with any other it falls back to the default path after a one-line notice.

``mkdocs build`` converts every page with one core (Python-Markdown, then the theme template).
:func:`build` does the same work as ``mkdocs.commands.build.build`` (MkDocs 1.6.1) with three
differences that do not change a byte of the output (``tests/test_incremental.py`` compares
the two):

- the pages under ``sites/`` are converted and written by forked worker processes, in
  contiguous chunks; the parent merges what the plugins collect per page (the search index
  entries, the anchors for link validation) back in the original page order, then runs the
  ``post_build`` events as MkDocs would;
- with a cache, a page whose inputs are unchanged is not converted: its HTML, search entries
  and anchors come from the cache. The key holds the page's Markdown, the name and content of
  every file of its site folder, the names of the files outside ``sites/``, the title and URL
  of every page in the navigation, the MkDocs configuration file, the theme overrides, the
  versions of MkDocs, the theme, Python-Markdown and its extensions, Jinja, MarkupSafe,
  Pygments and Python, and the generator's code.
  A page that logged a warning, or that looked up a file of another site folder while
  converting, is never cached, so warnings and broken links are reported on every build
  exactly as ``mkdocs build`` reports them. Anchor links are checked on every build for every
  page, cached or not, from the anchors kept per page;
- each process converts its pages with one Markdown converter, reset between pages
  (:class:`_OneConverter`), instead of making a new one per page.

The other pages (home, about, and any page in the navigation) are converted by the parent
before the workers start and written after they finish.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runbook.engine import optin
from runbook.engine.parallel import LAST, current_rss, map_chunks, release_memory
from runbook.engine.store import Cache, copy_named, is_content_name, read_named
from runbook.site.generate import code_fingerprint

if TYPE_CHECKING:
    from mkdocs.config.defaults import MkDocsConfig
    from mkdocs.structure.files import File, Files

log = logging.getLogger("mkdocs.commands.build")
#: Set to ``split`` to build the site with :func:`build` (opt-in).
ENV = "RUNBOOK_SITE_BUILD"
SPLIT = "split"
#: The distributions whose private names this module uses, at the versions it was checked with.
VERIFIED = {"mkdocs": "1.6.1", "mkdocs-material": "9.8.2", "markdown": "3.11.3"}
NAMESPACE = "page"
# Chunks of pages per worker: a thousand sites' pages in chunks of about two seconds' work,
# so the last to finish leaves the other cores idle for about a second at most.
PAGE_TASKS_PER_JOB = 24


@dataclass
class BuildStats:
    """What the build did: pages converted, pages from the cache, workers used."""

    pages: int = 0
    converted: int = 0
    cached: int = 0
    workers: int = 0
    worker_peak_rss: int = 0
    seconds: float = 0.0
    phases: dict[str, float] = field(default_factory=dict)
    rss: dict[str, int] = field(default_factory=dict)
    reused: int = 0  # files linked from the previous site instead of copied


@dataclass
class _PageResult:
    src_uri: str
    entries: list[str]  # search index entries, each as its JSON text
    anchors: list[str] | None
    links: dict[str, dict[str, str]]
    from_cache: bool
    site_entries: list[str] = field(default_factory=list)  # its site's search index's


def chosen() -> bool:
    """Whether this build should use :func:`build`: asked for, and at verified versions.

    Asked for at other versions, it says so on one line (standard error) and answers False.
    """
    if not optin.requested(ENV, SPLIT):
        return False
    reason = optin.mismatch(VERIFIED)
    if reason is not None:
        optin.notice(f"{ENV}={SPLIT}", reason)
        return False
    return True


def _site_search(config: MkDocsConfig) -> Any:
    """The runbook plugin's per-site search entries (:mod:`runbook.site.search`), if any."""
    from runbook.site.search import SiteSearch

    for plugin in config.plugins.values():
        search = getattr(plugin, "search", None)
        if isinstance(search, SiteSearch):
            return search
    return None


def _search_index(config: MkDocsConfig) -> Any:
    for plugin in config.plugins.values():
        index = getattr(plugin, "search_index", None)
        if index is not None and hasattr(index, "entries"):
            return index
    return None


def _versions() -> str:
    parts = []
    for dist in ("mkdocs", "mkdocs-material", "markdown", "pymdown-extensions", "jinja2",
                 "pygments", "markupsafe"):
        try:
            parts.append(f"{dist} {metadata.version(dist)}")
        except metadata.PackageNotFoundError:
            parts.append(f"{dist} absent")
    # Python's own html, json and re modules take part in every page too.
    parts.append(f"python {sys.version}")
    return "\n".join(parts)


def _tree(root: Path | None) -> str:
    h = hashlib.sha256()
    if root is not None and root.is_dir():
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            h.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes())
    return h.hexdigest()


def _file_hash(file: File) -> str:
    if _spilled(file):
        # A generated file handed on by path is named by what determines its content
        # (runbook.site.generate.spill): the name is its hash.
        assert file.abs_src_path is not None  # _spilled() checked it
        return "spilled:" + Path(file.abs_src_path).name
    return hashlib.sha256(file.content_bytes).hexdigest()


def _spilled(file: File) -> bool:
    """True for a file the runbook plugin hands on by path: a spilled copy, named by its
    content's hash (:func:`runbook.engine.store.content_name`). The packaged assets the
    plugin adds by path (the site CSS, the schema) are not."""
    src = file.abs_src_path
    return file.generated_by == "runbook" and bool(src and is_content_name(Path(src).name))


def _folder(src_uri: str) -> str | None:
    parts = src_uri.split("/", 2)
    return f"sites/{parts[1]}/" if len(parts) == 3 and parts[0] == "sites" else None


class _Keys:
    """Cache keys of site pages (see the module docstring for what goes in)."""

    def __init__(self, config: MkDocsConfig, files: Files, nav: Any) -> None:
        config_file = Path(config.config_file_path) if config.config_file_path else None
        overrides = getattr(config.theme, "custom_dir", None)
        base = hashlib.sha256()
        for part in (
            config_file.read_bytes() if config_file and config_file.is_file() else b"",
            _tree(Path(overrides) if overrides else None).encode(),
            _versions().encode(),
            code_fingerprint().encode(),
            "\n".join(f"{p.url}\0{p.title}" for p in nav.pages).encode(),
        ):
            base.update(hashlib.sha256(part).digest())
        # Files outside sites/ count by name only: a site page's HTML does not depend on what
        # the home page or a stylesheet says (the home page changes with every site's status).
        # Links into them are still checked on every build, from the anchors kept per page.
        folders: dict[str | None, list[str]] = {None: []}
        for f in files:
            folder = _folder(f.src_uri)
            if folder is None:
                folders[None].append(f.src_uri)
            else:
                folders.setdefault(folder, []).append(f"{f.src_uri}\0{_file_hash(f)}")
        base.update("\n".join(sorted(folders.pop(None))).encode())
        self._base = base.hexdigest()
        self._folders = {k: hashlib.sha256("\n".join(sorted(v)).encode()).hexdigest()
                         for k, v in folders.items()}

    def key(self, file: File) -> str:
        folder = _folder(file.src_uri)
        assert folder is not None
        return hashlib.sha256(
            f"{self._base}\0{self._folders[folder]}\0{file.src_uri}".encode()).hexdigest()


def _entry_json(entry: dict[str, Any]) -> str:
    # As Material's search plugin serialises each entry inside its index (json.dumps with
    # these separators): held as text, a thousand sites' entries take a fraction of the memory.
    return json.dumps(entry, separators=(",", ":"), default=str)


def _set_search_index(search: Any, entries: list[str]) -> None:
    """Make the search plugin write ``entries`` (JSON texts, in page order) as its index.

    Its own code writes the index's head (the search configuration) from an empty entry
    list; the entries are spliced in as the text ``json.dumps`` would have made of them.
    """
    search.entries = []
    empty = search.generate_search_index(None)
    assert empty.endswith('"docs":[]}'), empty[-40:]
    held = ["".join((empty[:-2], ",".join(entries), "]}"))]
    entries.clear()
    # Handed over once, then let go: the index is large, and the offline plugin reads it back.
    search.generate_search_index = lambda _prev: held.pop()


def _write(data: bytes, path: str) -> None:
    from mkdocs import utils

    utils.write_file(data, path)


# Where the files of the previous site came from (cache namespace; see _copy_static_files).
SITE_FILES = "site-files"


def _copy_static_files(files: Files, inclusion: Callable[[Any], bool],
                       cache: Cache | None = None, previous_site: Path | None = None,
                       jobs: int = 1) -> int:
    """``files.copy_static_files``, making each output folder once rather than per file.

    A thousand sites have about twenty thousand diagrams, exports and PDFs, spilled on disk
    by the producers (:func:`runbook.site.generate.spill`) under names that stand for what
    made them.
    They are copied by ``jobs`` processes, never hard-linked to the cache's copies: a tool
    that edits a built site in place (as root, permissions do not stop it) would then edit
    the cache too.

    With ``previous_site`` (where the site this build replaces is) and a cache, a file whose
    source is the one the previous site's file was copied from, neither of them touched
    since (same path, sizes and modification times, and inode, as recorded then), is
    hard-linked from the previous site instead: the same bytes, and the time they were
    written. The previous site is removed once the new one is swapped in, so the link is
    then the file's only name. Returns how many files were linked.
    """
    from runbook.engine.store import digest

    key = digest(SITE_FILES, str(previous_site)) if previous_site is not None else None
    before: dict[str, list[Any]] = (cache.get_value(SITE_FILES, key) or {}) \
        if cache is not None and key is not None else {}
    generated: list[File] = []
    for file in files:
        if file.is_documentation_page() or not inclusion(file.inclusion):
            continue
        if file.generated_by is None or not file.abs_src_path or file._content is not None:
            file.copy_file()  # the theme's and docs/ files, few: as MkDocs does
        else:
            generated.append(file)

    def copy(chunk: Sequence[File]) -> tuple[dict[str, list[Any]], int]:
        return _copy_generated(chunk, before, previous_site)

    after: dict[str, list[Any]] = {}
    reused = 0
    for records, linked in map_chunks(copy, generated, jobs, tasks_per_job=1):
        after.update(records)
        reused += linked
    if cache is not None and key is not None:
        # Written before the swap: should it not happen, the inodes recorded here match no
        # file of the site left in place, so nothing is linked from it next time.
        cache.put_value(SITE_FILES, key, after)
    return reused


def _copy_generated(chunk: Sequence[File], before: dict[str, list[Any]],
                    previous_site: Path | None) -> tuple[dict[str, list[Any]], int]:
    """Copy (or link, see :func:`_copy_static_files`) generated files; their records."""
    import contextlib
    import os
    import shutil

    after: dict[str, list[Any]] = {}
    made: set[str] = set()
    reused = 0
    for file in chunk:
        source = file.abs_src_path
        assert source is not None
        dest = file.abs_dest_path
        folder = os.path.dirname(dest)
        if folder not in made:
            os.makedirs(folder, exist_ok=True)
            made.add(folder)
        record = before.get(file.dest_uri)
        if record is not None and record[0] == source and previous_site is not None:
            old = os.path.join(previous_site, file.dest_uri)
            try:
                src, st = os.stat(source), os.lstat(old)
                if [src.st_size, src.st_mtime_ns, st.st_size, st.st_mtime_ns, st.st_ino] \
                        == record[1:]:
                    os.link(old, dest)
                    after[file.dest_uri] = record
                    reused += 1
                    continue
            except OSError:
                pass
        if _spilled(file):
            copy_named(source, dest)  # checked against its name (damaged: store.Damaged)
        else:
            # As MkDocs: a plugin may have written the file into site_dir itself.
            with contextlib.suppress(shutil.SameFileError):
                shutil.copyfile(source, dest)
        src, st = os.stat(source), os.stat(dest)
        after[file.dest_uri] = [source, src.st_size, src.st_mtime_ns, st.st_size,
                                st.st_mtime_ns, st.st_ino]
    return after, reused


def build(config: MkDocsConfig, *, jobs: int, cache: Cache | None = None,
          progress: Any = None, stats: BuildStats | None = None,
          previous_site: Path | None = None) -> BuildStats:
    """Build the site like ``mkdocs build`` (same files, same bytes), on ``jobs`` cores.

    ``previous_site`` is where the site will be put once built (``site_dir`` is then a
    staging folder beside it): unchanged generated files are linked from the site there now,
    if any (see :func:`_copy_static_files`). Raises ``mkdocs.exceptions.Abort`` on warnings
    in strict mode, as MkDocs does.
    """
    from mkdocs import utils
    from mkdocs.commands.build import _build_page, _build_theme_template, _populate_page
    from mkdocs.exceptions import Abort, BuildError
    from mkdocs.structure.files import InclusionLevel, get_files, set_exclusions
    from mkdocs.structure.nav import get_navigation
    from mkdocs.structure.pages import Page

    stats = stats if stats is not None else BuildStats()
    logger = logging.getLogger("mkdocs")
    warning_counter = utils.CountHandler()
    warning_counter.setLevel(logging.WARNING)
    if config.strict:
        logger.addHandler(warning_counter)
    start = time.monotonic()
    inclusion = InclusionLevel.is_included
    try:
        config = config.plugins.on_config(config)
        config.plugins.on_pre_build(config=config)
        utils.clean_directory(config.site_dir)
        files = get_files(config)
        env = config.theme.get_env()
        files.add_files_from_theme(env, config)
        files = config.plugins.on_files(files, config=config)
        set_exclusions(files, config)
        nav = get_navigation(files, config)
        nav = config.plugins.on_nav(nav, config=config, files=files)
        stats.phases["generate"] = time.monotonic() - start
        release_memory()
        stats.rss["generate"] = current_rss()

        doc_files = files.documentation_pages(inclusion=inclusion)
        for file in doc_files:
            # InclusionLevel's methods are unannotated in MkDocs.
            if file.page is None and file.inclusion.is_not_in_nav():  # type: ignore[no-untyped-call]
                Page(None, file, config)
        # Pages in the navigation appear (title, link) on every page: the parent builds them
        # first. So are the pages outside sites/ (home, about).
        in_nav = {page.file.src_uri for page in nav.pages}
        own = [f for f in doc_files if _folder(f.src_uri) is None or f.src_uri in in_nav]
        for file in own:
            assert file.page is not None  # every page of the navigation, and made just above
            _populate_page(file.page, config, files)
        env = config.plugins.on_env(env, config=config, files=files)

        search = _search_index(config)
        keys = _Keys(config, files, nav) if cache is not None else None
        own_uris = {f.src_uri for f in own}
        site_files = [f for f in doc_files if f.src_uri not in own_uris]
        stats.pages = len(doc_files)

        def convert(chunk: Sequence[File]) -> tuple[list[_PageResult], dict[int, int]]:
            return _convert(chunk, config, files, doc_files, nav, env, search, cache, keys,
                            warning_counter)

        # The parent's share (static files, theme templates, its own pages) is done after
        # the workers finished, so the two never compete for the cores.
        t = time.monotonic()
        if progress is not None:
            progress.stage("pages", len(site_files), "pages")
        results = map_chunks(convert, site_files, jobs, tasks_per_job=PAGE_TASKS_PER_JOB,
                             on_done=progress.advance if progress is not None else None)
        if progress is not None:
            progress.finish()
        stats.workers, stats.worker_peak_rss = LAST.workers, LAST.worker_peak_rss
        stats.phases["pages"] = time.monotonic() - t
        stats.rss["pages"] = current_rss()
        t = time.monotonic()
        by_uri: dict[str, _PageResult] = {}
        for page_results, counts in results:
            for result in page_results:
                by_uri[result.src_uri] = result
            if LAST.workers:  # a worker's warnings were counted in its own copy
                for level, n in counts.items():
                    warning_counter.counts[level] += n
        del results  # by_uri holds them now, and lets go of each once merged
        stats.cached = sum(r.from_cache for r in by_uri.values())
        stats.converted = len(doc_files) - stats.cached

        stats.reused = _copy_static_files(files, inclusion, cache, previous_site, jobs)
        stats.rss["static"] = current_rss()
        for template in config.theme.static_templates:
            _build_theme_template(template, env, files, config, nav)
        for template in config.extra_templates:
            from mkdocs.commands.build import _build_extra_template

            _build_extra_template(template, files, config, nav)

        entries: list[str] = []
        site_search = _site_search(config)
        for file in doc_files:
            assert file.page is not None
            merged = by_uri.pop(file.src_uri, None)
            if merged is not None:
                entries += merged.entries
                if site_search is not None:
                    site_search.put(file.src_uri, merged.site_entries)
                file.page.present_anchor_ids = (set(merged.anchors)
                                                if merged.anchors is not None else None)
                file.page.links_to_anchors = {
                    target: links for uri, links in merged.links.items()
                    if (target := files.get_file_from_path(uri)) is not None}
                continue
            before = len(search.entries) if search is not None else 0
            _build_page(file.page, config, doc_files, nav, env,
                        excluded=file.inclusion.is_excluded())  # type: ignore[no-untyped-call]
            if search is not None:
                entries += map(_entry_json, search.entries[before:])
                del search.entries[before:]
        if search is not None:
            _set_search_index(search, entries)
            del entries
        release_memory()

        log_level = config.validation.links.anchors
        for file in doc_files:
            assert file.page is not None
            file.page.validate_anchor_links(files=files, log_level=log_level)
        stats.rss["pages merged"] = current_rss()
        config.plugins.on_post_build(config=config)
        stats.rss["post_build"] = current_rss()
        stats.phases["finish"] = time.monotonic() - t
        if totals := warning_counter.get_counts():
            msg = ", ".join(f"{v} {k.lower()}s" for k, v in totals)
            raise Abort(f"Aborted with {msg} in strict mode!")
        stats.seconds = time.monotonic() - start
        log.info(f"Documentation built in {stats.seconds:.2f} seconds")
        return stats
    except Exception as e:
        config.plugins.on_build_error(error=e)
        if isinstance(e, BuildError):
            log.error(str(e))
            raise Abort("Aborted with a BuildError!") from e
        raise
    finally:
        logger.removeHandler(warning_counter)


class _OneConverter:
    """Stands in for the ``markdown`` module in MkDocs' page code: one converter, reused.

    ``Page.render`` makes a new ``markdown.Markdown`` per page (loading and configuring every
    extension: a tenth of converting a page). Python-Markdown's documented way to convert
    several documents with one instance is ``reset()`` between them, which clears what
    one document leaves behind (stashed HTML, references, every extension's own state).
    MkDocs' per-page processors are registered by name again on each page, replacing the
    previous page's. Everything else is the ``markdown`` module itself.
    """

    def __init__(self) -> None:
        import markdown

        self._module = markdown
        self._made: tuple[list[Any], dict[str, Any], Any] | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._module, name)

    def Markdown(self, *, extensions: Any, extension_configs: Any) -> Any:
        """A reset converter for these extensions (the one made before, if they are those)."""
        made = self._made
        if made is not None and made[0] == list(extensions) and made[1] == extension_configs:
            return made[2].reset()
        converter = self._module.Markdown(extensions=extensions,
                                          extension_configs=extension_configs)
        self._made = (list(extensions), dict(extension_configs), converter)
        return converter


_STAND_IN: _OneConverter | None = None  # one per process: a forked worker keeps its own


@contextmanager
def _one_converter() -> Iterator[None]:
    from mkdocs.structure import pages

    global _STAND_IN
    if _STAND_IN is None:
        _STAND_IN = _OneConverter()
    # The module's globals: mkdocs.structure.pages imports markdown without re-exporting it.
    namespace = vars(pages)
    module = namespace["markdown"]
    namespace["markdown"] = _STAND_IN
    try:
        yield
    finally:
        namespace["markdown"] = module


def _convert(chunk: Sequence[File], config: MkDocsConfig, files: Files, doc_files: Any,
             nav: Any, env: Any, search: Any, cache: Cache | None, keys: _Keys | None,
             warning_counter: Any) -> tuple[list[_PageResult], dict[int, int]]:
    """Convert and write the site pages of ``chunk`` (in a worker, or here when serial)."""
    with _one_converter():
        return _convert_pages(chunk, config, files, doc_files, nav, env, search, cache, keys,
                              warning_counter)


def _convert_pages(chunk: Sequence[File], config: MkDocsConfig, files: Files, doc_files: Any,
                   nav: Any, env: Any, search: Any, cache: Cache | None, keys: _Keys | None,
                   warning_counter: Any) -> tuple[list[_PageResult], dict[int, int]]:
    import marshal

    from mkdocs.commands.build import _build_page, _populate_page

    counts_before = dict(warning_counter.counts)
    site_search = _site_search(config)
    out: list[_PageResult] = []
    for file in chunk:
        page = file.page
        assert page is not None
        key = keys.key(file) if keys is not None and cache is not None else None
        if key is not None and cache is not None:
            hit = cache.get_value(NAMESPACE, key)
            if hit is not None:
                html, entries, anchors, links, site_entries = hit
                _write(html, file.abs_dest_path)
                out.append(_PageResult(file.src_uri, entries, anchors, links, True,
                                       site_entries))
                continue
        warnings_before = sum(warning_counter.counts.values())
        looked_up: list[str] = []
        lookup: Callable[[str], Any] = files.get_file_from_path

        def recording(path: str, lookup: Callable[[str], Any] = lookup,
                      seen: list[str] = looked_up) -> Any:
            seen.append(str(path))
            return lookup(path)

        if _spilled(file):
            read_named(str(file.abs_src_path))  # checked before MkDocs reads it
        files.get_file_from_path = recording  # type: ignore[method-assign]
        try:
            _populate_page(page, config, files)
        finally:
            del files.get_file_from_path
        before = len(search.entries) if search is not None else 0
        _build_page(page, config, doc_files, nav, env,
                    excluded=file.inclusion.is_excluded())  # type: ignore[no-untyped-call]
        entries = [_entry_json(e) for e in search.entries[before:]] if search is not None \
            else []
        if search is not None:
            del search.entries[before:]
        anchors = sorted(page.present_anchor_ids) if page.present_anchor_ids is not None \
            else None
        links = {to.src_uri: dict(v) for to, v in getattr(page, "links_to_anchors", {}).items()}
        site_entries = site_search.take(file.src_uri) if site_search is not None else []
        out.append(_PageResult(file.src_uri, entries, anchors, links, False, site_entries))
        folder = _folder(file.src_uri)
        foreign = any(_folder(p) not in (None, folder) for p in looked_up)
        clean = sum(warning_counter.counts.values()) == warnings_before
        if key is not None and cache is not None and clean and not foreign:
            html = Path(file.abs_dest_path).read_bytes()
            cache.put(NAMESPACE, key,
                      marshal.dumps([html, entries, anchors, links, site_entries]))
        # Free the page's text: the parent keeps only what it needs for the site's end.
        page.content = None
        page.markdown = None
    counts = {level: n - counts_before.get(level, 0)
              for level, n in warning_counter.counts.items()
              if n - counts_before.get(level, 0)}
    return out, counts
