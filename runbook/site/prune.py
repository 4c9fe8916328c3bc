"""Pruning the build cache: what no build has used for a while is removed.

A cache entry's modification time says when a build last used it: an entry is written with
it, and a read more than a day later sets it again (:func:`mark_used`), so a cache in daily
use costs one ``utime`` per entry per day. :func:`prune` removes what no build has used for
``max_age_days``:

* the entries of every namespace, by that time. A site's plan (``plan/``) goes with its head
  (``site/``), which every build reads, while a warm build may never read the plan;
* the spilled copies of generated files and finished pages (``files/``) that no remaining
  producer entry or finished-pages entry names and that are as old (a warm build reads the
  entry, never the copies, so the copies' own times say nothing);
* temporary files that a killed build left behind, after an hour;
* the spare ``sites/`` of an output folder that no build has replaced for that long
  (:func:`runbook.site.publish.spare_folder`), as a whole.

Only the folders runbook writes are looked at (:func:`namespaces`), whatever else shares the
cache folder. A file that cannot be removed is counted and left; the prune goes on.

A build holds the cache's lock shared (:func:`using`) while it reads and writes the cache;
pruning takes it exclusively, without waiting (:class:`CacheBusy` if a build holds it), so a
prune never removes a file that a running build is about to read. Where the file system has
no locks, builds run without one and the cache is never pruned (a dry run still reports).
Anything removed is made again by the next build that needs it: a pruned cache costs time,
never correctness.

``runbook build`` prunes at most once a day, after a successful build
(:func:`prune_if_due`, the plugin's ``cache_max_age_days``); ``runbook cache prune`` prunes
on demand.

(:func:`mark_used` lives in :mod:`runbook.engine.store`, which the replay of
``runbook validate``
imports without anything heavier than :mod:`pathlib`.)
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from runbook.engine.store import TOUCH_AFTER, mark_used
from runbook.errors import RunbookError
from runbook.site.publish import SPARE, remove_name

__all__ = ["TOUCH_AFTER", "CacheBusy", "Pruned", "mark_used", "prune", "prune_if_due", "using"]

DAY = 86400.0
# A temporary file older than this belongs to a build that no longer runs.
TEMP_AGE = 3600.0
DEFAULT_MAX_AGE_DAYS = 30
LOCK = ".lock"
STAMP = ".pruned"  # its time: when the cache was last pruned (or first used by this version)
SPILL = "files"
PLAN, SITE = "plan", "site"


log = logging.getLogger(__name__)  # not under "mkdocs": a strict build must not fail for it


class CacheBusy(RunbookError):
    """The cache cannot be pruned now: a build is using it, or it cannot be locked."""


def _lock(root: Path, *, exclusive: bool) -> int | None:
    """``root``'s lock file, open and locked; None where this file system cannot lock.

    Raises :class:`CacheBusy` when ``exclusive`` and a build holds the lock.
    """
    try:
        import fcntl
    except ImportError:  # not POSIX
        return None
    try:
        root.mkdir(parents=True, exist_ok=True)
        fd = os.open(root / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError:  # a read-only cache
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB if exclusive else fcntl.LOCK_SH)
    except BlockingIOError:
        os.close(fd)
        raise CacheBusy(f"{root}: a build is using this cache; prune it once the build has "
                        "finished") from None
    except OSError:  # some network file systems have no locks
        os.close(fd)
        return None
    return fd


@contextlib.contextmanager
def using(root: Path) -> Iterator[None]:
    """Hold ``root``'s lock shared while a build uses the cache: no prune runs meanwhile.

    Where the file system cannot lock, the build goes on without the lock (and nothing
    prunes that cache, see :func:`prune`).
    """
    fd = _lock(root, exclusive=False)
    try:
        yield
    finally:
        if fd is not None:
            os.close(fd)  # forked workers closed their copies when they ended


@contextlib.contextmanager
def _exclusive(root: Path, *, dry_run: bool) -> Iterator[None]:
    fd = _lock(root, exclusive=True)
    if fd is None and not dry_run:
        raise CacheBusy(f"{root}: the cache cannot be locked here, so it cannot be pruned "
                        "while a build might be using it; delete the folder when no build "
                        "runs instead")
    try:
        yield
    finally:
        if fd is not None:
            os.close(fd)


def namespaces() -> frozenset[str]:
    """The folders of a cache root that runbook writes: a prune touches nothing else."""
    from runbook.site.finish import NAMESPACE as FINISHED
    from runbook.site.finish import PUBLISHED
    from runbook.site.generate import PRODUCERS
    from runbook.topology.verdicts import NAMESPACE as VERDICTS

    return frozenset({SITE, PLAN, SPILL, "diagrams", "pdf", FINISHED, VERDICTS, "jinja",
                      PUBLISHED, SPARE,
                      *PRODUCERS, *(f"{name}.global" for name in PRODUCERS)})


@dataclass
class Pruned:
    """What a prune removed and kept: files and bytes, in all and per namespace."""

    removed: int = 0
    removed_bytes: int = 0
    kept: int = 0
    kept_bytes: int = 0
    failed: int = 0  # files that were to go but could not be removed (kept, counted here)
    by_namespace: dict[str, list[int]] = field(default_factory=dict)  # [files, bytes] removed

    def _remove(self, namespace: str, size: int) -> None:
        self.removed += 1
        self.removed_bytes += size
        counts = self.by_namespace.setdefault(namespace, [0, 0])
        counts[0] += 1
        counts[1] += size

    def _keep(self, size: int) -> None:
        self.kept += 1
        self.kept_bytes += size


def _files(folder: Path) -> Iterator[tuple[Path, os.stat_result]]:
    for dirpath, _, names in os.walk(folder):
        for name in sorted(names):
            path = Path(dirpath, name)
            try:
                yield path, path.lstat()
            except OSError:  # removed meanwhile (a validate run does not lock)
                continue


def _referenced(root: Path, producers: tuple[str, ...], removed: set[Path]) -> set[str]:
    """The spilled copies named by the producer entries that stay."""
    from runbook.engine.store import load_value, unseal
    from runbook.site.finish import entry_names

    names: set[str] = set()
    for namespace in producers:
        for path, _ in _files(root / namespace):
            if path in removed or ".tmp" in path.name:
                continue
            try:
                data = path.read_bytes()
            except OSError:
                continue
            # A damaged entry names nothing (the next build remakes it).
            payload = unseal(data, path.name)
            entry = load_value(payload) if payload is not None else None
            if isinstance(entry, dict):
                names.update(v for v in entry.values() if isinstance(v, str))
            elif isinstance(entry, list):  # a site's finished pages (runbook.site.finish)
                names.update(entry_names(entry))
    return names


def prune(root: Path, max_age_days: float, *, dry_run: bool = False,
          now: float | None = None) -> Pruned:
    """Remove from the cache at ``root`` what no build used for ``max_age_days`` days.

    See the module docstring for what goes. With ``dry_run``, nothing is removed and the
    result says what would be. Raises :class:`CacheBusy` while a build uses the cache.
    """
    from runbook.site.generate import PRODUCERS

    if max_age_days < 0:
        raise ValueError(f"max_age_days must be 0 or more, not {max_age_days}")
    result = Pruned()
    if not root.is_dir():
        return result
    now = time.time() if now is None else now
    cutoff = now - max_age_days * DAY
    removed: set[Path] = set()

    def remove(namespace: str, path: Path, size: int) -> None:
        if not dry_run:
            try:
                path.unlink()
            except FileNotFoundError:
                pass
            except OSError:  # not ours to remove (another user's cache, a read-only one)
                result.failed += 1
                result._keep(size)
                return
        result._remove(namespace, size)
        removed.add(path)

    with _exclusive(root, dry_run=dry_run):
        known = namespaces()
        present = sorted(p.name for p in root.iterdir() if p.is_dir() and p.name in known)
        # Heads first, so that a site's plan is removed only after its head (a head without
        # its plan would fail the next build; a plan without its head is never read).
        for namespace in sorted(present, key=lambda n: (n == PLAN, n == SPILL, n)):
            if namespace == SPILL:
                continue
            if namespace == SPARE:
                _prune_spares(root / SPARE, cutoff, dry_run, result)
                continue
            for path, st in _files(root / namespace):
                temporary = ".tmp" in path.name
                if temporary and st.st_mtime < now - TEMP_AGE:
                    remove(namespace, path, st.st_size)
                elif temporary:
                    result._keep(st.st_size)
                elif namespace == PLAN:
                    head = root / SITE / path.parent.name / path.name
                    if head in removed or not head.exists():
                        remove(namespace, path, st.st_size)
                    else:
                        result._keep(st.st_size)
                elif st.st_mtime < cutoff:
                    remove(namespace, path, st.st_size)
                else:
                    result._keep(st.st_size)
        if SPILL in present:
            from runbook.site.finish import NAMESPACE as FINISHED

            named = _referenced(root, (*PRODUCERS, FINISHED), removed)
            for path, st in _files(root / SPILL):
                temporary = ".tmp" in path.name
                old = st.st_mtime < (now - TEMP_AGE if temporary else cutoff)
                if old and path.name not in named:
                    remove(SPILL, path, st.st_size)
                else:
                    result._keep(st.st_size)
        if not dry_run:
            for namespace in present:
                _remove_empty_folders(root / namespace)
            _stamp(root)
    return result


def _prune_spares(folder: Path, cutoff: float, dry_run: bool, result: Pruned) -> None:
    """Remove each spare kept before ``cutoff`` (its folder's time: when it was kept), whole;
    count the others' files as kept. Only a file that is not also a published file's
    other name counts its bytes (removing the spare frees only those)."""
    for spare in sorted(folder.iterdir()):
        try:
            old = spare.lstat().st_mtime < cutoff
        except OSError:
            continue
        is_tree = spare.is_dir() and not spare.is_symlink()
        files = list(_files(spare)) if is_tree else []
        if old and not dry_run:
            with contextlib.suppress(OSError):
                remove_name(spare)
            if os.path.lexists(spare):  # not ours to remove: counted and left
                result.failed += 1
                old = False
        for _, st in files:
            size = st.st_size if st.st_nlink == 1 else 0
            if old:
                result._remove(SPARE, size)
            else:
                result._keep(size)


def _remove_empty_folders(folder: Path) -> None:
    """Remove the empty folders under ``folder`` (key prefixes, scratch folders)."""
    for dirpath, _, _ in os.walk(folder, topdown=False):  # a folder after its subfolders
        if dirpath != str(folder):
            with contextlib.suppress(OSError):  # not empty, or not ours
                os.rmdir(dirpath)


def _stamp(root: Path) -> None:
    with contextlib.suppress(OSError):
        (root / STAMP).touch()


def prune_if_due(root: Path, max_age_days: float, *, now: float | None = None
                 ) -> Pruned | None:
    """:func:`prune` after a build, at most once a day; None when it did not run.

    It does not run with ``max_age_days`` 0 (pruning turned off), when the cache was pruned
    less than a day ago, or while another build uses the cache. A cache without the stamp
    (new, or used by an earlier version) is only stamped: it is pruned a day later.
    """
    if max_age_days <= 0 or not root.is_dir():
        return None
    now = time.time() if now is None else now
    try:
        last = (root / STAMP).stat().st_mtime
    except OSError:
        _stamp(root)
        return None
    if last > now - DAY:
        return None
    try:
        done = prune(root, max_age_days, now=now)
    except CacheBusy:
        return None
    except OSError as exc:  # a build that succeeded does not fail for its cache's sake
        log.warning("runbook: could not prune the cache %s: %s", root, exc)
        _stamp(root)
        return None
    if done.failed:
        log.warning("runbook: could not remove %d file(s) from the cache %s (permissions?)",
                    done.failed, root)
    return done
