"""The output folder: runbook build never replaces files it did not write."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from runbook.cli import main
from runbook.site.publish import MARKER, remove_stale_staging, staging_folder

from .conftest import shared_cache
from .test_faults import damage
from .test_incremental import differing
from .test_site import snapshot, topology

ROOT = Path(__file__).resolve().parent.parent


def project(tmp_path: Path) -> Path:
    """A project folder as a user has it: mkdocs.yml, docs, overrides, templates, one
    topology, a git repository with one commit."""
    root = tmp_path / "project"
    root.mkdir()
    shutil.copy(ROOT / "mkdocs.yml", root / "mkdocs.yml")
    for name in ("docs", "overrides", "templates"):
        shutil.copytree(ROOT / name, root / name)
    topology(root / "inputs", "guarded-site")
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.org",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.org"}
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    subprocess.run(["git", "add", "-A"], cwd=root, check=True)
    subprocess.run(["git", "commit", "-qm", "start"], cwd=root, check=True, env=env)
    return root


def tree(folder: Path) -> dict[str, bytes]:
    """Every file below ``folder`` (the .git folder included) by relative path."""
    return {str(p.relative_to(folder)): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file() and ".cache" not in p.parts}


def build(root: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["build", "-q", *args])
    return result.exit_code, result.output


@pytest.mark.parametrize(("output", "says"), [
    (".", "is the configuration's folder"),
    ("..", "contains the configuration's folder"),
    ("docs", "is the docs folder"),
    ("inputs", "is the inputs"),
    ("templates", "is the templates folder"),
    ("inputs/site", "lies in the inputs"),
    ("overrides", "is the theme overrides"),
])
def test_an_output_over_the_project_is_refused_and_nothing_is_deleted(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, output: str, says: str) -> None:
    root = project(tmp_path)
    (root / "inputs" / "draft.yaml").write_text("# uncommitted work\n", encoding="utf-8")
    monkeypatch.chdir(root)
    before = tree(tmp_path)

    status, out = build(root, "-o", output)

    assert status == 1, out
    assert says in out
    assert len(out.strip().splitlines()) == 1, out
    assert "Traceback" not in out
    assert tree(tmp_path) == before


def test_a_folder_runbook_did_not_write_is_refused(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    root = project(tmp_path)
    mine = tmp_path / "photos"
    mine.mkdir()
    (mine / "holiday.jpg").write_bytes(b"\xff\xd8 not a site")
    monkeypatch.chdir(root)

    status, out = build(root, "-o", str(mine))

    assert status == 1
    assert f"no {MARKER} in it" in out
    assert (mine / "holiday.jpg").read_bytes() == b"\xff\xd8 not a site"


def test_a_site_runbook_built_is_replaced_and_marked(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    root = project(tmp_path)
    monkeypatch.chdir(root)
    assert build(root, "-o", "site") == (0, "")
    assert (root / "site" / MARKER).is_file()
    (root / "site" / "stale.html").write_text("old\n", encoding="utf-8")

    assert build(root, "-o", "site") == (0, "")
    assert not (root / "site" / "stale.html").exists()
    assert (root / "site" / "sites" / "guarded-site" / "runbook.html").is_file()


def test_mkdocs_build_marks_its_site_too(built_site: Path) -> None:
    assert (built_site / MARKER).is_file()


def test_an_empty_inputs_folder_does_not_replace_the_site(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    root = project(tmp_path)
    monkeypatch.chdir(root)
    assert build(root)[0] == 0
    before = snapshot(root / "site")
    (root / "inputs" / "guarded-site.yaml").unlink()

    status, out = build(root)
    assert status == 1
    assert "no topology files" in out and "--allow-empty" in out
    assert snapshot(root / "site") == before

    assert build(root, "--allow-empty")[0] == 0
    assert not (root / "site" / "sites" / "guarded-site").exists()
    assert (root / "site" / "index.html").is_file()


def test_a_read_only_output_folder_is_one_line(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    root = project(tmp_path)
    monkeypatch.chdir(root)
    parent = tmp_path / "ro"
    parent.mkdir()
    if os.geteuid() == 0:  # root writes into read-only folders: make the refusal happen
        import errno

        def refused(**kwargs: object) -> str:
            raise PermissionError(errno.EACCES, "Permission denied", str(parent))

        monkeypatch.setattr("runbook.site.publish.tempfile.mkdtemp", refused)
    parent.chmod(0o555)
    try:
        status, out = build(root, "-o", str(parent / "site"))
    finally:
        parent.chmod(0o755)
    assert status == 1
    assert "permission denied" in out and len(out.strip().splitlines()) == 1


def test_an_output_that_is_a_file_is_one_line(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    root = project(tmp_path)
    monkeypatch.chdir(root)
    (root / "site.html").write_text("a file\n", encoding="utf-8")

    status, out = build(root, "-o", "site.html")

    assert status == 1
    assert "is not a folder" in out and len(out.strip().splitlines()) == 1
    assert (root / "site.html").read_text(encoding="utf-8") == "a file\n"


def test_a_full_disk_is_one_line_and_the_previous_site_stays(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = project(tmp_path)
    monkeypatch.chdir(root)
    assert build(root)[0] == 0
    before = snapshot(root / "site")
    import errno

    def full(staging: Path) -> None:
        raise OSError(errno.ENOSPC, "No space left on device", str(staging / MARKER))

    monkeypatch.setattr("runbook.site.build.mark", full)
    status, out = build(root)

    assert status == 1
    assert "the disk is full" in out and len(out.strip().splitlines()) == 1
    assert snapshot(root / "site") == before
    assert not [p for p in root.iterdir() if p.name.startswith(".site.")]


def test_stale_staging_folders_go_and_live_ones_stay(tmp_path: Path) -> None:
    output = tmp_path / "site"
    stale = tmp_path / ".site.new-killed"
    stale.mkdir()
    (stale / "index.html").write_text("half\n", encoding="utf-8")
    other = tmp_path / ".other.new-x"
    other.mkdir()
    with staging_folder(output) as live:
        assert not stale.exists()
        assert remove_stale_staging(output) == []  # a running build's folder is kept
        assert live.is_dir()
    assert not live.exists()
    assert other.is_dir()


def test_a_staging_folder_being_made_is_left_to_its_build_and_a_killed_ones_goes(
        tmp_path: Path) -> None:
    # Two builds at once: one removed the other's new staging folder between its making and
    # its lock ("the site was not built: No such file or directory (.site.new-...)"). A
    # folder is locked before it has a staging name; under its making name it is left alone
    # unless it is older than any making takes (a build killed at that instant).
    import os

    output = tmp_path / "site"
    making = tmp_path / ".site.init-x"
    making.mkdir()
    assert remove_stale_staging(output) == []
    assert making.is_dir()
    os.utime(making, (1, 1))
    assert remove_stale_staging(output) == [making]
    with staging_folder(output) as live:
        assert live.name.startswith(".site.new-")
        assert sorted(p.name for p in tmp_path.iterdir()) == [live.name]  # nothing else
    assert list(tmp_path.iterdir()) == []


# -- the spare: the replaced site's sites/, which the next build starts from --------------

CONFIG = ROOT / "mkdocs.yml"


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two examples' topologies; tests copy them before they edit them."""
    folder = tmp_path_factory.mktemp("pair") / "inputs"
    folder.mkdir()
    for name in ("adatum-im.yaml", "litware-noav.yaml"):
        shutil.copy(ROOT / "inputs" / name, folder / name)
    return folder


