"""Running the producers through the build cache, so that an unchanged site is not rendered again.

Per site and producer, the files the producer made for that site are kept under the build's
cache folder (default ``.cache/runbook/``). Key: the site's key
(:attr:`runbook.plan.sites.Site.key`: its topology's bytes, name and git revision, and the
code fingerprint), the producer's name, every template file (packaged defaults and the
user's folder) and the versions of the external tools whose output lands in files (``dot``,
Typst). The sites themselves come from :func:`runbook.plan.sites.load_sites`, through
the same cache (:meth:`Builder.load_sites`).

The code fingerprint hashes the package version *and* every ``.py`` file of the package, so a
changed generator never serves files made by the old one, even without a version bump.

Entries are immutable files named by their key; a writer writes a temporary file and renames
it into place (``os.replace``), so concurrent builds sharing a cache never read half a file.
Values are serialised with :mod:`marshal` (plain dicts, lists, str and bytes only).

Outputs not under ``sites/<slug>/`` (the home page) depend on every site; a producer that
makes such files registers a builder in :data:`GLOBAL_BUILDERS`, keyed by all site keys.
"""

from __future__ import annotations

import importlib
import inspect
import os
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from runbook.engine.parallel import (
    can_detach,
    chunks,
    default_jobs,
    in_worker,
    map_chunks,
    map_detached,
    release_memory,
)
from runbook.engine.store import Cache, content_name, damaged, digest, write_file
from runbook.engine.store import code_fingerprint as code_fingerprint  # re-exported
from runbook.plan.sites import LoadStats, Site, load_sites

Produce = Callable[..., dict[str, bytes]]


# --- fingerprints ------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def tools_fingerprint() -> str:
    """Versions of the external tools whose output ends up in generated files, and the
    fonts they draw with."""
    from importlib import metadata

    from runbook.errors import ToolMissing
    from runbook.outputs.diagrams import layout_tools
    from runbook.outputs.pdf import fonts_fingerprint

    parts = [layout_tools()]  # Graphviz's version and the fonts it measures labels with
    for dist in ("typst", "graphviz", "jinja2"):
        try:
            parts.append(f"{dist} {metadata.version(dist)}")
        except metadata.PackageNotFoundError:
            parts.append(f"{dist} absent")
    try:  # the fonts the PDFs are laid out with
        parts.append(fonts_fingerprint())
    except ToolMissing:
        parts.append("fonts: DejaVu Sans absent")
    return digest(*parts)


# --- sites -------------------------------------------------------------------------------------


@dataclass
class Builder:
    """Cache, parallelism and progress settings shared by the stages of one build."""

    cache: Cache | None
    jobs: int = field(default_factory=default_jobs)
    progress: Any = None
    load_stats: LoadStats = field(default_factory=LoadStats)
    # Where produced files other than Markdown pages are kept on disk, handed on by path
    # instead of in memory (None: everything stays in memory).
    spill_dir: Path | None = None

    def load_sites(self, paths: Sequence[Path | str]) -> list[Site]:
        """:func:`runbook.plan.sites.load_sites` with this build's cache, jobs and progress
        (its cost in :attr:`load_stats`)."""
        return load_sites(paths, cache=self.cache, jobs=self.jobs, progress=self.progress,
                          stats=self.load_stats)

    def _tick(self, stage: str, total: int, unit: str = "sites") -> Callable[[int], None]:
        if self.progress is None or total == 0:
            return lambda n: None
        self.progress.stage(stage, total, unit)
        advance: Callable[[int], None] = self.progress.advance
        return advance

    def _done(self) -> None:
        if self.progress is not None:
            self.progress.finish()


# --- producers ---------------------------------------------------------------------------------


# Every module that contributes files to the site, in the order they run. Each exposes
# ``produce(sites, workdir) -> dict[str, bytes]`` (docs-relative path -> content). One whose
# entry in GLOBAL_BUILDERS or FIXED_BUILDERS makes its files outside ``sites/`` may also
# expose ``produce_sites``, with the same arguments: ``produce`` without those files, which
# the cached build calls instead.
PRODUCERS: tuple[str, ...] = (
    "runbook.outputs.pages",
    "runbook.outputs.diagrams",
    "runbook.outputs.exports",
    "runbook.outputs.documents",
)

