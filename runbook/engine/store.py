"""Keys and files of the build cache: content digests, the code fingerprint,
immutable entries, and the record of when an entry was last used."""

from __future__ import annotations

import hashlib
import marshal
import os
import stat
import sys
import time
from collections import Counter
from collections.abc import Iterable
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


# Libraries whose behaviour reaches the plan or the produced files (validation, YAML
# reading, templates and escaping, PDFs, DOT sources).
LIBRARIES = ("pydantic", "pydantic-core", "pyyaml", "jinja2", "markupsafe", "typst", "graphviz")


def files_fingerprint(paths: Iterable[str | os.PathLike[str]]) -> str:
    """The identity of each file of ``paths`` (its path, size and modification time; a
    missing one as missing), for a key of output made with files outside the project (the
    fonts): an upgrade of the files changes it, without reading megabytes for it."""
    parts: list[str] = []
    for path in sorted({os.fspath(p) for p in paths}):
        try:
            st = os.stat(path)
        except OSError:
            parts.append(f"{path} missing")
            continue
        parts.append(f"{path} {st.st_size} {st.st_mtime_ns}")
    return digest(*parts)


@lru_cache(maxsize=1)
def code_fingerprint() -> str:
    """The package version, the source of every module and the product catalogs' data
    (``*.yaml`` in the package), the Python version and the versions of :data:`LIBRARIES`:
    every cache key that depends on the code includes it."""
    from importlib import metadata

    package = Path(__file__).resolve().parent.parent
    parts: list[str | bytes] = [__version__, sys.version]
    for dist in LIBRARIES:
        try:
            parts.append(f"{dist} {metadata.version(dist)}")
        except metadata.PackageNotFoundError:
            parts.append(f"{dist} absent")
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
    it cannot be read. The bytes are not checked: :func:`read_entry` checks them."""
    found = _read_regular(path)
    if found is None:
        return None
    data, mtime = found
    mark_used(path, mtime)
    return data


# --- verified entries ---------------------------------------------------------------------------
#
# Every file the cache holds is checked before it is used, so that a file truncated, emptied,
# overwritten or with bytes flipped (a full disk, a killed copy, a sync tool) is never served:
#
# - an entry (what Cache, the verdicts, the PDFs and the diagram layouts keep) is HEADER, the
#   SHA-256 of its name and the payload, then the payload (write_entry, read_entry);
# - a spilled copy of a generated file (runbook.site.generate.spill) is the bare file, handed
#   to MkDocs as it is: its name is the start of its content's SHA-256 (content_name,
#   read_named, copy_named).
#
# A damaged file is removed and counted (FAULTS); the reader takes it as a miss and makes the
# content again. Failing to write (a full or read-only disk) is counted too, never raised: the
# cache is an optimisation.

HEADER = b"runbook-cache-2\n"
_SUM = hashlib.sha256().digest_size
NAME_LENGTH = 40  # hex digits of a spilled copy's name


class Damaged(Exception):
    """A spilled copy was found damaged once it was too late to take it as a miss.

    :func:`runbook.site.build.build_site` then removes every damaged copy
    (:func:`check_named`) and builds once more.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        super().__init__(os.fspath(path))  # args: the path alone, so that it pickles
        self.path = os.fspath(path)

    def __str__(self) -> str:
        return f"damaged cache file {self.path}"


