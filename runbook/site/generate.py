"""A content-addressed build cache, so that an unchanged site is not validated or rendered again.

Two things are cached under the build's cache folder (default ``.cache/runbook/``):

- per topology file, its plan. Key: the file's bytes, its display name and git revision
  (both appear in the provenance line), and the code fingerprint below;
- per site and producer, the files the producer made for that site. Key: the site's key, the
  producer's name, every template file (packaged defaults and the user's folder) and the
  versions of the external tools whose output lands in files (``dot``, Typst).

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
import json
import marshal
import os
import shutil
import subprocess
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeGuard

from runbook.engine.parallel import default_jobs, map_chunks, release_memory
from runbook.engine.store import Cache, content_name, digest, write_file
from runbook.engine.store import code_fingerprint as code_fingerprint  # re-exported

if TYPE_CHECKING:
    from runbook.plan.sites import Site

Produce = Callable[..., dict[str, bytes]]


# --- fingerprints ------------------------------------------------------------------------------




@lru_cache(maxsize=1)
def tools_fingerprint() -> str:
    """Versions of the external tools whose output ends up in generated files."""
    from importlib import metadata

    parts = []
    dot = shutil.which("dot")
    if dot:
        try:
            done = subprocess.run([dot, "-V"], capture_output=True, text=True, timeout=30,
                                  check=False)
            parts.append(done.stderr.strip() or done.stdout.strip())
        except (OSError, subprocess.SubprocessError):
            parts.append("dot: unavailable")
    for dist in ("typst", "graphviz", "jinja2"):
        try:
            parts.append(f"{dist} {metadata.version(dist)}")
        except metadata.PackageNotFoundError:
            parts.append(f"{dist} absent")
    return digest(*parts)




# --- the store ---------------------------------------------------------------------------------




# --- sites -------------------------------------------------------------------------------------


# The plan sections a site-wide page or the navigation reads (the home page's row: meta,
# summary, warnings; a site's page list: pic, vips). Kept beside each cached plan, so a build
# in which most sites are unchanged does not load every whole plan for the home page.
HEAD_SECTIONS = ("meta", "summary", "warnings", "pic", "vips")


class LazyPlan(dict[str, Any]):
    """A plan dict holding its head sections; reading anything else loads the whole plan."""

    def __init__(self, head: dict[str, Any], load: Callable[[], dict[str, Any]]) -> None:
        super().__init__(head)
        self._load: Callable[[], dict[str, Any]] | None = load

    def _full(self) -> None:
        if self._load is not None:
            load, self._load = self._load, None
            self.update(load())

    def __missing__(self, key: str) -> Any:
        if self._load is None:
            raise KeyError(key)
        self._full()
        return self[key]

    def get(self, key: str, default: Any = None) -> Any:
        """As ``dict.get``, on the whole plan."""
        if not dict.__contains__(self, key):
            self._full()
        return dict.get(self, key, default)

    def __contains__(self, key: object) -> bool:
        if not dict.__contains__(self, key):
            self._full()
        return dict.__contains__(self, key)

    def __iter__(self) -> Any:
        self._full()
        return dict.__iter__(self)

    def __len__(self) -> int:
        self._full()
        return dict.__len__(self)

    def __eq__(self, other: object) -> bool:
        self._full()
        return dict.__eq__(self, other)

    __hash__ = None

    def keys(self) -> Any:
        """As ``dict.keys``, on the whole plan."""
        self._full()
        return dict.keys(self)

    def values(self) -> Any:
        """As ``dict.values``, on the whole plan."""
        self._full()
        return dict.values(self)

    def items(self) -> Any:
        """As ``dict.items``, on the whole plan."""
        self._full()
        return dict.items(self)

    def copy(self) -> dict[str, Any]:
        """A plain dict of the whole plan."""
        self._full()
        return dict(dict.items(self))

    def __reduce__(self) -> Any:
        return (dict, (self.copy(),))


class PlanData:
    """A plan as plain data: what producers read through ``site.plan.to_dict()``.

    The dict may be loaded from the cache only when first asked for. It is shared by every
    producer: producers read it, they never modify it.
    """

    __slots__ = ("_data", "_load")

    def __init__(self, data: dict[str, Any] | None = None,
                 load: Callable[[], dict[str, Any]] | None = None) -> None:
        self._data = data
        self._load = load

    def to_dict(self) -> dict[str, Any]:
        """The plan as plain JSON-ready data."""
        if self._data is None:
            assert self._load is not None
            self._data = self._load()
        return self._data

    def to_json(self) -> str:
        """Deterministic JSON, as :meth:`runbook.plan.derive.Plan.to_json`."""
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n"

    @property
    def meta(self) -> dict[str, Any]:
        """The plan's ``meta`` section (site, title, provenance)."""
        meta: dict[str, Any] = self.to_dict()["meta"]
        return meta


