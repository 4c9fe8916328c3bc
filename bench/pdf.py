"""Measure the PDF renderers side by side: CPU seconds per example site for its two PDFs.

Run: ``.venv/bin/python bench/pdf.py`` (about a minute). For every topology in ``inputs/`` it
lays out the site's field runbook and change request (A4, the network diagram included, no
cache) with:

- **Typst** (the working tree's ``runbook.outputs.documents``: the renderer the build uses),
  twice: each site alone in a process of its own, and the five one after the other in one
  process, as a build's worker lays them out (``typst in one process``);
- **WeasyPrint as it was**: the HTML templates and renderer at ``--weasyprint-rev`` (the last
  revision that rendered with WeasyPrint), run from ``git archive`` of that revision in a
  child process; needs ``pip install weasyprint`` (no longer a dependency);
- **WeasyPrint tuned**: the same HTML with the options that cut its work (one
  ``FontConfiguration`` and counter style shared by every document, fonts embedded whole
  instead of subset, ``full_fonts=True``).

``--against REV`` adds the renderer at ``REV`` (``git archive``), each of its processes right
after the working tree's for the same site: figures taken minutes apart on a shared machine
differ by more than a change does. ``--no-weasyprint`` skips the WeasyPrint columns.

Each figure is ``time.process_time()`` around one site's two documents, after one warm-up
document (imports, font loading), the median of ``--repeat`` runs. Typst memoizes what it
laid out, and its cache of layouts grows in a long process (the second column), so the
first column starts a fresh process per site. The diagrams are made before the clock
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
# Issue 16 item 2: a site's two PDFs in at most this many CPU seconds.
TARGET = 0.15

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

diagram_dir, only = Path(sys.argv[1]), sys.argv[2:]
plans = [plan_file(p).to_dict() for p in sorted(Path("inputs").glob("*.yaml"))]
# Warm-up (imports, fonts, the templates parsed): a document of no example.
warm = json.loads(json.dumps(plans[0]))
warm["meta"]["title"] = "warm-up"
documents.change_request_pdf(warm)
out = {}
for plan in plans:
    slug = plan["meta"]["site"]
    if only and slug not in only:
        continue
    svg_path = diagram_dir / f"{slug}.svg"
    svg = svg_path.read_bytes() if svg_path.exists() else None
    t = time.process_time()
    size = len(documents.field_runbook_pdf(plan, svg)) + len(documents.change_request_pdf(plan))
    out[slug] = {"cpu": time.process_time() - t, "bytes": size}
print(json.dumps(out))
"""


def _typst_run(diagram_dir: Path, sites: list[str], tree: Path = ROOT) -> dict[str, Any]:
    # The worker imports runbook from ``tree`` (``-c`` puts the working folder first).
    done = subprocess.run([sys.executable, "-c", TYPST_WORKER, str(diagram_dir), *sites],
                          capture_output=True, text=True, cwd=tree, check=True)
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def typst_figures(diagram_dir: Path, repeat: int, slugs: list[str],
                  against: tuple[str, Path] | None = None) -> dict[str, Any]:
    """The working tree's renderer: per site, CPU seconds and bytes of its two PDFs.

    Two columns: ``typst`` lays each site's documents out in a process of its own (after
    the warm-up document), the cost of one site alone; ``typst in one process`` lays the
    five out one after the other in one process, as a build's worker does (the compiler
    reused, Typst's memoized layouts kept from one document to the next). With ``against``
    (a revision and its tree), a third column lays each site out alone with that tree's
    renderer, each of its processes right after the working tree's for the same site, so
    that both see the same load. The medians are over ``repeat`` runs.
    """
    from runbook.outputs.pdf import renderer_version

    names = ["typst", "typst in one process"] + ([f"typst at {against[0]}"] if against else [])
    cpu: dict[str, dict[str, list[float]]] = {n: {slug: [] for slug in slugs} for n in names}
    sizes: dict[str, dict[str, int]] = {n: {} for n in names}
    for _ in range(repeat):
        for slug in slugs:
            runs = [("typst", ROOT)] + ([(names[2], against[1])] if against else [])
            for name, tree in runs:
                row = _typst_run(diagram_dir, [slug], tree)[slug]
                cpu[name][slug].append(row["cpu"])
                sizes[name][slug] = row["bytes"]
        for slug, row in _typst_run(diagram_dir, []).items():
            cpu["typst in one process"][slug].append(row["cpu"])
            sizes["typst in one process"][slug] = row["bytes"]
    sites = {slug: {n: {"cpu": statistics.median(cpu[n][slug]), "bytes": sizes[n][slug]}
                    for n in names} for slug in slugs}
    return {"version": renderer_version(), "sites": sites, "columns": names}


