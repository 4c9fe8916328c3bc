"""Pruning the build cache (runbook.site.prune): what no build used for a while goes, nothing else.

Unit tests lay out cache files by hand and set their times; the end-to-end tests build real
sites, age the cache and check that a build after pruning still finds everything a warm build
reads, and that even an emptied cache gives the same site again.
"""

from __future__ import annotations

import marshal
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from runbook.engine.store import TOUCH_AFTER, Cache, seal
from runbook.site import prune as p
from tests.conftest import ROOT

DAY = p.DAY
NOW = time.time()


@pytest.fixture(autouse=True)
def _project_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests are about the cache's place in a project: no run-wide override."""
    monkeypatch.delenv("RUNBOOK_CACHE_DIR", raising=False)


def age(path: Path, days: float) -> Path:
    """Set ``path``'s times to ``days`` days ago."""
    then = NOW - days * DAY
    os.utime(path, (then, then))
    return path


def entry(root: Path, namespace: str, key: str, data: bytes = b"x", days: float = 0) -> Path:
    """A cache entry as runbook.engine.store.Cache lays it out, ``days`` old."""
    path = root / namespace / key[:2] / key
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return age(path, days)


def spilled(root: Path, name: str, days: float) -> Path:
    path = root / p.SPILL / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"<svg/>")
    return age(path, days)


def test_entries_no_build_used_for_the_age_go_and_the_others_stay(tmp_path: Path) -> None:
    old = entry(tmp_path, "finished", "aa01", b"12345", days=31)
    recent = entry(tmp_path, "finished", "aa02", days=29)
    verdict = entry(tmp_path, "validate", "bb01", days=40)
    done = p.prune(tmp_path, 30)
    assert not old.exists() and not verdict.exists() and recent.exists()
    assert (done.removed, done.removed_bytes, done.kept) == (2, 6, 1)
    assert done.by_namespace == {"finished": [1, 5], "validate": [1, 1]}


def test_a_spare_goes_whole_when_no_build_replaced_its_site_for_the_age(tmp_path: Path
                                                                          ) -> None:
    def spare(key: str, days: float) -> Path:
        folder = tmp_path / p.SPARE / key
        (folder / "site-a").mkdir(parents=True)
        # Its files are as old as the copies they were placed from, whatever its own age.
        for name in ("index.html", "dns.html"):
            (folder / "site-a" / name).write_bytes(b"<p>")
            age(folder / "site-a" / name, 100)
        return age(folder, days)

    old, recent = spare("aa", 31), spare("bb", 1)
    assert p.prune(tmp_path, 30, dry_run=True).by_namespace == {"spare": [2, 6]}
    assert old.is_dir()
    done = p.prune(tmp_path, 30)
    assert not old.exists() and (recent / "site-a" / "index.html").is_file()
    assert (done.removed, done.kept, done.by_namespace) == (2, 2, {"spare": [2, 6]})


def test_a_dry_run_removes_nothing_and_says_what_would_go(tmp_path: Path) -> None:
    old = entry(tmp_path, "finished", "aa01", days=31)
    done = p.prune(tmp_path, 30, dry_run=True)
    assert old.exists() and done.removed == 1
    assert not (tmp_path / p.STAMP).exists()


def test_reading_an_entry_a_day_after_its_time_marks_it_used(tmp_path: Path) -> None:
    cache = Cache(tmp_path)
    cache.put("finished", "aa01", b"finished")
    cache.put("finished", "aa02", b"finished")
    stale = age(tmp_path / "finished" / "aa" / "aa01", 40)
    fresh = age(tmp_path / "finished" / "aa" / "aa02", TOUCH_AFTER / DAY / 2)
    before = fresh.stat().st_mtime
    assert cache.get("finished", "aa01") == b"finished"
    assert cache.get("finished", "aa02") == b"finished"
    assert stale.stat().st_mtime > NOW - 60  # used now
    assert fresh.stat().st_mtime == before  # within a day: no write for a read
    p.prune(tmp_path, 30)
    assert stale.exists()