class Faults:
    """What went wrong with the cache in this process: damaged files found (removed and
    made again), by kind, and writes that failed (not stored), with the first reason."""

    def __init__(self) -> None:
        self.damaged: Counter[str] = Counter()
        self.unwritten: Counter[str] = Counter()
        self.reason = ""

    def as_data(self) -> tuple[dict[str, int], dict[str, int], str]:
        """Plain data, for a worker to hand its faults to the parent (:meth:`add`)."""
        return dict(self.damaged), dict(self.unwritten), self.reason

    def add(self, data: tuple[dict[str, int], dict[str, int], str]) -> None:
        """Count the faults of :meth:`as_data` (a worker's) in with these."""
        damaged, unwritten, reason = data
        self.damaged.update(damaged)
        self.unwritten.update(unwritten)
        self.reason = self.reason or reason

    def clear(self) -> None:
        """Forget every fault (a build starts counting afresh)."""
        self.damaged.clear()
        self.unwritten.clear()
        self.reason = ""

    def notices(self) -> list[str]:
        """One line per kind of fault seen, for the end of a build (none when all went well)."""
        lines = []
        if self.damaged:
            n = sum(self.damaged.values())
            lines.append(f"runbook: {n} damaged cache file(s) ignored and made again "
                         f"({_kinds(self.damaged)})")
        if self.unwritten:
            n = sum(self.unwritten.values())
            lines.append(f"runbook: {n} cache file(s) not stored ({self.reason}); the build "
                         "went on without them")
        return lines


def _kinds(counts: Counter[str]) -> str:
    return ", ".join(f"{kind} {n}" for kind, n in sorted(counts.items()))


# The faults of this process; a worker of runbook.engine.parallel hands its own back.
FAULTS = Faults()


def kind_of(path: str) -> str:
    """The kind of cache file at ``path``: its folder under the cache root (the namespace)."""
    parts = path.replace(os.sep, "/").split("/")
    if len(parts) >= 3 and len(parts[-2]) == 2 and parts[-1].startswith(parts[-2]):
        return parts[-3]  # <namespace>/<key[:2]>/<key>
    return parts[-2] if len(parts) >= 2 else "cache"


def damaged(path: str | os.PathLike[str], kind: str | None = None) -> None:
    """Count ``path`` as damaged and remove it, so that it is made and written again."""
    name = os.fspath(path)
    FAULTS.damaged[kind or kind_of(name)] += 1
    import contextlib

    with contextlib.suppress(OSError):
        os.unlink(name)


def unwritten(path: str | os.PathLike[str], exc: OSError) -> None:
    """Count a write of ``path`` that failed with ``exc`` (nothing is stored)."""
    FAULTS.unwritten[kind_of(os.fspath(path))] += 1
    if not FAULTS.reason:
        import errno

        FAULTS.reason = {errno.ENOSPC: "the disk is full", errno.EDQUOT: "the disk quota is "
                         "used up", errno.EROFS: "the file system is read-only",
                         errno.EACCES: "permission denied"}.get(exc.errno or 0,
                                                                exc.strerror or str(exc))


def seal(payload: bytes, name: str = "") -> bytes:
    """``payload`` as the bytes of the entry called ``name``: :data:`HEADER`, the SHA-256 of
    the name and the payload, then the payload. The name is in the sum so that an intact
    entry copied over another one (a sync tool, a careless restore) is not taken for it."""
    return b"".join((HEADER, _sum(payload, name), payload))


def _sum(payload: bytes, name: str) -> bytes:
    return hashlib.sha256(name.encode("utf-8") + b"\0" + payload).digest()


def unseal(data: bytes, name: str = "") -> bytes | None:
    """The payload of the bytes of the entry called ``name``, or None when they are not a
    whole, intact entry of that name."""
    start = len(HEADER) + _SUM
    if len(data) < start or not data.startswith(HEADER):
        return None
    payload = data[start:]
    if _sum(payload, name) != data[len(HEADER):start]:
        return None
    return payload