Producer = Callable[..., dict[str, bytes]]


def producers() -> list[Producer]:
    """The ``produce`` function of every module in :data:`PRODUCERS`, in order."""
    return [importlib.import_module(name).produce for name in PRODUCERS]


def _call(produce: Producer, sites: list[Site], workdir: Path, templates: Path | None
          ) -> dict[str, bytes]:
    # A producer that renders user-overridable templates declares ``templates_dir``.
    if "templates_dir" in inspect.signature(produce).parameters:
        return produce(sites, workdir, templates_dir=templates)
    return produce(sites, workdir)


def generate(sites: Sequence[Site], workdir: Path, *, templates: Path | None = None,
             builder: Builder | None = None) -> dict[str, bytes]:
    """Every generated file of the site: docs-relative path -> content, sorted by path.

    ``workdir`` is a cache folder the producers may use. Two producers returning the same
    path is a bug and raises ``ValueError``. Each producer runs through the build cache
    (:mod:`runbook.site.generate`: unchanged sites are not produced again; the others in parallel),
    ``builder`` giving its cache and job count (default: a cache in ``workdir``, every core).
    """
    workdir.mkdir(parents=True, exist_ok=True)
    return produce_all(sites, workdir, templates, builder or Builder(Cache(workdir)),
                       PRODUCERS)


def produce_site(inputs: Sequence[Path], builder: Builder, templates: Path | None = None
                 ) -> tuple[list[Site], dict[str, Any]]:
    """Validate and plan every topology under ``inputs``, then run every producer through
    ``builder``'s cache: the sites, and every generated file (docs-relative path -> bytes,
    or the path of its spilled copy). The one way both ``runbook build`` and a plain
    ``mkdocs build`` (the plugin's ``on_pre_build``) make a site's files.

    ``templates`` is the user's override folder (ignored when it is not a folder). Raises
    :class:`~runbook.errors.ValidationFailed` listing every problem before producing anything.
    """
    assert builder.cache is not None, "a build produces through its cache"
    sites = builder.load_sites(inputs)
    generated = generate(sites, builder.cache.root, builder=builder,
                         templates=templates if templates is not None and templates.is_dir()
                         else None)
    return sites, generated


def generate_uncached(sites: list[Site], workdir: Path, *, templates: Path | None = None
                      ) -> dict[str, bytes]:
    """:func:`generate` without the build cache: every producer over every site, here.

    The reference the cached, parallel path must reproduce byte for byte (tests).
    """
    workdir.mkdir(parents=True, exist_ok=True)
    result: dict[str, bytes] = {}
    owner: dict[str, str] = {}
    for produce in producers():
        name = produce.__module__
        for path, content in _call(produce, sites, workdir, templates).items():
            if path in result:
                raise ValueError(f"{name} and {owner[path]} both produce {path}")
            if not isinstance(content, bytes):
                raise TypeError(f"{name} produced {type(content).__name__} for {path}, not bytes")
            result[path] = content
            owner[path] = name
    return dict(sorted(result.items()))


def _render_home(sites: Sequence[Site], templates: Path | None) -> dict[str, bytes]:
    from runbook.outputs.pages import render_index
    from runbook.outputs.templating import environment

    # The home page reads each site's plan head only (see runbook.plan.sites.PlanHead).
    page = render_index([s.head.to_dict() for s in sites], environment(templates))
    return {"index.md": page.encode("utf-8")}


def _render_references(templates: Path | None) -> dict[str, bytes]:
    from runbook.outputs.pages import (
        PLAN_REFERENCE_PATH,
        render_plan_reference,
        render_references,
    )
    from runbook.outputs.templating import environment

    pages = {**render_references(environment(templates)),
             PLAN_REFERENCE_PATH: render_plan_reference()}
    return {path: text.encode("utf-8") for path, text in pages.items()}


