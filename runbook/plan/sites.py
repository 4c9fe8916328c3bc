"""Sites: valid topologies with their plans, validated and planned through the build cache.

:func:`load_sites` is the one way every caller (``runbook build``, the MkDocs plugin, the
API) turns topology files into :class:`Site` objects. With a cache
(:class:`runbook.engine.store.Cache`), a file whose key is known is not read again: its
site comes back from the cache with its plan's head (what the home page and the site's
navigation read), and the whole plan is read from the cache only when something asks for
it. Files not in the cache are validated and planned on ``jobs`` worker processes.

The plan has one type, :class:`~runbook.plan.model.Plan` (frozen dataclasses). The cache
keeps it as the plain data of :meth:`Plan.to_dict` (what templates read), and
:func:`plan_from_dict` makes the typed plan again from that data.
"""

from __future__ import annotations

import dataclasses
import marshal
import time
import types
import typing
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from runbook.engine.store import Cache, code_fingerprint, digest
from runbook.errors import ValidationFailed
from runbook.plan import model
from runbook.plan.model import (
    Finding,
    Meta,
    Pic,
    Plan,
    Provenance,
    ReverseProxyPlan,
    Summary,
    Vip,
)
from runbook.plan.provenance import revisions

if typing.TYPE_CHECKING:
    from runbook.topology.validate import Loaded

T = TypeVar("T")


# --- the plan from its plain data ------------------------------------------------------------

_HINTS: dict[type, dict[str, Any]] = {}


def _hints(cls: type) -> dict[str, Any]:
    hints = _HINTS.get(cls)
    if hints is None:
        resolved = typing.get_type_hints(cls, vars(model))
        hints = _HINTS[cls] = {f.name: resolved[f.name] for f in dataclasses.fields(cls)}
    return hints


def _identity(value: Any) -> Any:
    return value


# One decoder per type, made once: a warm build of a thousand sites decodes a thousand
# plan heads, and looking the types up again for every value cost half a second.
_DECODERS: dict[Any, Callable[[Any], Any]] = {}


def _decoder(kind: Any) -> Callable[[Any], Any]:
    found = _DECODERS.get(kind)
    if found is None:
        # A type met again while its own decoder is being made (a recursive type) calls the
        # finished one through the table.
        _DECODERS[kind] = lambda value: _DECODERS[kind](value)
        found = _DECODERS[kind] = _make_decoder(kind)
    return found


def _make_decoder(kind: Any) -> Callable[[Any], Any]:
    if isinstance(kind, type) and dataclasses.is_dataclass(kind):
        fields = [(name, _decoder(hint)) for name, hint in _hints(kind).items()]
        cls = kind

        def dataclass_of(value: Any) -> Any:
            return cls(**{name: decode(value[name]) for name, decode in fields})

        return dataclass_of
    origin = typing.get_origin(kind)
    if origin is list:
        (arg,) = typing.get_args(kind)
        item = _decoder(arg)
        if item is _identity:
            return list
        return lambda value: [item(v) for v in value]
    if origin is dict:
        _, arg = typing.get_args(kind)
        item = _decoder(arg)
        if item is _identity:
            return dict
        return lambda value: {k: item(v) for k, v in value.items()}
    if origin is tuple:
        args = typing.get_args(kind)
        if len(args) == 2 and args[1] is Ellipsis:
            item = _decoder(args[0])
            return lambda value: tuple(item(v) for v in value)
        items = [_decoder(a) for a in args]
        return lambda value: tuple(f(v) for f, v in zip(items, value, strict=True))
    if origin is typing.Union or origin is types.UnionType:
        options = [a for a in typing.get_args(kind) if a is not type(None)]
        if len(options) != 1:
            def ambiguous(value: Any) -> Any:
                if value is None:
                    return None
                raise TypeError(f"the plan's types hold an ambiguous union: {kind}")

            return ambiguous
        inner = _decoder(options[0])
        return lambda value: None if value is None else inner(value)
    return _identity  # str, int, bool, a Literal's value, Any


def _decode(kind: Any, value: Any) -> Any:
    return _decoder(kind)(value)


def plan_from_dict(data: dict[str, Any], kind: type[T] = Plan) -> T:  # type: ignore[assignment]
    """The typed plan (or one of its sections, ``kind``) whose :meth:`Plan.to_dict` is
    ``data``: the inverse of ``to_dict``."""
    result: T = _decode(kind, data)
    return result


# --- sites ------------------------------------------------------------------------------------

