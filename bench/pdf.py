"""Measure the PDF renderers side by side: CPU seconds per example site for its two PDFs.

Run: ``.venv/bin/python bench/pdf.py`` (about a minute). For every topology in ``inputs/`` it
lays out the site's field runbook and change request (A4, the network diagram included, no
cache) with:

- **Typst** (the working tree's ``runbook.outputs.documents``: the renderer the build uses);
- **WeasyPrint as it was**: the HTML templates and renderer at ``--weasyprint-rev`` (the last
  revision that rendered with WeasyPrint), run from ``git archive`` of that revision in a
  child process; needs ``pip install weasyprint`` (no longer a dependency);
- **WeasyPrint tuned**: the same HTML with the options that cut its work (one
  ``FontConfiguration`` and counter style shared by every document, fonts embedded whole
  instead of subset, ``full_fonts=True``).

Each figure is ``time.process_time()`` around one site's two documents, after one warm-up
document (imports, font loading), the median of ``--repeat`` runs; each Typst run is a fresh
process, since Typst memoizes what it laid out. The diagrams are made before the clock
starts (their cost is the diagram stage's).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# The last revision whose runbook/outputs/pdf.py rendered with WeasyPrint.
WEASYPRINT_REV = "65b4378"

# Runs inside the child process, with the old revision first on sys.path.
WORKER = r"""
import json, statistics, sys, time
from pathlib import Path
from runbook.outputs import documents
from runbook.plan.sites import plan_file
import weasyprint
from weasyprint.text.fonts import FontConfiguration
from weasyprint.css.counters import CounterStyle

inputs, diagram_dir, repeat = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
fonts, counters = FontConfiguration(), CounterStyle()

from runbook.outputs.pdf import html_to_pdf as plain

def tuned(html):
    return weasyprint.HTML(string=html, base_url=None).write_pdf(
        font_config=fonts, counter_style=counters, full_fonts=True)

out = {"version": weasyprint.__version__, "sites": {}}
for path in sorted(inputs.glob("*.yaml")):
    plan = plan_file(path).to_dict()
    slug = plan["meta"]["site"]
    svg_path = diagram_dir / f"{slug}.svg"
    svg = svg_path.read_bytes() if svg_path.exists() else None
    pages = [documents.breakable(documents.field_runbook_html(plan, svg)),
             documents.breakable(documents.change_request_html(plan))]
    row = {}
    for name, render in (("weasyprint", plain), ("weasyprint tuned", tuned)):
        render(pages[1])  # warm-up
        times, size = [], 0
        for _ in range(repeat):
            t = time.process_time()
            size = sum(len(render(p)) for p in pages)
            times.append(time.process_time() - t)
        row[name] = {"cpu": statistics.median(times), "bytes": size}
    out["sites"][slug] = row
print(json.dumps(out))
"""


def weasyprint_figures(rev: str, diagram_dir: Path, repeat: int) -> dict[str, Any] | None:
    """Both WeasyPrint columns, from the renderer at ``rev``; None when it cannot run."""
    with tempfile.TemporaryDirectory(prefix="bench-pdf-") as tmp:
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev, "runbook",
                                  "templates", "inputs"], capture_output=True)
        if archive.returncode != 0:
            print(f"WeasyPrint: no revision {rev} here ({archive.stderr.decode().strip()})")
            return None
        subprocess.run(["tar", "-x", "-C", tmp], input=archive.stdout, check=True)
        done = subprocess.run([sys.executable, "-c", WORKER, str(Path(tmp) / "inputs"),
                               str(diagram_dir), str(repeat)], capture_output=True, text=True,
                              env={**os.environ, "PYTHONPATH": tmp}, cwd=tmp)
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ["?"])[-1]
            print(f"WeasyPrint at {rev} did not run: {last}")
            return None
        result: dict[str, Any] = json.loads(done.stdout)
        return result


TYPST_WORKER = r"""
import json, sys, time
from pathlib import Path
from runbook.outputs import documents
from runbook.plan.sites import plan_file

