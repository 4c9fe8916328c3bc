"""The MkDocs plugin that turns topology files into site pages during ``mkdocs build``.

Topologies are validated and the producers run in ``on_pre_build`` (before MkDocs empties
``site_dir``); an invalid topology fails the build as a ``PluginError`` listing every
``file:line:col: path: message``. Generated files are added in memory in ``on_files``
(``File.generated``); nothing is written into ``docs_dir``, so ``mkdocs serve`` does not
rebuild itself in a loop. Each site's pages stay outside the global navigation and get a small
navigation of their own (the site's pages) through ``on_page_context`` and
``overrides/main.html``. The site pages' Markdown is converted in ``on_nav``, on every core
and through the build cache (:mod:`runbook.site.convert`), and handed back to MkDocs in
``on_page_markdown``, ``on_page_content`` and ``on_page_context``.
"""

from __future__ import annotations

import logging
import os
import zlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

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
from runbook.site.convert import Converted, Converter, Prepared
from runbook.site.nav import SiteNav
from runbook.site.prune import DEFAULT_MAX_AGE_DAYS
from runbook.site.search import SiteSearch, site_of

if TYPE_CHECKING:
    from mkdocs.structure.nav import Navigation
    from mkdocs.utils.templates import TemplateContext

log = logging.getLogger("mkdocs.plugins.runbook")


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






