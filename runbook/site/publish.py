"""Where a built site may go, and putting it there without losing anything.

``runbook build`` writes the site into a staging folder beside the output and swaps it in
only when the build succeeded. Before anything is written, :func:`check_output` refuses an
output folder that would replace the user's own files: the project's sources (docs, inputs,
templates, the configuration's folder, the git work tree) or a folder ``runbook`` did not
write. A folder counts as written by ``runbook`` when it holds :data:`MARKER`.

The sites' part of the site it replaces (``sites/``, a thousand sites' worth of folders and
file names) is not deleted after the swap: it is kept in the cache as the output's
**spare** (:func:`spare_folder`), and the next build takes it as the start of its own
``sites/`` (:func:`take_spare`), so that a rebuild after one edit creates and deletes the
folders and names of what changed, not of every site. The spare is the cache's: it is never
published as it is (the plugin checks every file in it against what it placed there, see
``RunbookPlugin._place``), and a build that cannot take it builds ``sites/`` afresh.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import shutil
import stat
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from runbook.errors import RunbookError

MARKER = ".runbook-site"
MARKER_TEXT = "This folder is a site built by runbook; runbook build replaces it as a whole.\n"
STAGING_PREFIXES = (".new-", ".old-")
# A staging folder being made (for an instant, before it is locked); one left by a killed
# build is removed once it is MAKING_GRACE seconds old.
MAKING_PREFIX = ".init-"
MAKING_GRACE = 60.0
# The cache folder of the spares (one per output folder) and, in a site, the folder kept.
SPARE = "spare"
SPARE_TREE = "sites"


class OutputRefused(RunbookError):
    """The output folder would overwrite files that are not a runbook site."""


def _within(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def check_output(output: Path, *, sources: Iterable[tuple[str, Path]],
                 roots: Iterable[tuple[str, Path]]) -> Path:
    """``output`` resolved, or :class:`OutputRefused` when building there would lose files.

    ``sources`` (name, folder) may be neither the output, inside it, nor contain it;
    ``roots`` (the configuration's folder, the git work tree) may be neither the output nor
    inside it (a site folder inside the project is the usual place). An existing output
    that is not empty must hold :data:`MARKER`.
    """
    out = output.resolve()
    for name, folder in roots:
        folder = folder.resolve()
        if _within(folder, out):
            what = "is" if out == folder else "contains"
            raise OutputRefused(f"{output}: the output folder {what} the {name} ({folder}); "
                                "building there would replace it. Choose a folder of its "
                                "own with -o, such as site")
    for name, folder in sources:
        folder = folder.resolve()
        if _within(out, folder) or _within(folder, out):
            where = "is" if out == folder else "contains" if _within(folder, out) else "lies in"
            raise OutputRefused(f"{output}: the output folder {where} the {name} ({folder}); "
                                "building there would replace it. Choose another folder "
                                "with -o, such as site")
    if out.is_symlink() or (out.exists() and not out.is_dir()):
        raise OutputRefused(f"{output}: exists and is not a folder; remove it or choose "
                            "another with -o")
    if out.is_dir() and not (out / MARKER).is_file() and any(out.iterdir()):
        raise OutputRefused(f"{output}: holds files runbook did not write (no {MARKER} in it); "
                            "building would replace them. Empty or remove the folder, or "
                            "choose another with -o")
    return out


def git_root(start: Path) -> Path | None:
    """The work tree root of the git checkout holding ``start``, found without running git."""
    for folder in (start.resolve(), *start.resolve().parents):
        if (folder / ".git").exists():
            return folder
    return None


@contextmanager
def staging_folder(output: Path) -> Iterator[Path]:
    """A new, locked staging folder beside ``output``, removed on the way out.

    The lock tells :func:`remove_stale_staging` of another build that the folder is in use;
    a build killed mid-way loses its lock with its process, and the next build removes it.
    """
    remove_stale_staging(output)
    # Made under a name of its own and locked before it takes the staging name: another
    # build's remove_stale_staging, between the folder's making and its lock, would take it
    # for a killed build's and remove it under this one.
    prefix = f".{output.name}{MAKING_PREFIX}"
    made = Path(tempfile.mkdtemp(prefix=prefix, dir=output.parent))
    staging = output.parent / f".{output.name}.new-{made.name[len(prefix):]}"
    fd = os.open(made, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH)
        os.rename(made, staging)
        yield staging
    finally:
        for folder in (staging, made):
            if folder.exists():
                shutil.rmtree(folder, ignore_errors=True)
        os.close(fd)


def remove_stale_staging(output: Path) -> list[Path]:
    """Remove the staging folders of ``output`` that no running build holds; return them."""
    removed: list[Path] = []
    prefixes = tuple(f".{output.name}{p}" for p in STAGING_PREFIXES)
    making = f".{output.name}{MAKING_PREFIX}"
    try:
        entries = list(output.parent.iterdir())
    except OSError:
        return removed
    for entry in sorted(entries):
        if not entry.name.startswith((*prefixes, making)) or entry.is_symlink() \
                or not entry.is_dir():
            continue
        if entry.name.startswith(making):
            try:
                if time.time() - entry.stat().st_mtime < MAKING_GRACE:
                    continue  # another build is making it: it locks it in a moment
            except OSError:
                continue
        try:
            fd = os.open(entry, os.O_RDONLY)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            continue  # a running build holds it
        try:
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry)
        finally:
            os.close(fd)
    return removed


def mark(staging: Path) -> None:
    """Write :data:`MARKER` into a site being built."""
    (staging / MARKER).write_text(MARKER_TEXT, encoding="utf-8")


def _exchange(a: Path, b: Path) -> bool:
    """Swap the names of ``a`` and ``b`` in one step (Linux ``renameat2`` with
    ``RENAME_EXCHANGE``); False where the system or the file system cannot."""
    import ctypes

    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    done = renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange)
    return bool(done == 0)


def spare_folder(cache_root: Path, output: Path) -> Path:
    """Where the cache at ``cache_root`` keeps the spare ``sites/`` of ``output``."""
    from runbook.engine.store import digest

    return cache_root / SPARE / digest(SPARE, os.fspath(output.resolve()))[:32]


def remove_tree(path: Path) -> bool:
    """Remove the folder ``path`` and everything in it, making a folder writable where that
    is what stops a removal (a ``chmod`` of the site); True when it is gone."""

    def retry(func: Any, name: str, *_: Any) -> None:
        with contextlib.suppress(OSError):
            os.chmod(os.path.dirname(name), 0o700)
            func(name)

    if sys.version_info >= (3, 12):
        shutil.rmtree(path, onexc=retry)
    else:
        shutil.rmtree(path, onerror=retry)
    return not os.path.lexists(path)


def set_aside(folder: Path) -> None:
    """Move ``folder``, inside a staging folder, out beside it (a name that starts with the
    staging folder's own, so a later build's :func:`remove_stale_staging` removes what
    cannot be removed now) and remove it: nothing of it is published."""
    staging = folder.parent
    aside = staging.with_name(f"{staging.name}.spare")
    os.rename(folder, aside)
    remove_tree(aside)


def remove_name(path: str | Path) -> None:
    """Remove the name ``path``, if there is one: a file or a link (never followed), or a
    folder with what it holds. A file that cannot be removed raises :class:`OSError`."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    except OSError:
        if not _is_folder(Path(path)):
            raise
        remove_tree(Path(path))


def take_spare(spare: Path, into: Path) -> bool:
    """Move the spare ``sites/`` folder ``spare`` to ``into`` (absent, or an empty folder),
    in one rename; False when there is none to take (or it is on another file system).
    Of two builds of one output at once, one takes it and the other builds without it.
    Anything but a folder of this user's in the spare's place goes, never followed."""
    try:
        os.rename(spare, into)
    except OSError:
        return False
    info = os.lstat(into)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid():
        if stat.S_ISDIR(info.st_mode):
            set_aside(into)
        else:
            os.unlink(into)
        return False
    return True


def _is_folder(path: Path) -> bool:
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode)
    except OSError:
        return False