@dataclass
class BuiltSite:
    """A valid topology ready for the producers: ``slug`` and ``plan.to_dict()``.

    Producers use only these two (see notes/contracts.md), so a site whose plan comes from the
    cache needs no validation model. ``key`` identifies the topology's content.
    """

    slug: str
    plan: PlanData
    key: str
    path: Path


@dataclass
class LoadStats:
    """What loading cost: files, cache misses, and validate/plan seconds spent in workers."""

    files: int = 0
    missed: int = 0
    validate_seconds: float = 0.0
    plan_seconds: float = 0.0


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

    def _tick(self, stage: str, total: int, unit: str = "sites") -> Callable[[int], None]:
        if self.progress is None or total == 0:
            return lambda n: None
        self.progress.stage(stage, total, unit)
        advance: Callable[[int], None] = self.progress.advance
        return advance

    def _done(self) -> None:
        if self.progress is not None:
            self.progress.finish()


def _load_chunk(items: Sequence[tuple[str, str | None]]) -> list[tuple[bytes | None, float, float]]:
    """Validate and plan topology files in a worker: marshalled plan dicts (None if invalid)."""
    import time

    from runbook.plan.sites import _plan
    from runbook.topology.validate import load_topology

    out: list[tuple[bytes | None, float, float]] = []
    for path, revision in items:
        start = time.perf_counter()
        loaded = load_topology(Path(path))
        middle = time.perf_counter()
        if not loaded.ok:
            out.append((None, middle - start, 0.0))
            continue
        plan = _plan(loaded, revision).to_dict()
        out.append((marshal.dumps(plan), middle - start, time.perf_counter() - middle))
    return out


def _topology_bytes(path: Path) -> bytes:
    """What a topology's cache key is made of: its bytes, read as the validator reads them
    (never more than its size cap plus one byte, never from a pipe or a device). A file that
    cannot be read gets a key no entry has; the validator then reports it."""
    from runbook.topology.files import read_capped
    from runbook.topology.loader import MAX_BYTES

    try:
        return read_capped(path, MAX_BYTES, pipes=False)  # a pipe is read once, to validate
    except OSError:
        return b"\0unreadable\0" + str(path).encode("utf-8", "backslashreplace")


def _is_head(value: Any) -> TypeGuard[dict[str, Any]]:
    """True when ``value`` is a site entry as :func:`load_sites` stores it."""
    return (isinstance(value, dict) and isinstance(value.get("slug"), str)
            and isinstance(value.get("plan"), dict))


def _plan_again(cache: Cache, key: str, path: Path, rev: str | None) -> dict[str, Any]:
    """The plan of the topology at ``path`` made again, stored under ``key``: its entry was
    damaged, though its site entry was not."""
    blob = _load_chunk([(str(path), rev)])[0][0]
    if blob is None:  # valid when its site entry was made from the same bytes
        _raise_like_load_sites([path])
        raise AssertionError(f"{path} is valid and invalid at once")
    cache.put("plan", key, blob)
    plan: dict[str, Any] = marshal.loads(blob)
    return plan


def _raise_like_load_sites(paths: Sequence[Path | str]) -> None:
    """Raise exactly what :func:`runbook.plan.sites.load_sites` raises for these inputs."""
    from runbook.plan.sites import load_sites as reference

    reference(paths)


