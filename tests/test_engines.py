"""The engine-neutral tree (`runbook generate`, `runbook build --engine`): made as `runbook
build` makes a site's files, through the same cache."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from runbook.site.engines import build_cache_dir, generate_tree
from tests.conftest import shared_cache

ROOT = Path(__file__).resolve().parent.parent


def test_generate_uses_the_cache_runbook_build_uses(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "inputs").mkdir()
    shutil.copy(ROOT / "inputs" / "litware-noav.yaml", tmp_path / "inputs")
    monkeypatch.chdir(tmp_path)
    assert build_cache_dir() == shared_cache().resolve()  # RUNBOOK_CACHE_DIR wins
    tree = generate_tree([Path("inputs")], tmp_path / "tree")
    assert (tree / "docs" / "sites" / "litware-noav" / "index.md").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["inputs", "tree"]  # no .cache here


def test_without_runbook_cache_dir_the_cache_is_the_plugins(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("RUNBOOK_CACHE_DIR")
    assert build_cache_dir() == tmp_path / ".cache" / "runbook"  # the default configuration's
    (tmp_path / "docs").mkdir()
    (tmp_path / "mkdocs.yml").write_text(
        "site_name: t\ntheme:\n  name: material\nplugins:\n  - runbook:\n"
        "      cache_dir: elsewhere/cache\n", encoding="utf-8")
    assert build_cache_dir() == tmp_path / "elsewhere" / "cache"
    (tmp_path / "mkdocs.yml").write_text("site_name: t\n", encoding="utf-8")  # no plugin
    assert build_cache_dir() == tmp_path / ".cache" / "runbook"
