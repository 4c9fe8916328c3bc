"""Fixtures shared by the tests: the example site, built once per session, and the corpus."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent


def pytest_configure(config: pytest.Config) -> None:
    """Every cache a test does not place itself goes to a temporary folder, never into the
    repository: ``RUNBOOK_CACHE_DIR`` (honoured by the plugin, build and validate) for the
    whole run, shared by the tests so the examples are produced once."""
    import os
    import tempfile

    if "RUNBOOK_CACHE_DIR" not in os.environ:
        folder = tempfile.mkdtemp(prefix="runbook-test-cache-")
        os.environ["RUNBOOK_CACHE_DIR"] = folder
        config.add_cleanup(lambda: __import__("shutil").rmtree(folder, ignore_errors=True))


# The modules that take longest, longest first (wall time of each alone on 2 cores: 92 s for
# test_browser down to 18 s for test_prune): collected first, so that pytest-xdist starts
# them first (scripts/dev.sh passes --no-loadscope-reorder, else xdist orders the files by
# their number of tests) and the suite does not end waiting on one of them. Started last,
# test_install and test_pdf_scale kept the run going more than a minute after the rest.
LONG_MODULES = ("test_browser.py", "test_faults.py", "test_install.py", "test_documents.py",
                "test_pdf_scale.py", "test_finish.py", "test_site.py", "test_incremental.py",
                "test_assets.py", "test_publish.py", "test_checklists.py", "test_htmlblocks.py",
                "test_prune.py")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The long modules first (in :data:`LONG_MODULES` order), the others as collected."""
    rank = {name: at for at, name in enumerate(LONG_MODULES)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))


def shared_cache() -> Path:
    """The run's shared cache folder (see :func:`pytest_configure`)."""
    import os

    return Path(os.environ["RUNBOOK_CACHE_DIR"])


@pytest.fixture(scope="session")
def built_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``runbook build``'s site for inputs/ (strict), built once; do not modify it."""
    from runbook.site.build import build_site

    output = tmp_path_factory.mktemp("built") / "site"
    return build_site([ROOT / "inputs"], output, config_file=ROOT / "mkdocs.yml")


def examples_and_corpus(folder: Path) -> tuple[list[Any], dict[str, Any]]:
    """The example inputs and one corpus site of each layout (``bench/corpus.py``, seed 7),
    validated, planned and produced as ``runbook build`` does: ``(sites, generated files)``.

    The corpus is written into ``folder`` and named relative to it (stable provenance), and
    the producers' output comes from the project's cache, so after the first test that asks
    for it the others find it there.
    """
    import sys

    from runbook.engine.store import Cache
    from runbook.site.generate import Builder, generate

    sys.path.insert(0, str(ROOT / "bench"))
    import corpus

    cache_root = shared_cache()
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(folder)
        corpus.write(Path("corpus"), len(corpus.KINDS), seed=7)
        builder = Builder(Cache(cache_root), jobs=1)
        sites = builder.load_sites([ROOT / "inputs", Path("corpus")])
        generated = generate(sites, cache_root, builder=builder, templates=ROOT / "templates")
    return sites, generated


@pytest.fixture(scope="module")
def repository_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The repository's build (its mkdocs.yml, docs/, overrides/) of inputs/contoso.yaml alone,
    run from a folder laid out like a user's, so files are named alike."""
    import shutil

    from runbook.site.build import build_site

    folder = tmp_path_factory.mktemp("repo-build")
    (folder / "inputs").mkdir()
    shutil.copy(ROOT / "inputs" / "contoso.yaml", folder / "inputs")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(folder)
        return build_site([Path("inputs")], folder / "site", config_file=ROOT / "mkdocs.yml")