def load_sites(paths: Sequence[Path | str], builder: Builder) -> list[BuiltSite]:
    """Validate and plan every topology under ``paths`` (as :func:`runbook.plan.sites.load_sites`).

    Files whose key is in the cache are not read again; the others are validated and planned
    in parallel. Raises the same :class:`~runbook.errors.ValidationFailed` as the reference
    when any file is invalid or two files declare the same site.
    """
    from runbook.plan.provenance import revisions
    from runbook.topology.files import discover, display_name

    files = discover(paths)
    revs = revisions(files)
    cache = builder.cache
    code = code_fingerprint()
    keyed = []
    for path in files:
        rev = revs.get(path.resolve())  # revisions() keys by the resolved path
        keyed.append((path, rev, digest("site", code, display_name(path), rev or "",
                                         _topology_bytes(path))))
    heads: dict[str, dict[str, Any]] = {}
    missed = []
    for path, rev, key in keyed:
        head = cache.get_value("site", key) if cache else None
        if not _is_head(head):
            missed.append((path, rev, key))
        else:
            heads[key] = head
    stats = builder.load_stats = LoadStats(files=len(files), missed=len(missed))
    tick = builder._tick("validate", len(missed), "files")
    results = map_chunks(_load_chunk, [(str(p), r) for p, r, _ in missed], builder.jobs,
                         on_done=tick)
    builder._done()
    fresh: dict[str, dict[str, Any]] = {}
    invalid = False
    for (_, _, key), (blob, t_validate, t_plan) in zip(
            missed, [r for chunk in results for r in chunk], strict=True):
        stats.validate_seconds += t_validate
        stats.plan_seconds += t_plan
        if blob is None:
            invalid = True
            continue
        plan = marshal.loads(blob)
        head = {"slug": plan["meta"]["site"],
                "plan": {k: plan[k] for k in HEAD_SECTIONS if k in plan}}
        heads[key] = head
        # A plan the cache could not store (a full disk) stays here instead.
        if not (cache and cache.put("plan", key, blob)):
            fresh[key] = plan
        if cache:
            cache.put_value("site", key, head)
    slugs = Counter(head["slug"] for head in heads.values())
    if invalid or any(n > 1 for n in slugs.values()):
        _raise_like_load_sites(paths)
    sites = []
    for path, rev, key in keyed:
        if cache is None or key in fresh:
            data = PlanData(fresh[key])
        else:
            # Even a plan made just now is read back when a producer needs it: a thousand
            # plans held here would be a hundred megabytes that every later stage carries.

            def load(key: str = key, path: Path = path, rev: str | None = rev
                     ) -> dict[str, Any]:
                value = cache.get_value("plan", key)
                if isinstance(value, dict):
                    return value
                # Damaged (and counted), or removed meanwhile.
                return _plan_again(cache, key, path, rev)

            data = PlanData(LazyPlan(heads[key]["plan"], load))
        sites.append(BuiltSite(heads[key]["slug"], data, key, path))
    return sorted(sites, key=lambda s: s.slug)


# --- producers ---------------------------------------------------------------------------------


# Every module that contributes files to the site, in the order they run. Each exposes
# ``produce(sites, workdir) -> dict[str, bytes]`` (docs-relative path -> content).
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