# MkDocs' BasePlugin.__init_subclass__ is unannotated.
class RunbookPlugin(BasePlugin[RunbookPluginConfig]):  # type: ignore[no-untyped-call]
    """Adds every site's generated pages and files to the MkDocs build."""

    def __init__(self) -> None:
        super().__init__()
        self._preloaded: tuple[list[Any], dict[str, bytes]] | None = None
        #: Worker processes for the page conversion (runbook build sets its ``-j``).
        self.jobs = default_jobs()
        #: What on_nav did with the site pages (runbook.site.convert): converted, from the
        #: cache, left to MkDocs.
        self.conversion: Prepared | None = None
        # Converted site pages whose HTML the theme template has still to get (src_uri ->
        # their entry's key).
        self._converted: dict[str, str] = {}
        self._config: MkDocsConfig | None = None
        self._cache_root: Path | None = None
        self.convert = True
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
                convert: bool = True) -> None:
        """Use sites and files ``runbook build`` already made instead of reading ``inputs``;
        ``jobs`` workers to convert the pages and ``cache_root`` to keep them (default: every
        core, the plugin's cache); ``convert`` False leaves every page to MkDocs (the split
        build converts them itself)."""
        self._preloaded = (sites, generated)
        self.jobs = jobs or self.jobs
        self._cache_root = cache_root
        self.convert = convert

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
        from runbook.engine.store import FAULTS, Cache
        from runbook.site.generate import Builder, generate
        from runbook.site.prune import using

        self._held.clear()
        self._converted.clear()
        self.conversion = None
        self.search.pages.clear()
        if self._preloaded is not None:
            self._sites, self._generated = self._preloaded
            return
        try:
            templates = self.templates_dir if self.templates_dir.is_dir() else None
            cache_dir = self.cache_path
            FAULTS.clear()
            with using(cache_dir):  # no prune meanwhile
                # The same cached, parallel path as runbook build (runbook.site.build).
                builder = Builder(Cache(cache_dir))
                self._sites = builder.load_sites(self.input_paths)
                self._generated = generate(self._sites, cache_dir, templates=templates,
                                           builder=builder)
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
        self._check_spilled(generated)
        for src_uri, content in generated.items():
            existing = files.get_file_from_path(src_uri)
            if existing is not None:
                # A static docs/ file would silently shadow generated content: refuse.
                raise PluginError(f"docs/{src_uri} clashes with a generated file of that name")
            if isinstance(content, Path):  # runbook build hands large files on by path
                files.append(File.generated(config, src_uri, abs_src_path=str(content)))
            else:
                files.append(File.generated(config, src_uri, content=content))
        self.site_navs = site_navigation(sites, set(generated))
        self._files = files
        return files

    def _check_spilled(self, generated: dict[str, Any]) -> None:
        """Check every spilled copy against its name before MkDocs copies it: a damaged one
        is never published. ``runbook build`` then removes the damaged ones and builds once
        more (:class:`runbook.engine.store.Damaged`); a plain ``mkdocs build`` stops with one
        line, the damaged files removed, so that the next build makes them again."""
        from runbook.engine.store import Damaged, check_named, read_named

        for content in generated.values():
            if not isinstance(content, Path):
                continue
            try:
                read_named(content)
            except Damaged:
                if self._preloaded is not None:
                    raise
                count = check_named(content.parent)
                raise PluginError(f"{content.parent}: {count} damaged cache file(s) removed; "
                                  "run the build again to make them anew") from None

    def on_nav(self, nav: Navigation, /, *, config: MkDocsConfig, files: Files) -> Navigation:
        """Convert the site pages on every core, or read them from the cache
        (:mod:`runbook.site.convert`), before MkDocs reads the first page."""
        from runbook.site.convert import convert_pages, log_counts

        if not self.convert:
            return nav
        root = str(self._cache_root or self.cache_path)
        self.conversion = convert_pages(config, files, root, self.jobs)
        log_counts(self.conversion)
        return nav

    # Before other plugins' page_markdown: a converted page's Markdown is its title alone.
    @event_priority(50)
    def on_page_markdown(self, markdown: str, /, *, page: Page, config: MkDocsConfig,
                         files: Files) -> str:
        """Leave a site page out of Material's search index (its site's own index has it),
        and give MkDocs only the title line of a page converted already."""
        from runbook.site.convert import text_digest, tiny_source

        src_uri = page.file.src_uri
        if site_of(src_uri) is None:
            return markdown
        search = page.meta.get("search")
        page.meta["search"] = {**(search if isinstance(search, dict) else {}),
                               "exclude": True}
        prepared = self.conversion.pages.get(src_uri) if self.conversion else None
        tiny = tiny_source(markdown)
        if prepared is None or tiny is None or prepared[1] != text_digest(markdown):
            return markdown  # MkDocs converts it, as it converts any page
        self._converted[src_uri] = prepared[0]
        return tiny

    # Before other plugins' page_content: they get the page's HTML.
    @event_priority(50)
    def on_page_content(self, html: str, /, *, page: Page, config: MkDocsConfig,
                        files: Files) -> str:
        """Give a converted site page its table of contents, anchors and links to anchors,
        and take its search entries; any other site page's from its converted Markdown.

        MkDocs converts every page before it writes any, so it would hold every page's
        Markdown and HTML at once (about 0.6 MB per site). A site page lets go of its
        Markdown now (only its title is read later, and kept); its HTML is read back from the
        cache, or held compressed, until its template is rendered (:meth:`on_page_context`).
        """
        src_uri = page.file.src_uri
        if site_of(src_uri) is None:
            return html
        key = self._converted.get(src_uri)
        if key is not None:
            converted = self._read_converted(page, files, key)
            self._set_page(page, files, converted)
            if converted.titled:
                self.search.put(src_uri, converted.entries)
            else:
                self.search.add(src_uri, page.url, converted.html, page.title or "")
        else:
            self.search.add(src_uri, page.url, html, page.title or "")
            self._held[src_uri] = zlib.compress(html.encode("utf-8"), 1)
        # Not None: MkDocs reads a page without Markdown as one without a title.
        page.markdown = ""
        return ""

    def _read_converted(self, page: Page, files: Files, key: str) -> Converted:
        """A converted page from the cache; one whose entry is damaged or gone (counted) is
        converted again here and stored anew."""
        from runbook.engine.store import write_entry
        from runbook.site.convert import entry_path, read_converted, split_source

        assert self.conversion is not None
        root = str(self._cache_root or self.cache_path)
        converted = read_converted(root, page.file.src_uri, key, self.conversion)
        if converted is None:
            body, _ = split_source(page.file.content_string)
            assert self._config is not None
            converted = Converter(self._config, files).convert(page.file, body)
            if not write_entry(entry_path(root, key), converted.to_data()):
                self.conversion.held[page.file.src_uri] = converted.to_data()
        return converted

    @staticmethod
    def _set_page(page: Page, files: Files, converted: Converted) -> None:
        """What MkDocs' ``Page.render`` sets besides the HTML, from a converted page."""
        from mkdocs.structure.toc import get_toc

        page.toc = get_toc(converted.toc)  # type: ignore[arg-type]
        page.present_anchor_ids = set(converted.anchors)
        # As Page.render does: kept only when MkDocs' page logger reports above debug.
        if logging.getLogger("mkdocs.structure.pages").getEffectiveLevel() > logging.DEBUG:
            links: dict[File, dict[str, str]] = {}
            for target_uri, anchor, url in converted.links:
                target = files.get_file_from_path(target_uri)
                if target is not None:
                    links.setdefault(target, {}).setdefault(anchor, url)
            page.links_to_anchors = links

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
        key = self._converted.pop(page.file.src_uri, None)
        if key is not None:
            assert self._files is not None
            page.content = self._read_converted(page, self._files, key).html
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

    def on_post_page(self, output: str, /, *, page: Page, config: MkDocsConfig) -> str:
        """Let go of a site page's converted Markdown: its finished page is ``output``."""
        if site_of(page.file.src_uri) is not None:
            page.content = None
        return output

    # After Material's search plugin wrote its index (priority 0), before its offline plugin
    # turns that into a script (-100).
    @event_priority(-50)
    def on_post_build(self, *, config: MkDocsConfig) -> None:
        """Write each site's search index (:mod:`runbook.site.search`), mark the site as
        runbook's (so ``runbook build`` may replace it) and prune the cache once a day,
        after a plain ``mkdocs build`` (``runbook build`` prunes after swapping it in)."""
        from runbook.site.prune import prune_if_due
        from runbook.site.publish import mark

        self._write_search(Path(config.site_dir), config)
        mark(Path(config.site_dir))
        if self._preloaded is None:
            prune_if_due(self.cache_path, self.config.cache_max_age_days)

    def _write_search(self, site_dir: Path, config: MkDocsConfig) -> None:
        import json

        home = site_dir / "search" / "search_index.json"
        if not home.is_file():  # no search plugin: no index for the sites either
            self.search.pages.clear()
            return
        head = json.loads(home.read_text(encoding="utf-8"))["config"]
        offline = any(name.rsplit("/", 1)[-1] == "offline"
                      and getattr(plugin.config, "enabled", True)
                      for name, plugin in config.plugins.items())
        self.search.write(site_dir, head, script=offline)

    def on_serve(self, server: Any, /, *, config: MkDocsConfig, builder: Any) -> Any:
        """Rebuild the live preview when a topology or a template changes."""
        for path in [*self.input_paths, self.templates_dir]:
            if path.exists():
                server.watch(str(path))
        return server
