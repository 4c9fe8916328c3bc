"""Faults: a damaged cache, a killed build, two builds at once, a full cache disk.

All on real builds of one small project (two topologies, the example site's configuration),
built cold once per module (:func:`project`); every case starts from a copy of that cold build's
cache and site, so the site a case ends with must equal the cold build's, byte for byte.

- Every kind of file under ``.cache/runbook/`` (site heads, plans, producer entries, the
  site-wide page entry, pages, site-files, spilled copies, PDFs, diagram layouts, verdicts),
  truncated, emptied, filled with garbage or with one byte flipped (its modification time
  kept, as a sync tool or a disk error would leave it): the next build is the cold build and
  says, in one line, how many damaged files it made again (runbook.engine.store).
- ``runbook build`` killed with SIGKILL (with its workers: the whole process group) during
  validation, the producers, the MkDocs build and just before the swap: the previous site is
  intact (killed within the swap: the new one is there, whole), and the next build is correct
  and leaves no staging folder behind.
- Two ``runbook build`` of one project at once: a correct site.
- A full cache disk (a real tmpfs filled up, where this user may mount one): the build goes
  on, and says so in one line.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import random
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from runbook.engine.store import load_value, unseal
from runbook.site.build import build_site
from tests.conftest import ROOT
from tests.test_incremental import differing, snapshot

SITES = ("contoso.yaml", "fabrikam-lb.yaml")
# The four ways of the issue, then two more: a named pipe in an entry's place (a read would
# block) and an intact entry of another name copied over it.
WAYS = ("truncated", "emptied", "garbage", "flipped", "fifo", "swapped")
NOTICE = "damaged cache file(s) ignored and made again"


@dataclass
class Project:
    """A project folder and what its cold build left: the site and the cache, kept aside."""

    root: Path
    cold_site: Path  # a copy of the cold build's site
    cold_cache: Path  # a copy of its cache
    site: dict[str, bytes]  # snapshot of the cold build's site

    @property
    def cache(self) -> Path:
        return self.root / ".cache" / "runbook"

    @property
    def output(self) -> Path:
        return self.root / "site"

    def reset(self) -> None:
        """The project as its cold build left it: its cache and site put back."""
        for folder, copy in ((self.root / ".cache", self.cold_cache),
                             (self.output, self.cold_site)):
            shutil.rmtree(folder, ignore_errors=True)
            shutil.copytree(copy, folder, symlinks=True)
        for stale in self.root.glob(".site.*"):
            shutil.rmtree(stale)

    def build(self) -> Path:
        """``runbook build -j 2`` in this process, as the CLI calls it (in the project's
        folder: the provenance lines name the files relative to it)."""
        with contextlib.chdir(self.root):
            return build_site([Path("inputs")], Path("site"), config_file=Path("mkdocs.yml"),
                              jobs=2)

    def staging(self) -> list[str]:
        return sorted(p.name for p in self.root.glob(".site.*"))


def make_project(root: Path) -> Path:
    """A project folder: the example configuration, docs and overrides, two topologies."""
    root.mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "mkdocs.yml", root / "mkdocs.yml")
    for folder in ("docs", "overrides"):
        shutil.copytree(ROOT / folder, root / folder)
    (root / "inputs").mkdir()
    for name in SITES:
        shutil.copy(ROOT / "inputs" / name, root / "inputs" / name)
    return root


@pytest.fixture(scope="module", autouse=True)
def _project_cache() -> Iterator[None]:
    """These tests damage a project's own cache: no run-wide RUNBOOK_CACHE_DIR."""
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("RUNBOOK_CACHE_DIR", raising=False)
        yield


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Project:
    root = make_project(tmp_path_factory.mktemp("faults") / "project")
    Project(root, root, root, {}).build()
    # What `runbook validate` keeps (verdicts) is in the same cache: make some.
    validate = runbook(root, "validate", "-q")
    assert validate.returncode == 0, validate.stderr
    keep = root.parent / "kept"
    shutil.copytree(root / "site", keep / "site", symlinks=True)
    shutil.copytree(root / ".cache", keep / "cache", symlinks=True)
    return Project(root, keep / "site", keep / "cache", snapshot(root / "site"))