def _first_build(pair: Path, tmp_path: Path) -> tuple[Path, Path, Path]:
    """(inputs, site, cache): a copy of the topologies, which a test may edit, and a first
    build of them (it replaces no site), with the run's shared cache: the spare and its
    records are named by the output folder, the test's own."""
    shutil.copytree(pair, tmp_path / "inputs")
    cache = shared_cache()
    _rebuild(tmp_path / "inputs", tmp_path / "site", cache)
    return tmp_path / "inputs", tmp_path / "site", cache


def _rebuild(inputs: Path, site: Path, cache: Path) -> None:
    from runbook.site.build import build_site

    build_site([inputs], site, config_file=CONFIG, cache_dir=cache)


def _edit_public_ca(inputs: Path, ca: str) -> None:
    """Change Adatum's public CA to ``ca``, as an operator would."""
    path = inputs / "adatum-im.yaml"
    text, count = re.subn(r"(?m)^  public_ca: .*$", f"  public_ca: {ca}",
                          path.read_text(encoding="utf-8"))
    assert count == 1
    path.write_text(text, encoding="utf-8")


def _fresh(inputs: Path, cache: Path, tmp_path: Path) -> dict[str, bytes]:
    """The site of the same inputs built into a new folder (no previous site, no spare)."""
    out = tmp_path / "fresh"
    _rebuild(inputs, out, cache)
    return snapshot(out)


def test_the_replaced_sites_folder_is_the_spare_the_next_build_starts_from(
        pair: Path, tmp_path: Path) -> None:
    from runbook.site.publish import spare_folder

    inputs, site, cache = _first_build(pair, tmp_path)
    spare = spare_folder(cache, site)
    first = os.stat(site / "sites").st_ino
    assert not spare.exists()  # a cold build replaces no site
    _rebuild(inputs, site, cache)
    # The first build's sites/ folder is now the spare, its files linked from the site.
    assert os.stat(spare).st_ino == first
    assert os.path.samefile(spare / "adatum-im" / "index.html",
                            site / "sites" / "adatum-im" / "index.html")
    unchanged = site / "sites" / "litware-noav" / "index.html"
    status = os.stat(unchanged)
    _edit_public_ca(inputs, "DigiCert")
    _rebuild(inputs, site, cache)
    # The third build's sites/ is that folder again, brought up to date: a file the edit
    # did not change was kept as it was, not removed and linked again (its ctime says so).
    assert os.stat(site / "sites").st_ino == first
    after = os.stat(unchanged)
    assert (after.st_ino, after.st_ctime_ns) == (status.st_ino, status.st_ctime_ns)
    assert differing(_fresh(inputs, cache, tmp_path), snapshot(site)) == []
    assert b"DigiCert" in (site / "sites" / "adatum-im" / "certificates.html").read_bytes()