def test_a_sites_plan_goes_with_its_head_which_every_build_reads(tmp_path: Path) -> None:
    # A warm build reads a site's head, and its plan only when it must produce something.
    kept_head = entry(tmp_path, p.SITE, "aa01", days=1)
    kept_plan = entry(tmp_path, p.PLAN, "aa01", days=200)
    old_head = entry(tmp_path, p.SITE, "aa02", days=31)
    old_plan = entry(tmp_path, p.PLAN, "aa02", days=0)
    orphan = entry(tmp_path, p.PLAN, "aa03", days=0)
    p.prune(tmp_path, 30)
    assert kept_head.exists() and kept_plan.exists()
    assert not old_head.exists() and not old_plan.exists() and not orphan.exists()


def test_spilled_copies_stay_while_a_remaining_producer_entry_names_them(tmp_path: Path) -> None:
    # A warm build reads the producer's entry, never the copies: their own times say nothing.
    named = spilled(tmp_path, "a" * 40, days=300)
    of_old_entry = spilled(tmp_path, "b" * 40, days=300)
    loose_old = spilled(tmp_path, "c" * 40, days=31)
    loose_recent = spilled(tmp_path, "d" * 40, days=1)
    entry(tmp_path, "runbook.outputs.pages", "aa01", days=2, data=seal(marshal.dumps(
        {"sites/x/index.md": "a" * 40, "sites/x/inline.txt": b"bytes"}), "aa01"))
    entry(tmp_path, "runbook.outputs.diagrams", "aa02", days=31, data=seal(marshal.dumps(
        {"sites/y/diagrams/network.svg": "b" * 40}), "aa02"))
    done = p.prune(tmp_path, 30)
    assert named.exists() and loose_recent.exists()
    assert not of_old_entry.exists() and not loose_old.exists()
    assert done.by_namespace["files"][0] == 2


def test_temporary_files_of_a_killed_build_go_after_an_hour(tmp_path: Path) -> None:
    old_tmp = entry(tmp_path, "finished", ".aa01.123.tmp", days=2 / 24)
    new_tmp = entry(tmp_path, "finished", ".aa02.123.tmp", days=0)
    old_spill = spilled(tmp_path, ".e.123.tmp", days=2 / 24)
    p.prune(tmp_path, 30)
    assert not old_tmp.exists() and new_tmp.exists() and not old_spill.exists()


def test_a_build_using_the_cache_keeps_prunes_away(tmp_path: Path) -> None:
    old = entry(tmp_path, "finished", "aa01", days=31)
    with p.using(tmp_path), pytest.raises(p.CacheBusy, match="a build is using this cache"):
        p.prune(tmp_path, 30)
    assert old.exists()
    with p.using(tmp_path):
        assert p.prune_if_due(tmp_path, 30, now=NOW + 2 * DAY) is None  # skipped, not failed
    assert p.prune(tmp_path, 30).removed == 1  # once the build is done


def test_after_a_build_the_cache_is_pruned_at_most_once_a_day(tmp_path: Path) -> None:
    old = entry(tmp_path, "finished", "aa01", days=31)
    stamp = tmp_path / p.STAMP
    assert p.prune_if_due(tmp_path, 30) is None  # first use by this version: stamped only
    assert stamp.exists() and old.exists()
    assert p.prune_if_due(tmp_path, 30) is None  # pruned (stamped) less than a day ago
    age(stamp, 1.5)
    assert p.prune_if_due(tmp_path, 0) is None  # 0: pruning turned off
    done = p.prune_if_due(tmp_path, 30)
    assert done is not None and done.removed == 1 and not old.exists()
    assert stamp.stat().st_mtime > NOW - 60


def test_a_dry_run_counts_the_copies_of_the_entries_it_would_remove(tmp_path: Path) -> None:
    copy = spilled(tmp_path, "b" * 40, days=300)
    entry(tmp_path, "runbook.outputs.diagrams", "aa02", days=31, data=seal(marshal.dumps(
        {"sites/y/diagrams/network.svg": "b" * 40}), "aa02"))
    done = p.prune(tmp_path, 30, dry_run=True)
    assert done.by_namespace == {"runbook.outputs.diagrams": [1, len(seal(marshal.dumps(
        {"sites/y/diagrams/network.svg": "b" * 40}), "aa02"))], "files": [1, 6]}
    assert copy.exists()


