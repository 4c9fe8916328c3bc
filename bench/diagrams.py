"""Benchmark the diagram stage on generated sites against one ``dot`` process over the same files.

Run: ``.venv/bin/python bench/diagrams.py [--sites 200] [--seed 1]``

Prints the cold diagram stage (no cache: build the DOT sources, render, read back), the
baseline (a single ``dot -Tsvg -O`` over the same ``.dot`` files), their ratio, the warm
(cached) stage, and whether the single-process batch gives the same bytes twice: it does not
on Graphviz 2.43, which is why the stage lays graphs out through ``runbook.outputs.gvc`` (ids that
follow the source) or, without it, runs one ``dot`` per file.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import corpus

from runbook.outputs import diagrams as diagram
from runbook.outputs import gvc


def _batch(folder: Path, names: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(["dot", "-Tsvg", "-O", *names], cwd=folder, check=True)
    return time.perf_counter() - start


def main() -> None:
    """Run the benchmark and print its numbers."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sites", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    plans = corpus.plans(corpus.generate(args.sites, args.seed))
    with tempfile.TemporaryDirectory(prefix="bench-diagrams-") as tmp:
        root = Path(tmp)
        start = time.perf_counter()
        cold = diagram.render_svgs(plans, root / "cache")
        cold_s = time.perf_counter() - start

        start = time.perf_counter()
        serial = diagram.render_svgs(plans, root / "serial", workers=1)
        serial_s = time.perf_counter() - start
        assert serial == cold

        start = time.perf_counter()
        warm = diagram.render_svgs(plans, root / "cache")
        warm_s = time.perf_counter() - start
        assert warm == cold

        start = time.perf_counter()
        sources = [diagram.diagram_sources(p) for p in plans]
        build_s = time.perf_counter() - start

        batch = root / "batch"
        batch.mkdir()
        names = []
        for plan, per_site in zip(plans, sources, strict=True):
            for name, source in per_site.items():
                file = f'{plan["meta"]["site"]}-{name}.gv'
                (batch / file).write_text(source, encoding="utf-8")
                names.append(file)
        baseline_s = _batch(batch, names)
        first = {n: (batch / f"{n}.svg").read_bytes() for n in names}
        _batch(batch, names)
        unstable = sum((batch / f"{n}.svg").read_bytes() != first[n] for n in names)

        # Does the batch agree with the stage (one process per file) on each diagram?
        differs = 0
        for plan in plans:
            for name in ("network", "traffic"):
                file = f'{plan["meta"]["site"]}-{name}.gv'
                ours = cold[plan["meta"]["site"]][f"{name}.svg"]
                theirs = first[file]
                differs += _layout(ours) != _layout(theirs)
        shutil.rmtree(batch)

    count = len(names)
    print(f"sites: {len(plans)}, diagrams: {count}, workers: {diagram.default_workers()}, "
          f"renderer: {gvc.engine()}")
    print(f"build DOT sources only:               {build_s:6.2f} s")
    print(f"diagram stage, cold (no cache):       {cold_s:6.2f} s")
    print(f"  same with one dot at a time:        {serial_s:6.2f} s")
    print(f"baseline, one `dot -Tsvg -O` process: {baseline_s:6.2f} s")
    print(f"ratio stage / baseline:               {cold_s / baseline_s:6.2f}")
    print(f"diagram stage, warm (all cached):     {warm_s:6.2f} s")
    print(f"baseline batch run twice: {unstable} of {count} SVGs changed between runs; "
          f"{differs} of {count} differ in layout from a one-file-per-process render")


def _layout(svg: bytes) -> bytes:
    """The SVG without comments, font fallback and Graphviz's batch page ids."""
    svg = re.sub(rb"<!--.*?-->\n", b"", svg, flags=re.DOTALL)
    svg = svg.replace(diagram.FONT_ATTR_WITH_FALLBACK, diagram.FONT_ATTR)
    return svg.replace(b'id="page0,1_graph0"', b'id="graph0"')


if __name__ == "__main__":
    main()
