"""The split site build (runbook.site.fastbuild): MkDocs' pages, converted with less work.

It is opt-in (``RUNBOOK_SITE_BUILD=split``) and used only at the versions it was verified with.

Whole-site comparisons with a plain ``mkdocs build`` are in tests/test_incremental.py; here
is the one converter each process reuses for its pages.
"""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Any

import markdown
import pytest
from mkdocs.config import load_config
from mkdocs.structure.files import get_files
from mkdocs.structure.nav import get_navigation
from mkdocs.structure.pages import Page

from runbook.site import fastbuild
from tests.conftest import ROOT, examples_and_corpus


@pytest.fixture(autouse=True)
def split_build(monkeypatch: pytest.MonkeyPatch) -> None:
    """The tests here opt in to the split build."""
    monkeypatch.setenv(fastbuild.ENV, fastbuild.SPLIT)


def test_the_split_build_is_opt_in(monkeypatch: pytest.MonkeyPatch) -> None:
    assert fastbuild.chosen()
    monkeypatch.delenv(fastbuild.ENV)
    assert not fastbuild.chosen()


def test_at_another_mkdocs_version_the_split_build_gives_way_with_a_one_line_notice(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from runbook.engine import optin

    monkeypatch.setattr(optin, "_NOTIFIED", set())
    monkeypatch.setattr(fastbuild, "VERIFIED", {**fastbuild.VERIFIED, "mkdocs": "0.0.1"})
    assert not fastbuild.chosen()
    assert not fastbuild.chosen()  # said once per process
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("runbook: RUNBOOK_SITE_BUILD=split not used (mkdocs 1.6.1 is installed")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Any, list[Any]]:
    """MkDocs' configuration, files and documentation pages for the examples and five
    corpus sites."""
    from runbook.site.build import _plugin

    sites, generated = examples_and_corpus(tmp_path_factory.mktemp("fastbuild"))
    config = load_config(config_file=str(ROOT / "mkdocs.yml"), strict=True)
    _plugin(config).preload(sites, generated)
    config.plugins.on_startup(command="build", dirty=False)
    config = config.plugins.on_config(config)
    config.plugins.on_pre_build(config=config)
    files = config.plugins.on_files(get_files(config), config=config)
    get_navigation(files, config)
    return config, files, list(files.documentation_pages())


def rendered(file: Any, config: Any, files: Any) -> tuple[Any, ...]:
    """Everything ``Page.render`` leaves on a page, as comparable values."""
    page = Page(None, file, config)
    page.read_source(config)
    page.render(config, files)
    links = {to.src_uri: dict(v) for to, v in (page.links_to_anchors or {}).items()}
    toc = [(item.title, item.url, item.level, len(item.children)) for item in page.toc]
    return (page.content, toc, page._title_from_render, sorted(page.present_anchor_ids or ()),
            links)


def test_pages_rendered_with_one_reused_converter_are_those_rendered_each_with_a_new_one(
        site: tuple[Any, Any, list[Any]]) -> None:
    config, files, pages = site
    assert len(pages) > 60
    fresh = {f.src_uri: rendered(f, config, files) for f in pages}
    # Reused in an order unlike the site's, twice over, so that every page follows pages of
    # other sites and of other kinds.
    order = pages * 2
    random.Random(3).shuffle(order)
    made = [0]
    real = markdown.Markdown

    def counting(*args: Any, **kwargs: Any) -> Any:
        made[0] += 1
        return real(*args, **kwargs)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(markdown, "Markdown", counting)
        with fastbuild._one_converter():
            for f in order:
                assert rendered(f, config, files) == fresh[f.src_uri], f.src_uri
    assert made[0] == 1  # one converter made, reset for every other page


def test_other_extensions_get_a_converter_of_their_own() -> None:
    stand_in = fastbuild._OneConverter()
    first = stand_in.Markdown(extensions=["tables"], extension_configs={})
    assert stand_in.Markdown(extensions=["tables"], extension_configs={}) is first
    other = stand_in.Markdown(extensions=["tables", "toc"], extension_configs={})
    assert other is not first
    assert "toc" in other.treeprocessors
    configured = stand_in.Markdown(extensions=["tables", "toc"],
                                   extension_configs={"toc": {"permalink": True}})
    assert configured is not other
    assert "headerlink" in configured.convert("# A")


def test_mkdocs_gets_its_markdown_module_back_after_the_pages() -> None:
    from mkdocs.structure import pages

    with pytest.raises(RuntimeError), fastbuild._one_converter():
        assert isinstance(pages.markdown, fastbuild._OneConverter)
        raise RuntimeError("a page failed")
    assert pages.markdown is markdown


