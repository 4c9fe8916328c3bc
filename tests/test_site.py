"""The static site: a real, strict MkDocs build of the topologies in inputs/."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from runbook.cli import main
from runbook.errors import ValidationFailed
from runbook.outputs.pages import site_pages
from runbook.plan.sites import load_sites
from runbook.site.build import build_site
from tests.conftest import ROOT
from tests.topo import contoso, write


def snapshot(site: Path) -> dict[str, bytes]:
    """Every file of a built site, path -> bytes, minus the one thing MkDocs stamps.

    MkDocs gzips sitemap.xml with the build date in the gzip header's MTIME field (bytes
    4-7, ``mkdocs.utils.get_build_timestamp``); those four bytes are zeroed. Nothing else is
    excluded: with no ``site_url`` the sitemap lists no pages, so it has no ``<lastmod>``.
    """
    files: dict[str, bytes] = {}
    for path in sorted(site.rglob("*")):
        if path.is_dir():
            continue
        rel = path.relative_to(site).as_posix()
        data = path.read_bytes()
        if rel == "sitemap.xml.gz":
            assert data[:2] == b"\x1f\x8b"
            data = data[:4] + bytes(4) + data[8:]
        files[rel] = data
    return files


def assert_same_tree(a: Path, b: Path) -> None:
    left, right = snapshot(a), snapshot(b)
    assert sorted(left) == sorted(right)
    differing = [name for name in left if left[name] != right[name]]
    assert differing == []


def topology(tmp_path: Path, slug: str, **changes: object) -> Path:
    data = contoso()
    data["site"] = slug
    data.update(changes)
    tmp_path.mkdir(parents=True, exist_ok=True)
    return write(tmp_path, data, f"{slug}.yaml")


def test_every_site_gets_every_page_and_the_home_page_links_them(built_site: Path) -> None:
    sites = load_sites([ROOT / "inputs"])
    assert len(sites) >= 2
    home = (built_site / "index.html").read_text(encoding="utf-8")
    for site in sites:
        for spec in site_pages(site.plan.to_dict()):
            page = built_site / "sites" / site.slug / spec.filename.replace(".md", ".html")
            assert page.is_file(), page
        assert f'href="sites/{site.slug}/index.html"' in home


def test_the_build_writes_nothing_into_docs_dir(built_site: Path) -> None:
    assert not (ROOT / "docs" / "sites").exists()
    assert not (ROOT / "docs" / "index.md").exists()


def test_a_site_page_carries_its_own_site_navigation_not_every_site(built_site: Path) -> None:
    page = (built_site / "sites" / "contoso-hq" / "dns.html").read_text(encoding="utf-8")
    nav = page[page.index('class="md-nav md-nav--primary runbook-site-nav"'):]
    nav = nav[:nav.index("</nav>")]
    assert 'href="addressing.html"' in nav
    assert 'href="dns.html" class="md-nav__link md-nav__link--active"' in nav
    assert 'href="../../index.html"' in nav
    # The change request and the downloads are in the sidebar too.
    assert '<a href="documents/change-request.html" class="md-nav__link">' in nav
    assert '<a href="index.html#downloads" class="md-nav__link">' in nav
    assert "fabrikam" not in page


def test_the_site_navigation_lists_every_page_the_site_has(built_site: Path) -> None:
    # contoso federates (edge.federation_partners) and has a reverse proxy and PIC; litware
    # has none of these, so neither its Federation partners nor its Reverse proxy page exists.
    def nav_of(slug: str) -> str:
        page = (built_site / "sites" / slug / "dns.html").read_text(encoding="utf-8")
        nav = page[page.index('class="md-nav md-nav--primary runbook-site-nav"'):]
        return nav[:nav.index("</nav>")]

    contoso = nav_of("contoso-hq")
    for name in ("index", "addressing", "runbook", "pool", "federation", "certificates", "dns",
                 "firewall", "reverse-proxy", "pic"):
        assert f'href="{name}.html"' in contoso, name
    litware = nav_of("litware-noav")
    assert 'href="pool.html"' in litware
    assert 'href="federation.html"' not in litware and 'href="pic.html"' not in litware


def test_a_site_page_is_titled_by_its_heading(built_site: Path) -> None:
    """The plugin lets go of a page's Markdown once converted, but not of its title."""
    page = (built_site / "sites" / "contoso-hq" / "dns.html").read_text(encoding="utf-8")
    heading = re.search(r"<h1[^>]*>(.*?)</h1>", page, re.S)
    assert heading is not None
    title = re.sub(r"<[^>]+>", "", heading.group(1)).replace("&para;", "").strip()
    assert title.startswith("DNS")
    assert f"<title>{title} - Edge deployment runbooks</title>" in page