def _dispose(tree: Path, spare: Path | None) -> bool:
    """Remove the replaced site ``tree``, keeping its ``sites/`` as ``spare`` where it can
    (in place of a spare no build took); True when it was kept."""
    kept = False
    if spare is not None and _is_folder(tree / SPARE_TREE):
        try:
            spare.parent.mkdir(parents=True, exist_ok=True)
            if os.path.lexists(spare):
                # Renamed away before it is removed: a build that takes it meanwhile gets
                # it whole, and nothing removes files from a folder another build holds.
                left = spare.with_name(f"{spare.name}.old-{os.getpid()}")
                with contextlib.suppress(OSError):
                    os.rename(spare, left)
                    remove_name(left)
            os.rename(tree / SPARE_TREE, spare)
            os.utime(spare)  # when it was last used, for the prune
            kept = True
        except OSError:
            pass
    remove_tree(tree)
    return kept


@contextmanager
def output_lock(spare: Path) -> Iterator[None]:
    """Hold the lock of the output whose spare is ``spare`` (blocking), so that two builds of
    one output with one cache swap and record what they published one after the other: a
    build records the files of the site it swapped in, never those of a site another build
    swapped in after it. Where the cache cannot hold the lock (read-only, a file system
    without locks) it holds nothing."""
    try:
        spare.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(f"{spare}.lock", os.O_RDWR | os.O_CREAT, 0o644)
    except OSError:
        yield
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            os.utime(fd)  # in use: the prune leaves it
        except OSError:
            pass
        yield
    finally:
        os.close(fd)


def swap(new: Path, output: Path, spare: Path | None = None) -> bool:
    """Put ``new`` in place of ``output``; True when the replaced site's ``sites/`` was kept
    as ``spare`` (:func:`spare_folder`) for the next build, instead of being removed.

    Where the system can, the two folders trade names in one step, so that no moment
    (a kill, a crash) ever finds ``output`` missing; ``new`` then holds the previous site,
    which goes (but for the spare). Elsewhere: rename the old one away, rename in, remove
    the old one (but for the spare).
    """
    if output.is_dir() and not output.is_symlink() and _exchange(new, output):
        return _dispose(new, spare)
    old = None
    if output.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{output.name}.old-", dir=output.parent))
        old.rmdir()
        output.rename(old)
    try:
        new.rename(output)
    except OSError:
        if old is not None:
            old.rename(output)
        raise
    return _dispose(old, spare) if old is not None else False


def describe_os_error(exc: OSError, what: str) -> str:
    """One line for an operating-system failure while ``what`` (no traceback)."""
    reason = {
        errno.ENOSPC: "the disk is full",
        errno.EDQUOT: "the disk quota is used up",
        errno.EACCES: "permission denied",
        errno.EPERM: "operation not permitted",
        errno.EROFS: "the file system is read-only",
        errno.ENAMETOOLONG: "a file name is too long",
    }.get(exc.errno or 0, exc.strerror or str(exc))
    where = f" ({exc.filename})" if exc.filename else ""
    return f"{what}: {reason}{where}"
