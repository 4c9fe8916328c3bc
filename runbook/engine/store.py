"""Keys and files of the build cache: content digests, the code fingerprint,
immutable entries, and the record of when an entry was last used."""

from __future__ import annotations

import hashlib
import marshal
import os
import time
from collections import Counter
from functools import lru_cache
from pathlib import Path
from typing import Any

from runbook import __version__


def digest(*parts: str | bytes) -> str:
    """SHA-256 of ``parts``, each length-prefixed (so ``("ab", "c")`` differs from ``("a", "bc")``).

    The build cache's keys and the verdict replay (:mod:`runbook.topology.verdicts`) use it.
    """
    h = hashlib.sha256()
    for part in parts:
        data = part.encode("utf-8") if isinstance(part, str) else part
        h.update(len(data).to_bytes(8, "big"))
        h.update(data)
    return h.hexdigest()


@lru_cache(maxsize=1)
def code_fingerprint() -> str:
    """The package version, the source of every module and the product catalogs' data
    (``*.yaml`` in the package), so the build cache uses them too."""
    package = Path(__file__).resolve().parent.parent
    parts: list[str | bytes] = [__version__]
    for folder, dirs, names in sorted(os.walk(package)):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for name in sorted(n for n in names if n.endswith((".py", ".yaml"))):
            path = Path(folder, name)
            parts += [path.relative_to(package).as_posix(), path.read_bytes()]
    return digest(*parts)


# A cache file read this long after its modification time gets the time of the read, so
# the time says when a build (or validate) last used it: runbook.site.prune goes by it.
TOUCH_AFTER = 86400.0


def mark_used(path: str | os.PathLike[str], mtime: float) -> None:
    """Record that the cache file ``path`` (last modified at ``mtime``) was just used.

    Only a time more than :data:`TOUCH_AFTER` old is set again: pruning counts in days, and
    a cache in daily use then costs one ``utime`` per file per day.
    """
    if mtime < time.time() - TOUCH_AFTER:
        import contextlib

        with contextlib.suppress(OSError):  # a read-only cache is still a cache
            os.utime(path)


def read_used(path: str | os.PathLike[str]) -> bytes | None:
    """The bytes of the cache file ``path``, marked as used (:func:`mark_used`); None when
    it cannot be read."""
    try:
        with open(path, "rb") as stream:
            data = stream.read()
            mtime = os.fstat(stream.fileno()).st_mtime
    except OSError:
        return None
    mark_used(path, mtime)
    return data


def tree_digest(root: Path) -> str:
    """Hash of every file under ``root``: relative path and bytes, in sorted order."""
    parts: list[str | bytes] = [str(root.name)]
    if root.is_dir():
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            if "__pycache__" in path.parts:
                continue
            parts += [path.relative_to(root).as_posix(), path.read_bytes()]
    return digest(*parts)


class Cache:
    """Immutable entries ``<root>/<namespace>/<key[:2]>/<key>``, with hit and miss counters."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)
        self._root = os.fspath(self.root)
        self.hits: Counter[str] = Counter()
        self.misses: Counter[str] = Counter()

    def _path(self, namespace: str, key: str) -> Path:
        return self.root / namespace / key[:2] / key

    def get(self, namespace: str, key: str) -> bytes | None:
        """The entry's bytes, or None (counted as a hit or a miss of ``namespace``)."""
        # A rebuild reads thousands of entries: a plain string path, not pathlib's objects.
        path = f"{self._root}/{namespace}/{key[:2]}/{key}"
        data = read_used(path)
        if data is None:
            self.misses[namespace] += 1
            return None
        self.hits[namespace] += 1
        return data

    def put(self, namespace: str, key: str, data: bytes) -> None:
        """Store ``data`` under ``key``: write a temporary file, then rename it into place."""
        path = self._path(namespace, key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{key}.{os.getpid()}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)

    def get_value(self, namespace: str, key: str) -> Any:
        """A marshalled value, or None."""
        data = self.get(namespace, key)
        return None if data is None else marshal.loads(data)

    def put_value(self, namespace: str, key: str, value: Any) -> None:
        """Store a value made of dicts, lists, str, bytes, numbers, None."""
        self.put(namespace, key, marshal.dumps(value))

    def counts(self) -> dict[str, dict[str, int]]:
        """``{namespace: {"hits": n, "misses": m}}`` since this object was made."""
        names = sorted(set(self.hits) | set(self.misses))
        return {n: {"hits": self.hits[n], "misses": self.misses[n]} for n in names}
