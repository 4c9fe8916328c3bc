"""Benchmark the whole build on N generated sites, stage by stage, against same-run baselines.

Run: ``.venv/bin/python bench/run.py --sites 1000`` (a few minutes on 2 cores). It also builds
N/10 sites (``--compare``) for the linearity ratios, so one run prints every figure.

For each size it writes the seeded corpus (``bench/corpus.py``) as YAML files into a fresh git
repository in a temporary folder, then builds cold (empty cache) exactly as ``runbook build``
does: validate and plan, each producer (render, diagrams, exports, documents), then the MkDocs
build: MkDocs' own ``build`` with the runbook plugin, which builds the site pages in site
builds forked from it and keeps them (:mod:`runbook.site.finish`); ``RUNBOOK_GRAPHVIZ=libgvc``
(opt-in) draws the diagrams in-process. Per stage it prints the wall time, the CPU
time of this process and its children (``os.times``, plus what the detached PDF workers
report of their own, :func:`runbook.engine.parallel.map_detached`), and peak resident
memory: of this process (Linux VmHWM, reset before each stage through
``/proc/self/clear_refs``) and of the largest worker process (each worker reports its own
VmHWM). Then it rebuilds with nothing changed, edits one topology and rebuilds again, with
the warm cache (and, the second time, the spare the first rebuild kept).

Beside the smaller size it also runs the baseline of the site stage: a plain ``mkdocs build``
(no runbook plugin) of the same pages and files written into a docs folder, with the same
theme, extensions and search, in a fresh process of its own.

PDFs: every PDF is laid out for real (Typst), at every size, so the figures are the
product's. Before the builds it also lays out the PDFs of the five examples in ``inputs/``
with an empty cache (the documents stage alone), the "five examples cold" figure.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

import corpus  # noqa: E402
import yaml  # noqa: E402

from runbook.engine import parallel  # noqa: E402
from runbook.engine.store import Cache  # noqa: E402
from runbook.outputs import gvc  # noqa: E402
from runbook.site.generate import (  # noqa: E402
    Builder,
    produce_cached,
    spilled_names,
)

PRODUCERS = (("render", "runbook.outputs.pages"), ("diagrams", "runbook.outputs.diagrams"),
             ("exports", "runbook.outputs.exports"), ("documents", "runbook.outputs.documents"))
GENERATOR = ("validate", "plan", "render", "diagrams", "exports")
MB = 1024 * 1024


@dataclass
class Row:
    """One measured stage."""

    stage: str
    wall: float
    cpu: float
    rss_main: int
    rss_worker: int
    note: str = ""


@dataclass
class Meter:
    """Times stages and records their peak memory."""

    rows: list[Row] = field(default_factory=list)

    def run(self, stage: str, fn: Callable[[], Any], note: str = "") -> Any:
        """Run ``fn`` as ``stage`` and record a row."""
        parallel.reset_peak_rss()
        parallel.LAST.worker_peak_rss = 0
        children_before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
        detached = parallel.LAST.detached_cpu
        t0, w0 = os.times(), time.perf_counter()
        value = fn()
        wall = time.perf_counter() - w0
        t1 = os.times()
        cpu = (t1.user - t0.user) + (t1.system - t0.system) + \
              (t1.children_user - t0.children_user) + (t1.children_system - t0.children_system)
        # Detached workers (the PDFs) are not this process's children: they report their own.
        cpu += parallel.LAST.detached_cpu - detached
        children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
        worker = max(parallel.LAST.worker_peak_rss,
                     children if children > children_before else 0)
        self.rows.append(Row(stage, wall, cpu, parallel.peak_rss(), worker, note))
        return value

    def get(self, stage: str) -> Row:
        """The row of ``stage``."""
        return next(r for r in self.rows if r.stage == stage)


# --- the build, stage by stage (the same calls runbook build makes) ----------------------


def _write_corpus(folder: Path, n: int, seed: int) -> list[Path]:
    paths = corpus.write(folder, n, seed)
    git = ["git", "-c", "user.name=bench", "-c", "user.email=bench@example.invalid",
           "-c", "commit.gpgsign=false"]
    subprocess.run([*git, "init", "-q"], cwd=folder, check=True)
    subprocess.run([*git, "add", "."], cwd=folder, check=True)
    subprocess.run([*git, "commit", "-q", "-m", "corpus"], cwd=folder, check=True)
    return paths


@dataclass
class SiteStats:
    """What the site build did with the site pages (runbook.site.finish.FinishStats)."""

    pages: int = 0
    built: int = 0
    cached: int = 0
    site_builds: int = 0
    phases: dict[str, float] = field(default_factory=dict)
    reused: int = 0


def _mkdocs(sites: list[Any], generated: dict[str, bytes], inputs: Path, out: Path,
            cache: Cache, jobs: int) -> SiteStats:
    """The site build as ``runbook build`` runs it (:func:`runbook.site.build.publish_site`):
    into a folder beside ``out``, swapped in."""
    from mkdocs.config import load_config

    from runbook.site.build import plugin_of, publish_site

    config = load_config(config_file=str(ROOT / "mkdocs.yml"), strict=True)
    plugin = plugin_of(config)
    plugin.config.inputs = [str(inputs)]
    publish_site(config, plugin, sites, generated, out, cache.root, jobs)
    stats = SiteStats(pages=sum(1 for _ in out.rglob("*.html")))
    done = plugin.finish_stats
    if done is not None:
        stats.built, stats.cached = done.pages_built, done.pages_cached
        stats.site_builds = done.site_builds
    return stats


def build(meter: Meter, inputs: Path, out: Path, cache_dir: Path, jobs: int, prefix: str = ""
          ) -> dict[str, Any]:
    """One build into ``out`` with the cache in ``cache_dir``; stages recorded in ``meter``."""
    import importlib

    cache = Cache(cache_dir)
    builder = Builder(cache, jobs=jobs, spill_dir=cache_dir / "files")  # as runbook build
    templates = ROOT / "templates"
    workdir = cache_dir
    sites = meter.run(prefix + "validate+plan", lambda: builder.load_sites([inputs]))
    both = meter.rows.pop()
    stats = builder.load_stats
    share = stats.validate_seconds / max(1e-9, stats.validate_seconds + stats.plan_seconds)
    note = f"{stats.missed} of {stats.files} files read; wall split by CPU share"
    meter.rows.append(Row(prefix + "validate", both.wall * share, both.cpu * share,
                          both.rss_main, both.rss_worker, note))
    meter.rows.append(Row(prefix + "plan", both.wall * (1 - share), both.cpu * (1 - share),
                          both.rss_main, both.rss_worker, ""))
    generated: dict[str, bytes] = {}
    listing: list[frozenset[str]] = []

    def spilled() -> frozenset[str]:
        # As runbook.site.generate.produce_all: one listing of the spill folder, timed in the first
        # producer's stage.
        if not listing:
            listing.append(spilled_names(builder))
        return listing[0]

    for stage, module in PRODUCERS:
        produce = importlib.import_module(module).produce
        files = meter.run(prefix + stage, lambda m=module, p=produce: produce_cached(
            m, p, sites, workdir, templates, builder, spilled()))
        misses = cache.misses[module]
        meter.rows[-1].note = f"{len(files)} files; {misses} site(s) produced, " \
                              f"{cache.hits[module]} from cache"
        cache.misses[module] = cache.hits[module] = 0
        generated.update(files)
    generated = dict(sorted(generated.items()))
    site_stats = meter.run(prefix + "site build (mkdocs)",
                           lambda: _mkdocs(sites, generated, inputs, out, cache, jobs))
    meter.rows[-1].note = (f"{site_stats.pages} pages; site pages: {site_stats.built} built "
                           f"in {site_stats.site_builds} site build(s), {site_stats.cached} "
                           "from cache")
    return {"sites": sites, "generated": generated, "site": site_stats}


# --- baselines ---------------------------------------------------------------------------


def bare_jinja(sites: list[Any]) -> float:
    """Seconds for a plain Jinja2 render of the same templates over the same plans (1 core)."""
    from dataclasses import asdict as dc_asdict

    from runbook import __version__
    from runbook.outputs.checklists import site_checklists
    from runbook.outputs.pages import INDEX_TEMPLATE, PLAN_REFERENCE_PATH, site_pages
    from runbook.outputs.templating import make_environment

    env = make_environment(ROOT / "templates")
    plans = [s.plan_dict() for s in sites]
    # The context the pages get (runbook.outputs.pages), worked out before the clock starts.
    contexts = []
    for plan in plans:
        specs = site_pages(plan)
        lists = {id_: c.as_context() for id_, c in
                 site_checklists(plan, [p.filename for p in specs]).items()}
        contexts.append((plan, specs, [dc_asdict(p) for p in specs], lists))
    start = time.perf_counter()
    for plan, specs, pages, lists in contexts:
        for spec, page in zip(specs, pages, strict=True):
            env.get_template(spec.template).render(plan=plan, page=page, pages=pages,
                                                   checklists=lists)
    env.get_template(INDEX_TEMPLATE).render(sites=plans, references=[],
                                            plan_reference=PLAN_REFERENCE_PATH,
                                            generator=f"runbook {__version__}")
    return time.perf_counter() - start


def plain_mkdocs(generated: dict[str, Any], folder: Path) -> float:
    """Seconds for a plain ``mkdocs build`` of the same pages and files (no runbook plugin).

    The generated files are written into a copy of ``docs/``; the configuration is the
    project's without the runbook plugin. Not strict: without the plugin's per-site
    navigation nothing else changes, but a warning must not stop the baseline.
    """
    from mkdocs.commands.build import build as mkdocs_build
    from mkdocs.config import load_config

    docs = folder / "docs"
    shutil.copytree(ROOT / "docs", docs)
    for path, content in generated.items():
        target = docs / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content if isinstance(content, bytes) else Path(content).read_bytes())
    text = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    data["plugins"] = [p for p in data["plugins"]
                       if not (isinstance(p, dict) and "runbook" in p) and p != "runbook"]
    data["docs_dir"] = str(docs)
    data["site_dir"] = str(folder / "site")
    data["strict"] = False
    data["theme"]["custom_dir"] = str(ROOT / "overrides")
    config_file = folder / "mkdocs.yml"
    config_file.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    config = load_config(config_file=str(config_file))
    config.plugins.on_startup(command="build", dirty=False)
    start = time.perf_counter()
    try:
        mkdocs_build(config)
    finally:
        config.plugins.on_shutdown()
    return time.perf_counter() - start


def one_dot(generated: dict[str, Any], folder: Path) -> tuple[float, int]:
    """Seconds for one ``dot -Tsvg -O`` process over every generated ``.dot`` file."""
    folder.mkdir(parents=True)
    names = []
    for path, content in generated.items():
        if path.endswith(".dot"):
            name = path.replace("/", "_")
            (folder / name).write_bytes(content if isinstance(content, bytes)
                                        else Path(content).read_bytes())
            names.append(name)
    start = time.perf_counter()
    subprocess.run(["dot", "-Tsvg", "-O", *names], cwd=folder, check=True)
    return time.perf_counter() - start, len(names)


# What any pydantic validator pays before its first field: the imports and one one-field model
# class (the first class loads pydantic's schema machinery). The floor under ratio 4's cold
# case, measured beside it.
ONE_MODEL = """\
import yaml
from pydantic import BaseModel
class One(BaseModel):
    x: int
