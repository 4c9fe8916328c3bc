"""A site's files, as the API hands them out (``runbook.site_files``) and the MkDocs plugin
makes them under a plain ``mkdocs build``: :func:`runbook.site.generate.produce_site` with a
builder over the given cache, guarded against a prune meanwhile."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from runbook.engine.parallel import default_jobs
from runbook.engine.store import Cache
from runbook.plan.sites import Site
from runbook.site.generate import Builder, produce_site
from runbook.site.prune import using


def site_files(inputs: Iterable[Path | str], *, cache_dir: Path | str,
               templates: Path | str | None = None, jobs: int | None = None
               ) -> tuple[list[Site], dict[str, Any]]:
    """Every site under ``inputs`` and every file generated for the site (docs-relative path
    -> bytes), through the build cache in ``cache_dir``: what the MkDocs plugin gives MkDocs
    to build, and what ``runbook build`` makes with its progress display
    (:func:`produce_site`). Raises :class:`~runbook.errors.ValidationFailed` first, listing
    every problem. ``templates`` is a folder of template overrides. Public as
    ``runbook.site_files``; the plugin calls it under a plain ``mkdocs build``."""
    with using(Path(cache_dir)):  # no prune meanwhile
        return produce_site([Path(p) for p in inputs],
                            Builder(Cache(cache_dir), jobs=jobs or default_jobs()),
                            Path(templates) if templates is not None else None)
