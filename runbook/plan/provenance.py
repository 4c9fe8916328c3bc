"""Where a topology came from: its path and git revision, looked up once per batch.

No timestamps: two builds of the same commit must give the same bytes.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterable
from pathlib import Path


def _git(args: list[str], cwd: Path) -> str | None:
    try:
        done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True,
                              timeout=30, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout if done.returncode == 0 else None


def revisions(paths: Iterable[Path]) -> dict[Path, str | None]:
    """The short commit that last touched each file, ``+modified`` when it has local edits.

    Files outside a git work tree, or never committed, map to ``None``. One ``git log`` and
    one ``git status`` run per repository, whatever the number of files.
    """
    result: dict[Path, str | None] = {}
    by_root: dict[Path, list[Path]] = {}
    # One rev-parse per folder, not per file: a thousand files in one folder cost one call.
    tops: dict[Path, str | None] = {}
    for p in paths:
        p = p.resolve()
        result[p] = None
        if p.parent not in tops:
            tops[p.parent] = _git(["rev-parse", "--show-toplevel"], p.parent)
        top = tops[p.parent]
        if top:
            by_root.setdefault(Path(top.strip()), []).append(p)
    for root, files in by_root.items():
        rel = {str(f.relative_to(root)): f for f in files}
        log = _git(["log", "--format=%x00%h", "--name-only", "--", *rel], root) or ""
        commit = None
        for line in log.splitlines():
            if line.startswith("\x00"):
                commit = line[1:]
            elif line in rel and result[rel[line]] is None:
                result[rel[line]] = commit
        status = _git(["status", "--porcelain", "--", *rel], root) or ""
        for line in status.splitlines():
            name = line[3:].strip().strip('"')
            if name in rel and result[rel[name]] is not None:
                result[rel[name]] = f"{result[rel[name]]}+modified"
    return result
