"""The MkDocs plugin that turns topology files into site pages during ``mkdocs build``.

Topologies are validated and the producers run in ``on_pre_build`` (before MkDocs empties
``site_dir``); an invalid topology fails the build as a ``PluginError`` listing every
``file:line:col: path: message``. Generated files are added in memory in ``on_files``
(``File.generated``); nothing is written into ``docs_dir``, so ``mkdocs serve`` does not
rebuild itself in a loop. Each site's pages stay outside the global navigation and get a small
navigation of their own (the site's pages) through ``on_page_context`` and
``overrides/main.html``.

The site pages are built by MkDocs builds forked from this one, a few sites each, on every
core, and kept in the build cache as finished pages; this build publishes them as files
(:mod:`runbook.site.finish`). Where workers cannot be forked (``mkdocs serve``, whose server
runs threads), MkDocs builds every page in this build, as any page.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import stat
import zlib
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from mkdocs.config import config_options as c
from mkdocs.config.base import Config, ValidationError
from mkdocs.config.defaults import MkDocsConfig
from mkdocs.exceptions import PluginError
from mkdocs.plugins import BasePlugin, event_priority
from mkdocs.structure.files import File, Files
from mkdocs.structure.pages import Page
from mkdocs.utils import get_relative_url

from runbook.engine.parallel import default_jobs
from runbook.errors import RunbookError
from runbook.site.finish import PUBLISHED, FinishedPage, FinishStats
from runbook.site.nav import SiteNav
from runbook.site.prune import DEFAULT_MAX_AGE_DAYS, SPILL
from runbook.site.search import SiteSearch, site_of

if TYPE_CHECKING:
    from mkdocs.structure.nav import Navigation
    from mkdocs.utils.templates import TemplateContext

log = logging.getLogger("mkdocs.plugins.runbook")

# A Markdown heading line (``## Sources``, ``# Title {#id}``).
_HEADING = re.compile(r"#{1,6}\s")


class _Days(c.Type[int]):
    """A whole number of days, 0 or more."""

    def __init__(self, default: int) -> None:
        super().__init__(int, default=default)

    def run_validation(self, value: object) -> int:
        days = super().run_validation(value)
        if days < 0:
            raise ValidationError(f"expected 0 (keep everything) or a number of days, not {days}")
        return days


# MkDocs' Config.__init_subclass__ is unannotated.
class RunbookPluginConfig(Config):  # type: ignore[no-untyped-call]
    """Options of the ``runbook`` plugin in ``mkdocs.yml`` (paths relative to that file)."""

    inputs = c.ListOfItems(c.Type(str), default=["inputs"])
    templates = c.Type(str, default="templates")
    cache_dir = c.Type(str, default=".cache/runbook")
    # Cache files no build has used for this many days are removed, once a day after a
    # build (runbook.site.prune); 0 keeps everything.
    cache_max_age_days = _Days(default=DEFAULT_MAX_AGE_DAYS)


#: The plugins whose hooks after ``on_env`` do not read the build's files: with no other
#: plugin, a site build copies no file (:meth:`RunbookPlugin.on_env`).
QUIET_PLUGINS = frozenset({"runbook", "search", "material/search", "offline",
                           "material/offline"})


# MkDocs' BasePlugin.__init_subclass__ is unannotated.
class RunbookPlugin(BasePlugin[RunbookPluginConfig]):  # type: ignore[no-untyped-call]
    """Adds every site's generated pages and files to the MkDocs build."""

    def __init__(self) -> None:
        super().__init__()
        self._preloaded: tuple[list[Any], dict[str, bytes]] | None = None
        #: Worker processes for the site builds (runbook build sets its ``-j``).
        self.jobs = default_jobs()
        #: What the last build did with the site pages (runbook.site.finish).
        self.finish_stats: FinishStats | None = None
        self._config: MkDocsConfig | None = None
        self._cache_root: Path | None = None
        #: False: MkDocs builds every site page in this build (no site builds, no cache).
        self.finish = True
        # In a site build (a forked worker, runbook.site.finish): the sites it builds, and
        # their finished pages by site and page (dest_uri, url, HTML, search entries).
        self._site_build: set[str] | None = None
        self._built: dict[str, dict[str, tuple[str, str, str, bytes | None, list[str]]]] = {}
        # ... the site folder it places them in (its parent build's), and what it placed.
        self._place_into: str | None = None
        self._placed_here: set[str] = set()
        # What this build places in site_dir after MkDocs' build: the sites' files, their
        # finished pages and search indexes (site-relative path -> spilled copy or bytes).
        self._placed: list[tuple[str, Any]] = []
        # What the site builds placed there themselves (runbook.site.finish.place_file).
        self._placed_early: set[str] = set()
        self._verified_early: dict[str, tuple[int, int, int, int]] = {}
        # The spare's record when this build took it (None: sites/ starts empty), and the
        # folders under sites/ known to exist.
        self._spared: dict[str, list[Any]] | None = None
        self._made: set[str] = set()
        self._page_urls: dict[str, str] = {}
        # The site pages' URLs for sitemap.xml, by the file MkDocs would list them after.
        self._sitemap_after: dict[str | None, list[str]] = {}
        #: The site this build replaces (runbook build), whose unchanged files it links.
        self.previous_site: Path | None = None
        #: Where runbook build keeps the output's spare sites/ (runbook.site.publish).
        self.spare: Path | None = None
        # What previous_site held, as recorded (for the spare it leaves: record_spare).
        self._replaced: dict[str, list[Any]] = {}
        # What _place placed: site-relative path -> the copy's name.
        self._names: dict[str, str] = {}
        self._sites: list[Any] = []
        self._generated: dict[str, bytes] = {}
        self.site_navs: dict[str, SiteNav] = {}
        self._files: Files | None = None
        self._base = Path.cwd()
        #: The site pages' search entries, written per site after the build.
        self.search = SiteSearch()
        # Site pages' HTML left to MkDocs to convert, compressed, until their template is
        # rendered.
        self._held: dict[str, bytes] = {}

    def preload(self, sites: list[Any], generated: dict[str, bytes], *,
                jobs: int | None = None, cache_root: Path | None = None,
                finish: bool = True) -> None:
        """Use sites and files ``runbook build`` already made instead of reading ``inputs``;
        ``jobs`` workers for the site builds and ``cache_root`` to keep their pages
        (default: every core, the plugin's cache); ``finish`` False has MkDocs build every
        site page in this build."""
        self._preloaded = (sites, generated)
        self.jobs = jobs or self.jobs
        self._cache_root = cache_root
        self.finish = finish

    def begin_site_build(self, slugs: set[str], place_into: str | None = None) -> None:
        """Make this (forked) plugin's next build a site build of ``slugs``
        (:func:`runbook.site.finish.build_sites`), placing their pages in the site folder
        ``place_into`` if given."""
        self._site_build = slugs
        self._built = {}
        self._place_into = place_into
        self._placed_here = set()
        # Its own files, once its on_files has run: none yet (not the parent's, nor the last
        # site build's), so that a build stopped before them has every site unbuilt.
        self._files = None

    def outside_pages(self) -> list[str]:
        """The documentation pages of this build outside ``sites/``."""
        return self.site_pages(None) or []

    def site_pages(self, slug: str | None) -> list[str] | None:
        """The documentation pages of site ``slug`` this build has (``None``: those outside
        ``sites/``); None when its files are not known yet."""
        if self._files is None:
            return None
        return [f.src_uri for f in self._files.documentation_pages()
                if site_of(f.src_uri) == slug]

    def end_site_build(self) -> tuple[dict[str, dict[str, tuple[str, str, str, bytes | None,
                                                               list[str]]]], set[str],
                                      dict[str, tuple[int, int, int, int]]]:
        """The site build's finished pages: by site, by page, (dest_uri, url, the copy's
        name, the HTML when no copy could be written, search entries); the files it placed
        (its pages, and its sites' other files: :meth:`_place_site_files`); and the cache
        copies it found intact, with their status (for the parent's
        :class:`runbook.engine.store.Verified`)."""
        seen = self._place_site_files() if self._site_build is not None else {}
        built, self._built, self._site_build = self._built, {}, None
        placed, self._placed_here, self._place_into = self._placed_here, set(), None
        return built, placed, seen

    def _place_site_files(self) -> dict[str, tuple[int, int, int, int]]:
        """In a site build: place its sites' files other than pages (diagrams, exports,
        documents) in the build's site folder, on every core, as :meth:`_place` would after
        the site builds on one (a cold build of a thousand sites: 20,000 files, 400 MB).
        A copy from the cache is checked against its name first; a damaged or missing one
        is left to :meth:`_place`, which reports it. Returns the copies found intact."""
        from runbook.engine.store import Damaged, Verified, replace_file

        assert self._site_build is not None
        if self._place_into is None:
            return {}
        ours = self._site_build
        verified = Verified(self._root())
        for src_uri, content in self._generated.items():
            if site_of(src_uri) not in ours or src_uri.endswith(".md"):
                continue
            try:
                if isinstance(content, bytes):
                    data = content
                else:
                    checked = verified.check(content)
                    if checked is None:  # known intact: read it as it is
                        with open(content, "rb") as stream:
                            checked = stream.read()
                    data = checked
                replace_file(f"{self._place_into}/{src_uri}", data)
            except (Damaged, OSError):
                continue
            self._placed_here.add(src_uri)
        return verified.seen

    def _path(self, value: str) -> Path:
        return (self._base / value).resolve()

    @property
    def cache_path(self) -> Path:
        """The cache folder: ``RUNBOOK_CACHE_DIR`` if set, else ``cache_dir``, absolute."""
        from runbook.engine.store import cache_dir_override

        return cache_dir_override() or self._path(self.config.cache_dir)

    @property
    def input_paths(self) -> list[Path]:
        """The topology files and folders to read, absolute."""
        return [self._path(p) for p in self.config.inputs]

    @property
    def templates_dir(self) -> Path:
        """The user's template folder, absolute."""
        return self._path(self.config.templates)

    @event_priority(100)  # before the offline plugin, which adds a CDN shim otherwise
    def on_config(self, config: MkDocsConfig) -> MkDocsConfig:
        """Resolve the plugin's paths against the folder holding ``mkdocs.yml``, and give the
        build what the site needs from the package (:mod:`runbook.site.assets`).

        Settings of :data:`runbook.site.assets.DEFAULT_CONFIG` that the project's
        ``mkdocs.yml`` does not give are applied (links ending in ``.html``, no web fonts, the
        theme's palette and features, the navigation, the Markdown extensions, the CSS and the
        local search shim), and the packaged theme overrides come after the project's own.

        Also adds the Markdown extension :class:`runbook.outputs.htmlblocks.HtmlBlocks`, which
        passes the pages' finished HTML blocks (tables, wizard screens) through unparsed.
        """
        from runbook.outputs.htmlblocks import HtmlBlocks
        from runbook.site.defaults import apply_defaults

        # MkDocs dates every page, and so sitemap.xml and the gzip header of sitemap.xml.gz,
        # with the day of the build unless SOURCE_DATE_EPOCH is set (its documented switch,
        # reproducible-builds.org): without one, the date is the epoch, so the same inputs
        # give the same bytes on any day.
        if self._site_build is not None:
            return config  # a site build: its parent build's configuration, set already
        os.environ.setdefault("SOURCE_DATE_EPOCH", "0")
        self._config = config
        if config.config_file_path:
            self._base = Path(config.config_file_path).resolve().parent
        apply_defaults(config)
        if not any(isinstance(e, HtmlBlocks) for e in config.markdown_extensions):
            config.markdown_extensions.append(HtmlBlocks())  # type: ignore[arg-type]
        return config

    def on_pre_build(self, *, config: MkDocsConfig) -> None:
        """Validate the topologies and run every producer.

        This runs before MkDocs empties ``site_dir``, so invalid input leaves the previous
        site in place even under a plain ``mkdocs build``.
        """
        from runbook.engine.store import FAULTS
        from runbook.site.produce import site_files

        if self._site_build is not None:
            return  # a site build: its parent build has validated and produced
        self._held.clear()
        self._placed.clear()
        self._page_urls.clear()
        self._sitemap_after.clear()
        self._names = {}
        self.finish_stats = None
        self.search.pages.clear()
        if self._preloaded is not None:
            self._sites, self._generated = self._preloaded
            return
        try:
            cache_dir = self.cache_path
            FAULTS.clear()
            # runbook.site_files, the API: what runbook build makes, with the same cache.
            self._sites, self._generated = site_files(
                self.input_paths, cache_dir=cache_dir, templates=self.templates_dir)
            for line in FAULTS.notices():  # damaged cache files made again, a full disk
                log.info(line)
        except RunbookError as exc:
            raise PluginError(exc.format()) from None

    def on_files(self, files: Files, /, *, config: MkDocsConfig) -> Files:
        """Add every generated file to ``files`` (in memory, nothing lands in docs_dir)."""
        from runbook.site.defaults import add_packaged_files
        from runbook.site.nav import site_navigation

        add_packaged_files(files, config)
        sites, generated = self._sites, self._generated
        if self._site_build is not None:
            return self._site_build_files(files, config)
        for src_uri in generated:
            if files.get_file_from_path(src_uri) is not None:
                # A static docs/ file would silently shadow generated content: refuse.
                raise PluginError(f"docs/{src_uri} clashes with a generated file of that name")
        self._files = files
        if not self._finishing():
            # MkDocs builds every page here, and copies every file.
            self._check_spilled(generated)
            for src_uri, content in generated.items():
                files.append(self._generated_file(config, src_uri, content))
            self.site_navs = site_navigation(sites, set(generated))
            return files
        # The site pages come finished from site builds or the cache, and with the other
        # files of the sites they are placed in site_dir after the build (on_post_build):
        # MkDocs knows only the pages outside sites/ and their files.
        outside = {p: c for p, c in generated.items() if site_of(p) is None}
        self._check_spilled(outside)
        last: str | None = None  # the file MkDocs would list the next generated page after
        for file in files:
            last = file.src_uri
        for src_uri, content in outside.items():
            files.append(self._generated_file(config, src_uri, content))
        finished = self._finished_pages(files, config, Path(config.site_dir))
        for src_uri, content in generated.items():
            if src_uri in outside:
                last = src_uri
            elif src_uri in self._page_urls:
                # Where MkDocs would list this site page in sitemap.xml.
                self._sitemap_after.setdefault(last, []).append(self._page_urls[src_uri])
            elif not src_uri.endswith(".md"):
                self._placed.append((src_uri, content))
        files_root = os.fspath(self._files_root())
        for pages in finished.values():
            for page in pages:
                self._placed.append((page.dest_uri, page.data if page.data is not None
                                     else f"{files_root}/{page.name}"))
        return files

    @staticmethod
    def _generated_file(config: MkDocsConfig, src_uri: str, content: Any) -> File:
        if isinstance(content, Path):  # runbook build hands large files on by path
            return File.generated(config, src_uri, abs_src_path=str(content))
        return File.generated(config, src_uri, content=content)

    def _root(self) -> Path:
        return self._cache_root or self.cache_path

    def _files_root(self) -> Path:
        return self._root() / SPILL

    def _finishing(self) -> bool:
        """Whether the site pages come from site builds and the cache (else MkDocs builds
        them here): only where workers can be forked safely."""
        from runbook.engine.parallel import can_fork

        return self.finish and can_fork() and any(site_of(p) for p in self._generated)

    def _finished_pages(self, files: Files, config: MkDocsConfig, site_dir: Path
                        ) -> dict[str, list[FinishedPage]]:
        """Every site's finished pages and search files: from the cache, or built now by
        site builds, which place what they build in ``site_dir`` themselves (its ``sites/``
        made ready first: :meth:`_start_sites`)."""
        from runbook.engine.store import Cache
        from runbook.site.finish import (
            build_sites,
            lookup,
            page_count,
            published_files,
            site_keys,
        )

        root = self._root()
        keys = site_keys(config, self, self._generated, published_files(files))
        cache = Cache(root)
        try:
            present = frozenset(os.listdir(self._files_root()))
        except OSError:
            present = frozenset()
        found, missing = lookup(cache, keys, present)
        wanted = {page.dest_uri for pages in found.values() for page in pages}
        wanted.update(p for p in self._generated if site_of(p) and not p.endswith(".md"))
        self._start_sites(site_dir, wanted)
        built, stats = build_sites(config, self, missing, keys, root, self.jobs,
                                   os.fspath(site_dir))
        self._placed_early = stats.placed
        self._verified_early = stats.verified
        stats.sites_cached = len(found)
        stats.pages_cached = page_count(found)
        found.update(built)
        self.finish_stats = stats
        self._page_urls = {page.src_uri: page.url for pages in found.values()
                           for page in pages if page.url}
        log.info("site pages: %d site(s) built (%d pages, %d build(s)), %d from the cache",
                 stats.sites_built, stats.pages_built, stats.site_builds, stats.sites_cached)
        return found

    def _site_build_files(self, files: Files, config: MkDocsConfig) -> Files:
        """A site build's files: everything outside ``sites/``, and its sites' files (the
        pages, and the other files empty: the pages only link to them)."""
        from runbook.site.nav import site_navigation

        assert self._site_build is not None
        ours = self._site_build
        for src_uri, content in self._generated.items():
            slug = site_of(src_uri)
            if slug is None or (slug in ours and src_uri.endswith(".md")):
                files.append(self._generated_file(config, src_uri, content))
            elif slug in ours:
                files.append(File.generated(config, src_uri, content=b""))
        self.site_navs = site_navigation([s for s in self._sites if s.slug in ours],
                                         set(self._generated))
        self._files = files
        return files

    def _check_spilled(self, generated: dict[str, Any]) -> None:
        """Check every spilled copy against its name before MkDocs copies it: a damaged one
        is never published. ``runbook build`` then removes the damaged ones and builds once
        more (:class:`runbook.engine.store.Damaged`); a plain ``mkdocs build`` stops with one
        line, the damaged files removed, so that the next build makes them again."""
        from runbook.engine.store import Damaged, read_named

        for content in generated.values():
            if not isinstance(content, Path):
                continue
            try:
                read_named(content)
            except Damaged:
                self._damaged(os.fspath(content))

    def _damaged(self, path: str) -> NoReturn:
        """A spilled copy found damaged: :class:`Damaged` again for ``runbook build`` (which
        removes every damaged copy and builds once more), else one line, the damaged copies
        removed so that the next build makes them again."""
        from runbook.engine.store import Damaged, check_named

        if self._preloaded is not None:
            raise Damaged(path)
        folder = os.path.dirname(path)
        count = check_named(folder)
        raise PluginError(f"{folder}: {count} damaged cache file(s) removed; run the build "
                          "again to make them anew") from None

    # Before other plugins' page_markdown.
    @event_priority(50)
    def on_page_markdown(self, markdown: str, /, *, page: Page, config: MkDocsConfig,
                         files: Files) -> str:
        """Leave a site page out of Material's search index (its site's own index has it).

        A site build publishes none of the pages outside ``sites/``: it gets their headings
        alone (what a site page's link to one of their anchors needs), and the home page's
        title alone (its links reach sites that build does not hold).
        """
        src_uri = page.file.src_uri
        if self._site_build is not None and site_of(src_uri) is None:
            search = page.meta.get("search")
            page.meta["search"] = {**(search if isinstance(search, dict) else {}),
                                   "exclude": True}
            if src_uri == "index.md" and src_uri in self._generated:
                return markdown.split("\n", 1)[0] + "\n"
            return "".join(line + "\n\n" for line in markdown.splitlines()
                           if _HEADING.match(line))
        if site_of(src_uri) is None:
            return markdown
        search = page.meta.get("search")
        page.meta["search"] = {**(search if isinstance(search, dict) else {}),
                               "exclude": True}
        return markdown

    # Before other plugins' page_content: they get the page's HTML.
    @event_priority(50)
    def on_page_content(self, html: str, /, *, page: Page, config: MkDocsConfig,
                        files: Files) -> str:
        """Take a site page's search entries from its HTML.

        MkDocs converts every page before it writes any, so it would hold every page's
        Markdown and HTML at once (about 0.6 MB per site). A site page lets go of its
        Markdown now (only its title is read later, and kept); its HTML is held compressed
        until its template is rendered (:meth:`on_page_context`).
        """
        src_uri = page.file.src_uri
        if site_of(src_uri) is None:
            return html
        self.search.add(src_uri, page.url, html, page.title or "")
        self._held[src_uri] = zlib.compress(html.encode("utf-8"), 1)
        # Not None: MkDocs reads a page without Markdown as one without a title.
        page.markdown = ""
        return ""

    # Before any other plugin's page_context: they may read the page's HTML.
    @event_priority(50)
    def on_page_context(
        self, context: TemplateContext, /, *, page: Page, config: MkDocsConfig, nav: Navigation
    ) -> TemplateContext:
        """Give a site page its HTML back, and its site's navigation as ``runbook_nav`` (see
        overrides/main.html), with ``search_base``, where its site's search index is
        (relative to the page)."""
        held = self._held.pop(page.file.src_uri, None)
        if held is not None:
            page.content = zlib.decompress(held).decode("utf-8")
        parts = page.file.src_uri.split("/")
        if len(parts) < 3 or parts[0] != "sites" or parts[1] not in self.site_navs:
            return context
        site_nav = self.site_navs[parts[1]]
        assert self._files is not None
        links = []
        for entry in site_nav.pages:
            target = self._files.get_file_from_path(entry.src_uri)
            if target is None:
                continue
            url = get_relative_url(target.url, page.file.url)
            links.append({
                "title": entry.title,
                "url": f"{url}#{entry.anchor}" if entry.anchor else url,
                "active": target.src_uri == page.file.src_uri and not entry.anchor,
            })
        home = self._files.get_file_from_path("index.md")
        # TemplateContext declares only MkDocs' own keys; plugins add theirs for the theme.
        context["runbook_nav"] = {  # type: ignore[typeddict-unknown-key]
            "title": site_nav.title,
            "home": get_relative_url(home.url, page.file.url) if home else None,
            "pages": links,
            "search_base": get_relative_url(f"sites/{parts[1]}/", page.file.url),
        }
        return context

    def on_env(self, env: Any, /, *, config: MkDocsConfig, files: Files) -> Any:
        """Keep the theme's compiled templates in the build cache (Jinja's public bytecode
        cache: :class:`runbook.outputs.templating.SealedBytecodeCache`), so a build and each
        of its site builds do not compile the theme again.

        In a site build, leave every file but the pages out of what MkDocs copies: its pages
        are converted by now (their links checked against every file), and the build that
        forked it publishes the files itself. Copying them (the theme's assets, the sites'
        stand-ins) into a folder removed afterwards took an eighth of a site build. Only
        with the plugins known not to read the files after this event
        (:data:`QUIET_PLUGINS`): another plugin's later hook could see them excluded and
        make a page differently than the plain build does.
        """
        from mkdocs.structure.files import InclusionLevel

        from runbook.outputs.templating import SealedBytecodeCache
        from runbook.site.finish import code_of

        if self._site_build is not None and set(config.plugins) <= QUIET_PLUGINS:
            for file in files:
                if not file.is_documentation_page():
                    file.inclusion = InclusionLevel.EXCLUDED
        if env.bytecode_cache is None:
            # MkDocs makes the theme's environment: its settings are MkDocs' and the theme's.
            kind = f"theme {type(env).__name__} {code_of('mkdocs')} {code_of('material')}"
            env.bytecode_cache = SealedBytecodeCache(self._root(), kind)
        return env

    def on_post_page(self, output: str, /, *, page: Page, config: MkDocsConfig) -> str:
        """Let go of a site page's converted Markdown: its finished page is ``output``.

        In a site build, a site page's ``output`` is kept (with its search entries) and
        placed in the site folder of the build that forked it, not where MkDocs writes: that
        build publishes it."""
        slug = site_of(page.file.src_uri)
        if slug is not None:
            page.content = None
        if self._site_build is None:
            return output
        if slug in self._site_build:
            from runbook.site.finish import place_file, spill_copy

            # As MkDocs writes a page (mkdocs.commands.build); its copy is written now, so
            # a site build holds no page's HTML until its end.
            html = output.encode("utf-8", errors="xmlcharrefreplace")
            name, kept = spill_copy(self._files_root(), html)
            dest_uri = page.file.dest_uri
            self._built.setdefault(slug, {})[page.file.src_uri] = (
                dest_uri, page.url, name, None if kept else html,
                self.search.take(page.file.src_uri))
            if self._place_into is not None and place_file(self._place_into, dest_uri, html):
                self._placed_here.add(dest_uri)
        return ""

    def on_template_context(self, context: TemplateContext, /, *, template_name: str,
                            config: MkDocsConfig) -> TemplateContext:
        """Give ``sitemap.xml`` (overrides/sitemap.xml) the site pages placed after the
        build, where MkDocs would list their pages."""
        if template_name != "sitemap.xml" or not self._sitemap_after or self._files is None:
            return context
        from types import SimpleNamespace
        from urllib.parse import urljoin, urlsplit

        from mkdocs.utils import get_build_date

        base = config.site_url or ""
        if base and not base.endswith("/"):
            base += "/"
        date = get_build_date()

        def standins(after: str | None) -> list[Any]:
            out = []
            for url in self._sitemap_after.get(after, []):
                canonical = urljoin(base, url) if base else None
                out.append(SimpleNamespace(page=SimpleNamespace(
                    is_link=False, canonical_url=canonical,
                    abs_url=urlsplit(canonical).path if canonical else None,
                    update_date=date)))
            return out

        listed = {id(f) for f in context["pages"]}
        entries: list[Any] = standins(None)
        for file in self._files:
            if id(file) in listed:
                entries.append(file)
            entries += standins(file.src_uri)
        context["runbook_sitemap"] = entries  # type: ignore[typeddict-unknown-key]
        return context

    # After Material's search plugin wrote its index (priority 0), before its offline plugin
    # turns that into a script (-100).
    @event_priority(-50)
    def on_post_build(self, *, config: MkDocsConfig) -> None:
        """Write each site's search index (:mod:`runbook.site.search`), mark the site as
        runbook's (so ``runbook build`` may replace it) and prune the cache once a day,
        after a plain ``mkdocs build`` (``runbook build`` prunes after swapping it in)."""
        from runbook.site.prune import prune_if_due
        from runbook.site.publish import mark

        if self._site_build is not None:
            return  # a site build publishes nothing
        self._place(Path(config.site_dir))
        self._write_search(Path(config.site_dir), config)
        mark(Path(config.site_dir))
        if self._preloaded is None:
            prune_if_due(self.cache_path, self.config.cache_max_age_days)

    def _place(self, site_dir: Path) -> None:
        """Place the sites' files in ``site_dir``.

        A file the site being replaced (``previous_site``) holds, unchanged since this
        plugin placed it there, is linked from there. Any other file is copied from the
        cache's checked copy (a damaged one is never published, see
        :meth:`_check_spilled`). The published site never shares a file with those copies,
        so a tool that edits it in place edits no copy a later build publishes from; such
        an edit changes the file's times, so no later build links or keeps the edited file.

        With a ``spare`` (:func:`runbook.site.publish.take_spare`: the ``sites/`` of the
        site replaced last time), the placing starts from it: what this build does not
        place goes, and a file in it stays only when it is the one this plugin placed
        there, unchanged (its inode, size and times as recorded then, or those of the same
        file in ``previous_site``); every other is replaced. A file in the spare is never
        written through: it may be another name of a file of ``previous_site``.
        """
        from runbook.engine.store import Damaged, Verified, file_status
        from runbook.site.publish import remove_name

        if not self._placed:
            return
        verified = Verified(self._root())
        verified.seen.update(self._verified_early)  # the copies the site builds checked
        before = self._published_record(self.previous_site) if self.previous_site else {}
        old = os.fspath(self.previous_site) if self.previous_site else ""
        root = os.fspath(site_dir)
        spared, made, early = self._spared, self._made, self._placed_early
        names: dict[str, str] = {}
        # Plain strings, not pathlib: forty thousand files at a thousand sites.
        for dest_uri, source in self._placed:
            if dest_uri in early:  # placed by its site build (runbook.site.finish.place_file)
                if not isinstance(source, bytes):
                    names[dest_uri] = os.path.basename(os.fspath(source))
                continue
            target = f"{root}/{dest_uri}"
            folder = target.rpartition("/")[0]
            if folder not in made:
                os.makedirs(folder, exist_ok=True)
                made.add(folder)
            if isinstance(source, bytes):
                if spared is not None:
                    remove_name(target)
                with open(target, "wb") as stream:
                    stream.write(source)
                continue
            path = os.fspath(source)
            name = os.path.basename(path)
            names[dest_uri] = name
            known = before.get(dest_uri)
            if spared is not None:
                status = file_status(target)
                kept = spared.get(dest_uri)
                if status is not None and (
                        (known is not None and known[0] == name and tuple(known[1:]) == status)
                        or (kept is not None and kept[0] == name and tuple(kept[1:]) == status)):
                    continue
                remove_name(target)
            if known is not None and known[0] == name and file_status(f"{old}/{dest_uri}") == \
                    tuple(known[1:]):
                with contextlib.suppress(OSError):
                    os.link(f"{old}/{dest_uri}", target)
                    continue
            try:
                data = verified.check(path)
            except Damaged:
                self._damaged(path)
            if data is None:
                shutil.copyfile(path, target)
            else:
                with open(target, "wb") as stream:
                    stream.write(data)
        self._placed.clear()
        self._placed_early, self._spared, self._made = set(), None, set()
        self._verified_early = {}
        verified.save()
        self._names = names
        self._replaced = before
        if self._preloaded is None:
            # A plain mkdocs build: site_dir is where the site stays.
            self.record_published(site_dir)

    def _start_sites(self, site_dir: Path, wanted: set[str]) -> None:
        """Make ``site_dir/sites`` ready for this build's files before the site builds
        place theirs.

        With a spare (:func:`runbook.site.publish.take_spare`: the ``sites/`` of the site
        replaced last time), everything in it but the files of ``wanted`` (what this build
        places and does not build now) goes first, so nothing but the site builds' own new
        files and what :meth:`_place` checks is published.
        """
        from runbook.site.publish import SPARE_TREE, set_aside, take_spare

        self._spared, self._made = None, set()
        if self.spare is not None and take_spare(self.spare, site_dir / SPARE_TREE):
            spared = self._published_record(self.spare)
            try:
                self._made = _clear_unwanted(os.fspath(site_dir), SPARE_TREE, wanted)
                self._spared = spared
            except OSError:  # a folder that cannot be changed: sites/ is made afresh
                set_aside(site_dir / SPARE_TREE)

    def record_spare(self) -> None:
        """Record, for the next build, what the spare now kept (the ``sites/`` of the site
        this build replaced) held when this plugin placed it: ``runbook build`` calls it once
        :func:`runbook.site.publish.swap` kept the spare."""
        from runbook.engine.store import Cache

        replaced, self._replaced = self._replaced, {}
        if self.spare is not None:
            Cache(self._root()).put_value(PUBLISHED, self._record_key(self.spare), replaced)

    def _record_key(self, output: Path) -> str:
        from runbook.engine.store import digest

        return digest("published", os.fspath(output.resolve()))

    def _published_record(self, output: Path) -> dict[str, list[Any]]:
        """What this plugin placed in the site at ``output`` last: site-relative path ->
        [the copy's name, its inode, size, modification and status-change times]."""
        from runbook.engine.store import Cache

        value = Cache(self._root()).get_value(PUBLISHED, self._record_key(output))
        return value if isinstance(value, dict) else {}

    def record_published(self, output: Path) -> None:
        """Record the files placed in the site now at ``output`` (``runbook build`` calls it
        once the site is swapped in), so the next build can link the unchanged ones from
        there and keep those its spare still holds."""
        from runbook.engine.store import Cache, file_status

        names, self._names = self._names, {}
        if not names:
            return
        root = os.fspath(output)
        record = {}
        for dest_uri, name in names.items():
            status = file_status(f"{root}/{dest_uri}")
            if status is not None:
                record[dest_uri] = [name, *status]
        Cache(self._root()).put_value(PUBLISHED, self._record_key(output), record)

    def search_script(self, config: MkDocsConfig) -> bool:
        """Whether each site's search index also gets its script form (the offline plugin
        is on, so search works from ``file://``)."""
        return any(name.rsplit("/", 1)[-1] == "offline"
                   and getattr(plugin.config, "enabled", True)
                   for name, plugin in config.plugins.items())

    def _write_search(self, site_dir: Path, config: MkDocsConfig) -> None:
        import json

        home = site_dir / "search" / "search_index.json"
        if not home.is_file():  # no search plugin: no index for the sites either
            self.search.pages.clear()
            return
        if not self.search.pages:
            return
        head = json.loads(home.read_text(encoding="utf-8"))["config"]
        self.search.write(site_dir, head, script=self.search_script(config))

    def on_serve(self, server: Any, /, *, config: MkDocsConfig, builder: Any) -> Any:
        """Rebuild the live preview when a topology or a template changes."""
        for path in [*self.input_paths, self.templates_dir]:
            if path.exists():
                server.watch(str(path))
        return server


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# The mode a new folder gets is 0o777 less this (read once: setting it is process-wide).
_UMASK = _umask()


def _clear_unwanted(root: str, top: str, wanted: set[str]) -> set[str]:
    """Remove from ``root/top`` every file and folder that is not, or does not lead to, one
    of ``wanted`` (paths relative to ``root``); give the folders that stay the mode a new
    folder gets (a ``chmod`` of the live site's folders must not outlive a fresh build).
    Return the folders that stay (``root/...``)."""
    folders = {dest.rpartition("/")[0] for dest in wanted}
    for folder in list(folders):
        while "/" in folder:
            folder = folder.rpartition("/")[0]
            if folder in folders:
                break
            folders.add(folder)
    mode = 0o777 & ~_UMASK
    cut = len(root) + 1
    stack = [f"{root}/{top}"]
    kept: set[str] = set()
    while stack:
        folder = stack.pop()
        kept.add(folder)
        if stat.S_IMODE(os.lstat(folder).st_mode) != mode:
            os.chmod(folder, mode)
        with os.scandir(folder) as entries:
            for entry in entries:
                rel = entry.path[cut:]
                if entry.is_dir(follow_symlinks=False):
                    if rel in folders:
                        stack.append(entry.path)
                    else:
                        shutil.rmtree(entry.path)
                elif rel not in wanted:
                    os.unlink(entry.path)
    return kept