# --- a damaged cache ----------------------------------------------------------------------------


def damage(path: Path, way: str) -> None:
    """Damage ``path`` in one of :data:`WAYS`, keeping its modification time."""
    data = path.read_bytes()
    assert data, f"{path} was empty already"
    before = path.stat()
    if way == "fifo":
        path.unlink()
        os.mkfifo(path)
        return
    if way == "swapped":
        cache = next(p for p in path.parents if p.name == "runbook")
        other = next(p for p in files_of(cache) if p != path and p.read_bytes() != data)
        shutil.copyfile(other, path)
        os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
        return
    if way == "truncated":
        data = data[: len(data) // 2]
    elif way == "emptied":
        data = b""
    elif way == "garbage":
        data = random.Random(way).randbytes(len(data))
    else:
        flipped = bytearray(data)
        flipped[len(flipped) // 2] ^= 0x20
        data = bytes(flipped)
    path.write_bytes(data)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))


def files_of(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith("."))


# Each kind of cache file. A warm build reads the first group; the second only when a producer
# runs (the plans, diagram layouts and PDFs producers are made from), so a case with those
# removes that producer's entries first.
EVERY_BUILD = ("site", "runbook.outputs.pages", "runbook.outputs.pages.global",
               "runbook.outputs.diagrams", "runbook.outputs.exports",
               "runbook.outputs.documents", "files", "finished")
PRODUCING = {"plan": "runbook.outputs.exports", "diagrams": "runbook.outputs.diagrams",
             "pdf": "runbook.outputs.documents"}
GROUPS = {"read by every build": EVERY_BUILD, "read by producers": tuple(PRODUCING)}


def victim(project: Project, kind: str) -> Path:
    """The file of ``kind`` a case damages; of the spilled copies, one that is no Markdown
    page (a warm build publishes the finished pages, so it reads none of those)."""
    found = files_of(project.cache / kind)
    if kind == "files":
        copied = set()
        for producer in project.cache.glob("runbook.outputs.*"):
            for entry in files_of(producer):
                files = load_value(unseal(entry.read_bytes(), entry.name))
                copied |= {name for path, name in files.items()
                           if isinstance(name, str) and not path.endswith(".md")}
        found = [p for p in found if p.name in copied]
    return found[0]


def test_the_cold_build_left_every_kind_of_cache_file(project: Project) -> None:
    kinds = {p.name for p in project.cold_cache.joinpath("runbook").iterdir() if p.is_dir()}
    # "spare": the output's lock (runbook.site.publish.output_lock); a cold build replaces
    # no site, so it keeps no spare.
    assert kinds == {*EVERY_BUILD, *PRODUCING, "validate", "jinja", "site-files", "spare"}
    spares = project.cold_cache / "runbook" / "spare"
    assert [p.suffix for p in spares.iterdir()] == [".lock"]


def test_damaged_compiled_templates_are_compiled_again_and_the_build_is_the_cold_one(
        project: Project, caplog: pytest.LogCaptureFixture) -> None:
    project.reset()
    kept = files_of(project.cache / "jinja")
    assert len(kept) > 10  # the theme's templates, kept by the cold build
    for i, path in enumerate(kept):
        damage(path, WAYS[i % len(WAYS)])
    with caplog.at_level(logging.WARNING, logger="runbook"):
        project.build()
    assert differing(project.site, snapshot(project.output)) == []
    notices = [r.getMessage() for r in caplog.records if r.name == "runbook"]
    assert len(notices) == 1 and NOTICE in notices[0] and "jinja" in notices[0], notices


