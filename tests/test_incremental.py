"""Incremental and parallel builds: the same bytes however built; an edit costs one site.

Every build here is ``runbook build``'s: the producers in parallel and cached, the site pages
built in site builds and kept as finished pages (runbook.site.finish); a plain ``mkdocs build``
must give the same bytes.

Real parts throughout: real topology files, real producers (Graphviz, Typst), a real strict
MkDocs build. To keep the runtime small, three sites are built; builds that must be cold get an
empty runbook cache, but share the PDF folder (``<cache>/pdf``, keyed by the document's
template and data), because laying out PDFs is what this module does not test.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from runbook.site.build import build_site
from runbook.site.finish import PUBLISHED
from tests.conftest import ROOT, shared_cache

SITES = ("contoso.yaml", "fabrikam-lb.yaml", "adatum-im.yaml")
CONFIG = ROOT / "mkdocs.yml"


def snapshot(site: Path) -> dict[str, bytes]:
    """Every file of a built site, path -> bytes.

    The only bytes not compared are the four of the gzip header's MTIME in sitemap.xml.gz,
    which MkDocs stamps with the build date.
    """
    files: dict[str, bytes] = {}
    for path in sorted(site.rglob("*")):
        if path.is_file():
            rel = path.relative_to(site).as_posix()
            data = path.read_bytes()
            if rel == "sitemap.xml.gz":
                data = data[:4] + bytes(4) + data[8:]
            files[rel] = data
    return files


def differing(a: dict[str, bytes], b: dict[str, bytes]) -> list[str]:
    """Paths present in only one tree or with different bytes."""
    return sorted(p for p in set(a) | set(b) if a.get(p) != b.get(p))


def entries(cache: Path) -> dict[str, set[str]]:
    """The runbook cache's entries, by namespace (see runbook.site.generate).

    Left out: the record, per output folder, of which files a built site holds
    (``site-files``): bookkeeping of a build, not something it produced.
    """
    found: dict[str, set[str]] = {}
    for path in cache.glob("*/??/*"):
        if path.parent.parent.name == PUBLISHED:
            continue
        if path.is_file() and not path.name.startswith("."):
            found.setdefault(path.parent.parent.name, set()).add(path.name)
    return found


def seed_pdfs(source_cache: Path, cache: Path) -> None:
    """Give a cold cache the PDFs Typst already laid out (its own cache, by template and data)."""
    if (source_cache / "pdf").is_dir():
        shutil.copytree(source_cache / "pdf", cache / "pdf")


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("inputs")
    for name in SITES:
        shutil.copy(ROOT / "inputs" / name, folder / name)
    return folder


@pytest.fixture(scope="module")
def cold(inputs: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A cold build on two jobs: (site, cache)."""
    from runbook.engine import parallel

    root = tmp_path_factory.mktemp("cold")
    site = build_site([inputs], root / "site", config_file=CONFIG, jobs=2,
                      cache_dir=root / "cache")
    # The site pages really were built by two worker processes (the last parallel step).
    assert parallel.LAST.workers == 2
    return site, root / "cache"


def test_a_warm_build_gives_the_same_bytes_and_builds_nothing(
        inputs: Path, cold: tuple[Path, Path], tmp_path: Path) -> None:
    site, cache = cold
    before = entries(cache)
    warm = build_site([inputs], tmp_path / "warm", config_file=CONFIG, jobs=2, cache_dir=cache)
    assert differing(snapshot(site), snapshot(warm)) == []
    # Nothing was produced again: the cache holds no new entry of any kind.
    assert entries(cache) == before


def test_a_serial_cold_build_gives_the_same_bytes_as_a_parallel_one(
        inputs: Path, cold: tuple[Path, Path], tmp_path: Path) -> None:
    site, cache = cold
    seed_pdfs(cache, tmp_path / "cache")
    from runbook.engine import parallel

    serial = build_site([inputs], tmp_path / "serial", config_file=CONFIG, jobs=1,
                        cache_dir=tmp_path / "cache")
    # One process at a time: the site pages' one site build, forked.
    assert parallel.LAST.workers == 1
    assert differing(snapshot(site), snapshot(serial)) == []
    # It really was cold: it made as many entries as the parallel build did.
    assert {k: len(v) for k, v in entries(tmp_path / "cache").items() if k != "pdf"} == \
           {k: len(v) for k, v in entries(cache).items() if k != "pdf"}