# The plan sections the home page and a site's navigation read (the home page's row: meta,
# summary, warnings; a site's page list: pic, vips, reverse_proxy).
HEAD_SECTIONS = ("meta", "summary", "warnings", "pic", "vips", "reverse_proxy")


@dataclass(frozen=True)
class PlanHead:
    """The sections of a plan a site-wide page reads: kept beside each cached plan, so a
    build in which most sites are unchanged does not load every whole plan."""

    meta: Meta
    summary: Summary
    warnings: list[Finding]
    pic: Pic | None
    vips: list[Vip]
    reverse_proxy: ReverseProxyPlan | None

    def to_dict(self) -> dict[str, Any]:
        """These sections as :meth:`Plan.to_dict` gives them."""
        return dataclasses.asdict(self)


def _head_data(plan: dict[str, Any]) -> dict[str, Any]:
    return {name: plan[name] for name in HEAD_SECTIONS}


class Site:
    """A valid topology and its plan.

    ``slug`` names the site's pages and files; ``key`` identifies the topology's content
    (its bytes, name and git revision, and the generator's code); ``head`` is the part of the
    plan that site-wide pages read. The whole plan, :attr:`plan` (typed) or
    :meth:`plan_dict` (its plain data), is read from the build cache when asked for and not
    kept, so a thousand sites do not hold a thousand plans.
    """

    __slots__ = ("_data", "_load", "head", "key", "path", "slug")

    def __init__(self, slug: str, key: str, path: Path, head: PlanHead, *,
                 data: dict[str, Any] | None = None,
                 load: Callable[[], dict[str, Any]] | None = None) -> None:
        if (data is None) == (load is None):
            raise TypeError("a Site needs its plan's data or a way to load it, not both")
        self.slug = slug
        self.key = key
        self.path = path
        self.head = head
        self._data = data
        self._load = load

    def plan_dict(self) -> dict[str, Any]:
        """The plan as plain data (:meth:`Plan.to_dict`): what templates and producers read.

        Shared by every producer: they read it, they never modify it.
        """
        if self._data is not None:
            return self._data
        assert self._load is not None
        return self._load()

    @property
    def plan(self) -> Plan:
        """The site's plan, typed."""
        return plan_from_dict(self.plan_dict())

    def __repr__(self) -> str:
        return f"Site({self.slug!r}, {self.path!s})"


@dataclass
class LoadStats:
    """What loading cost: files, cache misses, and validate/plan seconds spent in workers."""

    files: int = 0
    missed: int = 0
    validate_seconds: float = 0.0
    plan_seconds: float = 0.0


def _plan(item: Loaded, revision: str | None) -> Plan:
    assert item.topology is not None
    from runbook.plan.derive import build_plan

    source = item.source.file
    if Path(source).is_absolute():
        # Outside the working folder and outside git: publish the name, not a local path.
        source = Path(source).name
    provenance = Provenance(source=source, revision=revision)
    return build_plan(item.topology, provenance, [w.as_dict() for w in item.warnings])


def _load_chunk(items: Sequence[tuple[str, str | None]]) -> list[tuple[bytes | None, float, float]]:
    """Validate and plan topology files (in a worker): marshalled plan data, None if invalid."""
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
    """What a topology's key is made of: its bytes, read as the validator reads them (never
    more than its size cap plus one byte, never from a pipe or a device). A file that cannot
    be read gets a key no entry has; the validator then reports it."""
    from runbook.topology.files import read_capped
    from runbook.topology.loader import MAX_BYTES

    try:
        return read_capped(path, MAX_BYTES, pipes=False)  # a pipe is read once, to validate
    except OSError:
        return b"\0unreadable\0" + str(path).encode("utf-8", "backslashreplace")


def _is_head(value: Any) -> typing.TypeGuard[dict[str, Any]]:
    """True when ``value`` is a site entry as :func:`load_sites` stores it."""
    return (isinstance(value, dict) and isinstance(value.get("slug"), str)
            and isinstance(value.get("plan"), dict)
            and all(name in value["plan"] for name in HEAD_SECTIONS))


def _raise_problems(paths: Sequence[Path | str]) -> None:
    """Raise :class:`ValidationFailed` listing every problem of every file under ``paths``
    (every error of each file, and two files declaring the same site)."""
    from runbook.topology.validate import load_all, require_valid

    require_valid(load_all(paths))