def generate(sites: Sequence[Site | BuiltSite], workdir: Path, *, templates: Path | None = None,
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







def _render_globals(sites: Sequence[Any], templates: Path | None) -> dict[str, bytes]:
    from runbook.outputs.pages import render_globals
    from runbook.outputs.templating import environment

    pages = render_globals([s.plan.to_dict() for s in sites], environment(templates))
    return {path: text.encode("utf-8") for path, text in pages.items()}


# Producers that make files outside ``sites/<slug>/``: how to make those from every site.
GLOBAL_BUILDERS: dict[str, Callable[[Sequence[Any], Path | None], dict[str, bytes]]] = {
    "runbook.outputs.pages": _render_globals,
}


# Up to this many sites to produce, a producer runs in the build process (see produce_cached).
FEW_SITES = 4
# Producers that always run in a worker: the build process that later forks the site build's
# workers stays small, and never holds the PDF compiler's threads across a fork.
HEAVY_PRODUCERS = frozenset({"runbook.outputs.documents"})

# Chunks of sites per worker for a producer: enough that the last chunk to finish leaves the
# other cores idle only briefly, few enough that per-chunk costs stay small.
TASKS_PER_JOB = 16


def call_producer(produce: Produce, sites: Sequence[Any], workdir: Path,
                  templates: Path | None) -> dict[str, bytes]:
    """Call ``produce`` passing the user's template folder if it takes one."""
    params = inspect.signature(produce).parameters
    for name in ("templates", "templates_dir"):
        if name in params:
            return produce(list(sites), workdir, **{name: templates})
    return produce(list(sites), workdir)


def site_key(site: Any) -> str:
    """A site's content key: ``BuiltSite.key``, else a hash of its plan (``api.Site``)."""
    key = getattr(site, "key", None)
    if key is None:
        plan = json.dumps(site.plan.to_dict(), sort_keys=True, ensure_ascii=False)
        key = digest("plan", code_fingerprint(), plan)
    return key


def _slug_of(path: str) -> str | None:
    parts = path.split("/", 2)
    return parts[1] if len(parts) == 3 and parts[0] == "sites" else None


def spilled_names(builder: Builder) -> frozenset[str]:
    """The names in the builder's spill folder: one listing for every producer of a build."""
    try:
        return frozenset(os.listdir(builder.spill_dir)) if builder.spill_dir else frozenset()
    except OSError:
        return frozenset()


def produce_cached(name: str, produce: Produce, sites: Sequence[Any], workdir: Path,
                   templates: Path | None, builder: Builder,
                   spilled: frozenset[str] | None = None) -> dict[str, bytes]:
    """One producer's files for every site, from the cache where the site is unchanged.

    ``spilled`` is :func:`spilled_names` taken earlier in the same build (listed here if
    not given): what one producer spills is never another's to find, so one listing serves
    them all.

    Sites missing from the cache are produced in parallel chunks; each site's files are then
    stored under its key. Files outside ``sites/<slug>/`` are made by the producer's entry in
    :data:`GLOBAL_BUILDERS` from every site (a producer making such files without one is a
    bug and raises ``ValueError``).
    """
    cache = builder.cache
    from runbook.outputs.gvc import engine
    from runbook.outputs.templating import templates_fingerprint

    # The renderer is outside tools_fingerprint()'s process-wide memo: RUNBOOK_GRAPHVIZ may
    # change between builds of one process (runbook serve).
    fixed = digest(name, code_fingerprint(), templates_fingerprint(templates),
                   tools_fingerprint(), engine())
    spill_dir = builder.spill_dir
    # With a spill folder, an entry holds the name of each file's spilled copy: a warm build
    # then reads kilobytes per site, not the pages, diagrams and PDFs again. The two forms
    # have different keys, so neither is read as the other.
    form = "spilled" if spill_dir is not None else "whole"
    keys = {s.slug: digest("produce", fixed, form, site_key(s)) for s in sites}

    def finish(slug: str, files: dict[str, bytes]) -> dict[str, Any]:
        return files if spill_dir is None else spill(files, spill_dir, keys[slug])

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

    def run(chunk: Sequence[Any]) -> tuple[dict[str, dict[str, Any]], list[str]]:
        # In a worker: produce, split by site, store, spill; only what remains travels back.
        made = call_producer(produce, chunk, workdir, templates)
        per_site: dict[str, dict[str, bytes]] = {s.slug: {} for s in chunk}
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
            files = finish(slug, per_site.pop(slug))
            if cache:
                cache.put_value(name, keys[slug], {
                    path: content.name if isinstance(content, Path) else content
                    for path, content in files.items()})
            done[slug] = files
        return done, outside

    tick = builder._tick(name.rsplit(".", 1)[-1], len(missed))
    # With files spilled to disk, even a one-process producer runs in a forked worker: its
    # memory high-water mark then never becomes the build process's own. A few sites (the
    # rebuild after an edit) are produced here instead, where starting a worker would cost
    # more than the work; except by producers whose libraries stay large once loaded.
    few = len(missed) <= FEW_SITES and name not in HEAVY_PRODUCERS
    results = map_chunks(run, missed, 1 if few else builder.jobs, tasks_per_job=TASKS_PER_JOB,
                         on_done=tick, isolate=spill_dir is not None and not few)
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
    return out


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
        if not target.is_file() and not write_file(target, content):
            out[path] = content  # a full cache disk: this one is handed on in memory
            continue
        out[path] = target
    return out


def produce_all(sites: Sequence[Any], workdir: Path, templates: Path | None,
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