def _tree(rev: str, folder: Path) -> Path | None:
    """``git archive`` of ``rev`` (its renderer, templates and examples) in ``folder``."""
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev, "runbook", "templates",
                              "inputs"], capture_output=True)
    if archive.returncode != 0:
        print(f"no revision {rev} here ({archive.stderr.decode().strip()})")
        return None
    folder.mkdir(parents=True, exist_ok=True)
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive.stdout, check=True)
    return folder


def main() -> None:
    """Print the table of CPU seconds per site and the ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weasyprint-rev", default=WEASYPRINT_REV)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--against", metavar="REV",
                        help="also lay each site out with the renderer at REV, alternating")
    parser.add_argument("--no-weasyprint", action="store_true",
                        help="skip the WeasyPrint columns")
    args = parser.parse_args()
    from runbook.outputs.documents import network_diagrams
    from runbook.plan.sites import plan_file

    with tempfile.TemporaryDirectory(prefix="bench-pdf-diagrams-") as tmp:
        plans = [plan_file(p).to_dict() for p in sorted((ROOT / "inputs").glob("*.yaml"))]
        diagrams = network_diagrams(plans, Path(tmp) / "work")
        for slug, svg in diagrams.items():
            if svg:
                (Path(tmp) / f"{slug}.svg").write_bytes(svg)
        against = None
        if args.against:
            tree = _tree(args.against, Path(tmp) / "against")
            against = (args.against, tree) if tree else None
        typst = typst_figures(Path(tmp), args.repeat, [p["meta"]["site"] for p in plans],
                              against)
        weasy = None if args.no_weasyprint else weasyprint_figures(
            args.weasyprint_rev, Path(tmp), args.repeat)
    columns = typst["columns"] + (["weasyprint", "weasyprint tuned"] if weasy else [])
    print(f"typst {typst['version']}" + (f", weasyprint {weasy['version']} at "
                                          f"{args.weasyprint_rev}" if weasy else ""))
    print(f"CPU seconds for a site's two PDFs (A4, median of {args.repeat})")
    ratios = [c for c in columns if c.startswith("weasyprint")]
    print(f"{'site':18}" + "".join(f"{c:>22}" for c in columns)
          + ("".join(f"{'ratio ' + c.split()[-1]:>18}" for c in ratios)))
    totals = dict.fromkeys(columns, 0.0)
    for slug, row in typst["sites"].items():
        if weasy:
            row.update(weasy["sites"].get(slug, {}))
        cells = [row[c]["cpu"] for c in columns]
        for c in columns:
            totals[c] += row[c]["cpu"]
        print(f"{slug:18}" + "".join(f"{v:22.3f}" for v in cells)
              + "".join(f"{row[c]['cpu'] / row['typst']['cpu']:17.1f}x" for c in ratios))
    print(f"{'all five':18}" + "".join(f"{totals[c]:22.3f}" for c in columns)
          + "".join(f"{totals[c] / totals['typst']:17.1f}x" for c in ratios))
    over = [slug for slug, row in typst["sites"].items() if row["typst"]["cpu"] > TARGET]
    print(f"target: a site's two PDFs in at most {TARGET} s CPU; over it, alone: "
          + (", ".join(over) if over else "none"))
    sizes = {c: sum(r[c]["bytes"] for r in typst["sites"].values()) / 1024
             for c in columns if c != "typst in one process"}
    if against:
        base = against[0]
        ratio = totals[f"typst at {base}"] / totals["typst"]
        print(f"all five alone at {base} / now: {ratio:.2f}")
    print("PDF bytes, all sites: " + ", ".join(f"{c} {v:.0f} kB" for c, v in sizes.items()))


if __name__ == "__main__":
    main()