# Producers that make files outside ``sites/<slug>/``: how to make those from every site
# (kept under a key of every site's), and those that depend on no site at all (the
# reference pages: kept under the producer's own key, so an edit does not make them again).
GLOBAL_BUILDERS: dict[str, Callable[[Sequence[Site], Path | None], dict[str, bytes]]] = {
    "runbook.outputs.pages": _render_home,
}
FIXED_BUILDERS: dict[str, Callable[[Path | None], dict[str, bytes]]] = {
    "runbook.outputs.pages": _render_references,
}


# Up to this many sites to produce, a producer runs in the build process (see produce_cached).
FEW_SITES = 4
# Producers that always run in a worker: the build process that later forks the site build's
# workers stays small, and never holds the PDF compiler's threads across a fork. Their
# workers are new for every chunk (the compiler's memory grows with what it laid out).
HEAVY_PRODUCERS = frozenset({"runbook.outputs.documents"})

# At most this many sites per worker of a heavy producer: a worker's peak grows with the
# documents it holds (about 10 MB a site, on 200 MB for the compiler and the modules).
HEAVY_CHUNK = 16

# Chunks of sites per worker for a producer: enough that the last chunk to finish leaves the
# other cores idle only briefly, few enough that per-chunk costs stay small.
TASKS_PER_JOB = 16


def call_producer(produce: Produce, sites: Sequence[Site], workdir: Path,
                  templates: Path | None) -> dict[str, bytes]:
    """Call ``produce`` passing the user's template folder if it takes one."""
    params = inspect.signature(produce).parameters
    for name in ("templates", "templates_dir"):
        if name in params:
            return produce(list(sites), workdir, **{name: templates})
    return produce(list(sites), workdir)


def _slug_of(path: str) -> str | None:
    parts = path.split("/", 2)
    return parts[1] if len(parts) == 3 and parts[0] == "sites" else None


def spilled_names(builder: Builder) -> frozenset[str]:
    """The names in the builder's spill folder: one listing for every producer of a build."""
    try:
        return frozenset(os.listdir(builder.spill_dir)) if builder.spill_dir else frozenset()
    except OSError:
        return frozenset()


