"""The site pages converted by the runbook plugin (runbook.site.convert): the same bytes as
MkDocs' own conversion, on every core, from the cache when unchanged.

Real parts: the examples' real pages and files, MkDocs' real ``Page.render`` to compare
with, real strict ``mkdocs build`` runs of the whole site.
"""

from __future__ import annotations

import random
import shutil
from pathlib import Path
from typing import Any

import pytest
from mkdocs.commands.build import build as mkdocs_build
from mkdocs.config import load_config
from mkdocs.structure.files import get_files
from mkdocs.structure.nav import get_navigation
from mkdocs.structure.pages import Page

from runbook.engine.store import FAULTS, read_entry
from runbook.site import convert
from runbook.site.build import _plugin, build_site
from tests.conftest import ROOT, examples_and_corpus
from tests.test_incremental import differing, snapshot

CONFIG = ROOT / "mkdocs.yml"


@pytest.fixture(scope="module")
def produced(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[Any], dict[str, Any]]:
    """The examples and five corpus sites, validated, planned and produced."""
    return examples_and_corpus(tmp_path_factory.mktemp("convert"))


def _config(produced: tuple[list[Any], dict[str, Any]], site_dir: Path, *, jobs: int = 2,
            cache: Path, convert_pages: bool = True) -> Any:
    config = load_config(config_file=str(CONFIG), strict=True)
    config.site_dir = str(site_dir)
    _plugin(config).preload(*produced, jobs=jobs, cache_root=cache, convert=convert_pages)
    return config


def test_each_site_page_is_converted_as_mkdocs_renders_it(
        produced: tuple[list[Any], dict[str, Any]], tmp_path: Path) -> None:
    config = _config(produced, tmp_path / "site", cache=tmp_path / "cache")
    config.plugins.on_startup(command="build", dirty=False)
    config = config.plugins.on_config(config)
    config.plugins.on_pre_build(config=config)
    files = config.plugins.on_files(get_files(config), config=config)
    get_navigation(files, config)
    pages = [f for f in files.documentation_pages() if f.src_uri.startswith("sites/")]
    assert len(pages) > 60
    # One converter, reused in an order unlike the site's: every page follows other kinds.
    converter = convert.Converter(config, files)
    random.Random(5).shuffle(pages)
    for file in pages:
        page = Page(None, file, config)
        page.read_source(config)
        assert page.markdown is not None
        page.render(config, files)
        made = converter.convert(file, page.markdown)
        assert made.html == page.content, file.src_uri
        toc = [(i.title, i.url, i.level, len(i.children)) for i in page.toc]
        from mkdocs.structure.toc import get_toc

        ours = get_toc(made.toc)  # type: ignore[arg-type]
        assert [(i.title, i.url, i.level, len(i.children)) for i in ours] == toc
        assert set(made.anchors) == page.present_anchor_ids
        links = {to.src_uri: dict(v) for to, v in (page.links_to_anchors or {}).items()}
        mine: dict[str, dict[str, str]] = {}
        for target, anchor, url in made.links:
            mine.setdefault(target, {}).setdefault(anchor, url)
        assert mine == links
        # MkDocs reads the same title from the title line alone.
        tiny = convert.tiny_source(page.markdown)
        assert tiny is not None
        alone = Page(None, file, config)
        alone.markdown = tiny
        alone.render(config, files)
        assert alone.title == page.title
    config.plugins.on_shutdown()


