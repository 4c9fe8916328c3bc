"""Work across cores: results in order, failures surfaced, never a build that waits forever."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

from runbook.engine import parallel


def _square_and_pid(chunk: Sequence[int]) -> list[tuple[int, int]]:
    return [(n * n, os.getpid()) for n in chunk]


def test_results_come_back_in_order_from_several_processes() -> None:
    parts = parallel.map_chunks(_square_and_pid, list(range(40)), jobs=2)
    flat = [value for part in parts for value, _ in part]
    assert flat == [n * n for n in range(40)]
    pids = {pid for part in parts for _, pid in part}
    # Two workers (on a loaded machine one of them may take every chunk).
    assert os.getpid() not in pids and 1 <= len(pids) <= 2


def test_fresh_workers_are_new_processes_for_every_round_of_chunks() -> None:
    parts = parallel.map_chunks(_square_and_pid, list(range(40)), jobs=2, tasks_per_job=4,
                                fresh=True)
    assert [value for part in parts for value, _ in part] == [n * n for n in range(40)]
    # Eight chunks, two at a time: four rounds, each in processes no other round used.
    pids = [pid for part in parts for _, pid in part[:1]]
    rounds = [set(pids[i:i + 2]) for i in range(0, 8, 2)]
    assert len(pids) == 8 and os.getpid() not in pids
    assert len(set().union(*rounds)) == sum(len(r) for r in rounds) >= 4


def test_one_job_runs_here() -> None:
    parts = parallel.map_chunks(_square_and_pid, [1, 2, 3], jobs=1)
    assert [pid for part in parts for _, pid in part] == [os.getpid()] * 3


def test_a_worker_knows_it_is_one_so_it_does_not_start_workers_of_its_own() -> None:
    assert parallel.in_worker() is False
    seen = parallel.map_chunks(lambda chunk: [parallel.in_worker()], list(range(8)), jobs=2)
    assert seen == [[True]] * len(seen)


def test_an_exception_in_a_worker_is_raised_here() -> None:
    def fail(chunk: Sequence[int]) -> list[int]:
        if 5 in chunk:
            raise ValueError("bad item 5")
        return list(chunk)

    with pytest.raises(ValueError, match="bad item 5"):
        parallel.map_chunks(fail, list(range(10)), jobs=2)


def test_a_worker_that_dies_stops_the_run_instead_of_hanging_it() -> None:
    """A crash in native code (Graphviz, say) kills the worker; the build must say so."""
    script = (
        "import os\n"
        "from runbook.engine import parallel\n"
        "def die(chunk):\n"
        "    if 3 in chunk:\n"
        "        os.abort()\n"
        "    return list(chunk)\n"
        "try:\n"
        "    parallel.map_chunks(die, list(range(8)), jobs=2)\n"
        "except parallel.WorkerDied as exc:\n"
        "    print('died:', exc)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("died: a worker process ended abruptly")


# --- detached workers -------------------------------------------------------------------------


def _detached_facts(n: int) -> tuple[int, int, str | None, bool, int]:
    return (n * n, os.getpid(), os.environ.get("RUNBOOK_TEST_SETTING"), parallel.in_worker(),
            parallel.current_rss())


def _fail_on_three(n: int) -> int:
    if n == 3:
        raise ValueError("bad item 3")
    return n


def test_detached_workers_return_results_in_order_and_see_the_environment_of_the_call(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUNBOOK_TEST_SETTING", "first")
    parallel.map_detached(_detached_facts, [0], jobs=2)  # the server starts under "first"
    monkeypatch.setenv("RUNBOOK_TEST_SETTING", "second")
    seen = parallel.map_detached(_detached_facts, list(range(6)), jobs=2, fresh=True)
    assert [square for square, *_ in seen] == [0, 1, 4, 9, 16, 25]
    assert {setting for _, _, setting, _, _ in seen} == {"second"}
    assert all(worker for *_, worker, _ in seen)
    pids = [pid for _, pid, *_ in seen]
    assert os.getpid() not in pids and len(set(pids)) == 6  # fresh: a process per call


def test_a_detached_worker_does_not_carry_the_memory_of_the_process_that_called_it() -> None:
    held = bytearray(300 * 1024 * 1024)  # 300 MB, every page touched
    for at in range(0, len(held), 4096):
        held[at] = 1
    forked = parallel.map_chunks(lambda chunk: [parallel.current_rss()], [0, 1], jobs=2)
    detached = parallel.map_detached(_detached_facts, [0, 1], jobs=2)
    assert min(rss for part in forked for rss in part) > len(held)
    assert max(rss for *_, rss in detached) < 150 * 1024 * 1024
    assert parallel.LAST.worker_peak_rss < 150 * 1024 * 1024
    del held


def test_an_exception_in_a_detached_worker_is_raised_here() -> None:
    with pytest.raises(ValueError, match="bad item 3"):
        parallel.map_detached(_fail_on_three, list(range(6)), jobs=2)


def test_a_detached_worker_that_dies_stops_the_run_and_a_script_needs_its_main_guard(
        tmp_path: Path) -> None:
    script = tmp_path / "job.py"
    script.write_text(
        "import os\n"
        "from runbook.engine import parallel\n"
        "def die(n):\n"
        "    if n == 3:\n"
        "        os.abort()\n"
        "    return n\n"
        "if __name__ == '__main__':\n"
        "    print(parallel.map_detached(abs, [-1, -2], jobs=2))\n"
        "    try:\n"
        "        parallel.map_detached(die, list(range(6)), jobs=2)\n"
        "    except parallel.WorkerDied as exc:\n"
        "        print('died:', exc)\n", encoding="utf-8")
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == "[1, 2]"
    assert done.stdout.splitlines()[1].startswith("died: a worker process ended abruptly")
    assert "__name__" in done.stdout  # the message names the guard a script needs


def test_a_detached_worker_takes_over_the_warning_filters_of_its_caller() -> None:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        with pytest.raises(DeprecationWarning, match="old way"):
            parallel.map_detached(_warn, [1], jobs=2)


def _warn(n: int) -> int:
    import warnings

    warnings.warn("the old way", DeprecationWarning, stacklevel=1)
    return n
