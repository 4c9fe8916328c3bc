"""What the site needs besides the generated pages, shipped inside the package.

The wheel carries the repository's ``docs/`` (CSS, print CSS, the vendored search shim, the
About page), ``overrides/`` (the theme overrides) and the topology schema; the plugin adds them
to any build, so a short ``mkdocs.yml`` (or none: :data:`DEFAULT_CONFIG`) builds the same site
as the repository's. From a source checkout the same files are read where they live.

A file of the same name in the project's own ``docs/`` wins over the packaged one, and a
setting the project's ``mkdocs.yml`` gives wins over the default of :data:`DEFAULT_CONFIG`.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import runbook

_PACKAGE = Path(runbook.__file__).resolve().parent
_CHECKOUT = _PACKAGE.parent

SCHEMA_URI = "schema/topology.schema.json"
"""Where the built site publishes the topology schema (relative to the site's root)."""


def _packaged(inside: str, checkout: str) -> Path:
    """``inside`` the installed package, else ``checkout`` of the source tree."""
    path = _PACKAGE / inside
    return path if path.exists() else _CHECKOUT / checkout


def static_dir() -> Path:
    """The packaged static pages and assets (the repository's ``docs/``)."""
    return _packaged("site/static", "docs")


def theme_dir() -> Path:
    """The packaged theme overrides (the repository's ``overrides/``)."""
    return _packaged("site/theme", "overrides")


def schema_file() -> Path:
    """The packaged JSON Schema of a topology file (the repository's ``schema/``)."""
    return _packaged("topology/topology.schema.json", "schema/topology.schema.json")


def static_files() -> Iterator[tuple[str, Path]]:
    """``(src_uri, path)`` of every packaged file the site needs, the schema included, sorted."""
    root = static_dir()
    for path in sorted(root.rglob("*")):
        if path.is_file() and not any(part.startswith(".") for part in path.parts[-1:]):
            yield path.relative_to(root).as_posix(), path
    yield SCHEMA_URI, schema_file()


EXTRA_CSS = ["assets/runbook.css", "assets/print.css"]
SHIM = "assets/vendor/iframe-worker/shim.js"
NAV = [{"Home": "index.md"}, {"About this site": "about.md"}]

# The settings the repository's mkdocs.yml gives; `runbook build` uses them when a project has
# no mkdocs.yml, and the plugin applies those that a shorter mkdocs.yml leaves out (see
# RunbookPlugin.on_config). Keep in sync with mkdocs.yml (tests/test_assets.py checks).
DEFAULT_CONFIG = """\
site_name: Edge deployment runbooks
site_description: Site-specific OCS 2007 Consolidated Edge runbooks
use_directory_urls: false
strict: true
theme:
  name: material
  language: en
  font: false
  icon:
    logo: material/router-network
  palette:
    - media: "(prefers-color-scheme: light)"
      scheme: default
      primary: indigo
      accent: indigo
      toggle:
        icon: material/weather-night
        name: Switch to dark mode
    - media: "(prefers-color-scheme: dark)"
      scheme: slate
      primary: indigo
      accent: light blue
      toggle:
        icon: material/weather-sunny
        name: Switch to light mode
  features:
    - navigation.top
    - navigation.footer
    - toc.follow
    - search.highlight
    - content.code.copy
nav:
  - Home: index.md
  - Reference:
      - OCS 2007 product facts: reference/ocs2007.md
      - Template reference: reference/plan.md
  - About this site: about.md
not_in_nav: |
  /sites/
  /reference/
extra:
  generator: false
plugins:
  - search
  - offline
  - runbook
markdown_extensions:
  - tables
  - admonition
  - attr_list
  - md_in_html
  - toc:
      permalink: true
  - pymdownx.tasklist:
      custom_checkbox: true
  - pymdownx.details
  - pymdownx.superfences
validation:
  omitted_files: warn
  absolute_links: warn
  unrecognized_links: warn
  anchors: warn
"""