def test_the_sitemap_carries_no_build_date(built_site: Path) -> None:
    # MkDocs writes the build day into sitemap.xml.gz's gzip header (bytes 4 to 8, the
    # modification time) and the pages' lastmod unless SOURCE_DATE_EPOCH is set: a build on
    # another day would differ. The plugin dates them at the epoch (or SOURCE_DATE_EPOCH).
    header = (built_site / "sitemap.xml.gz").read_bytes()[:10]
    assert int.from_bytes(header[4:8], "little") == int(os.environ.get("SOURCE_DATE_EPOCH", 0))
    assert "<lastmod>" not in (built_site / "sitemap.xml").read_text("utf-8") or \
        "<lastmod>1970-01-01</lastmod>" in (built_site / "sitemap.xml").read_text("utf-8")


def test_two_builds_of_the_same_inputs_are_identical(built_site: Path, tmp_path: Path) -> None:
    again = build_site([ROOT / "inputs"], tmp_path / "again", config_file=ROOT / "mkdocs.yml")
    assert_same_tree(built_site, again)


def test_mkdocs_build_from_the_repo_root_equals_runbook_build(
    built_site: Path, tmp_path: Path
) -> None:
    mkdocs = Path(sys.executable).with_name("mkdocs")
    done = subprocess.run([str(mkdocs), "build", "--strict", "-d", str(tmp_path / "mk")],
                          cwd=ROOT, capture_output=True, text=True, timeout=300,
                          check=False)
    assert done.returncode == 0, done.stderr
    assert "WARNING" not in done.stderr
    assert_same_tree(built_site, tmp_path / "mk")


def test_a_site_page_does_not_grow_with_the_number_of_sites(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Same folder and relative paths for both builds, so provenance lines are identical
    # (and the documents' PDF cache in the repo's .cache/ is reused from run to run).
    monkeypatch.chdir(tmp_path)
    config = ROOT / "mkdocs.yml"
    for i in range(2):
        topology(Path("inputs"), f"branch-{i:02d}")
    small = build_site([Path("inputs")], Path("site-few"), config_file=config)
    for i in range(2, 8):
        topology(Path("inputs"), f"branch-{i:02d}")
    large = build_site([Path("inputs")], Path("site-many"), config_file=config)

    assert len(list((large / "sites").iterdir())) == 4 * len(list((small / "sites").iterdir()))
    for name in ("index.html", "runbook.html", "dns.html"):
        page_small = (small / "sites" / "branch-01" / name).read_bytes()
        page_large = (large / "sites" / "branch-01" / name).read_bytes()
        assert len(page_small) == len(page_large)
        assert page_small == page_large
    # Only the home page lists every site.
    assert (large / "index.html").stat().st_size > (small / "index.html").stat().st_size


def built_good_site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                    ) -> tuple[Path, Path, dict[str, bytes]]:
    """A site built from one valid topology: (inputs, output, snapshot of the output)."""
    monkeypatch.chdir(tmp_path)  # relative input paths: stable provenance, warm PDF cache
    inputs = Path("inputs")
    topology(inputs, "good-site")
    output = tmp_path / "site"
    build_site([inputs], output, config_file=ROOT / "mkdocs.yml")
    return inputs, output, snapshot(output)