@pytest.mark.parametrize("way", WAYS)
@pytest.mark.parametrize("group", sorted(GROUPS))
def test_damaged_cache_files_of_every_kind_are_made_again_and_the_build_is_the_cold_one(
        project: Project, group: str, way: str, caplog: pytest.LogCaptureFixture) -> None:
    project.reset()
    kinds = GROUPS[group]
    for path in [victim(project, kind) for kind in kinds]:  # chosen before any is damaged
        damage(path, way)
    for kind in set(kinds) & set(PRODUCING):
        shutil.rmtree(project.cache / PRODUCING[kind])
    with caplog.at_level(logging.WARNING, logger="runbook"):
        project.build()
    assert differing(project.site, snapshot(project.output)) == []
    notices = [r.getMessage() for r in caplog.records if r.name == "runbook"]
    counts = ", ".join(f"{kind} 1" for kind in sorted(kinds))
    assert notices == [f"runbook: {len(kinds)} {NOTICE} ({counts})"]
    if way == WAYS[0]:  # made again: the next build finds nothing damaged
        caplog.clear()
        project.build()
        assert [r for r in caplog.records if r.name == "runbook"] == []
        assert differing(project.site, snapshot(project.output)) == []


def test_every_spilled_copy_damaged_at_once_is_one_notice_and_one_more_build(
        project: Project, capfd: pytest.CaptureFixture[str]) -> None:
    project.reset()
    copies = files_of(project.cache / "files")
    for i, path in enumerate(copies):  # the four ways, in turn
        damage(path, WAYS[i % 4])
    done = runbook(project.root, "build", "-q")
    assert (done.returncode, done.stdout) == (0, ""), done.stderr
    assert done.stderr == f"runbook: {len(copies)} {NOTICE} (files {len(copies)})\n"
    assert differing(project.site, snapshot(project.output)) == []


@pytest.mark.parametrize("way", WAYS)
def test_a_damaged_verdict_is_validated_again(project: Project, way: str) -> None:
    project.reset()
    verdicts = files_of(project.cache / "validate")
    assert len(verdicts) == len(SITES)
    clean = runbook(project.root, "validate")
    damage(verdicts[0], way)
    again = runbook(project.root, "validate")
    assert (again.returncode, again.stdout) == (clean.returncode, clean.stdout)
    assert again.stderr == clean.stderr + f"runbook: 1 {NOTICE} (validate 1)\n"
    assert runbook(project.root, "validate").stderr == clean.stderr  # stored again


# --- killed builds ------------------------------------------------------------------------------

# Runs `runbook ARGS` with one function replaced by a SIGKILL of the build's process group
# (the build and its workers), as the out-of-memory killer or `kill -9 -PGID` would end it:
# "module:function" kills instead of calling it, "module:function:after" once it returned.
KILLER = """
import importlib, os, signal, sys
module, name, *when = sys.argv.pop(1).split(":")
real = getattr(importlib.import_module(module), name)
def kill(*args, **kwargs):
    if when:
        real(*args, **kwargs)
    os.killpg(os.getpgid(0), signal.SIGKILL)
setattr(importlib.import_module(module), name, kill)
sys.argv[0] = "runbook"
from runbook.cli import main
main()
"""


def runbook(cwd: Path, *args: str, kill_at: str | None = None
            ) -> subprocess.CompletedProcess[str]:
    """``runbook ARGS`` in a process group of its own, killed at ``kill_at`` if given."""
    return subprocess.run(command(*args, kill_at=kill_at), cwd=cwd, capture_output=True,
                          text=True, timeout=300, check=False, start_new_session=True)


def command(*args: str, kill_at: str | None = None) -> list[str]:
    """The command line of ``runbook ARGS`` (see :func:`runbook`)."""
    if kill_at:
        return [sys.executable, "-c", KILLER, kill_at, *args]
    return [sys.executable, "-c", "import sys; sys.argv[0] = 'runbook'\n"
            "from runbook.cli import main\nmain()", *args]


