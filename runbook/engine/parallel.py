"""Run per-site work across the machine's cores, with results in a fixed order.

Work is split into contiguous chunks, one task per chunk, run by forked worker processes:
a forked worker inherits the parent's imported modules and data, so starting it costs
milliseconds and the items need not be pickled on the way in (only chunk numbers travel).
Results come back in chunk order, so the output never depends on which worker finished
first. With ``jobs == 1`` (or one chunk) everything runs in this process.

A worker forked from the build process shares the build's memory, but counts all of it as its
own: its resident size starts at the build's. Work whose own peak is large (laying out PDFs)
runs in *detached* workers instead (:func:`map_detached`): forked from a small process that
holds only the imported modules (multiprocessing's ``forkserver``), with their arguments
pickled, so their size does not grow with the number of sites the build holds.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import sys
import threading
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import Any, TypeVar

from runbook.engine import optin
from runbook.engine.store import FAULTS
from runbook.errors import RunbookError

T = TypeVar("T")
A = TypeVar("A")


class WorkerDied(RunbookError):
    """A worker process ended without returning its result."""

R = TypeVar("R")

# What the forked workers read: set just before the pool starts, cleared after.
_JOB: tuple[Callable[[Sequence[Any]], Any], list[Sequence[Any]]] | None = None
_IN_WORKER = False


def default_jobs() -> int:
    """The number of worker processes to use by default: every core this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def _status_bytes(field: str) -> int | None:
    """A ``kB`` field of ``/proc/self/status`` in bytes (None where /proc is not available)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith(f"{field}:"):
                    return int(line.split()[1]) * 1024
    except OSError:  # pragma: no cover - not Linux
        pass
    return None


def peak_rss() -> int:
    """This process's peak resident memory in bytes since start or :func:`reset_peak_rss`."""
    peak = _status_bytes("VmHWM")
    if peak is not None:
        return peak
    import resource  # pragma: no cover - not Linux

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # pragma: no cover


def current_rss() -> int:
    """This process's resident memory now, in bytes (0 where /proc is not available)."""
    return _status_bytes("VmRSS") or 0


def release_memory() -> None:
    """Collect garbage and hand freed heap memory back to the system (glibc ``malloc_trim``).

    CPython keeps freed memory for reuse; after a stage that made and dropped hundreds of
    megabytes, returning it keeps the next stage's peak from stacking on top of it.
    """
    gc.collect()
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # pragma: no cover - not glibc
        pass