def test_runbook_build_gives_the_same_bytes_as_plain_mkdocs_build(
        inputs: Path, cold: tuple[Path, Path], tmp_path: Path) -> None:
    from mkdocs.commands.build import build
    from mkdocs.config import load_config

    from runbook.site.build import plugin_of

    site, cache = cold
    seed_pdfs(cache, tmp_path / "cache")
    config = load_config(config_file=str(CONFIG), site_dir=str(tmp_path / "mkdocs"), strict=True)
    plugin = plugin_of(config)
    plugin.config.inputs = [str(inputs)]
    plugin.config.cache_dir = str(tmp_path / "cache")
    config.plugins.on_startup(command="build", dirty=False)
    try:
        build(config)
    finally:
        config.plugins.on_shutdown()
    assert differing(snapshot(site), snapshot(tmp_path / "mkdocs")) == []


def test_editing_one_topology_rebuilds_only_that_site(
        inputs: Path, cold: tuple[Path, Path], tmp_path: Path) -> None:
    _, cache = cold
    edited_inputs = tmp_path / "inputs"
    shutil.copytree(inputs, edited_inputs)
    cache_copy = tmp_path / "cache"
    shutil.copytree(cache, cache_copy)
    # The same inputs at another path are other provenance lines: build them once, then edit.
    first = build_site([edited_inputs], tmp_path / "first", config_file=CONFIG, jobs=2,
                       cache_dir=cache_copy)
    before = entries(cache_copy)

    path = edited_inputs / "fabrikam-lb.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    old_ca = data["certificates"]["public_ca"]
    data["certificates"]["public_ca"] = "Example Public CA"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    second = build_site([edited_inputs], tmp_path / "second", config_file=CONFIG, jobs=2,
                        cache_dir=cache_copy)

    after = entries(cache_copy)
    new = {ns: after[ns] - before.get(ns, set()) for ns in after}
    # One plan, and one entry per producer for the one edited site...
    assert {ns: len(keys) for ns, keys in new.items() if keys and ns != "pdf"} == {
        "site": 1, "plan": 1, "runbook.outputs.pages": 1, "runbook.outputs.diagrams": 1,
        "runbook.outputs.exports": 1, "runbook.outputs.documents": 1,
        "runbook.outputs.pages.global": 1,
        "finished": 1,
    }
    # ...and the output changed only where that site's files are, plus the site-wide indexes.
    changed = differing(snapshot(first), snapshot(second))
    elsewhere = [p for p in changed if not p.startswith("sites/fabrikam-lb/")]
    assert set(elsewhere) <= {"index.html", "search/search_index.json",
                              "search/search_index.js"}
    assert "sites/fabrikam-lb/certificates.html" in changed
    text = (second / "sites/fabrikam-lb/certificates.html").read_text(encoding="utf-8")
    assert "Example Public CA" in text and old_ca not in text
    # The incremental result is exactly what a cold build of the edited inputs gives.
    seed_pdfs(cache_copy, tmp_path / "fresh-cache")
    fresh = build_site([edited_inputs], tmp_path / "fresh", config_file=CONFIG, jobs=2,
                       cache_dir=tmp_path / "fresh-cache")
    assert differing(snapshot(second), snapshot(fresh)) == []


def test_a_cached_site_reads_its_whole_plan_from_the_cache_only_when_asked(
        tmp_path: Path) -> None:
    from runbook.engine.store import Cache
    from runbook.plan.model import Plan
    from runbook.plan.sites import PlanHead, load_sites, plan_file

    cache = Cache(tmp_path / "cache")
    load_sites([ROOT / "inputs" / "fabrikam-lb.yaml"], cache=cache)  # cold: stores it
    cache.hits.clear()
    cache.misses.clear()
    (site,) = load_sites([ROOT / "inputs" / "fabrikam-lb.yaml"], cache=cache)
    # The site and its head come from the site entry; the plan entry is not read yet.
    assert cache.counts() == {"site": {"hits": 1, "misses": 0}}
    assert isinstance(site.head, PlanHead)
    assert site.head.meta.site == site.slug == "fabrikam-lb"
    assert len(site.head.vips) == 3 and site.head.pic is not None
    assert cache.hits["plan"] == 0
    assert site.head.vips == site.plan.vips
    assert cache.hits["plan"] == 1
    # The typed plan read back is the plan made from the file, field for field.
    assert isinstance(site.plan, Plan)
    assert site.plan == plan_file(ROOT / "inputs" / "fabrikam-lb.yaml")
    assert site.plan_dict() == site.plan.to_dict()


def test_progress_draws_only_on_a_terminal_and_not_when_quiet() -> None:
    import io

    from runbook.engine.progress import Progress

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    for stream, quiet, shown in ((io.StringIO(), False, False), (Terminal(), True, False),
                                 (Terminal(), False, True)):
        progress = Progress(stream, quiet=quiet)
        progress.stage("pages", 3)
        progress.advance(3)
        progress.finish()
        text = stream.getvalue()
        assert bool(text) == shown
        if shown:
            assert "pages" in text and "3/3" in text and text.endswith("\n")


