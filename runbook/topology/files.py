"""Which files are topologies, and the names they are reported under."""

from __future__ import annotations

import os
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

SUFFIXES = (".yaml", ".yml")


def display_name(path: Path) -> str:
    """How a file is named in messages and provenance.

    Relative to the working folder when inside it, else relative to its git work tree (so
    output does not depend on where a checkout lives), else as given.
    """
    full = path.resolve()
    try:
        return str(full.relative_to(_resolved(os.getcwd())))
    except ValueError:
        pass
    for parent in full.parents:
        if (parent / ".git").exists():
            return str(full.relative_to(parent))
    return str(path)


@lru_cache(maxsize=8)
def _resolved(folder: str) -> Path:
    # The working folder, resolved once (a thousand files would otherwise resolve it a
    # thousand times); keyed by its name, so a chdir is seen.
    return Path(folder).resolve()


def discover(paths: Iterable[Path | str]) -> list[Path]:
    """Topology files named by ``paths``: files as given, folders searched for ``*.yaml``."""
    found: list[Path] = []
    for entry in paths:
        p = Path(entry)
        if p.is_dir():
            found += sorted(q for q in p.rglob("*") if q.suffix in SUFFIXES and q.is_file())
        else:
            found.append(p)
    return found
