"""Which files are topologies, and the names they are reported under."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

SUFFIXES = (".yaml", ".yml")
_KINDS = ((stat.S_ISFIFO, "a named pipe (FIFO)"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"),
          (stat.S_ISDIR, "a folder"))


class NotRegularFile(OSError):
    """A topology path that names a pipe, a device, a socket or a folder, not a file."""


class TooLarge(OSError):
    """A file holding more bytes than the reader was allowed to take."""


PIPE_TIMEOUT = 30.0  # seconds a pipe may stay silent before it is given up on


def read_capped(path: Path | str, limit: int, *, pipes: bool = True) -> bytes:
    """The bytes of the file ``path``, reading at most ``limit`` + 1 of them.

    A pipe another program feeds (``/dev/stdin``, ``<(...)``) is read too when ``pipes``
    is true, and given up on when silent for :data:`PIPE_TIMEOUT` seconds. A named pipe (a
    FIFO in a folder) is refused: it may have no writer, ever. Opening never waits.
    Raises :class:`NotRegularFile` for a named pipe, a device (``/dev/zero`` is never
    read), a socket, a folder, or any pipe when ``pipes`` is false; :class:`TooLarge` when
    the file holds more than ``limit`` bytes; :class:`OSError` when it cannot be read.
    """
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISFIFO(mode) and pipes and not _named_pipe(path):
            data = _read_pipe(fd, limit)
        elif stat.S_ISREG(mode):
            data = _read_upto(fd, limit)
        else:
            kind = next((name for test, name in _KINDS if test(mode)), "not a regular file")
            if stat.S_ISFIFO(mode) and not _named_pipe(path):
                kind = "a pipe"
            raise NotRegularFile(f"it is {kind}, not a regular file")
    finally:
        os.close(fd)
    if len(data) > limit:
        raise TooLarge(f"it holds more than {limit} bytes")
    return data


def _named_pipe(path: Path | str) -> bool:
    # /dev/stdin and /dev/fd/N lead to a pipe that has no name in any folder ("pipe:[N]"),
    # a FIFO made by mkfifo to a name that exists.
    try:
        return stat.S_ISFIFO(os.stat(os.path.realpath(path)).st_mode)
    except OSError:
        return False


def _read_upto(fd: int, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while size <= limit:  # a file growing while it is read still stops at limit + 1 bytes
        chunk = os.read(fd, limit + 1 - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def _read_pipe(fd: int, limit: int) -> bytes:
    import select

    chunks: list[bytes] = []
    size = 0
    while size <= limit:
        ready, _, _ = select.select([fd], [], [], PIPE_TIMEOUT)
        if not ready:
            raise NotRegularFile(f"it is a pipe that sent nothing for {PIPE_TIMEOUT:.0f} s")
        try:
            chunk = os.read(fd, limit + 1 - size)
        except BlockingIOError:
            continue
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def display_name(path: Path) -> str:
    """How a file is named in messages and provenance.

    Relative to the working folder when inside it, else relative to its git work tree (so
    output does not depend on where a checkout lives), else as given; always printable:
    control characters and bytes that are not UTF-8 are written as escapes
    (:func:`runbook.errors.printable`), so the name is safe on a terminal and in every output.
    """
    name = _name(path)
    if name.isprintable():  # the common case; runbook.errors costs the replay path its import
        return name
    from runbook.errors import printable

    return printable(name)


def _name(path: Path) -> str:
    # A link is named as itself, not as what it points at (a pipe, a device, a file outside
    # the project, nothing at all): that is the name the user gave.
    full = path.parent.resolve() / path.name if path.is_symlink() else path.resolve()
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
    """Topology files named by ``paths``: files as given, folders searched for ``*.yaml``.

    In a folder, every entry named ``*.yaml`` or ``*.yml`` that is not a folder is a
    topology, also a pipe, a device or a dangling link: the reader refuses those with a
    message, rather than leaving them out unsaid.
    """
    found: list[Path] = []
    for entry in paths:
        p = Path(entry)
        if p.is_dir():
            found += sorted(q for q in p.rglob("*") if q.suffix in SUFFIXES and not q.is_dir())
        else:
            found.append(p)
    return found
