"""A valid topology with hundreds of servers is validated, planned, exported and paged in
time linear in its size (issue 17, item 11).

Times are CPU seconds of this process, the best of three runs, compared as a ratio between
two sizes of the same layout: a wall-clock bound would fail on a loaded machine, and one
part that scans every server once per server (37 s to plan 500 servers before) makes the
ratio of 500 to 50 servers about a hundred times too large.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any, ClassVar

import pytest

from runbook.outputs.exports import export_files
from runbook.outputs.pages import render_site
from runbook.outputs.templating import make_environment
from runbook.plan.derive import Provenance, build_plan
from runbook.topology.validate import load_topology
from tests.topo import fabrikam_array, write

# Ten times the servers may cost at most this many times the CPU: linear work gives about
# ten (less, with the fixed costs), work growing with the square of the servers about a
# hundred.
MAX_RATIO = 15


array = fabrikam_array


def cpu(work: Callable[[], object]) -> float:
    """The least CPU time of three runs of ``work``, with the cyclic garbage collector off.

    The collector's passes cost in proportion to everything the test process holds (in the
    whole suite, far more than here), so with it on, the larger run pays for the earlier
    tests' objects: that is the process's heap, not the growth of our code.
    """
    best = float("inf")
    for _ in range(3):
        gc.collect()
        gc.disable()
        try:
            start = time.process_time()
            work()
            best = min(best, time.process_time() - start)
        finally:
            gc.enable()
    return best


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[int, Path]:
    folder = tmp_path_factory.mktemp("scale")
    return {n: write(folder, array(n), f"array-{n}.yaml") for n in (50, 500)}


def test_a_500_server_array_validates_plans_and_exports(files: dict[int, Path]) -> None:
    loaded = load_topology(files[500])
    assert loaded.ok, [p.format() for p in loaded.problems][:5]
    assert loaded.topology is not None
    plan = build_plan(loaded.topology, Provenance(source="array-500.yaml")).to_dict()
    assert len(plan["servers"]) == 500
    wizard = {w["server"]: w for w in plan["wizard"]}
    # One import group per set of roles: the first of each exports, every other imports.
    assert wizard["fbedge0000"]["exports_to"] == [f"fbedge{i:04d}" for i in range(1, 250)]
    assert wizard["fbedge0249"]["imports_from"] == "fbedge0000"
    assert wizard["fbav0250"]["exports_to"] == [f"fbav{i:04d}" for i in range(251, 500)]
    assert wizard["fbav0499"]["imports_from"] == "fbav0250"
    # An internal A record per server, one per internal VIP (edgepool, avpool).
    assert len([r for r in plan["dns"] if r["scope"] == "internal"]) == 502
    internal_certs = [c for c in plan["certificates"] if c["purpose"] == "internal"]
    assert [len(c["servers"]) for c in internal_certs] == [250, 250]
    exports = export_files(plan)
    addressing = exports["addressing.csv"].decode("utf-8").splitlines()
    # A header, then the internal, Access and Web Conferencing NICs of 250 servers and
    # the internal and A/V NICs of the other 250.
    assert len(addressing) == 1 + 250 * 3 + 250 * 2


def test_planning_grows_linearly_with_the_servers(files: dict[int, Path]) -> None:
    loaded = {n: load_topology(path) for n, path in files.items()}
    topologies = {n: item.topology for n, item in loaded.items()}
    assert all(t is not None for t in topologies.values())
    times = {n: cpu(partial(build_plan, t, Provenance(source="x.yaml")))
             for n, t in topologies.items() if t is not None}
    assert times[500] <= MAX_RATIO * times[50], times


def test_validation_grows_linearly_with_the_servers(files: dict[int, Path]) -> None:
    times = {n: cpu(partial(load_topology, p)) for n, p in files.items()}
    assert times[500] <= MAX_RATIO * times[50], times


def test_exports_grow_linearly_with_the_servers(files: dict[int, Path]) -> None:
    plans = {n: _plan(path) for n, path in files.items()}
    exports = {n: cpu(partial(export_files, p)) for n, p in plans.items()}
    assert exports[500] <= MAX_RATIO * exports[50], exports


class Counted(list[Any]):
    """A plan list that counts the items the templates read from it (``reads``)."""

    reads: ClassVar[list[int]] = [0]

    def __iter__(self) -> Iterator[Any]:
        for item in super().__iter__():
            self.reads[0] += 1
            yield item


def counted(value: Any) -> Any:
    """``value`` with every list made a :class:`Counted` one."""
    if isinstance(value, dict):
        return {k: counted(v) for k, v in value.items()}
    if isinstance(value, list):
        return Counted(counted(v) for v in value)
    return value


def test_the_pages_read_each_plan_row_a_bounded_number_of_times(
        files: dict[int, Path]) -> None:
    # Counted rather than timed: at 500 servers the pages' own work still outweighs a
    # template filtering every row for every server, which takes over from 1,000 servers.
    env = make_environment()
    reads = {}
    for n, path in files.items():
        plan = counted(_plan(path))
        Counted.reads[0] = 0
        pages = render_site(plan, env)
        reads[n] = Counted.reads[0]
        assert f"## fbedge{n // 2 - 1:04d}" in pages[f"sites/array-{n}/addressing.md"]
    assert reads[500] <= MAX_RATIO * reads[50], reads


def _plan(path: Path) -> dict[str, Any]:
    topology = load_topology(path).topology
    assert topology is not None
    return build_plan(topology, Provenance(source=path.name)).to_dict()