def test_the_site_built_with_the_converted_pages_is_the_plain_mkdocs_build_byte_for_byte(
        produced: tuple[list[Any], dict[str, Any]], tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    plain = _config(produced, tmp_path / "plain", cache=cache, convert_pages=False)
    mkdocs_build(plain)
    assert not (cache / convert.NAMESPACE).exists()  # MkDocs converted every page itself
    cold = _config(produced, tmp_path / "cold", cache=cache)
    mkdocs_build(cold)
    stored = sorted((cache / convert.NAMESPACE).glob("??/*"))
    site_pages = [p for p in produced[1] if p.startswith("sites/") and p.endswith(".md")]
    assert len(stored) == len(site_pages)
    assert differing(snapshot(tmp_path / "plain"), snapshot(tmp_path / "cold")) == []
    plugin = _plugin(cold)
    assert plugin.conversion is not None and plugin.conversion.converted == len(site_pages)
    # Warm: every page from the cache, nothing converted, the same bytes.
    warm = _config(produced, tmp_path / "warm", cache=cache)
    mkdocs_build(warm)
    counts = _plugin(warm).conversion
    assert counts is not None and (counts.converted, counts.cached) == (0, len(site_pages))
    assert differing(snapshot(tmp_path / "plain"), snapshot(tmp_path / "warm")) == []


@pytest.fixture(scope="module")
def two_sites(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """Two small examples built cold with one job: (inputs, site, cache). Tests copy the
    cache before they change it."""
    root = tmp_path_factory.mktemp("two")
    folder = root / "inputs"
    folder.mkdir()
    for name in ("adatum-im.yaml", "litware-noav.yaml"):
        shutil.copy(ROOT / "inputs" / name, folder / name)
    site = build_site([folder], root / "site", config_file=CONFIG, jobs=1,
                      cache_dir=root / "cache")
    return folder, site, root / "cache"


def _counting(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    converted: list[str] = []
    real = convert.Converter.convert

    def counted(self: convert.Converter, file: Any, text: str) -> convert.Converted:
        converted.append(file.src_uri)
        return real(self, file, text)

    monkeypatch.setattr(convert.Converter, "convert", counted)
    return converted


def _pages(site: Path, slug: str) -> list[str]:
    return sorted(p.relative_to(site).as_posix()
                  for p in (site / "sites" / slug).rglob("*.html"))


def test_a_rebuild_after_an_edit_converts_only_the_edited_sites_pages(
        two_sites: tuple[Path, Path, Path], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    inputs, first, cold_cache = two_sites
    cache = tmp_path / "cache"
    shutil.copytree(cold_cache, cache)
    adatum, litware = _pages(first, "adatum-im"), _pages(first, "litware-noav")
    assert len(adatum) >= 6 and len(litware) >= 6
    converted = _counting(monkeypatch)
    # Edited where it is: a file's name as printed (outside the working folder, its full
    # path) is part of its site's pages.
    path = inputs / "adatum-im.yaml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("title: Adatum IM-only Access Edge",
                                 "title: Adatum instant messaging edge"), encoding="utf-8")
    try:
        # One job: the pages are converted in this process, where they are counted.
        second = build_site([inputs], tmp_path / "second", config_file=CONFIG, jobs=1,
                            cache_dir=cache)
    finally:
        path.write_text(text, encoding="utf-8")
    # Every page of the edited site (its change request under documents/ too), once each,
    # and no other.
    assert sorted(converted) == [p[:-5] + ".md" for p in adatum]
    old, new = snapshot(first), snapshot(second)
    assert [p for p in litware if old[p] != new[p]] == []
    assert "Adatum instant messaging edge" in (second / "sites/adatum-im/index.html"
                                               ).read_text(encoding="utf-8")


def test_a_damaged_page_entry_is_a_miss_converted_again_and_stored_anew(
        two_sites: tuple[Path, Path, Path], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    inputs, first, cold_cache = two_sites
    cache = tmp_path / "cache"
    shutil.copytree(cold_cache, cache)
    entries = sorted((cache / convert.NAMESPACE).glob("??/*"))
    assert len(entries) == len(_pages(first, "adatum-im")) + len(_pages(first, "litware-noav"))
    victim = entries[len(entries) // 2]
    data = bytearray(victim.read_bytes())
    data[-10] ^= 0x20  # one flipped bit in the payload
    victim.write_bytes(bytes(data))
    converted = _counting(monkeypatch)
    FAULTS.clear()
    again = build_site([inputs], tmp_path / "again", config_file=CONFIG, jobs=1,
                       cache_dir=cache)
    assert FAULTS.damaged["page"] == 1
    assert len(converted) == 1  # that page alone, converted again
    assert differing(snapshot(first), snapshot(again)) == []
    payload = read_entry(victim)
    assert payload is not None and convert.Converted.from_data(payload) is not None