def test_only_runbooks_own_folders_are_pruned(tmp_path: Path) -> None:
    # cache_dir may name a folder that other tools use too (.cache, even the project)
    others = entry(tmp_path, "pip", "aa01", days=400)
    stray = tmp_path / "notes.txt"
    stray.write_text("x")
    age(stray, 400)
    ours = entry(tmp_path, "finished", "aa01", days=400)
    done = p.prune(tmp_path, 30)
    assert others.exists() and stray.exists() and not ours.exists()
    assert set(done.by_namespace) == {"finished"}
    assert {"finished", "site", "plan", "files", "diagrams", "pdf", "validate",
            "runbook.outputs.pages", "runbook.outputs.pages.global"} <= p.namespaces()


def test_emptied_folders_go_too(tmp_path: Path) -> None:
    entry(tmp_path, "finished", "aa01", days=31)
    kept = entry(tmp_path, "finished", "bb01")
    scratch = tmp_path / "diagrams" / ".dot-x" / "sub"  # left by a killed build
    scratch.mkdir(parents=True)
    (scratch / "a.gv").write_text("x")
    age(scratch / "a.gv", 31)
    p.prune(tmp_path, 30)
    assert not (tmp_path / "finished" / "aa").exists() and kept.exists()
    assert not (tmp_path / "diagrams" / ".dot-x").exists() and (tmp_path / "diagrams").exists()


def test_a_file_that_cannot_be_removed_is_counted_and_the_prune_goes_on(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
        ) -> None:
    stuck = entry(tmp_path, "finished", "aa01", days=31)
    other = entry(tmp_path, "finished", "aa02", days=31)
    unlink = Path.unlink

    def refuse(path: Path, missing_ok: bool = False) -> None:
        if path == stuck:
            raise PermissionError(13, "Permission denied", str(path))
        unlink(path, missing_ok)

    monkeypatch.setattr(Path, "unlink", refuse)
    (tmp_path / p.STAMP).touch()
    age(tmp_path / p.STAMP, 2)
    done = p.prune_if_due(tmp_path, 30)  # after a build: a warning, never an error
    assert done is not None and (done.failed, done.removed) == (1, 1)
    assert stuck.exists() and not other.exists()
    assert "could not remove 1 file(s)" in caplog.text
    assert (tmp_path / p.STAMP).stat().st_mtime > NOW - 60  # not retried on every build


