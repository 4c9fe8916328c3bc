"""A site's files, as the API hands them out (``runbook.site_files``) and the MkDocs plugin
makes them under a plain ``mkdocs build``, and ``runbook build`` too:
:func:`runbook.site.generate.produce_site` with one builder over the given cache, guarded
against a prune meanwhile."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runbook.engine.parallel import default_jobs
from runbook.engine.store import Cache
from runbook.plan.sites import Site
from runbook.site.generate import Builder, produce_site
from runbook.site.prune import SPILL, using

if TYPE_CHECKING:
    from runbook.engine.progress import Progress


def site_files(inputs: Iterable[Path | str], *, cache_dir: Path | str,
               templates: Path | str | None = None, jobs: int | None = None,
               progress: Progress | None = None) -> tuple[list[Site], dict[str, Any]]:
    """Every site under ``inputs`` and every file generated for them, through the build
    cache in ``cache_dir``: the one way ``runbook build`` and the MkDocs plugin under a plain
    ``mkdocs build`` make a site's files (public as ``runbook.site_files``).

    Returns the sites and a mapping of docs-relative path to the file: for a file of a site
    (``sites/<slug>/...``), the :class:`~pathlib.Path` of its checked copy in the cache's
    ``files/`` folder (so a build of a thousand sites does not hold every page, diagram and
    PDF in memory, and a warm build reads kilobytes per site); for the home page and the
    other pages outside ``sites/``, their bytes. Raises
    :class:`~runbook.errors.ValidationFailed` first, listing every problem. ``templates`` is
    a folder of template overrides; ``jobs`` worker processes share the work (default: one
    per core); ``progress`` is a :class:`runbook.engine.progress.Progress`.
    """
    root = Path(cache_dir).resolve()
    builder = Builder(Cache(root), jobs=jobs or default_jobs(), progress=progress,
                      spill_dir=root / SPILL)
    with using(root):  # no prune meanwhile
        return produce_site([Path(p) for p in inputs], builder,
                            Path(templates) if templates is not None else None)