def test_the_cached_parallel_producers_give_what_the_producers_give_directly(
        inputs: Path, cold: tuple[Path, Path], tmp_path: Path) -> None:
    from runbook.engine.store import Cache
    from runbook.plan.sites import load_sites as reference_load
    from runbook.site.generate import Builder, generate, generate_uncached

    _, cache = cold
    seed_pdfs(cache, tmp_path / "direct")
    direct = generate_uncached(reference_load([inputs]), tmp_path / "direct")
    seed_pdfs(cache, tmp_path / "cached")
    builder = Builder(Cache(tmp_path / "cached"), jobs=2, spill_dir=tmp_path / "cached/files")
    made = generate(builder.load_sites([inputs]), tmp_path / "cached", builder=builder)
    assert sorted(made) == sorted(direct)
    # Every file of a site, its Markdown pages too, is handed on by path: none is held.
    held = [p for p, v in made.items() if not isinstance(v, Path) and p.startswith("sites/")]
    assert held == []
    assert [p for p in made if (made[p] if isinstance(made[p], bytes)
                                else made[p].read_bytes()) != direct[p]] == []


def test_a_warm_build_reads_spilled_files_by_name_and_remakes_a_site_whose_copies_are_gone(
        inputs: Path, tmp_path: Path) -> None:
    from runbook.engine.store import Cache
    from runbook.outputs import exports
    from runbook.site.generate import Builder, produce_cached

    builder = Builder(Cache(tmp_path / "cache"), jobs=1, spill_dir=tmp_path / "cache/files")
    sites = builder.load_sites([inputs])

    def build() -> dict[str, Any]:
        return produce_cached("runbook.outputs.exports", exports.produce, sites, tmp_path / "work",
                              None, builder)

    first = build()
    # The entries name the spilled copies instead of holding their bytes.
    entries = list((tmp_path / "cache" / "runbook.outputs.exports").glob("*/*"))
    assert len(entries) == len(sites)
    assert all(len(e.read_bytes()) < 2000 for e in entries)
    assert build() == first and builder.cache.hits["runbook.outputs.exports"] == len(sites)
    # A spilled copy deleted behind the cache's back: that site is produced again.
    victim = next(v for v in first.values() if isinstance(v, Path))
    victim.unlink()
    again = build()
    assert builder.cache.misses["runbook.outputs.exports"] == len(sites) + 1
    assert again == first and victim.read_bytes()


def test_a_few_sites_are_produced_in_the_build_process_and_many_in_workers(
        tmp_path: Path) -> None:
    import os

    from runbook.engine.store import Cache
    from runbook.site.generate import FEW_SITES, Builder, produce_cached

    def produce(sites: list[Any], workdir: Path) -> dict[str, bytes]:
        return {f"sites/{s.slug}/pid.txt": str(os.getpid()).encode() for s in sites}

    def pids(name: str, count: int) -> set[int]:
        builder = Builder(Cache(tmp_path / name), jobs=2, spill_dir=tmp_path / name / "files")
        sites = builder.load_sites([ROOT / "inputs"])[:count]
        made = produce_cached(name, produce, sites, tmp_path, None, builder)
        return {int(v.read_bytes() if isinstance(v, Path) else v)
                for path, v in made.items() if path.endswith("/pid.txt")}

    assert FEW_SITES < 5 <= len(list((ROOT / "inputs").glob("*.yaml")))
    assert pids("runbook.outputs.pages", FEW_SITES) == {os.getpid()}  # an edit: no worker started
    assert os.getpid() not in pids("runbook.outputs.exports", 5)  # a build: workers
    # The documents producer always runs in a worker (HEAVY_PRODUCERS), never in the build process.
    assert os.getpid() not in pids("runbook.outputs.documents", 1)


def test_a_build_lists_the_spill_folder_once_for_all_producers(
        inputs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    from runbook.engine.store import Cache
    from runbook.site.generate import Builder, generate

    builder = Builder(Cache(tmp_path / "cache"), jobs=1, spill_dir=tmp_path / "cache/files")
    sites = builder.load_sites([inputs])
    seed_pdfs(shared_cache(), tmp_path / "cache")
    first = generate(sites, tmp_path / "cache", builder=builder)
    listed: list[str] = []
    real = os.listdir

    def counting(path: Any = ".") -> list[str]:
        if Path(path) == tmp_path / "cache/files":
            listed.append(str(path))
        return real(path)

    monkeypatch.setattr(os, "listdir", counting)
    again = generate(sites, tmp_path / "cache", builder=builder)
    assert again == first
    assert len(listed) == 1