One(x=1)
"""


def validate_times(runs: int, root: Path) -> dict[str, float]:
    """Ratio 4: best wall times of ``runbook validate FILE``, cold and warm, and of its baseline.

    ``imports``: ``python -c "import yaml, pydantic"``. ``cold``: ``runbook validate
    --no-cache FILE``, which validates (pydantic's model machinery, the model, the rules).
    ``warm``: ``runbook validate FILE`` with the file's verdict already cached by a previous
    run, which replays it. ``floor``: the imports and one one-field pydantic model
    (:data:`ONE_MODEL`), the least any pydantic-based validation costs. FILE is
    inputs/contoso.yaml, copied into a fresh working folder so the cache there holds only
    what the priming run stored. The package is byte-compiled first, as an installed package
    is (with PYTHONDONTWRITEBYTECODE set, a source checkout would otherwise compile every
    module on every run). The four commands take turns, so load from other processes falls
    on all of them alike.
    """
    import compileall

    compileall.compile_dir(ROOT / "runbook", quiet=1)
    work = root / "validate-ratio"
    (work / "inputs").mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "inputs" / "contoso.yaml", work / "inputs" / "contoso.yaml")
    runbook_exe = str(Path(sys.executable).with_name("runbook"))
    commands = {
        "imports": [sys.executable, "-c", "import yaml, pydantic"],
        "cold": [runbook_exe, "validate", "--no-cache", "inputs/contoso.yaml"],
        "warm": [runbook_exe, "validate", "inputs/contoso.yaml"],
        "floor": [sys.executable, "-c", ONE_MODEL],
    }
    primed = subprocess.run(commands["warm"], cwd=work, capture_output=True, text=True,
                            check=False)
    if primed.returncode != 0:
        raise RuntimeError(f"runbook validate failed: {primed.stderr}")
    best = dict.fromkeys(commands, float("inf"))
    for _ in range(runs):
        for name, cmd in commands.items():
            start = time.perf_counter()
            subprocess.run(cmd, cwd=work, check=False, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
            best[name] = min(best[name], time.perf_counter() - start)
    return best


def tree_bytes(folder: Path) -> int:
    """Total size of the files under ``folder``."""
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def edit_one(paths: list[Path]) -> Path:
    """Change the public CA of the middle topology, as an operator would; return its path."""
    path = paths[len(paths) // 2]
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    cas = [ca for ca in corpus._CAS if ca != data["certificates"]["public_ca"]]
    data["certificates"]["public_ca"] = cas[0]
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


# --- PDFs --------------------------------------------------------------------------------


def examples_pdfs(jobs: int, root: Path) -> dict[str, float]:
    """The documents stage (both PDFs and the change request page of every site) on the
    examples in ``inputs/``, empty cache, as a first build lays them out."""
    from runbook.outputs import documents

    builder = Builder(Cache(root / "examples-cache"), jobs=jobs)
    sites = builder.load_sites([ROOT / "inputs"])
    meter = Meter()
    before = tree_cpu(os.getpid())
    files = meter.run("documents", lambda: produce_cached(
        "runbook.outputs.documents", documents.produce, sites, root / "examples-cache",
        ROOT / "templates", builder))
    after = tree_cpu(os.getpid())
    pdfs = [v for k, v in files.items() if k.endswith(".pdf")]
    row = meter.rows[0]
    return {"sites": len(sites), "wall": row.wall, "cpu": row.cpu,
            "tree_cpu": after - before if before >= 0 and after >= 0 else -1.0,
            "pdf_bytes": statistics.mean(len(p) for p in pdfs), "rss_worker": row.rss_worker}


def tree_cpu(pid: int) -> float:
    """CPU seconds of process ``pid`` and every process under it, living or reaped (Linux's
    ``/proc``; -1 elsewhere). Counts what the workers' own figures leave out: the start of
    the server process the detached workers are forked from, and the resource tracker."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        # utime, stime, cutime, cstime (clock ticks): the reaped children are in the last two.
        total = sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")
        for task in os.listdir(f"/proc/{pid}/task"):
            for child in Path(f"/proc/{pid}/task/{task}/children").read_text().split():
                below = tree_cpu(int(child))
                total += max(below, 0.0)
    except (OSError, ValueError):
        return -1.0
    return total


# --- one size ----------------------------------------------------------------------------


def isolated(fn: Callable[..., Any], *args: Any) -> Any:
    """``fn(*args)`` in a fresh forked process, so each build's memory is its own."""
    import multiprocessing
    import traceback

    context = multiprocessing.get_context("fork")
    receive, send = context.Pipe(duplex=False)

    def target() -> None:
        try:
            send.send(("ok", fn(*args)))
        except BaseException:
            send.send(("error", traceback.format_exc()))

    process = context.Process(target=target)
    process.start()
    status, value = receive.recv()
    process.join()
    if status != "ok":
        raise RuntimeError(f"benchmark step failed:\n{value}")
    return value


def _cold(n: int, base: Path, inputs: Path, jobs: int, extra: bool,
          baseline: bool = False) -> dict[str, Any]:
    meter = Meter()
    cold = build(meter, inputs, base / "site", base / "cache", jobs)
    result: dict[str, Any] = {"n": n, "rows": meter.rows, "bytes": tree_bytes(base / "site"),
                              "files": sum(1 for p in (base / "site").rglob("*") if p.is_file()),
                              "phases": cold["site"].phases}
    if baseline:
        print(f"== {n} sites: plain mkdocs build of the same pages ...", file=sys.stderr,
              flush=True)
        result["plain_mkdocs"] = isolated(plain_mkdocs, cold["generated"], base / "plain")
        shutil.rmtree(base / "plain", ignore_errors=True)
    if extra:
        print(f"== {n} sites: baselines ...", file=sys.stderr, flush=True)
        result["jinja"] = bare_jinja(cold["sites"])
        serial = Meter()
        builder = Builder(Cache(base / "cache-serial"), jobs=1)
        import runbook.outputs.pages as render_module

        serial.run("render", lambda: produce_cached(
            "runbook.outputs.pages", render_module.produce, cold["sites"],
            base / "cache-serial", ROOT / "templates", builder))
        result["render_serial"] = serial.rows[0].wall
        result["dot"], result["dot_files"] = one_dot(cold["generated"], base / "dot-baseline")
        shutil.rmtree(base / "dot-baseline", ignore_errors=True)
    return result


def _rebuild(base: Path, inputs: Path, jobs: int) -> dict[str, Any]:
    """A rebuild in place of the last site, as ``runbook build`` does."""
    meter = Meter()
    done = build(meter, inputs, base / "site", base / "cache", jobs)
    return {"rows": meter.rows, "phases": done["site"].phases,
            "reused": done["site"].reused}


def run_size(n: int, seed: int, jobs: int, root: Path, extra: bool,
             baseline: bool = False) -> dict[str, Any]:
    """Cold build (with baselines), one-edit rebuild and no-change rebuild for ``n`` sites.

    Each build runs in a fresh process, as ``runbook build`` would.
    """
    print(f"\n== {n} sites: writing the corpus ...", file=sys.stderr, flush=True)
    base = root / f"n{n}"
    inputs = base / "inputs"
    paths = _write_corpus(inputs, n, seed)
    print(f"== {n} sites: cold build ...", file=sys.stderr, flush=True)
    result = isolated(_cold, n, base, inputs, jobs, extra, baseline)
    if extra:
        # The first rebuild after a cold build has no spare (runbook.site.publish: the cold
        # build replaced no site); every later one has, as the edit's rebuild here.
        print(f"== {n} sites: rebuild with nothing changed ...", file=sys.stderr, flush=True)
        noop = isolated(_rebuild, base, inputs, jobs)
        result["noop"], result["noop_phases"] = noop["rows"], noop["phases"]
        print(f"== {n} sites: edit one topology and rebuild ...", file=sys.stderr, flush=True)
        result["edited"] = edit_one(paths).name
        # The edited site's PDFs are laid out for real.
        rebuild = isolated(_rebuild, base, inputs, jobs)
        result["rebuild"], result["rebuild_phases"] = rebuild["rows"], rebuild["phases"]
    return result


# --- report ------------------------------------------------------------------------------


def _table(title: str, rows: list[Row]) -> None:
    print(f"\n{title}")
    print(f"  {'stage':<22}{'wall s':>8}{'CPU s':>8}{'main MB':>9}{'worker MB':>10}  note")
    for r in rows:
        print(f"  {r.stage:<22}{r.wall:8.2f}{r.cpu:8.2f}{r.rss_main / MB:9.0f}"
              f"{r.rss_worker / MB:10.0f}  {r.note}")
    total = sum(r.wall for r in rows)
    print(f"  {'total':<22}{total:8.2f}{sum(r.cpu for r in rows):8.2f}"
          f"{max(r.rss_main for r in rows) / MB:9.0f}{max(r.rss_worker for r in rows) / MB:10.0f}")


def _phases(phases: dict[str, float]) -> None:
    if not phases:
        return
    text = ", ".join(f"{k} {v:.2f} s" for k, v in phases.items())
    print(f"  site build phases: {text} (generate: plugin on_files and nav; pages: workers;"
          " finish: static files, theme templates, search index, anchor checks)")


def _sum(rows: list[Row], stages: tuple[str, ...]) -> float:
    return sum(r.wall for r in rows if r.stage in stages)


def _verdict(value: float, target: float, lower: bool = True) -> str:
    ok = value <= target if lower else value >= target
    return "meets" if ok else "MISSES"


def main() -> None:
    """Run the benchmark and print the table and the ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sites", type=int, default=1000)
    parser.add_argument("--compare", type=int, default=None,
                        help="smaller size for the linearity ratios (default: sites/10; 0: none)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--jobs", type=int, default=parallel.default_jobs())
    parser.add_argument("--validate-runs", type=int, default=7)
    parser.add_argument("--keep", type=Path, help="keep the work folder here")
    args = parser.parse_args()
    compare = args.sites // 10 if args.compare is None else args.compare

    # Load the generator once, here: every build below is a fork of this process, so all of
    # them run the same code (and key the cache by the same fingerprint) even if the source
    # files change while the benchmark runs.
    import importlib

    from runbook.site.generate import code_fingerprint, tools_fingerprint

    for module in ("runbook.site.build", "runbook.site.plugin", *(m for _, m in PRODUCERS)):
        importlib.import_module(module)
    code_fingerprint()
    tools_fingerprint()

    root = Path(tempfile.mkdtemp(prefix="runbook-bench-")) if args.keep is None else args.keep
    root.mkdir(parents=True, exist_ok=True)
    load_before = os.getloadavg()
    started = time.perf_counter()
    try:
        print("== PDFs of the examples, cold ...", file=sys.stderr, flush=True)
        pdf = isolated(examples_pdfs, args.jobs, root)
        big = run_size(args.sites, args.seed, args.jobs, root, extra=True)
        small = run_size(compare, args.seed, args.jobs, root, extra=False,
                         baseline=True) if compare else None
        print("== validate CLI vs imports ...", file=sys.stderr, flush=True)
        t_validate = validate_times(args.validate_runs, root)
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)
    load_after = os.getloadavg()

    import mkdocs

    n = args.sites
    print(f"\nrunbook benchmark: {n} sites (seed {args.seed}), {args.jobs} jobs, "
          f"{os.cpu_count()} CPUs, Python {platform.python_version()}, mkdocs {mkdocs.__version__}")
    print("site build: mkdocs build with finished site pages (default);"
          f" diagrams: {gvc.engine()}")
    print(f"load average before {load_before[0]:.2f}, after {load_after[0]:.2f} "
          f"(other processes share these cores); total run {time.perf_counter() - started:.0f} s")
    print("memory: main = this process's peak RSS during the stage (VmHWM, reset per stage); "
          "worker = largest forked worker or child process")
    _table(f"cold build, {n} sites, empty cache (real PDFs)", big["rows"])
    _phases(big["phases"])
    if small:
        _table(f"cold build, {small['n']} sites", small["rows"])
    _table(f"rebuild after editing {big['edited']} (warm cache, a spare, real PDFs)",
           big["rebuild"])
    _phases(big["rebuild_phases"])
    _table("rebuild with nothing changed (the first after the cold build: no spare)",
           big["noop"])
    _phases(big["noop_phases"])

    rows, re_rows = big["rows"], big["rebuild"]
    render = big["rows"][[r.stage for r in rows].index("render")].wall
    diagrams = next(r.wall for r in rows if r.stage == "diagrams")
    gen_full, gen_re = _sum(rows, GENERATOR), _sum(re_rows, GENERATOR)
    site_full = next(r.wall for r in rows if r.stage == "site build (mkdocs)")
    site_re = next(r.wall for r in re_rows if r.stage == "site build (mkdocs)")
    docs_re = next(r.wall for r in re_rows if r.stage == "documents")
    docs_row = next(r for r in rows if r.stage == "documents")
    docs_full_real = docs_row.wall
    whole = sum(r.wall for r in rows)
    peak = max(max(r.rss_main, r.rss_worker) for r in rows)
    print(f"\nPDFs: the {pdf['sites']} examples cold (documents stage, empty cache): "
          f"{pdf['wall']:.2f} s wall, {pdf['cpu']:.2f} s CPU (target <= 3 s: "
          f"{_verdict(pdf['cpu'], 3.0)}), average PDF {pdf['pdf_bytes'] / 1024:.0f} kB")
    if pdf["tree_cpu"] >= 0:
        print(f"      counting every process of the stage (the workers' server starting, the "
              f"resource tracker): {pdf['tree_cpu']:.2f} s CPU "
              f"(target <= 3 s: {_verdict(pdf['tree_cpu'], 3.0)})")
    print(f"      {n} sites cold: documents stage {docs_row.wall:.1f} s wall, {docs_row.cpu:.1f} s "
          f"CPU = {docs_row.cpu / n:.3f} s CPU per site for its two PDFs and its change request "
          f"page (target <= 0.15 s: {_verdict(docs_row.cpu / n, 0.15)})")

    print("\nratios (each against its baseline measured in this run)")
    r1 = render / big["jinja"]
    print(f"  1. render stage / bare Jinja2 render          {render:7.2f} / {big['jinja']:7.2f} s"
          f" = {r1:5.2f}  (target <= 1.3: {_verdict(r1, 1.3)}); "
          f"same stage on 1 job: {big['render_serial'] / big['jinja']:.2f}")
    r2 = diagrams / big["dot"]
    print(f"  2. diagram stage / one dot process            {diagrams:7.2f} / {big['dot']:7.2f} s"
          f" = {r2:5.2f}  (target <= 1.0: {_verdict(r2, 1.0)}; {big['dot_files']} .dot files)")
    r3 = gen_re / gen_full
    print(f"  3. rebuild after one edit / full, generator   {gen_re:7.2f} / {gen_full:7.2f} s"
          f" = {r3:5.3f} (target <= 0.05: {_verdict(r3, 0.05)}; validate..exports)")
    print(f"     documents (real PDFs) rebuild / full       {docs_re:7.2f} / "
          f"{docs_full_real:7.2f} s = {docs_re / docs_full_real:5.4f}")
    print(f"     site build (mkdocs) rebuild / full         {site_re:7.2f} / {site_full:7.2f} s"
          f" = {site_re / site_full:5.3f} (unchanged pages from the page cache)")
    t_imports = t_validate["imports"]
    print(f"  4. runbook validate FILE / import yaml,pydantic (best of {args.validate_runs}; "
          "package byte-compiled)")
    for label, name in (("cold: --no-cache, validates", "cold"),
                        ("warm: cached verdict replayed", "warm")):
        r4 = t_validate[name] / t_imports
        print(f"     {label:<31} {t_validate[name]:7.3f} / {t_imports:7.3f} s = {r4:5.2f}"
              f"  (target <= 1.5: {_verdict(r4, 1.5)})")
    floor = t_validate["floor"]
    print(f"     {'floor: one 1-field pydantic model':<31} {floor:7.3f} / {t_imports:7.3f} s = "
          f"{floor / t_imports:5.2f}  (no pydantic validator can be cold below this)")
    if small:
        small_total = sum(r.wall for r in small["rows"])
        r5 = whole / (10 * small_total) if n == 10 * small["n"] else \
            (whole / n) / (small_total / small["n"])
        print(f"  5. time at {n} / (10 x time at {small['n']})       {whole:7.2f} / "
              f"{10 * small_total:7.2f} s = {r5:5.2f}  (target <= 1.1: {_verdict(r5, 1.1)})")
        cpu_big = sum(r.cpu for r in rows)
        cpu_small = sum(r.cpu for r in small["rows"])
        print(f"     same on CPU time (less sensitive to other load)  {cpu_big:7.2f} / "
              f"{10 * cpu_small:7.2f} s = {cpu_big / (10 * cpu_small):5.2f}")
        for stage in [r.stage for r in rows]:
            a = next(r.wall for r in rows if r.stage == stage)
            b = next(r.wall for r in small["rows"] if r.stage == stage)
            print(f"       {stage:<22} {a:7.2f} / {10 * b:7.2f} = {a / (10 * b) if b else 0:5.2f}")
    if small and "plain_mkdocs" in small:
        site_small = next(r.wall for r in small["rows"] if r.stage == "site build (mkdocs)")
        r7 = site_small / small["plain_mkdocs"]
        print(f"  7. site stage / plain mkdocs build, {small['n']} sites  {site_small:7.2f} / "
              f"{small['plain_mkdocs']:7.2f} s = {r7:5.2f}  (target <= 0.4: "
              f"{_verdict(r7, 0.4)})")
    print(f"  6. whole site, {n} sites, cold               {whole:7.2f} s (real PDFs included)")
    # Issue 18's figure: every stage but the documents (the site stage still places the
    # PDFs the documents stage made).
    without = sum(r.wall for r in rows if r.stage != "documents")
    print(f"     without the documents stage              {without:7.2f} s (target <= 60 s: "
          f"{_verdict(without, 60)})")
    per_site = big["bytes"] / n
    if small:
        per_site_small = small["bytes"] / small["n"]
        print(f"     bytes written per site at {n} / at {small['n']}  {per_site / 1024:7.0f} / "
              f"{per_site_small / 1024:7.0f} kB = {per_site / per_site_small:5.2f}  "
              f"(target <= 1.1: {_verdict(per_site / per_site_small, 1.1)}; "
              f"{big['files']} files)")
    print(f"     peak memory at {n} sites (largest process)  {peak / MB:7.0f} MB  "
          f"(target < 500 MB: {_verdict(peak / MB, 500)})")
    if os.environ.get("BENCH_JSON"):
        import json

        Path(os.environ["BENCH_JSON"]).write_text(json.dumps({
            "big": {k: ([asdict(r) for r in v] if k in ("rows", "rebuild", "noop") else v)
                    for k, v in big.items() if k not in ("sites", "generated")},
        }, default=str, indent=1))


if __name__ == "__main__":
    main()
