"""Fixtures shared by the site and browser tests: the example site, built once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def built_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``runbook build``'s site for inputs/ (strict), built once; do not modify it."""
    from runbook.site import build_site

    output = tmp_path_factory.mktemp("built") / "site"
    return build_site([ROOT / "inputs"], output, config_file=ROOT / "mkdocs.yml")