def test_without_locks_builds_go_on_and_the_cache_is_not_pruned(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import errno
    import fcntl

    def no_locks(fd: int, operation: int) -> None:
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(fcntl, "flock", no_locks)
    old = entry(tmp_path, "finished", "aa01", days=31)
    with p.using(tmp_path):
        pass
    with pytest.raises(p.CacheBusy, match="cannot be locked here"):
        p.prune(tmp_path, 30)
    assert p.prune(tmp_path, 30, dry_run=True).removed == 1 and old.exists()


def test_what_a_build_reads_besides_entries_is_marked_used_too(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from runbook.outputs import pdf
    from runbook.outputs.diagrams import render_svgs
    from runbook.plan.sites import plan_file
    from runbook.topology.verdicts import Store, Verdict

    store = Store(tmp_path)
    store.put("ab" * 32, Verdict("site.yaml", [], 0, 0, "contoso-hq"))
    verdict = age(next((tmp_path / "validate").glob("*/*")), 40)
    assert store.get("ab" * 32, "site.yaml") is not None
    monkeypatch.setattr(pdf, "typst_pdf",
                        lambda template, data, root, inputs: b"%PDF-1.7 placeholder")
    template = ROOT / "templates" / "documents" / "change-request.typ"
    pdf.cached_pdf(template, {"x": 1}, tmp_path)
    laid_out = age(next((tmp_path / "pdf").glob("*.pdf")), 40)
    assert pdf.cached_pdf(template, {"x": 1}, tmp_path) == b"%PDF-1.7 placeholder"
    plan = plan_file(ROOT / "inputs" / "contoso.yaml").to_dict()
    render_svgs([plan], tmp_path / "diagrams")
    svgs = [age(path, 40) for path in (tmp_path / "diagrams").glob("*.svg")]
    render_svgs([plan], tmp_path / "diagrams")
    for path in (verdict, laid_out, *svgs):
        assert path.stat().st_mtime > NOW - 60, path


def test_the_age_must_not_be_negative(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="0 or more"):
        p.prune(tmp_path, -1)


# --- with real builds -------------------------------------------------------------------------

SITES = ("contoso.yaml", "adatum-im.yaml")
CONFIG = ROOT / "mkdocs.yml"


def project(folder: Path, max_age: int | None = None) -> Path:
    """A project in ``folder``: this one's mkdocs.yml (with ``cache_max_age_days:
    max_age``, if given) and links to its docs, overrides and templates; its mkdocs.yml."""
    for name in ("docs", "overrides", "templates"):
        if not (folder / name).exists():
            (folder / name).symlink_to(ROOT / name)
    text = CONFIG.read_text(encoding="utf-8")
    if max_age is not None:
        text = text.replace("cache_dir: .cache/runbook",
                            f"cache_dir: .cache/runbook\n      cache_max_age_days: {max_age}")
        assert f"cache_max_age_days: {max_age}" in text
    config = folder / "mkdocs.yml"
    config.write_text(text, encoding="utf-8")
    return config


def tree(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder``, except the build date in sitemap.xml.gz's header."""
    files = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            data = path.read_bytes()
            if path.name == "sitemap.xml.gz":
                data = data[:4] + bytes(4) + data[8:]
            files[path.relative_to(folder).as_posix()] = data
    return files


def cache_files(cache: Path) -> set[str]:
    return {path.relative_to(cache).as_posix() for path in cache.rglob("*")
            if path.is_file() and path.parent != cache}


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """(inputs, site, cache) of a cold build of two sites."""
    from runbook.site.build import build_site

    root = tmp_path_factory.mktemp("pruned")
    inputs = root / "inputs"
    inputs.mkdir()
    for name in SITES:
        shutil.copy(ROOT / "inputs" / name, inputs / name)
    site = build_site([inputs], root / "site", config_file=CONFIG, jobs=2,
                      cache_dir=root / "cache")
    return inputs, site, root / "cache"


def test_pruning_keeps_everything_a_warm_build_reads(built: tuple[Path, Path, Path],
                                                     tmp_path: Path) -> None:
    from runbook.site.build import build_site

    inputs, site, cold_cache = built
    cache = tmp_path / "cache"
    shutil.copytree(cold_cache, cache)
    for path in cache.rglob("*"):
        if path.is_file():
            age(path, 40)
    (cache / p.STAMP).touch()  # pruned today: the build below does not prune by itself
    # A month and more later, a warm build: it marks what it reads as used.
    build_site([inputs], tmp_path / "warm", config_file=CONFIG, cache_dir=cache)
    done = p.prune(cache, 30)
    # Gone: what only a cold build reads (layouts, PDFs by HTML).
    assert {"diagrams", "pdf"} <= set(done.by_namespace)
    kept = {"finished", "site", "plan", "files", "runbook.outputs.pages"}
    assert not kept & set(done.by_namespace)
    left = cache_files(cache)
    again = build_site([inputs], tmp_path / "again", config_file=CONFIG, cache_dir=cache)
    assert tree(again) == tree(site)
    # Still warm: no entry had to be made again (the new output's site-files record and
    # lock aside).
    assert {f for f in cache_files(cache) - left
            if not f.startswith(("site-files/", "spare/"))} == set()


def test_an_emptied_cache_builds_the_same_site(built: tuple[Path, Path, Path],
                                               tmp_path: Path) -> None:
    from runbook.site.build import build_site

    inputs, site, cold_cache = built
    cache = tmp_path / "cache"
    shutil.copytree(cold_cache, cache)
    done = p.prune(cache, 0)
    assert done.kept == 0 and cache_files(cache) == set()
    shutil.copytree(cold_cache / "pdf", cache / "pdf",  # PDF layout is not what is tested
                    dirs_exist_ok=True)
    rebuilt = build_site([inputs], tmp_path / "rebuilt", config_file=CONFIG, cache_dir=cache)
    assert tree(rebuilt) == tree(site)


def test_runbook_build_prunes_once_a_day_as_the_plugin_says(built: tuple[Path, Path, Path],
                                                            tmp_path: Path) -> None:
    from runbook.site.build import build_site

    inputs, _, cold_cache = built
    cache = tmp_path / "cache"
    shutil.copytree(cold_cache, cache)
    stale = entry(cache, "finished", "ff" + "0" * 62, days=31)
    age(cache / p.STAMP, 2)
    config = project(tmp_path, max_age=0)
    build_site([inputs], tmp_path / "off", config_file=config, cache_dir=cache)
    assert stale.exists()  # turned off
    build_site([inputs], tmp_path / "on", config_file=CONFIG, cache_dir=cache)
    assert not stale.exists()  # 30 days by default, and the stamp was two days old
    assert (cache / p.STAMP).stat().st_mtime > NOW - 60


def test_builds_hold_the_cache_while_they_use_it(built: tuple[Path, Path, Path],
                                                tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    from mkdocs.commands import build as mkdocs_build
    from mkdocs.commands.build import build
    from mkdocs.config import load_config

    from runbook.site import generate as site
    from runbook.site.build import build_site, plugin_of

    inputs, _, cold_cache = built
    cache = tmp_path / "cache"
    shutil.copytree(cold_cache, cache)
    refused: list[str] = []

    def trying(real: object) -> object:
        def run(*args: object, **kwargs: object) -> object:
            try:
                p.prune(cache, 30)
            except p.CacheBusy as exc:
                refused.append(str(exc))
            return real(*args, **kwargs)  # type: ignore[operator]
        return run

    monkeypatch.setattr(mkdocs_build, "build", trying(build))
    build_site([inputs], tmp_path / "site", config_file=CONFIG, cache_dir=cache)
    assert len(refused) == 1  # runbook build, in its MkDocs build
    # plain mkdocs build: while the plugin generates, and it prunes after the build
    monkeypatch.setattr(site, "generate", trying(site.generate))
    stale = entry(cache, "finished", "ff" + "0" * 62, days=31)
    age(cache / p.STAMP, 2)
    config = load_config(config_file=str(CONFIG), site_dir=str(tmp_path / "mkdocs"))
    plugin = plugin_of(config)
    plugin.config.inputs = [str(inputs)]
    plugin.config.cache_dir = str(cache)
    config.plugins.on_startup(command="build", dirty=False)
    try:
        build(config)
    finally:
        config.plugins.on_shutdown()
    assert len(refused) == 2
    assert not stale.exists()


def test_a_negative_age_in_mkdocs_yml_is_refused(tmp_path: Path,
                                                caplog: pytest.LogCaptureFixture) -> None:
    from runbook.errors import RunbookError
    from runbook.site.build import build_site

    config = project(tmp_path, max_age=-1)
    with pytest.raises(RunbookError, match="configuration error"):
        build_site([ROOT / "inputs" / "contoso.yaml"], tmp_path / "site", config_file=config)
    assert "option 'cache_max_age_days': expected 0 (keep everything) or a number of days, " \
           "not -1" in caplog.text


def test_the_command_prunes_and_refuses_while_a_build_runs(tmp_path: Path) -> None:
    cache = tmp_path / ".cache" / "runbook"
    old = entry(cache, "finished", "aa01", days=31)
    project(tmp_path)
    runbook = [sys.executable, "-c", "from runbook.cli import main; main()", "cache", "prune"]

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*runbook, *args], cwd=tmp_path, capture_output=True, text=True,
                              timeout=120, check=False)

    dry = run("--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout.splitlines() == [
        "  finished: 1 file(s), 0.0 MB",
        f"{cache.resolve()}: would remove 1 file(s), 0.0 MB, unused for 30 day(s); "
        "kept 0 file(s), 0.0 MB"]
    assert old.exists()
    with p.using(cache):
        busy = run()
    assert busy.returncode == 1 and old.exists()
    assert busy.stderr.strip() == (f"{cache.resolve()}: a build is using this cache; "
                                   "prune it once the build has finished")
    assert "removed 0 file(s)" in run("--older-than", "40").stdout and old.exists()
    assert "removed 1 file(s)" in run().stdout and not old.exists()
    # cache_max_age_days: 0 turns pruning off, for the command too unless told a number
    again = entry(cache, "finished", "aa01", days=31)
    project(tmp_path, max_age=0)
    off = run()
    assert off.returncode == 0 and "pruning is turned off" in off.stdout and again.exists()
    assert "removed 1 file(s)" in run("--older-than", "30").stdout and not again.exists()