def _replace_keeping_times(path: Path) -> None:
    """``path`` replaced by another file of its size and times."""
    stamp = path.stat()
    path.unlink()
    path.write_bytes(b"x" * stamp.st_size)
    os.utime(path, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))


def test_a_changed_spare_gives_the_site_a_fresh_build_gives(
        pair: Path, tmp_path: Path) -> None:
    from runbook.site.publish import spare_folder

    inputs, site, cache = _first_build(pair, tmp_path)
    _rebuild(inputs, site, cache)
    spare = spare_folder(cache, site) / "adatum-im"
    untouched = spare.parent / "litware-noav"  # a site the edit below leaves alone
    # Written in place, its times set back (the live site's name sees it too): in a site
    # the edit leaves alone, only the ctime tells.
    damage(spare / "index.html", "flipped")
    damage(untouched / "dns.html", "flipped")
    # Replaced by another file of the same size and times.
    _replace_keeping_times(spare / "certificates.html")
    _replace_keeping_times(untouched / "exports" / "addressing.csv")
    (untouched / "exports").chmod(0o500)  # a folder mode no fresh build gives
    # Gone, a folder in a file's place, a link, and files and folders of no site.
    (spare / "dns.html").unlink()
    (spare / "pool.html").unlink()
    (spare / "pool.html").mkdir()
    (spare / "exports" / "addressing.csv").unlink()
    elsewhere = tmp_path / "elsewhere.csv"  # a build that wrote through the link changes it
    elsewhere.write_text("not the site's\n", encoding="utf-8")
    (spare / "exports" / "addressing.csv").symlink_to(elsewhere)
    (spare / "diagrams").rename(spare / "drawings")
    (spare / "stray.html").write_text("stray\n", encoding="utf-8")
    (spare.parent / "no-such-site" / "deep").mkdir(parents=True)
    (spare.parent / "no-such-site" / "deep" / "page.html").write_text("x\n", encoding="utf-8")
    _edit_public_ca(inputs, "Entrust")
    _rebuild(inputs, site, cache)
    assert differing(_fresh(inputs, cache, tmp_path), snapshot(site)) == []
    assert not (site / "sites" / "no-such-site").exists()
    assert (site / "sites" / "litware-noav" / "exports").stat().st_mode == (
        tmp_path / "fresh" / "sites" / "litware-noav" / "exports").stat().st_mode
    assert not (site / "sites" / "adatum-im" / "exports" / "addressing.csv").is_symlink()
    assert elsewhere.read_text(encoding="utf-8") == "not the site's\n"
    assert not (site / "sites" / "adatum-im" / "drawings").exists()


def test_a_rebuild_writes_through_no_name_of_the_site_it_replaces(
        pair: Path, tmp_path: Path) -> None:
    inputs, site, cache = _first_build(pair, tmp_path)
    _rebuild(inputs, site, cache)  # from now on a spare shares files with the site
    # Every file of the site the next build replaces, held open: a build that wrote
    # through a name it shares with that site would change what they read.
    before = snapshot(site)
    held = {rel: os.open(site / rel, os.O_RDONLY) for rel in before}
    try:
        _edit_public_ca(inputs, "DigiCert")
        _rebuild(inputs, site, cache)
        now = {rel: os.pread(fd, len(data) + 1, 0) for (rel, fd), data
               in zip(held.items(), before.values(), strict=True)}
    finally:
        for fd in held.values():
            os.close(fd)
    assert differing(before, now) == []
    assert differing(_fresh(inputs, cache, tmp_path), snapshot(site)) == []


def test_a_spare_that_is_a_link_is_not_followed(pair: Path,
                                                tmp_path: Path) -> None:
    from runbook.site.publish import spare_folder

    inputs, site, cache = _first_build(pair, tmp_path)
    _rebuild(inputs, site, cache)
    spare = spare_folder(cache, site)
    shutil.rmtree(spare)
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "adatum-im").mkdir(parents=True)
    (elsewhere / "adatum-im" / "index.html").write_text("mine\n", encoding="utf-8")
    spare.symlink_to(elsewhere, target_is_directory=True)
    _rebuild(inputs, site, cache)
    assert (elsewhere / "adatum-im" / "index.html").read_text(encoding="utf-8") == "mine\n"
    assert not (site / "sites").is_symlink()
    assert differing(_fresh(inputs, cache, tmp_path), snapshot(site)) == []
    assert spare.is_dir() and not spare.is_symlink()  # the site just replaced


def test_a_spare_that_cannot_be_brought_up_to_date_is_set_aside_and_not_published(
        pair: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    from runbook.site import plugin

    inputs, site, cache = _first_build(pair, tmp_path)
    _rebuild(inputs, site, cache)

    def stuck(*args: object) -> None:  # as a folder this user cannot change would
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(plugin, "_clear_unwanted", stuck)
    _edit_public_ca(inputs, "Entrust")
    _rebuild(inputs, site, cache)
    assert differing(_fresh(inputs, cache, tmp_path), snapshot(site)) == []
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []
