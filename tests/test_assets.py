"""The site's packaged files and settings (runbook.site.assets, runbook.site.defaults): a short
mkdocs.yml, or none, builds the repository's site; a project's own files and settings win."""

from __future__ import annotations

import logging
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from runbook.errors import RunbookError
from runbook.site import assets
from runbook.site.build import build_site
from tests.conftest import ROOT

SHORT_CONFIG = """\
site_name: Edge deployment runbooks
site_description: Site-specific OCS 2007 Consolidated Edge runbooks
theme: material
plugins: [search, offline, runbook]
"""


def _tree(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A user's folder holding inputs/contoso.yaml, as the working folder."""
    (tmp_path / "inputs").mkdir()
    shutil.copy(ROOT / "inputs" / "contoso.yaml", tmp_path / "inputs")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_the_default_configuration_is_the_repository_one_less_its_folders() -> None:
    repo = yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))
    default = yaml.safe_load(assets.DEFAULT_CONFIG)
    for key in ("docs_dir", "site_dir"):
        repo.pop(key)
    assert repo["theme"].pop("custom_dir") == "overrides"
    assert repo.pop("extra_css") == assets.EXTRA_CSS  # the plugin adds them
    assert repo["extra"].pop("polyfills") == [assets.SHIM]
    repo["plugins"][-1] = "runbook"  # the repository names its folders, the defaults' own
    assert repo == default


def test_a_short_mkdocs_yml_builds_the_repository_site(project: Path,
                                                       repository_site: Path) -> None:
    (project / "mkdocs.yml").write_text(SHORT_CONFIG, encoding="utf-8")
    (project / "docs").mkdir()
    site = build_site([Path("inputs")], project / "site")
    assert _tree(site) == _tree(repository_site)


def test_no_mkdocs_yml_builds_the_repository_site_from_the_packaged_pages(
        project: Path, repository_site: Path) -> None:
    site = build_site([Path("inputs")], project / "site")
    assert _tree(site) == _tree(repository_site)
    assert (site / "schema" / "topology.schema.json").read_bytes() == \
        assets.schema_file().read_bytes()


def test_a_project_file_and_setting_win_over_the_packaged_ones(project: Path,
                                                               repository_site: Path) -> None:
    (project / "docs").mkdir()
    (project / "docs" / "about.md").write_text("# Our own about page\n", encoding="utf-8")
    (project / "mkdocs.yml").write_text(SHORT_CONFIG + "extra:\n  generator: true\n",
                                        encoding="utf-8")
    site = build_site([Path("inputs")], project / "site")
    about = (site / "about.html").read_text(encoding="utf-8")
    assert "Our own about page" in about
    assert "Made with" in about  # the theme's generator notice, off by runbook's default
    assert "Made with" not in (repository_site / "about.html").read_text(encoding="utf-8")
    assert (site / "assets" / "runbook.css").read_bytes() == \
        (assets.static_dir() / "assets" / "runbook.css").read_bytes()


@pytest.fixture
def warnings() -> Iterator[list[str]]:
    seen: list[str] = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = lambda record: seen.append(record.getMessage())  # type: ignore[method-assign]
    logger = logging.getLogger("mkdocs.plugins.runbook")
    logger.addHandler(handler)
    yield seen
    logger.removeHandler(handler)


def test_without_the_offline_plugin_a_strict_build_says_search_breaks_from_disk(
        project: Path, warnings: list[str]) -> None:
    (project / "docs").mkdir()
    (project / "mkdocs.yml").write_text(SHORT_CONFIG.replace("offline, ", ""), encoding="utf-8")
    with pytest.raises(RunbookError, match="strict mode"):
        build_site([Path("inputs")], project / "site")
    assert warnings == ["the offline plugin is not enabled: search will not work from file://; "
                        "list it under plugins: (- offline) before runbook"]
    assert not (project / "site").exists()


def test_the_default_configuration_as_a_file_builds_the_same_site(
        project: Path, repository_site: Path) -> None:
    # runbook serve needs a file: the default configuration, every path in it absolute
    from runbook.site.build import default_config_file

    config = default_config_file()
    assert config == project / ".cache" / "runbook" / "default-mkdocs.yml"
    site = build_site([Path("inputs")], project / "site", config_file=config)
    assert _tree(site) == _tree(repository_site)
