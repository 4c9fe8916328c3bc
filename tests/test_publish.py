"""The output folder: runbook build never replaces files it did not write."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from runbook.cli import main
from runbook.site.publish import MARKER, remove_stale_staging, staging_folder

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