def produce_cached(name: str, produce: Produce, sites: Sequence[Site], workdir: Path,
                   templates: Path | None, builder: Builder,
                   spilled: frozenset[str] | None = None) -> dict[str, bytes]:
    """One producer's files for every site, from the cache where the site is unchanged.

    ``spilled`` is :func:`spilled_names` taken earlier in the same build (listed here if
    not given): what one producer spills is never another's to find, so one listing serves
    them all.

    Sites missing from the cache are produced in parallel chunks; each site's files are then
    stored under its key. Files outside ``sites/<slug>/`` are made by the producer's entry in
    :data:`GLOBAL_BUILDERS` from every site (a producer making such files without one is a
    bug and raises ``ValueError``). When ``produce`` is its module's own ``produce`` and the
    module has a ``produce_sites`` (see :data:`PRODUCERS`), the chunks call that instead.
    """
    cache = builder.cache
    from runbook.outputs.gvc import engine
    from runbook.outputs.templating import templates_fingerprint, use_bytecode_cache

    use_bytecode_cache(cache.root if cache is not None else None)  # compiled templates

    # The renderer is outside tools_fingerprint()'s process-wide memo: RUNBOOK_GRAPHVIZ may
    # change between builds of one process (runbook serve).
    fixed = digest(name, code_fingerprint(), templates_fingerprint(templates),
                   tools_fingerprint(), engine())
    spill_dir = builder.spill_dir
    # With a spill folder, an entry holds the name of each file's spilled copy: a warm build
    # then reads kilobytes per site, not the pages, diagrams and PDFs again. The two forms
    # have different keys, so neither is read as the other.
    form = "spilled" if spill_dir is not None else "whole"
    keys = {s.slug: digest("produce", fixed, form, s.key) for s in sites}

    out: dict[str, Any] = {}
    missed: list[Any] = []
    # One listing of the spill folder instead of a look at the disk per cached file.
    present = spilled if spilled is not None else spilled_names(builder)
    for site in sites:
        value = cache.get_value(name, keys[site.slug]) if cache else None
        if value is not None and spill_dir is not None:
            value = _unspill(value, spill_dir, present)
            if value is None and cache:  # a spilled copy is gone: count it as the miss it is
                cache.hits[name] -= 1
                cache.misses[name] += 1
        if value is None:
            missed.append(site)
        else:
            out.update(value)

    tick = builder._tick(name.rsplit(".", 1)[-1], len(missed))
    # With files spilled to disk, even a one-process producer runs in a forked worker: its
    # memory high-water mark then never becomes the build process's own. A few sites (the
    # rebuild after an edit) are produced here instead, where starting a worker would cost
    # more than the work; except by producers whose libraries stay large once loaded.
    few = len(missed) <= FEW_SITES and name not in HEAVY_PRODUCERS
    cache_root = cache.root if cache is not None else None

    def task(chunk: Sequence[Site]) -> Chunk:
        return Chunk(name, list(chunk), workdir, templates, cache_root, spill_dir,
                     {s.slug: keys[s.slug] for s in chunk})

    results: list[tuple[dict[str, dict[str, Any]], list[str]]]
    if (name in HEAVY_PRODUCERS and produce is importlib.import_module(name).produce
            and can_detach() and missed and not in_worker()):
        # Detached workers: their size does not grow with the sites this process holds.
        # A worker holds its chunk's documents until it ends: at most HEAVY_CHUNK sites. No
        # more chunks than that needs: each worker starts afresh (the catalog, the compiler's
        # memo), and a few sites share one worker's work best.
        parts = chunks(missed, max(builder.jobs, -(-len(missed) // HEAVY_CHUNK)))
        results = map_detached(produce_chunk, [task(part) for part in parts], builder.jobs,
                               preload=(name, __name__), fresh=True,
                               on_done=lambda i: tick(len(parts[i])))
    else:
        module = sys.modules.get(name)
        if (module is not None and produce is getattr(module, "produce", None)
                and hasattr(module, "produce_sites")):
            # The files outside sites/ come from the builders below: a chunk makes only its
            # sites' (the Template reference alone cost each process that rendered a chunk
            # 0.7 s, the build process itself in a rebuild after one edit).
            produce = module.produce_sites
        results = map_chunks(lambda chunk: produce_chunk(task(chunk), produce), missed,
                             1 if few else builder.jobs, tasks_per_job=TASKS_PER_JOB,
                             on_done=tick, isolate=spill_dir is not None and not few,
                             fresh=name in HEAVY_PRODUCERS)
    builder._done()
    global_paths: set[str] = set()
    for done, outside in results:
        for files in done.values():
            out.update(files)
        global_paths.update(outside)
    del results
    if global_paths and name not in GLOBAL_BUILDERS:
        raise ValueError(f"{name} produced {sorted(global_paths)}, outside sites/<slug>/, "
                         "without a builder in runbook.site.generate.GLOBAL_BUILDERS")
    if name in GLOBAL_BUILDERS:
        key = digest("global", fixed, *(keys[s.slug] for s in sites))
        made = cache.get_value(name + ".global", key) if cache else None
        if made is None:
            made = GLOBAL_BUILDERS[name](sites, templates)
            if cache:
                cache.put_value(name + ".global", key, made)
        out.update(made)
    if name in FIXED_BUILDERS:
        key = digest("fixed", fixed)
        made = cache.get_value(name + ".global", key) if cache else None
        if made is None:
            made = FIXED_BUILDERS[name](templates)
            if cache:
                cache.put_value(name + ".global", key, made)
        out.update(made)
    return out


@dataclass(frozen=True)
class Chunk:
    """What producing one chunk of sites takes: plain, picklable data (a detached worker
    receives it, :func:`runbook.engine.parallel.map_detached`)."""

    producer: str  # the producer's module
    sites: list[Site]
    workdir: Path
    templates: Path | None
    cache_root: Path | None
    spill_dir: Path | None
    keys: dict[str, str]  # slug -> the site's key in the producer's namespace


def produce_chunk(chunk: Chunk, produce: Producer | None = None
                  ) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """Produce ``chunk``'s sites, split the files by site, store and spill each site's:
    ``{slug: files}`` and the paths made outside ``sites/``. Runs in a worker; only what it
    returns travels back. ``produce`` defaults to the producer module's own."""
    from runbook.outputs.templating import use_bytecode_cache

    name = chunk.producer
    cache = Cache(chunk.cache_root) if chunk.cache_root is not None else None
    use_bytecode_cache(chunk.cache_root)  # in a detached worker, nothing is set up yet
    produce = produce or importlib.import_module(name).produce
    made = call_producer(produce, chunk.sites, chunk.workdir, chunk.templates)
    per_site: dict[str, dict[str, bytes]] = {s.slug: {} for s in chunk.sites}
    outside: list[str] = []
    for path, content in made.items():
        slug = _slug_of(path)
        if slug is None or slug not in per_site:
            outside.append(path)
            continue
        if not isinstance(content, bytes):
            raise TypeError(f"{name} produced {type(content).__name__} for {path}")
        per_site[slug][path] = content
    del made
    done = {}
    for slug in list(per_site):
        files: dict[str, Any] = per_site.pop(slug)
        if chunk.spill_dir is not None:
            files = spill(files, chunk.spill_dir, chunk.keys[slug])
        if cache:
            cache.put_value(name, chunk.keys[slug], {
                path: content.name if isinstance(content, Path) else content
                for path, content in files.items()})
        done[slug] = files
    return done, outside


def _unspill(entry: dict[str, Any], folder: Path, present: frozenset[str]
             ) -> dict[str, Any] | None:
    """A spilled-form cache entry as files (bytes, or the Path of a spilled copy); None when
    a spilled copy is no longer in ``folder`` (the site is then produced again)."""
    files: dict[str, Any] = {}
    for path, content in entry.items():
        if isinstance(content, str):
            if content not in present:
                return None
            content = folder / content
        files[path] = content
    return files


def spill(files: dict[str, bytes], folder: Path, key: str) -> dict[str, Any]:
    """``files`` written to ``folder``, each given as a path.

    A thousand sites' pages, diagrams, exports and PDFs take hundreds of megabytes; on disk
    they cost the build no memory. MkDocs copies them from there, and the page workers read
    the Markdown from there. A file is named by the hash of its content
    (:func:`runbook.engine.store.content_name`), so a warm build finds it written already,
    and whoever reads it checks it against its name. ``key`` (the producer's cache key) is
    not needed for that any more. A file that cannot be written (a full cache disk) is
    handed on as bytes.
    """
    out: dict[str, Any] = {}
    for path, content in files.items():
        target = folder / content_name(content)
        if not target.is_file() and os.path.lexists(target):
            damaged(target)  # a pipe, a device or a link in its place: counted, replaced
        if not target.is_file() and not write_file(target, content):
            out[path] = content  # a full cache disk: this one is handed on in memory
            continue
        out[path] = target
    return out


def produce_all(sites: Sequence[Site], workdir: Path, templates: Path | None,
                builder: Builder, modules: Iterable[str]) -> dict[str, Any]:
    """Every producer's files (docs-relative path -> bytes), sorted by path.

    With ``builder.spill_dir`` set, every file of a site is a :class:`Path` to its bytes on
    disk instead (see :func:`spill`).
    """
    result: dict[str, Any] = {}
    owner: dict[str, str] = {}
    spilled = spilled_names(builder)
    for name in modules:
        produce = importlib.import_module(name).produce
        for path, content in produce_cached(name, produce, sites, workdir, templates,
                                            builder, spilled).items():
            if path in result:
                raise ValueError(f"{name} and {owner[path]} both produce {path}")
            result[path] = content
            owner[path] = name
    release_memory()
    return dict(sorted(result.items()))