def _read_regular(path: str | os.PathLike[str]) -> tuple[bytes, float] | None:
    """The bytes and modification time of the regular file ``path``; b"" for anything else
    found there (a named pipe would block the build, a device never end: both are damage);
    None when it cannot be read."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            return b"", info.st_mtime
        with os.fdopen(fd, "rb", closefd=False) as stream:
            return stream.read(), info.st_mtime
    except OSError:
        return None
    finally:
        os.close(fd)


def read_entry(path: str | os.PathLike[str], kind: str | None = None) -> bytes | None:
    """The payload of the entry at ``path``, checked; None when absent, unreadable or
    damaged (a damaged entry is counted and removed: :func:`damaged`)."""
    data = read_used(path)
    if data is None:
        return None
    payload = unseal(data, os.path.basename(os.fspath(path)))
    if payload is None:
        damaged(path, kind)
    return payload


def replace_file(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` atomically: a temporary file beside it, renamed over
    whatever has the name (no reader sees half of it, and another name of the file it
    replaces keeps its bytes). Raises :class:`OSError`; nothing half-written stays."""
    target = os.fspath(path)
    folder, name = os.path.split(target)
    tmp = os.path.join(folder, f".{name}.{os.getpid()}.tmp")
    try:
        os.makedirs(folder, exist_ok=True)
        with open(tmp, "wb") as stream:
            stream.write(data)
        os.replace(tmp, target)
    except OSError:
        import contextlib

        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def write_file(path: str | os.PathLike[str], data: bytes) -> bool:
    """Write ``data`` to the cache file ``path`` atomically (:func:`replace_file`). A failure
    (a full or read-only disk) is counted (:func:`unwritten`) and False returned."""
    try:
        replace_file(path, data)
    except OSError as exc:
        unwritten(os.fspath(path), exc)
        return False
    return True


def write_entry(path: str | os.PathLike[str], payload: bytes) -> bool:
    """Store ``payload`` as a checked entry at ``path`` (:func:`seal`, :func:`write_file`)."""
    return write_file(path, seal(payload, os.path.basename(os.fspath(path))))


def load_value(payload: bytes | None) -> Any:
    """A marshalled value, or None (also for bytes marshal cannot read)."""
    if payload is None:
        return None
    try:
        return marshal.loads(payload)
    except (EOFError, ValueError, TypeError):
        return None


def content_name(data: bytes) -> str:
    """The name of a spilled copy holding ``data``: the start of its SHA-256."""
    return hashlib.sha256(data).hexdigest()[:NAME_LENGTH]


def is_content_name(name: str) -> bool:
    """True when ``name`` is what :func:`content_name` gives (a spilled copy's name)."""
    return len(name) == NAME_LENGTH and all(c in "0123456789abcdef" for c in name)


def read_named(path: str | os.PathLike[str]) -> bytes | None:
    """The bytes of a file named by :func:`content_name`, checked against its name; None
    when absent or unreadable. For a damaged file :class:`Damaged` is raised: whoever named
    it expected it (see :func:`runbook.site.build.build_site`, which then calls
    :func:`check_named`)."""
    found = _read_regular(path)
    if found is None:
        return None
    data = found[0]
    if content_name(data) != os.path.basename(os.fspath(path)):
        raise Damaged(path)  # left for check_named, which counts and removes every one
    return data


def check_named(folder: str | os.PathLike[str]) -> int:
    """Check every file of ``folder`` against its name (:func:`content_name`); remove and
    count those that are damaged; return how many were.

    Used once a spilled copy was found damaged: the others are checked in one go, so that
    the build that starts again finds no more.
    """
    found = 0
    try:
        names = os.listdir(folder)
    except OSError:
        return 0
    for name in names:
        if name.startswith(".") or len(name) != NAME_LENGTH:
            continue
        path = os.path.join(folder, name)
        try:
            read_named(path)
        except Damaged:
            damaged(path)
            found += 1
    return found