def reset_peak_rss() -> None:
    """Start measuring :func:`peak_rss` afresh (Linux: ``clear_refs`` resets VmHWM)."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as fh:
            fh.write("5")
    except OSError:  # pragma: no cover - not Linux, or not permitted
        pass


@dataclass
class Stats:
    """What a parallel run cost: worker count and the largest worker's peak memory.

    ``detached_cpu`` adds up, over the life of the process, the CPU seconds of detached
    workers (:func:`map_detached`), which are not this process's children: ``os.times()``
    does not count them.
    """

    workers: int = 0
    worker_peak_rss: int = 0
    tasks: int = 0
    extra: dict[str, float] = field(default_factory=dict)
    detached_cpu: float = 0.0


LAST = Stats()


def chunks(items: Sequence[T], count: int) -> list[Sequence[T]]:
    """``items`` cut into at most ``count`` contiguous slices of near-equal length."""
    count = max(1, min(count, len(items)))
    size, rest = divmod(len(items), count)
    out: list[Sequence[T]] = []
    start = 0
    for i in range(count):
        end = start + size + (1 if i < rest else 0)
        out.append(items[start:end])
        start = end
    return [c for c in out if len(c)]


def in_worker() -> bool:
    """True in a worker started by :func:`map_chunks` (which must not start workers itself)."""
    return _IN_WORKER


def _run(index: int) -> tuple[Any, int, Any]:
    global _IN_WORKER
    _IN_WORKER = True
    assert _JOB is not None
    fn, parts = _JOB
    # The inherited heap never becomes garbage here: keep the collector from scanning it
    # (and from touching its pages, which would copy them out of the shared fork).
    gc.freeze()
    reset_peak_rss()
    FAULTS.clear()  # the parent's, inherited: the parent counts those itself
    result = fn(parts[index])
    return result, peak_rss(), FAULTS.as_data()


def _cpu_seconds() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


@dataclass(frozen=True)
class _Setting:
    """What a detached worker takes over from the process that called it."""

    env: dict[str, str]
    # (action, message, category, module, lineno) of each warnings filter, in order.
    warnings: list[tuple[Any, ...]]
    notices: frozenset[str]


def _setting() -> _Setting:
    filters = []
    for action, message, category, module, lineno in warnings.filters:
        # A pattern is compiled, or a plain string where the interpreter's -W options set it.
        filters.append((action, getattr(message, "pattern", message) or "", category,
                        getattr(module, "pattern", module) or "", lineno))
    return _Setting(dict(os.environ), filters, optin.given())


def _run_detached(fn: Callable[[A], R], arg: A, setting: _Setting
                  ) -> tuple[R, int, Any, float]:
    global _IN_WORKER
    _IN_WORKER = True
    # The server process was started by an earlier call, maybe under other settings.
    os.environ.clear()
    os.environ.update(setting.env)
    # The caller's warning filters (a test suite's "error"), which a new process lacks.
    warnings.resetwarnings()
    for action, message, category, module, lineno in setting.warnings:
        warnings.filterwarnings(action, message, category, module, lineno, append=True)
    optin.already_given(setting.notices)  # a notice is given once per build, by the caller
    reset_peak_rss()
    FAULTS.clear()
    result = fn(arg)
    # The worker's whole CPU time since it was forked: receiving its work included.
    return result, peak_rss(), FAULTS.as_data(), _cpu_seconds()


def _collect(item: tuple[Any, int, Any, float]) -> None:
    """Take in what a detached worker reported beside its result."""
    FAULTS.add(item[2])  # the cache files the worker found damaged
    LAST.detached_cpu += item[3]


def can_detach() -> bool:
    """True when :func:`map_detached` can start workers from a server process."""
    return "forkserver" in multiprocessing.get_all_start_methods() and sys.platform != "darwin"


def map_detached(fn: Callable[[A], R], args: Sequence[A], jobs: int, *,
                 preload: Sequence[str] = (), on_done: Callable[[int], None] | None = None,
                 fresh: bool = False) -> list[R]:
    """``fn(arg)`` for each of ``args``, in detached worker processes; results in order.

    ``fn`` must be a module-level function and ``args`` picklable: each call is sent to a
    worker forked from multiprocessing's ``forkserver`` process, which imports ``preload``
    once and never holds the caller's data. A worker takes over the caller's environment
    variables and warning filters of the moment, nothing else of its state (nothing set or
    patched at run time). As with any multiprocessing start method but ``fork``, a worker
    imports the ``__main__`` script again: a script must keep its work under
    ``if __name__ == "__main__":``. ``on_done(i)`` is called with each finished argument's
    index. With ``fresh``, each call gets a new process (a library whose memory grows with
    what it did is then bounded by one call's work). ``jobs <= 1`` runs one worker at a
    time. Where no server process can be used, the calls run here.
    """
    LAST.workers, LAST.worker_peak_rss, LAST.tasks = 0, 0, len(args)
    if not args:
        return []
    if not can_detach() or _IN_WORKER:
        results = []
        for index, arg in enumerate(args):
            results.append(fn(arg))
            if on_done:
                on_done(index)
        return results
    context = multiprocessing.get_context("forkserver")
    # Without a list of its own, the server would import the __main__ script again.
    context.set_forkserver_preload(["runbook.engine.parallel", *preload])
    setting = _setting()
    workers = max(1, min(jobs, len(args)))
    done: list[tuple[R, int, Any, float]] = []
    with ProcessPoolExecutor(workers, mp_context=context,
                             max_tasks_per_child=1 if fresh else None) as pool:
        try:
            futures = [pool.submit(_run_detached, fn, arg, setting) for arg in args]
            for index, future in enumerate(futures):
                item = future.result()
                done.append(item)
                _collect(item)
                if on_done:
                    on_done(index)
        except BrokenProcessPool:
            raise WorkerDied("a worker process ended abruptly (killed, or crashed in native "
                             "code; or a script that calls runbook without "
                             "'if __name__ == \"__main__\":')") from None
    LAST.workers = workers
    LAST.worker_peak_rss = max(rss for _, rss, _, _ in done)
    return [result for result, _, _, _ in done]


def can_fork() -> bool:
    """True when workers can be forked from this process (see the comment below)."""
    # Forking while other threads run (mkdocs serve's server and watcher) can copy a lock
    # some thread holds into a child that never sees it released: stay in this process then.
    return ("fork" in multiprocessing.get_all_start_methods() and sys.platform != "darwin"
            and threading.active_count() == 1)


def map_chunks(fn: Callable[[Sequence[T]], R], items: Sequence[T], jobs: int,
               tasks_per_job: int = 4, on_done: Callable[[int], None] | None = None,
               isolate: bool = False, fresh: bool = False) -> list[R]:
    """``fn`` applied to contiguous chunks of ``items``; results in chunk order.

    Up to ``jobs`` processes run at once; ``items`` is cut into ``jobs * tasks_per_job``
    chunks so a slow chunk does not leave a core idle at the end. ``on_done(n)`` is called
    with each finished chunk's length (for progress). Exceptions raised by ``fn`` in a worker
    are raised here. With ``isolate``, even a single chunk runs in a forked process, so its
    memory is given back when it ends. With ``fresh``, every ``jobs`` chunks get new
    processes: a library whose memory grows with what it did (the PDF compiler) is bounded
    by one chunk's work, whatever the number of items.
    """
    global _JOB
    parts = chunks(items, max(1, jobs) * tasks_per_job if jobs > 1 else 1)
    LAST.workers, LAST.worker_peak_rss, LAST.tasks = 0, 0, len(parts)
    if not parts:
        return []
    if ((jobs <= 1 or len(parts) <= 1) and not isolate) or not can_fork():
        results = []
        for part in parts:
            results.append(fn(part))
            if on_done:
                on_done(len(part))
        return results
    _JOB = (fn, parts)
    done: list[tuple[Any, int, Any]] = []
    try:
        context = multiprocessing.get_context("fork")
        workers = max(1, min(jobs, len(parts)))
        # An executor rather than multiprocessing.Pool: when a worker dies (a crash in C code,
        # the out-of-memory killer), Pool waits for its result forever; the executor raises
        # BrokenProcessPool.
        step = workers if fresh else len(parts)
        for start in range(0, len(parts), step):
            batch = range(start, min(start + step, len(parts)))
            with ProcessPoolExecutor(workers, mp_context=context) as pool:
                try:
                    for index, item in zip(batch, pool.map(_run, batch), strict=True):
                        done.append(item)
                        FAULTS.add(item[2])  # the cache files the worker found damaged
                        if on_done:
                            on_done(len(parts[index]))
                except BrokenProcessPool:
                    raise WorkerDied("a worker process ended abruptly (killed, or crashed in "
                                     "native code); run again with -j 1 to see where") from None
    finally:
        _JOB = None
    LAST.workers = workers
    LAST.worker_peak_rss = max(rss for _, rss, _ in done)
    return [result for result, _, _ in done]
