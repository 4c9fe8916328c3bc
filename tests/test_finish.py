"""Finished site pages (runbook.site.finish): each site built once by a MkDocs build forked
from the build, kept in the cache, published as files; the same bytes as MkDocs building
every page itself.

Real parts: the examples' and corpus sites' real pages and files, real strict
``mkdocs build`` runs of the whole site, the real build cache.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from mkdocs.commands.build import build as mkdocs_build
from mkdocs.config import load_config
from mkdocs.exceptions import Abort

from runbook.engine.store import content_name
from runbook.site import finish
from runbook.site.build import build_site, plugin_of
from runbook.site.publish import spare_folder
from tests.conftest import ROOT, examples_and_corpus
from tests.test_incremental import differing, snapshot

CONFIG = ROOT / "mkdocs.yml"


@pytest.fixture(scope="module")
def produced(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[Any], dict[str, Any]]:
    """The examples and five corpus sites, validated, planned and produced."""
    return examples_and_corpus(tmp_path_factory.mktemp("finish"))


def _config(produced: tuple[list[Any], dict[str, Any]], site_dir: Path, *, cache: Path,
            finish_pages: bool = True, jobs: int = 2, **settings: Any) -> Any:
    config = load_config(config_file=str(CONFIG), **{"strict": True, **settings})
    config.site_dir = str(site_dir)
    plugin_of(config).preload(*produced, jobs=jobs, cache_root=cache, finish=finish_pages)
    return config


def _plain(produced: tuple[list[Any], dict[str, Any]], site_dir: Path, cache: Path,
           **settings: Any) -> None:
    """MkDocs builds every page itself. The home page then links to the sites' Markdown
    pages (the plugin's on_page_markdown)."""
    config = _config(produced, site_dir, cache=cache, finish_pages=False, **settings)
    mkdocs_build(config)
    assert not (cache / finish.NAMESPACE).exists()
    assert plugin_of(config).finish_stats is None


def _site_pages(produced: tuple[list[Any], dict[str, Any]]) -> list[str]:
    return [p for p in produced[1] if p.startswith("sites/") and p.endswith(".md")]


def test_the_site_built_from_finished_pages_is_the_plain_mkdocs_build_byte_for_byte(
        produced: tuple[list[Any], dict[str, Any]], tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    _plain(produced, tmp_path / "plain", cache)
    cold = _config(produced, tmp_path / "cold", cache=cache)
    mkdocs_build(cold)
    stats = plugin_of(cold).finish_stats
    sites = {p.split("/")[1] for p in _site_pages(produced)}
    assert stats is not None
    assert (stats.sites_built, stats.sites_cached) == (len(sites), 0)
    assert stats.pages_built == len(_site_pages(produced))
    assert stats.site_builds >= 2  # on both cores
    assert len(list((cache / finish.NAMESPACE).glob("??/*"))) == len(sites)
    # The site builds placed every file of their sites themselves: the pages and search
    # indexes they built, and the diagrams, exports and documents.
    built = {p.relative_to(tmp_path / "cold").as_posix()
             for p in (tmp_path / "cold" / "sites").rglob("*") if p.is_file()}
    others = {p for p in produced[1] if p.startswith("sites/") and not p.endswith(".md")}
    assert {p for p in built if p.endswith(".html")} > set() and others < built
    assert stats.placed == built
    plain = snapshot(tmp_path / "plain")
    assert differing(plain, snapshot(tmp_path / "cold")) == []
    # Warm: every site from the cache, no site build, the same bytes.
    warm = _config(produced, tmp_path / "warm", cache=cache)
    mkdocs_build(warm)
    stats = plugin_of(warm).finish_stats
    assert stats is not None
    assert (stats.sites_built, stats.sites_cached, stats.site_builds) == (0, len(sites), 0)
    assert stats.placed == set()
    assert differing(plain, snapshot(tmp_path / "warm")) == []


def test_a_site_build_places_a_file_as_a_new_file_never_through_another_name(
        tmp_path: Path) -> None:
    site = tmp_path / "site"
    (site / "sites" / "a").mkdir(parents=True)
    live = tmp_path / "live.html"
    live.write_bytes(b"live")
    os.link(live, site / "sites" / "a" / "index.html")  # the spare shares it with the live site
    assert finish.place_file(str(site), "sites/a/index.html", b"new")
    assert finish.place_file(str(site), "sites/b/search/index.js", b"made")  # new folders
    assert live.read_bytes() == b"live"
    assert (site / "sites" / "a" / "index.html").read_bytes() == b"new"
    assert (site / "sites" / "b" / "search" / "index.js").read_bytes() == b"made"
    # A folder in the way: not placed, nothing left behind (the build places it after).
    (site / "sites" / "a" / "pool.html").mkdir()
    assert not finish.place_file(str(site), "sites/a/pool.html", b"x")
    assert sorted(p.name for p in (site / "sites" / "a").iterdir()) == ["index.html",
                                                                        "pool.html"]


def test_with_a_site_url_the_sitemap_lists_the_published_pages_as_mkdocs_does(
        produced: tuple[list[Any], dict[str, Any]], tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    url = "https://runbooks.example.net/edge/"
    _plain(produced, tmp_path / "plain", cache, site_url=url)
    mkdocs_build(_config(produced, tmp_path / "finished", cache=cache, site_url=url))
    plain = (tmp_path / "plain" / "sitemap.xml").read_text(encoding="utf-8")
    assert f"<loc>{url}sites/contoso-hq/addressing.html</loc>" in plain
    assert (tmp_path / "finished" / "sitemap.xml").read_text(encoding="utf-8") == plain


@pytest.fixture(scope="module")
def two_sites(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """Two small examples built cold: (inputs, site, cache). Tests copy the cache before
    they change it."""
    root = tmp_path_factory.mktemp("two")
    folder = root / "inputs"
    folder.mkdir()
    for name in ("adatum-im.yaml", "litware-noav.yaml"):
        shutil.copy(ROOT / "inputs" / name, folder / name)
    site = build_site([folder], root / "site", config_file=CONFIG, cache_dir=root / "cache")
    return folder, site, root / "cache"


def _copied(two_sites: tuple[Path, Path, Path], tmp_path: Path) -> tuple[Path, Path, Path]:
    """(inputs, the cold site, a copy of the cold cache a test may change)."""
    inputs, first, cold_cache = two_sites
    cache = tmp_path / "cache"
    shutil.copytree(cold_cache, cache)
    return inputs, first, cache


def _counting(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    built: list[list[str]] = []
    real = finish.build_sites

    def counted(config: Any, plugin: Any, slugs: Any, *args: Any) -> Any:
        built.append(sorted(slugs))
        return real(config, plugin, slugs, *args)

    monkeypatch.setattr(finish, "build_sites", counted)
    return built


def test_a_rebuild_after_an_edit_builds_only_the_edited_site(
        two_sites: tuple[Path, Path, Path], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    inputs, first, cache = _copied(two_sites, tmp_path)
    built = _counting(monkeypatch)
    path = inputs / "adatum-im.yaml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("title: Adatum IM-only Access Edge",
                                 "title: Adatum instant messaging edge"), encoding="utf-8")
    try:
        second = build_site([inputs], tmp_path / "second", config_file=CONFIG,
                            cache_dir=cache)
    finally:
        path.write_text(text, encoding="utf-8")
    assert built == [["adatum-im"]]
    old, new = snapshot(first), snapshot(second)
    litware = [p for p in old if p.startswith("sites/litware-noav/")]
    assert len(litware) > 6 and [p for p in litware if old[p] != new[p]] == []
    assert "Adatum instant messaging edge" in (second / "sites/adatum-im/index.html"
                                               ).read_text(encoding="utf-8")
    # Unchanged again: nothing to build.
    built.clear()
    third = build_site([inputs], tmp_path / "third", config_file=CONFIG, cache_dir=cache)
    assert built == [[]] and differing(snapshot(first), snapshot(third)) == []


def test_a_change_of_the_theme_or_of_the_configuration_builds_every_site_again(
        two_sites: tuple[Path, Path, Path], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    inputs, first, cache = _copied(two_sites, tmp_path)
    project = tmp_path / "project"
    shutil.copytree(ROOT / "docs", project / "docs")
    shutil.copytree(ROOT / "overrides", project / "overrides")
    shutil.copy(CONFIG, project / "mkdocs.yml")
    built = _counting(monkeypatch)
    site = build_site([inputs], tmp_path / "a", config_file=project / "mkdocs.yml",
                      cache_dir=cache)
    assert built == [[]] and differing(snapshot(first), snapshot(site)) == []
    # A theme override the pages use.
    main = project / "overrides" / "main.html"
    main.write_text(main.read_text(encoding="utf-8") + "\n{# changed #}\n", encoding="utf-8")
    build_site([inputs], tmp_path / "b", config_file=project / "mkdocs.yml", cache_dir=cache)
    assert built[-1] == ["adatum-im", "litware-noav"]
    # A setting every page shows.
    config = project / "mkdocs.yml"
    config.write_text(config.read_text(encoding="utf-8").replace(
        "site_name: Edge deployment runbooks", "site_name: Edge runbooks"), encoding="utf-8")
    site = build_site([inputs], tmp_path / "c", config_file=config, cache_dir=cache)
    assert built[-1] == ["adatum-im", "litware-noav"]
    assert "Edge runbooks" in (site / "sites/adatum-im/index.html").read_text(encoding="utf-8")


def test_a_damaged_finished_copy_is_never_published_and_its_site_is_built_again(
        two_sites: tuple[Path, Path, Path], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    inputs, first, cache = _copied(two_sites, tmp_path)
    entry = next((cache / finish.NAMESPACE).glob("??/*"))
    from runbook.engine.store import load_value, read_entry

    pages = [finish.FinishedPage.from_data(p) for p in load_value(read_entry(entry))]
    victim = cache / "files" / pages[0].name  # type: ignore[union-attr]
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0x20
    victim.write_bytes(bytes(data))
    built = _counting(monkeypatch)
    again = build_site([inputs], tmp_path / "again", config_file=CONFIG, cache_dir=cache)
    assert len(built) == 2 and len(built[1]) == 1  # found damaged, removed, that site rebuilt
    assert differing(snapshot(first), snapshot(again)) == []


def test_a_site_build_never_places_a_damaged_copy_of_its_sites_files(
        two_sites: tuple[Path, Path, Path], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The site builds place their sites' diagrams, exports and documents from the cache's
    copies, each checked against its name first: a damaged one is left to the build, which
    removes it, makes it again and builds once more."""
    from runbook.engine.store import load_value, unseal

    inputs, first, cache = _copied(two_sites, tmp_path)
    shutil.rmtree(cache / finish.NAMESPACE)  # every site goes through a site build
    copies = {}
    for entry in (cache / "runbook.outputs.documents").rglob("*"):
        if entry.is_file() and not entry.name.startswith("."):
            files = load_value(unseal(entry.read_bytes(), entry.name))
            copies.update({path: name for path, name in files.items() if isinstance(name, str)
                           and path.endswith("field-runbook.pdf")})
    path = sorted(copies)[0]
    victim = cache / "files" / copies[path]
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0x20
    victim.write_bytes(bytes(data))
    built = _counting(monkeypatch)
    again = build_site([inputs], tmp_path / "again", config_file=CONFIG, cache_dir=cache)
    assert len(built) == 2  # found damaged, removed, the build run once more
    assert (again / path).read_bytes() == (first / path).read_bytes() != bytes(data)
    assert differing(snapshot(first), snapshot(again)) == []


@pytest.mark.parametrize(("extra", "copied"), [(None, False), ("tags", True)])
def test_a_site_build_copies_no_file_unless_another_plugin_may_read_them(
        extra: str | None, copied: bool, tmp_path: Path) -> None:
    """Once the pages are converted (on_env) a site build leaves its files uncopied, with
    the plugins that do not read them later; with any other plugin MkDocs copies them."""
    from types import SimpleNamespace

    from mkdocs.structure.files import File, Files, InclusionLevel

    config = load_config(config_file=str(CONFIG))
    if extra is not None:
        config.plugins[extra] = SimpleNamespace()  # a plugin the runbook plugin does not know
    plugin = plugin_of(config)
    page = File("sites/a/index.md", str(tmp_path), str(tmp_path / "site"), False)
    diagram = File("sites/a/diagrams/network.svg", str(tmp_path), str(tmp_path / "site"), False)
    files = Files([page, diagram])
    plugin.begin_site_build({"a"})
    plugin.on_env(SimpleNamespace(bytecode_cache=object()), config=config, files=files)
    assert page.inclusion != InclusionLevel.EXCLUDED
    assert (diagram.inclusion != InclusionLevel.EXCLUDED) is copied
    plugin.end_site_build()


def test_a_warning_of_a_site_build_fails_the_strict_build_and_is_reported_every_time(
        produced: tuple[list[Any], dict[str, Any]], tmp_path: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    sites, generated = produced
    page = "sites/contoso-hq/addressing.md"
    broken = dict(generated)
    original = generated[page]
    text = original.read_text(encoding="utf-8") if isinstance(original, Path) else \
        original.decode("utf-8")
    broken[page] = (text + "\nSee [the plan](no-such-page.md).\n").encode("utf-8")
    cache = tmp_path / "cache"
    for attempt in range(2):
        config = _config((sites, broken), tmp_path / f"site{attempt}", cache=cache)
        caplog.clear()
        with caplog.at_level(logging.WARNING), pytest.raises(Abort, match="1 warnings"):
            mkdocs_build(config)
        messages = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
        assert any("no-such-page.md" in m and page in m for m in messages), messages
        stats = plugin_of(config).finish_stats
        assert stats is not None and stats.not_kept == ["contoso-hq"]
        # Every other site was kept: the second build builds that one site alone.
        assert stats.sites_built == (len({p.split("/")[1] for p in _site_pages(produced)})
                                     if attempt == 0 else 1)


def _errors_of_a_build_with_hook(produced: tuple[list[Any], dict[str, Any]], tmp_path: Path,
                                 caplog: pytest.LogCaptureFixture, hook: str) -> list[str]:
    """The errors a non-strict build logs with the hook module ``hook`` (its source), which
    must stop it."""
    path = tmp_path / "hook_under_test.py"
    path.write_text(hook, encoding="utf-8")
    config = _config(produced, tmp_path / "site", cache=tmp_path / "cache", strict=False,
                     hooks=[str(path)])
    caplog.clear()
    with caplog.at_level(logging.ERROR), pytest.raises(Abort):
        mkdocs_build(config)
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


def test_an_error_in_a_site_build_stops_the_build_and_names_the_site_and_the_error(
        produced: tuple[list[Any], dict[str, Any]], tmp_path: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    # MkDocs stops a build at a page's error; a site build's error stopped only that site
    # build, and the site was published without that build's pages, saying nothing.
    errors = _errors_of_a_build_with_hook(produced, tmp_path, caplog, (
        "from mkdocs.exceptions import PluginError\n"
        "def on_page_markdown(markdown, page, config, files):\n"
        "    if page.file.src_uri == 'sites/contoso-hq/dns.md':\n"
        "        raise PluginError('the hook refuses ' + page.file.src_uri)\n"
        "    return markdown\n"))
    assert "the hook refuses sites/contoso-hq/dns.md" in errors, errors
    # The sites of that site build whose pages it did not make, contoso-hq among them.
    assert any(m.startswith("the pages of ") and "contoso-hq" in m.split(" were not")[0]
               for m in errors), errors
    assert not (tmp_path / "site" / "sites" / "contoso-hq" / "index.html").exists()


def test_a_site_build_stopped_before_its_files_names_its_sites_too(
        produced: tuple[list[Any], dict[str, Any]], tmp_path: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    # A hook that fails in the site builds' on_files (the forked builds only): they build no
    # page at all, and the files they knew were the parent's, which hold no site page.
    errors = _errors_of_a_build_with_hook(produced, tmp_path, caplog, (
        "import os\n"
        "from mkdocs.exceptions import PluginError\n"
        "PARENT = os.getpid()\n"
        "def on_files(files, config):\n"
        "    if os.getpid() != PARENT:\n"
        "        raise PluginError('the hook refuses the site build')\n"
        "    return files\n"))
    assert "the hook refuses the site build" in errors, errors
    stopped = [m for m in errors if m.startswith("the pages of ")]
    assert stopped and all(slug in " ".join(stopped) for slug in
                           {p.split("/")[1] for p in _site_pages(produced)}), errors


def test_a_published_file_is_no_cache_copy_and_a_rebuild_links_it_from_the_site_it_replaces(
        two_sites: tuple[Path, Path, Path], tmp_path: Path) -> None:
    inputs, first, cache = _copied(two_sites, tmp_path)
    out = tmp_path / "out"
    build_site([inputs], out, config_file=CONFIG, cache_dir=cache)
    page = out / "sites" / "adatum-im" / "index.html"
    copy = cache / "files" / content_name(page.read_bytes())
    assert copy.is_file() and not os.path.samefile(page, copy)
    assert os.stat(page).st_nlink == 1
    inode = os.stat(page).st_ino
    build_site([inputs], out, config_file=CONFIG, cache_dir=cache)
    # The same file, under the new site's name and the spare's (the replaced site's
    # sites/, which the next build starts from), never under the cache copy's.
    spare = spare_folder(cache, out)
    assert os.stat(page).st_ino == inode and os.stat(page).st_nlink == 2
    assert os.path.samefile(page, spare / "adatum-im" / "index.html")
    assert differing(snapshot(first), snapshot(out)) == []
    # A tool that edits the published site in place edits no cache copy (only the spare's
    # other name of the file); the next build publishes the file anew instead of linking or
    # keeping the edited one.
    with page.open("ab") as stream:
        stream.write(b"<!-- edited -->")
    assert b"edited" not in copy.read_bytes()
    build_site([inputs], out, config_file=CONFIG, cache_dir=cache)
    assert os.stat(page).st_ino != inode
    assert differing(snapshot(first), snapshot(out)) == []
    assert b"edited" not in copy.read_bytes()


def test_where_the_previous_site_cannot_be_linked_from_the_files_are_copied(
        two_sites: tuple[Path, Path, Path], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    import errno

    inputs, first, cache = _copied(two_sites, tmp_path)
    out = tmp_path / "out"
    build_site([inputs], out, config_file=CONFIG, cache_dir=cache)

    def cross_device(source: Any, target: Any) -> None:
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    monkeypatch.setattr(os, "link", cross_device)
    build_site([inputs], out, config_file=CONFIG, cache_dir=cache)
    assert differing(snapshot(first), snapshot(out)) == []


def test_a_copy_checked_once_is_read_again_only_when_its_file_changed(
        two_sites: tuple[Path, Path, Path], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    from runbook.engine import store

    inputs, first, cache = _copied(two_sites, tmp_path)
    read: list[str] = []
    real = store.read_named

    def counted(path: Any) -> Any:
        read.append(os.path.basename(path))
        return real(path)

    monkeypatch.setattr(store, "read_named", counted)
    build_site([inputs], tmp_path / "a", config_file=CONFIG, cache_dir=cache)
    placed = len(read)
    assert placed > 20  # a new cache folder: every copy is checked once
    read.clear()
    build_site([inputs], tmp_path / "b", config_file=CONFIG, cache_dir=cache)
    assert read == []  # the same files, untouched since: none is read again
    # A byte flipped, the modification time kept: the status says the file changed.
    victim = tmp_path / "b" / "sites" / "litware-noav" / "index.html"
    copy = cache / "files" / content_name(victim.read_bytes())
    before = copy.stat()
    data = bytearray(copy.read_bytes())
    data[len(data) // 2] ^= 0x20
    copy.write_bytes(bytes(data))
    os.utime(copy, ns=(before.st_atime_ns, before.st_mtime_ns))
    third = build_site([inputs], tmp_path / "c", config_file=CONFIG, cache_dir=cache)
    assert copy.name in read
    assert differing(snapshot(first), snapshot(third)) == []


def test_the_distributions_of_a_package_are_the_ones_python_finds() -> None:
    # code_of names an extension's or plugin's code by the distributions installing its
    # top-level package; finish reads each distribution's RECORD as text to find them, by
    # the rule Python follows from 3.12 on (3.11 reads .py files only, so it finds fewer).
    from importlib import metadata

    known = metadata.packages_distributions()
    for top, dists in known.items():
        assert set(dists) <= set(finish.distributions_of(top)), top
    for top in ("markdown", "material", "mkdocs", "pymdownx", "jinja2", "yaml", "typst"):
        assert sorted(finish.distributions_of(top)) == sorted(known[top]), top
    assert finish.distributions_of("pymdownx") == ["pymdown-extensions"]
    assert finish.distributions_of("no_such_package_anywhere") == []
    assert finish.code_of("material.plugins.search.plugin") == (
        f"material: mkdocs-material {metadata.version('mkdocs-material')}")
