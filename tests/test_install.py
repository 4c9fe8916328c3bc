"""An installed tool, not a repository: the built wheel, in a fresh virtual environment, in a
folder that holds nothing of this repository, makes the same site as the repository does.

The wheel is built from this checkout with hatchling, installed with pip (its dependencies
come from the package index) into a new virtual environment, and run as a user runs it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from runbook.site.build import build_site
from tests.conftest import ROOT

playwright_sync = pytest.importorskip("playwright.sync_api")


def _run(args: list[str], cwd: Path, timeout: int = 600) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout, check=False)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel of this checkout."""
    out = tmp_path_factory.mktemp("dist")
    done = _run([sys.executable, "-m", "hatchling", "build", "-t", "wheel", "-d", str(out)],
                cwd=ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    (found,) = out.glob("runbook-*.whl")
    return found


@pytest.fixture(scope="module")
def runbook_exe(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``runbook`` of a fresh virtual environment holding the wheel and its dependencies."""
    venv = tmp_path_factory.mktemp("venv")
    done = _run([sys.executable, "-m", "venv", str(venv)], cwd=venv)
    assert done.returncode == 0, done.stderr
    done = _run([str(venv / "bin" / "pip"), "install", "-q", "--disable-pip-version-check",
                 str(wheel)], cwd=venv)
    assert done.returncode == 0, done.stdout + done.stderr
    where = _run([str(venv / "bin" / "python"), "-c", "import runbook; print(runbook.__file__)"],
                 cwd=venv)
    assert Path(where.stdout.strip()).is_relative_to(venv)  # not this checkout
    return venv / "bin" / "runbook"


def _tree(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def repository_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The repository's build (its mkdocs.yml, docs/, overrides/) of inputs/contoso.yaml alone,
    run from a folder laid out like a user's, so files are named alike."""
    folder = tmp_path_factory.mktemp("repo-build")
    (folder / "inputs").mkdir()
    shutil.copy(ROOT / "inputs" / "contoso.yaml", folder / "inputs")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(folder)
        return build_site([Path("inputs")], folder / "site", config_file=ROOT / "mkdocs.yml")


def test_the_wheel_holds_everything_the_site_needs(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    for name in ("runbook/site/static/about.md", "runbook/site/static/assets/runbook.css",
                 "runbook/site/static/assets/print.css",
                 "runbook/site/static/assets/vendor/iframe-worker/shim.js",
                 "runbook/site/static/assets/vendor/iframe-worker/LICENSE",
                 "runbook/site/theme/main.html",
                 "runbook/site/theme/partials/runbook-site-nav.html",
                 "runbook/topology/topology.schema.json", "runbook/site/starter_files/contoso.yaml",
                 "runbook/templates/pages/runbook.md.j2"):
        assert name in names, name


@pytest.fixture(scope="module")
def initialised(runbook_exe: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``runbook init && runbook build`` in an empty folder; the folder."""
    folder = tmp_path_factory.mktemp("fresh")
    done = _run([str(runbook_exe), "init"], cwd=folder)
    assert done.returncode == 0, done.stdout + done.stderr
    done = _run([str(runbook_exe), "build"], cwd=folder)
    assert done.returncode == 0, done.stdout + done.stderr
    index = (folder / "site" / "index.html").as_uri()
    assert done.stdout.splitlines()[-1] == (
        f"built the site in site/: open {index} in a browser (it works from disk), or run "
        "`runbook serve` for a live preview")
    return folder


def test_init_and_build_from_the_wheel_make_the_repository_site(
        initialised: Path, repository_site: Path) -> None:
    got, want = _tree(initialised / "site"), _tree(repository_site)
    assert sorted(got) == sorted(want)
    assert [name for name in want if got[name] != want[name]] == []


def test_a_folder_with_only_inputs_builds_the_same_site(
        runbook_exe: Path, repository_site: Path, tmp_path: Path) -> None:
    (tmp_path / "inputs").mkdir()
    shutil.copy(ROOT / "inputs" / "contoso.yaml", tmp_path / "inputs")
    done = _run([str(runbook_exe), "build", "-q"], cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == [".cache", "inputs", "site"]
    assert _tree(tmp_path / "site") == _tree(repository_site)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from tests.test_browser import CHROMIUM_ARGS, _chromium

    with playwright_sync.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=_chromium(), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def test_the_installed_site_works_from_the_file_system(browser: Any, initialised: Path) -> None:
    from tests.test_browser import Recorder, search

    visitor = Recorder(browser)
    visitor.goto((initialised / "site" / "index.html").as_uri())
    page = visitor.page
    page.locator("article a[href='sites/contoso-hq/index.html']").click()
    page.wait_for_load_state("load")
    assert page.url.endswith("/site/sites/contoso-hq/index.html")  # links end in .html
    # The packaged CSS and theme overrides are there: the site's own navigation, styled.
    assert any(url.endswith("/assets/runbook.css") for url in visitor.requests)
    assert page.locator("nav.runbook-site-nav a.md-nav__link").count() >= 7
    search(page, "DNS")
    page.wait_for_selector(".md-search-result__item", timeout=10_000)
    assert visitor.outside() == []  # no web fonts, no CDN shim
    assert visitor.failed == []
    page.close()