def _plan_again(cache: Cache, key: str, path: Path, rev: str | None) -> dict[str, Any]:
    """The plan of the topology at ``path`` made again and stored under ``key``: its entry
    was damaged or removed, though its site entry was not."""
    blob = _load_chunk([(str(path), rev)])[0][0]
    if blob is None:  # valid when its site entry was made from the same bytes
        _raise_problems([path])
        raise AssertionError(f"{path} is valid and invalid at once")
    cache.put("plan", key, blob)
    plan: dict[str, Any] = marshal.loads(blob)
    return plan


class CachedPlan:
    """A site's plan read from the build cache, or made again when its entry is gone.

    A plain object rather than a closure, so a :class:`Site` can be pickled (to a detached
    worker, :func:`runbook.engine.parallel.map_detached`).
    """

    __slots__ = ("cache", "key", "path", "rev")

    def __init__(self, cache: Cache, key: str, path: Path, rev: str | None) -> None:
        self.cache, self.key, self.path, self.rev = cache, key, path, rev

    def __call__(self) -> dict[str, Any]:
        value = self.cache.get_value("plan", self.key)
        if isinstance(value, dict):
            return value
        # Damaged (and counted), or removed.
        return _plan_again(self.cache, self.key, self.path, self.rev)


def load_sites(paths: Iterable[Path | str], *, cache: Cache | None = None, jobs: int = 1,
               progress: Any = None, stats: LoadStats | None = None) -> list[Site]:
    """Validate and plan every topology under ``paths``; the sites sorted by slug.

    With ``cache``, a file whose key (its bytes, display name and git revision, the
    generator's code) is in the cache is not read again, and each plan is read back from the
    cache when asked for; without, every plan is kept in memory. Files to validate are
    shared among ``jobs`` worker processes. ``progress`` is a
    :class:`runbook.engine.progress.Progress`; ``stats``, if given, is filled in.

    Raises :class:`ValidationFailed` listing every problem of every file if any is invalid
    or two files declare the same site.
    """
    from runbook.engine.parallel import map_chunks
    from runbook.topology.files import discover, display_name

    paths = list(paths)
    files = discover(paths)
    revs = revisions(files)
    code = code_fingerprint()
    keyed = []
    for path in files:
        rev = revs.get(path.resolve())  # revisions() keys by the resolved path
        keyed.append((path, rev, digest("site", code, display_name(path), rev or "",
                                         _topology_bytes(path))))
    heads: dict[str, dict[str, Any]] = {}
    missed = []
    for path, rev, key in keyed:
        entry = cache.get_value("site", key) if cache is not None else None
        if _is_head(entry):
            heads[key] = entry
        else:
            missed.append((path, rev, key))
    stats = stats if stats is not None else LoadStats()
    stats.files, stats.missed = len(files), len(missed)
    stats.validate_seconds = stats.plan_seconds = 0.0
    tick: Callable[[int], None] = lambda n: None  # noqa: E731
    if progress is not None and missed:
        progress.stage("validate", len(missed), "files")
        tick = progress.advance
    results = map_chunks(_load_chunk, [(str(p), r) for p, r, _ in missed], jobs, on_done=tick)
    if progress is not None and missed:
        progress.finish()
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
        heads[key] = {"slug": plan["meta"]["site"], "plan": _head_data(plan)}
        # Held here without a cache, or when the cache could not store it (a full disk).
        if cache is None or not cache.put("plan", key, blob):
            fresh[key] = plan
        if cache is not None:
            cache.put_value("site", key, heads[key])
    slugs = Counter(head["slug"] for head in heads.values())
    if invalid or any(n > 1 for n in slugs.values()):
        _raise_problems(paths)
        raise AssertionError("invalid topologies that validate")  # pragma: no cover
    sites = []
    for path, rev, key in keyed:
        plan_head = plan_from_dict(heads[key]["plan"], PlanHead)
        if key in fresh:
            sites.append(Site(heads[key]["slug"], key, path, plan_head, data=fresh[key]))
            continue
        assert cache is not None
        sites.append(Site(heads[key]["slug"], key, path, plan_head,
                          load=CachedPlan(cache, key, path, rev)))
    return sorted(sites, key=lambda s: s.slug)


def plan_file(path: Path | str) -> Plan:
    """Validate one topology file and return its plan (raises :class:`ValidationFailed`)."""
    from runbook.topology.validate import load_topology

    item = load_topology(path)
    if not item.ok:
        raise ValidationFailed(f"{len(item.errors)} error(s) in {item.source.file}",
                               item.errors)
    revs = revisions([item.path])
    return _plan(item, revs.get(item.path.resolve()))
