"""An installed tool, not a repository: the built wheel, in a fresh virtual environment, in a
folder that holds nothing of this repository, makes the same site as the repository does.

The wheel is built from this checkout with hatchling, installed with pip (its dependencies
come from the package index) into a new virtual environment, and run as a user runs it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
import yaml

from runbook.site.build import build_site
from tests.conftest import ROOT, shared_cache

playwright_sync = pytest.importorskip("playwright.sync_api")


def _run(args: list[str], cwd: Path, timeout: int = 600) -> subprocess.CompletedProcess[str]:
    # As a user runs it: no checkout on the path, and the project's own cache folder
    # (not the test run's RUNBOOK_CACHE_DIR).
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "VIRTUAL_ENV", "RUNBOOK_CACHE_DIR")}
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
    # The versions the suite is tested with (constraints.txt), as scripts/dev.sh installs.
    done = _run([str(venv / "bin" / "pip"), "install", "-q", "--disable-pip-version-check",
                 "-c", str(ROOT / "constraints.txt"), str(wheel)], cwd=venv)
    assert done.returncode == 0, done.stdout + done.stderr
    where = _run([str(venv / "bin" / "python"), "-c", "import runbook; print(runbook.__file__)"],
                 cwd=venv)
    assert Path(where.stdout.strip()).is_relative_to(venv)  # not this checkout
    return venv / "bin" / "runbook"


def _tree(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def examples_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The repository's build of every example in inputs/, from a folder laid out alike."""
    folder = tmp_path_factory.mktemp("repo-examples")
    shutil.copytree(ROOT / "inputs", folder / "inputs")
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


# -- engine-neutral output: runbook generate, runbook build --engine ---------------------------


class _Tokens(HTMLParser):
    """An HTML fragment as (tag, attributes) and text tokens, entities decoded, whitespace
    collapsed: the same page body serialised by two template engines compares equal."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tokens: list[object] = []
        self._skipping = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a" and ("id", "__skip") in attrs:  # Zensical's (empty) skip-link target
            self._skipping = True
            return
        self.tokens.append((tag, sorted(attrs)))

    def handle_endtag(self, tag: str) -> None:
        if self._skipping and tag == "a":
            self._skipping = False
            return
        self.tokens.append(f"/{tag}")

    def handle_data(self, data: str) -> None:
        text = " ".join(data.split())
        if text:
            self.tokens.append(text)


def _parts(site: Path) -> dict[str, tuple[list[object], list[object]]]:
    """Each page's article and site navigation, as tokens."""
    found = {}
    for page in sorted(site.rglob("*.html")):
        html = page.read_text(encoding="utf-8")
        article = re.search(r'<article class="md-content__inner md-typeset">(.*?)</article>',
                            html, re.S)
        nav = re.search(r'<nav class="md-nav md-nav--primary runbook-site-nav".*?</nav>',
                        html, re.S)
        tokens = []
        for part in (article, nav):
            parser = _Tokens()
            parser.feed(part.group(0) if part else "")
            tokens.append(parser.tokens)
        found[page.relative_to(site).as_posix()] = (tokens[0], tokens[1])
    return found


def _same_pages(got: Path, want: Path) -> None:
    a, b = _parts(got), _parts(want)
    assert sorted(a) == sorted(b)
    assert [page for page in b if a[page][0] != b[page][0]] == [], "page bodies differ"
    assert [page for page in b if a[page][1] != b[page][1]] == [], "site navigations differ"
    assert all(b[page][1] for page in b if page.startswith("sites/"))


def test_generate_writes_a_tree_any_engine_builds_without_the_plugin(
        runbook_exe: Path, repository_site: Path, tmp_path: Path) -> None:
    (tmp_path / "inputs").mkdir()
    shutil.copy(ROOT / "inputs" / "contoso.yaml", tmp_path / "inputs")
    done = _run([str(runbook_exe), "generate", "-o", "tree"], cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    tree = tmp_path / "tree"
    config = yaml.safe_load((tree / "mkdocs.yml").read_text(encoding="utf-8"))
    assert config["plugins"] == ["search", "offline"]
    page = (tree / "docs" / "sites" / "contoso-hq" / "dns.md").read_text(encoding="utf-8")
    front = yaml.safe_load(page.split("---\n")[1])
    assert front["runbook_nav"]["home"] == "../../index.html"
    assert [p["url"] for p in front["runbook_nav"]["pages"] if p["active"]] == ["dns.html"]
    for name in ("docs/assets/runbook.css", "docs/about.md", "overrides/main.html",
                 "docs/schema/topology.schema.json", "docs/sites/contoso-hq/diagrams/network.svg"):
        assert (tree / name).is_file(), name
    mkdocs = runbook_exe.parent / "mkdocs"
    done = _run([str(mkdocs), "build", "-q", "-f", str(tree / "mkdocs.yml")], cwd=tree)
    assert done.returncode == 0, done.stdout + done.stderr
    _same_pages(tree / "site", repository_site)


@pytest.fixture(scope="module")
def engines(runbook_exe: Path) -> dict[str, str]:
    """Each engine that installs from the package index beside runbook: name -> why not."""
    missing = {}
    for engine in ("properdocs", "zensical"):
        done = _run([str(runbook_exe.parent / "pip"), "install", "-q",
                     "--disable-pip-version-check", "-c", str(ROOT / "constraints.txt"),
                     engine], cwd=runbook_exe.parent)
        if done.returncode != 0:
            missing[engine] = (done.stderr or done.stdout).strip().splitlines()[-1]
    return missing


@pytest.mark.parametrize("engine", ["properdocs", "zensical"])
def test_build_with_each_engine_gives_the_same_pages(
        engine: str, engines: dict[str, str], runbook_exe: Path, examples_site: Path,
        tmp_path: Path) -> None:
    if engine in engines:
        pytest.skip(f"{engine} does not install from the package index: {engines[engine]}")
    shutil.copytree(ROOT / "inputs", tmp_path / "inputs")
    # What is tested is the engine. The documents' PDFs, most of a cold build's time, are
    # cached under the hash of their template, their data and Typst's version: hand the project
    # the ones the plugin build of the same inputs laid out (examples_site), so a PDF is
    # only laid out again if this build would make a different one. (That a build makes
    # the project's .cache itself: test_a_folder_with_only_inputs_builds_the_same_site.)
    shutil.copytree(shared_cache() / "pdf", tmp_path / ".cache" / "runbook" / "pdf")
    done = _run([str(runbook_exe), "build", "--engine", engine, "-o", "site"], cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("built the site in site/")
    site = tmp_path / "site"
    assert (site / ".runbook-site").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == [".cache", "inputs", "site"]
    _same_pages(site, examples_site)