# moment -> (what to call instead, the cache folders to remove so that it runs)
MOMENTS = {
    "validation": ("runbook.topology.validate:load_topology", ("site",)),
    # The PDFs are laid out in detached workers, which see nothing patched here: killed as
    # the build hands them their work, and as the first worker's result comes back while
    # the others still run.
    "producers": ("runbook.site.generate:map_detached",
                  ("runbook.outputs.exports", "runbook.outputs.documents")),
    "PDF workers": ("runbook.engine.parallel:_collect", ("runbook.outputs.documents",)),
    # MkDocs has read the files (the plugin's on_files makes the site navigation).
    "mkdocs build": ("runbook.site.nav:site_navigation", ()),
    "before the swap": ("runbook.site.build:swap", ()),
    # The new site and the previous one trade names in one step: then the new one is there.
    "during the swap": ("runbook.site.publish:_exchange:after", ()),
}


@pytest.mark.parametrize("moment", sorted(MOMENTS))
def test_a_killed_build_leaves_the_previous_site_and_the_next_build_is_correct(
        project: Project, moment: str) -> None:
    project.reset()
    target, remove = MOMENTS[moment]
    for folder in remove:
        shutil.rmtree(project.cache / folder)
    # The killed build builds another site: a new title on every page.
    config = project.root / "mkdocs.yml"
    edited = project.root / "edited.yml"
    edited.write_text(config.read_text(encoding="utf-8").replace(
        "site_name: Edge deployment runbooks", "site_name: Another title"), encoding="utf-8")
    killed = runbook(project.root, "build", "-q", "-j", "2", "-f", "edited.yml",
                     kill_at=target)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    left = snapshot(project.output)
    if moment == "during the swap":  # the other site, whole: every file, every page retitled
        assert set(left) == set(project.site)
        assert all(b"Another title" in data for path, data in left.items()
                   if path.endswith(".html"))
    else:
        assert differing(project.site, left) == []
    done = runbook(project.root, "build", "-q", "-j", "2")
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")
    assert differing(project.site, snapshot(project.output)) == []
    assert project.staging() == []


def test_two_builds_of_one_project_at_once_end_with_a_correct_site(project: Project) -> None:
    project.reset()
    for folder in ("runbook.outputs.pages", "runbook.outputs.exports"):
        shutil.rmtree(project.cache / folder)  # so that both write entries meanwhile
    both = [subprocess.Popen(command("build", "-q", "-j", "1"), cwd=project.root,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for _ in range(2)]
    results = [(*p.communicate(timeout=300), p.returncode) for p in both]
    for out, err, status in results:
        assert (status, out) == (0, ""), err
        assert err == ""
    assert differing(project.site, snapshot(project.output)) == []
    assert project.staging() == []


# --- a full cache disk --------------------------------------------------------------------------


@pytest.fixture
def full_disk(tmp_path: Path) -> Iterator[Path]:
    """A real file system (tmpfs, where this user may mount one), filled up."""
    folder = tmp_path / "disk"
    folder.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(folder)],
                             capture_output=True, check=False)
    if mounted.returncode != 0:
        pytest.skip("no file system can be mounted here to fill up (needs root)")
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=True)


def fill(folder: Path) -> None:
    """Write into ``folder`` until its disk is full."""
    with open(folder / "filler", "wb", buffering=0) as stream:
        try:
            while True:
                stream.write(bytes(4096))
        except OSError as exc:
            assert exc.errno == errno.ENOSPC


def test_a_full_cache_disk_does_not_fail_the_build(project: Project, full_disk: Path) -> None:
    project.reset()
    # The PDFs are there (laying them out is not what this tests); nothing else fits.
    shutil.copytree(project.cold_cache / "runbook" / "pdf", full_disk / "runbook" / "pdf")
    fill(full_disk)
    shutil.rmtree(project.root / ".cache")
    (project.root / ".cache").symlink_to(full_disk)
    try:
        for _ in range(2):  # the disk is still full: the next build is as correct
            done = runbook(project.root, "build", "-q", "-j", "2")
            assert (done.returncode, done.stdout) == (0, "")
            assert done.stderr.startswith("runbook: ") and done.stderr.endswith(
                " cache file(s) not stored (the disk is full); the build went on without "
                "them\n")
            assert done.stderr.count("\n") == 1
            assert differing(project.site, snapshot(project.output)) == []
    finally:
        (project.root / ".cache").unlink()