def copy_named(source: str | os.PathLike[str], dest: str | os.PathLike[str]) -> None:
    """Copy a file named by :func:`content_name` to ``dest``, checked on the way
    (:func:`read_named`: :class:`Damaged` when it is damaged, ``OSError`` when absent)."""
    data = read_named(source)
    if data is None:
        raise FileNotFoundError(2, "No such file or directory", os.fspath(source))
    if os.path.exists(dest) and os.path.samefile(source, dest):
        return  # as shutil.copyfile refuses to: the file is there already
    with open(dest, "wb") as stream:
        stream.write(data)


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
    """Immutable entries ``<root>/<namespace>/<key[:2]>/<key>``, with hit and miss counters.

    Each entry is checked when read (:func:`read_entry`): a damaged one is a miss.
    """

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)
        self._root = os.fspath(self.root)
        self.hits: Counter[str] = Counter()
        self.misses: Counter[str] = Counter()

    def _path(self, namespace: str, key: str) -> Path:
        return self.root / namespace / key[:2] / key

    def get(self, namespace: str, key: str) -> bytes | None:
        """The entry's bytes, checked, or None (counted as a hit or a miss of ``namespace``;
        a damaged entry is a miss, and is removed)."""
        # A rebuild reads thousands of entries: a plain string path, not pathlib's objects.
        path = f"{self._root}/{namespace}/{key[:2]}/{key}"
        data = read_entry(path, namespace)
        if data is None:
            self.misses[namespace] += 1
            return None
        self.hits[namespace] += 1
        return data

    def put(self, namespace: str, key: str, data: bytes) -> bool:
        """Store ``data`` under ``key``, atomically; False when it could not be written (a
        full disk: counted, not raised, see :func:`write_entry`)."""
        return write_entry(self._path(namespace, key), data)

    def get_value(self, namespace: str, key: str) -> Any:
        """A marshalled value, or None."""
        return load_value(self.get(namespace, key))

    def put_value(self, namespace: str, key: str, value: Any) -> bool:
        """Store a value made of dicts, lists, str, bytes, numbers, None (as :meth:`put`)."""
        return self.put(namespace, key, marshal.dumps(value))

    def counts(self) -> dict[str, dict[str, int]]:
        """``{namespace: {"hits": n, "misses": m}}`` since this object was made."""
        names = sorted(set(self.hits) | set(self.misses))
        return {n: {"hits": self.hits[n], "misses": self.misses[n]} for n in names}


CACHE_DIR_VARIABLE = "RUNBOOK_CACHE_DIR"


def cache_dir_override() -> Path | None:
    """The cache folder named by ``RUNBOOK_CACHE_DIR``, which wins over the plugin's
    ``cache_dir`` (as ``MYPY_CACHE_DIR`` does for mypy), or None."""
    value = os.environ.get(CACHE_DIR_VARIABLE)
    return Path(value).resolve() if value else None


def file_status(path: str) -> tuple[int, int, int, int] | None:
    """A regular file's inode, size, modification and status-change times (``ctime``, which
    no program can set back: writing the file or setting its times changes it); None for
    anything else, or nothing."""
    try:
        info = os.lstat(path)
    except OSError:
        return None
    if not stat.S_ISREG(info.st_mode):
        return None
    return (info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns)


class Verified:
    """Spilled copies known to match their names, remembered by their file status.

    Checking a copy means reading it whole and hashing it: at a thousand sites, forty
    thousand files and a second and a half on every build. A copy checked once is
    remembered by its inode, size, modification time and status-change time (``ctime``,
    which no program can set back: writing the file or setting its times changes it), so a
    build reads again only what changed since. The record is one sealed cache file
    (``<root>/verified``); a damaged or missing record means every copy is checked.
    """

    FILE = "verified"

    def __init__(self, root: Path) -> None:
        self.path = root / self.FILE
        value = load_value(read_entry(self.path, self.FILE))
        self.known: dict[str, tuple[int, int, int, int]] = value if isinstance(
            value, dict) else {}
        self.seen: dict[str, tuple[int, int, int, int]] = {}

    def check(self, path: str | os.PathLike[str]) -> bytes | None:
        """Check the copy ``path`` unless its status is the one recorded when it was last
        found intact; its bytes when they were read, else None. Raises :class:`Damaged` for
        a damaged copy and ``FileNotFoundError`` for a missing one."""
        name = os.path.basename(os.fspath(path))
        status = file_status(os.fspath(path))
        if status is not None and self.known.get(name) == status:
            self.seen[name] = status
            return None
        data = read_named(path)
        if data is None:
            raise FileNotFoundError(2, "No such file or directory", os.fspath(path))
        status = file_status(os.fspath(path))
        if status is not None:
            self.seen[name] = status
        return data

    def save(self) -> None:
        """Store the copies seen by this build as the record (what it did not see goes)."""
        write_entry(self.path, marshal.dumps(self.seen))