diagram_dir = Path(sys.argv[1])
plans = [plan_file(p).to_dict() for p in sorted(Path("inputs").glob("*.yaml"))]
# Warm-up (imports, fonts, the templates parsed): a document of no example.
warm = json.loads(json.dumps(plans[0]))
warm["meta"]["title"] = "warm-up"
documents.change_request_pdf(warm)
out = {}
for plan in plans:
    slug = plan["meta"]["site"]
    svg_path = diagram_dir / f"{slug}.svg"
    svg = svg_path.read_bytes() if svg_path.exists() else None
    t = time.process_time()
    size = len(documents.field_runbook_pdf(plan, svg)) + len(documents.change_request_pdf(plan))
    out[slug] = {"cpu": time.process_time() - t, "bytes": size}
print(json.dumps(out))
"""


def typst_figures(diagram_dir: Path, repeat: int) -> dict[str, Any]:
    """The working tree's renderer: per site, CPU seconds and bytes of its two PDFs.

    Typst memoizes what it laid out within a process, so each run is a fresh process and
    each site's documents are laid out once in it (the median is over the runs).
    """
    from runbook.outputs.pdf import renderer_version

    runs = []
    for _ in range(repeat):
        done = subprocess.run([sys.executable, "-c", TYPST_WORKER, str(diagram_dir)],
                              capture_output=True, text=True, cwd=ROOT, check=True)
        runs.append(json.loads(done.stdout))
    sites = {slug: {"typst": {"cpu": statistics.median(r[slug]["cpu"] for r in runs),
                              "bytes": runs[0][slug]["bytes"]}} for slug in runs[0]}
    return {"version": renderer_version(), "sites": sites}


def main() -> None:
    """Print the table of CPU seconds per site and the ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weasyprint-rev", default=WEASYPRINT_REV)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    from runbook.outputs.documents import network_diagrams
    from runbook.plan.sites import plan_file

    with tempfile.TemporaryDirectory(prefix="bench-pdf-diagrams-") as tmp:
        plans = [plan_file(p).to_dict() for p in sorted((ROOT / "inputs").glob("*.yaml"))]
        diagrams = network_diagrams(plans, Path(tmp) / "work")
        for slug, svg in diagrams.items():
            if svg:
                (Path(tmp) / f"{slug}.svg").write_bytes(svg)
        typst = typst_figures(Path(tmp), args.repeat)
        weasy = weasyprint_figures(args.weasyprint_rev, Path(tmp), args.repeat)
    columns = ["typst"] + (["weasyprint", "weasyprint tuned"] if weasy else [])
    print(f"typst {typst['version']}" + (f", weasyprint {weasy['version']} at "
                                          f"{args.weasyprint_rev}" if weasy else ""))
    print(f"CPU seconds for a site's two PDFs (A4, median of {args.repeat})")
    print(f"{'site':18}" + "".join(f"{c:>18}" for c in columns)
          + ("".join(f"{'ratio ' + c.split()[-1]:>18}" for c in columns[1:])))
    totals = dict.fromkeys(columns, 0.0)
    for slug, row in typst["sites"].items():
        if weasy:
            row.update(weasy["sites"].get(slug, {}))
        cells = [row[c]["cpu"] for c in columns]
        for c in columns:
            totals[c] += row[c]["cpu"]
        print(f"{slug:18}" + "".join(f"{v:18.3f}" for v in cells)
              + "".join(f"{row[c]['cpu'] / row['typst']['cpu']:17.1f}x" for c in columns[1:]))
    print(f"{'all five':18}" + "".join(f"{totals[c]:18.3f}" for c in columns)
          + "".join(f"{totals[c] / totals['typst']:17.1f}x" for c in columns[1:]))
    sizes = {c: sum(r[c]["bytes"] for r in typst["sites"].values()) / 1024 for c in columns}
    print("PDF bytes, all sites: " + ", ".join(f"{c} {v:.0f} kB" for c, v in sizes.items()))


if __name__ == "__main__":
    main()