def test_a_failed_build_reports_every_problem_and_keeps_the_previous_site(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    inputs, output, before = built_good_site(tmp_path, monkeypatch)

    broken = contoso()
    broken["site"] = "broken-site"
    broken["next_hop"] = 42
    broken["edge"]["servers"][0]["name"] = ""
    bad = write(inputs, broken, "broken.yaml")
    with pytest.raises(ValidationFailed) as failure:
        build_site([inputs], output, config_file=ROOT / "mkdocs.yml")

    lines = failure.value.format().splitlines()
    assert len(lines) >= 2
    for line in lines:
        assert re.match(r"^.*broken\.yaml:\d+:\d+: ", line), line
    assert snapshot(output) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["inputs", "site"]

    result = CliRunner().invoke(main, ["build", str(inputs), "-o", str(output),
                                       "-f", str(ROOT / "mkdocs.yml")])
    assert result.exit_code == 1
    assert f"{bad.name}:" in result.output
    assert "Traceback" not in result.output
    assert snapshot(output) == before


def test_a_producer_error_fails_the_build_without_touching_the_site(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    inputs, output, before = built_good_site(tmp_path, monkeypatch)
    templates = tmp_path / "templates" / "pages"
    templates.mkdir(parents=True)
    (templates / "dns.md.j2").write_text("{% if %}broken{% endif %}\n", encoding="utf-8")

    result = CliRunner().invoke(main, ["build", str(inputs), "-o", str(output),
                                       "--templates", str(tmp_path / "templates"),
                                       "-f", str(ROOT / "mkdocs.yml")])
    assert result.exit_code == 1
    assert "dns.md.j2" in result.output
    assert "Traceback" not in result.output
    assert snapshot(output) == before


def test_runbook_build_defaults_to_inputs_into_site(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.copy(ROOT / "mkdocs.yml", tmp_path / "mkdocs.yml")
    shutil.copytree(ROOT / "docs", tmp_path / "docs")
    shutil.copytree(ROOT / "overrides", tmp_path / "overrides")
    topology(tmp_path / "inputs", "only-site")
    monkeypatch.chdir(tmp_path)

    result = CliRunner().invoke(main, ["build"])

    assert result.exit_code == 0, result.output
    assert (tmp_path / "site" / "sites" / "only-site" / "runbook.html").is_file()
    assert not (tmp_path / "site" / "sites" / "contoso-hq").exists()


def test_mkdocs_build_reports_invalid_topologies_and_keeps_the_previous_site(
    tmp_path: Path,
) -> None:
    for name in ("docs", "overrides"):
        shutil.copytree(ROOT / name, tmp_path / name)
    (tmp_path / "mkdocs.yml").write_text(
        (ROOT / "mkdocs.yml").read_text(encoding="utf-8").replace(
            "      inputs:\n        - inputs\n", "      inputs:\n        - topologies\n"),
        encoding="utf-8")
    broken = contoso()
    broken["next_hop"] = 42
    (tmp_path / "topologies").mkdir()
    write(tmp_path / "topologies", broken, "broken.yaml")
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "index.html").write_text("previous build\n", encoding="utf-8")
    mkdocs = Path(sys.executable).with_name("mkdocs")

    done = subprocess.run([str(mkdocs), "build"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=300, check=False)

    assert done.returncode == 1
    assert re.search(r"topologies/broken\.yaml:\d+:\d+: next_hop: ", done.stderr), done.stderr
    assert "Traceback" not in done.stderr
    # Validation runs before MkDocs empties site_dir: the previous site is still there.
    assert (tmp_path / "site" / "index.html").read_text(encoding="utf-8") == "previous build\n"


def test_the_api_gives_the_files_a_build_hands_mkdocs_and_refuses_bad_input_first(
        tmp_path: Path) -> None:
    import runbook

    sites, files = runbook.site_files([ROOT / "inputs" / "contoso.yaml"],
                                      cache_dir=tmp_path / "cache", jobs=1)
    assert [s.slug for s in sites] == ["contoso-hq"]
    assert "index.md" in files and "sites/contoso-hq/index.md" in files
    # A site's files as the paths of their checked copies in the cache, the home page as bytes.
    assert isinstance(files["index.md"], bytes)
    assert isinstance(files["sites/contoso-hq/index.md"], Path)
    pdf = files["sites/contoso-hq/documents/field-runbook.pdf"]
    assert isinstance(pdf, Path) and pdf.parent == (tmp_path / "cache" / "files").resolve()
    assert pdf.read_bytes()[:5] == b"%PDF-"
    bad = write(tmp_path, "site: x\n")
    with pytest.raises(ValidationFailed):
        runbook.site_files([bad], cache_dir=tmp_path / "cache2", jobs=1)
    assert not (tmp_path / "cache2" / "runbook.outputs.pages").exists()


def test_a_plain_mkdocs_build_makes_the_sites_files_through_the_api(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The plugin's on_pre_build calls runbook.site_files, the function the API exports,
    with the plugin's inputs, cache and templates."""
    from mkdocs.config import load_config

    import runbook
    import runbook.site.produce

    assert runbook.site_files is runbook.site.produce.site_files
    calls: list[tuple[list[str], dict[str, object]]] = []
    real = runbook.site.produce.site_files

    def spy(inputs: list[Path], **options: object) -> object:
        calls.append(([str(p) for p in inputs], options))
        return real(inputs, **options)  # type: ignore[arg-type]

    monkeypatch.setattr(runbook.site.produce, "site_files", spy)
    monkeypatch.setenv("RUNBOOK_CACHE_DIR", str(tmp_path / "cache"))
    config = load_config(config_file=str(ROOT / "mkdocs.yml"),
                         site_dir=str(tmp_path / "site"))
    plugin = config.plugins["runbook"]
    plugin.on_config(config)
    plugin.config.inputs = [str(ROOT / "inputs" / "contoso.yaml")]
    plugin.on_pre_build(config=config)
    assert calls == [([str(ROOT / "inputs" / "contoso.yaml")],
                      {"cache_dir": tmp_path / "cache", "templates": ROOT / "templates"})]
    assert "sites/contoso-hq/index.md" in plugin._generated


def test_runbook_build_and_the_api_share_what_they_produced(tmp_path: Path) -> None:
    """runbook build and runbook.site_files (what the plugin calls under a plain mkdocs build)
    make a site's files the same way: after one of them, the other finds everything in the
    cache and writes nothing there."""
    import runbook

    def cache_files() -> set[str]:
        return {str(p.relative_to(cache)) for p in cache.rglob("*")
                if p.is_file() and "finished" not in p.parts and p.suffix != ".lock"}

    cache = tmp_path / "cache"
    inputs = [ROOT / "inputs" / "contoso.yaml"]
    build_site(inputs, tmp_path / "site", config_file=ROOT / "mkdocs.yml", cache_dir=cache)
    after_build = cache_files()
    runbook.site_files(inputs, cache_dir=cache, templates=ROOT / "templates")
    assert cache_files() == after_build