def test_nothing_of_one_page_reaches_the_next() -> None:
    stand_in = fastbuild._OneConverter()
    config = load_config(config_file=str(ROOT / "mkdocs.yml"))
    extensions, configs = config.markdown_extensions, config.mdx_configs

    def convert(text: str) -> str:
        return stand_in.Markdown(extensions=extensions, extension_configs=configs).convert(text)

    # A reference defined on one page, an HTML block stashed, a heading id taken...
    first = convert("# Title\n\n[vault]: https://example.invalid/\n\n<div>raw</div>\n")
    assert 'id="title"' in first
    # ...are unknown to the next page, as with a converter of its own.
    second = "# Title\n\nSee [vault].\n\n<div>raw</div>\n"
    fresh = markdown.Markdown(extensions=extensions, extension_configs=configs).convert(second)
    assert convert(second) == fresh
    assert "<p>See [vault].</p>" in fresh


def test_spilled_files_are_copied_into_the_site_so_the_cache_never_changes_with_it(
        tmp_path: Path) -> None:
    from mkdocs.structure.files import File, Files, InclusionLevel

    from runbook.engine.store import content_name

    spilled = tmp_path / "cache" / content_name(b"%PDF-1.7 bytes")  # as spill names it
    spilled.parent.mkdir()
    spilled.write_bytes(b"%PDF-1.7 bytes")
    config = load_config(config_file=str(ROOT / "mkdocs.yml"), site_dir=str(tmp_path / "site"))
    config.plugins._current_plugin = "runbook"  # as while the plugin's on_files runs
    files = Files([File.generated(config, "sites/x/documents/a.pdf", abs_src_path=str(spilled)),
                   File.generated(config, "sites/x/documents/b.pdf", abs_src_path=str(spilled)),
                   File.generated(config, "sites/x/exports/c.csv", content="a,b\n")])
    fastbuild._copy_static_files(files, InclusionLevel.is_included)
    site = tmp_path / "site" / "sites" / "x"
    for name in ("documents/a.pdf", "documents/b.pdf"):
        assert (site / name).read_bytes() == b"%PDF-1.7 bytes"
        assert (site / name).stat().st_nlink == 1
    assert (site / "exports/c.csv").read_text() == "a,b\n"
    (site / "documents/a.pdf").write_bytes(b"edited in the site")  # even as root
    assert spilled.read_bytes() == b"%PDF-1.7 bytes"


def test_a_rebuild_links_unchanged_files_from_the_site_it_replaces(tmp_path: Path) -> None:
    import shutil

    from runbook.site.build import build_site

    inputs = tmp_path / "inputs"
    shutil.copytree(ROOT / "inputs", inputs)
    output, cache = tmp_path / "site", tmp_path / "cache"

    def build() -> dict[str, tuple[int, bytes]]:
        build_site([inputs], output, config_file=ROOT / "mkdocs.yml", cache_dir=cache, jobs=2)
        return {p.relative_to(output).as_posix(): (p.stat().st_ino, p.read_bytes())
                for p in output.rglob("*") if p.is_file()}

    first = build()
    second = build()
    assert {p: b for p, (_, b) in second.items()} == {p: b for p, (_, b) in first.items()}
    svg = "sites/contoso-hq/diagrams/network.svg"
    assert second[svg][0] == first[svg][0]  # the previous site's file, linked
    assert (output / svg).stat().st_nlink == 1  # its only name now: the old site is gone
    # The cache's own copies are never linked into a site.
    assert all(p.stat().st_nlink == 1 for p in (cache / "files").iterdir())

    # A file edited in place in the built site is not linked again: it is copied afresh.
    pdf = "sites/contoso-hq/documents/change-request.pdf"
    (output / pdf).write_bytes(b"edited in the site")
    # A topology that changed gets new files; the other sites' files are linked.
    fabrikam = inputs / "fabrikam-lb.yaml"
    fabrikam.write_text(fabrikam.read_text().replace("Fabrikam Inc", "Fabrikam Ltd"))
    third = build()
    assert third[pdf] == (third[pdf][0], first[pdf][1]) and third[pdf][0] != second[pdf][0]
    assert third[svg][0] == first[svg][0]
    lb = "sites/fabrikam-lb/diagrams/network.svg"
    assert third[lb][1] != second[lb][1] and third[lb][0] != second[lb][0]


def test_a_generated_file_whose_source_changed_in_place_is_copied_not_linked(
        tmp_path: Path) -> None:
    from mkdocs.structure.files import File, Files, InclusionLevel

    from runbook.engine.store import Cache

    source = tmp_path / "plugin-output" / "style.css"  # another plugin's file, rewritten
    source.parent.mkdir()
    source.write_text("a { color: #f00 }\n")
    cache = Cache(tmp_path / "cache")
    site = tmp_path / "site"

    def copy(into: Path) -> int:
        config = load_config(config_file=str(ROOT / "mkdocs.yml"), site_dir=str(into))
        config.plugins._current_plugin = "other"
        files = Files([File.generated(config, "assets/style.css", abs_src_path=str(source))])
        return fastbuild._copy_static_files(files, InclusionLevel.is_included, cache, site)

    assert copy(site) == 0
    assert copy(tmp_path / "second") == 1  # unchanged: linked from the site
    time.sleep(0.05)  # the next build: file times move on
    source.write_text("a { color: #00f }\n")  # same name, same size, new content
    assert copy(tmp_path / "third") == 0
    assert (tmp_path / "third" / "assets/style.css").read_text() == "a { color: #00f }\n"
