"""The benchmark's baselines run on the current templates (bench/run.py is not part of the
package, so nothing else would notice a template context it no longer gives)."""

from __future__ import annotations

import importlib.util
import sys

from runbook.plan.sites import load_sites
from tests.conftest import ROOT


def test_the_bare_jinja_baseline_renders_every_page_of_the_examples() -> None:
    spec = importlib.util.spec_from_file_location("bench_run", ROOT / "bench" / "run.py")
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    sys.modules["bench_run"] = bench
    try:
        spec.loader.exec_module(bench)
        seconds = bench.bare_jinja(load_sites([ROOT / "inputs"]))
    finally:
        del sys.modules["bench_run"]
    assert 0 < seconds < 60
