"""Opt-in fast paths: asked for by an environment variable, used only with verified versions.

The default path of every stage uses other projects' public, documented interfaces only. A
faster path that needs more (today: Graphviz's C structures, :mod:`runbook.outputs.gvc`) is used
only when its environment variable asks for it *and* the installed versions are exactly
those it was checked against; otherwise the default path runs, after a one-line notice on
standard error saying why. Either path gives the same bytes (each fast path has a test
comparing it with the default).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from importlib import metadata

_NOTIFIED: set[str] = set()


def requested(env: str, value: str) -> bool:
    """Whether the environment variable ``env`` asks for the fast path called ``value``."""
    return os.environ.get(env, "").strip().lower() == value


def mismatch(verified: Mapping[str, str]) -> str | None:
    """Why the installed distributions are not the ``verified`` ones (name -> version), or
    ``None`` when every one is installed at exactly that version."""
    for dist, version in verified.items():
        try:
            found = metadata.version(dist)
        except metadata.PackageNotFoundError:
            return f"{dist} is not installed"
        if found != version:
            return f"{dist} {found} is installed, the fast path was verified with {version}"
    return None


def given() -> frozenset[str]:
    """The fast paths whose notice this process has given."""
    return frozenset(_NOTIFIED)


def already_given(names: frozenset[str]) -> None:
    """Count the notices of ``names`` as given here (a worker, whose parent gave them)."""
    _NOTIFIED.update(names)


def notice(name: str, reason: str) -> None:
    """Say once per process, on one line, that the fast path ``name`` is not used, and why."""
    if name in _NOTIFIED:
        return
    _NOTIFIED.add(name)
    sys.stderr.write(f"runbook: {name} not used ({reason}); using the default path\n")
    sys.stderr.flush()
