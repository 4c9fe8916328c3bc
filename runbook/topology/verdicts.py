"""``runbook validate`` without the validator when nothing changed: content-addressed verdicts.

Validating a file means importing pydantic's model machinery and building the topology model,
which costs far more than checking a file. So, as ruff and mypy do, the result of each file is
kept, and replayed when the same bytes are validated by the same code again. A verdict holds
exactly what ``runbook validate`` prints for the file (its problem lines, the counts) and the
file's site slug; ``--strict``, ``--quiet`` and the closing line are applied when printing, the
same way for a fresh verdict and a replayed one, so the output is the same either way.

The key of a verdict is the file's bytes, its display name (it is part of every line), the
code fingerprint (the package version and every ``.py`` file of the package, as
:func:`runbook.engine.store.code_fingerprint`), where pydantic, pydantic-core, PyYAML and
pydantic's helper packages are installed and their versions, and the Python version. A changed file,
generator, library or interpreter therefore misses. Nothing else goes into a verdict:
validation reads nothing but the file, and a run that showed a Python warning, or a file that
could not be read, is not kept. The one cross-file finding, two files declaring the same site,
is never replayed: when slugs repeat, every file is validated again by
:func:`runbook.topology.validate.load_all`.

Verdicts live in the folder ``runbook build`` keeps its cache in (``cache_dir`` of the runbook
plugin in ./mkdocs.yml, default ``.cache/runbook``), under ``validate/``, written atomically,
laid out as :class:`runbook.engine.store.Cache` entries.

The validator (pydantic and the model) is imported only on a miss.
"""

from __future__ import annotations

import marshal
import os
import sys
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

from runbook.engine.store import (
    FAULTS,
    cache_dir_override,
    code_fingerprint,
    digest,
    load_value,
    read_entry,
    write_entry,
)
from runbook.topology.files import display_name, read_capped

TYPE_CHECKING = False  # typing costs as much to import as the rest of the replay path
if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from runbook.topology.validate import Loaded

NAMESPACE = "validate"
FORMAT = "runbook-verdict-1"  # bump when the stored record changes shape
DEFAULT_CACHE_DIR = ".cache/runbook"  # the runbook plugin's default cache_dir
READ_LIMIT = 1 << 20  # larger than any file the loader accepts; bigger files are not cached
# The libraries validation runs on (import name, normalised distribution name): pydantic and
# the packages it builds models with, and PyYAML.
LIBRARIES = (("pydantic", "pydantic"), ("pydantic_core", "pydantic_core"), ("yaml", "pyyaml"),
             ("annotated_types", "annotated_types"), ("typing_extensions", "typing_extensions"),
             ("typing_inspection", "typing_inspection"))
NOTE = "note: the deployment rules run once the errors above are fixed; run validate again then"


# --- keys ---------------------------------------------------------------------------------------


def _library(module: str, dist: str) -> str:
    """Where ``module`` is imported from and its installed version, without importing it.

    The first ``sys.path`` folder holding the package (or single-file module) decides, as for
    ``import``; its ``<dist>-<version>.dist-info`` gives the version. Without one (a source
    checkout), the module file's size and modification time stand in for it.
    """
    for entry in sys.path:
        folder = os.path.abspath(entry or os.curdir)
        for source in (os.path.join(folder, module, "__init__.py"),
                       os.path.join(folder, module + ".py")):
            if os.path.isfile(source):
                break
        else:
            continue
        for name in _listing(folder):
            stem, _, suffix = name.rpartition(".")
            dist_name, _, version = stem.rpartition("-")
            if suffix == "dist-info" and dist_name.lower().replace(".", "_") == dist:
                return f"{source} {dist} {version}"
        stat = os.stat(source)
        return f"{source} {dist} unversioned {stat.st_size} {stat.st_mtime_ns}"
    return f"{module} not found"


@cache
def _listing(folder: str) -> list[str]:
    try:
        return os.listdir(folder)
    except OSError:
        return []


@lru_cache(maxsize=1)
def fingerprint() -> str:
    """Everything besides the file that a verdict depends on: code, libraries, Python."""
    return digest(FORMAT, code_fingerprint(), sys.version, sys.implementation.cache_tag,
                   *(_library(module, dist) for module, dist in LIBRARIES))


def verdict_key(name: str, data: bytes) -> str:
    """The key of the verdict on a file named ``name`` (as printed) holding ``data``."""
    return digest(NAMESPACE, fingerprint(), name, data)


def _read(path: Path) -> bytes | None:
    """The file's bytes, or None if it cannot be read, is too large to be cached, or is not
    a regular file (a pipe such as /dev/stdin can be read once: the validator must have it)."""
    try:
        return read_capped(path, READ_LIMIT, pipes=False)  # a pipe is the validator's
    except OSError:
        return None


# --- the store ----------------------------------------------------------------------------------


def cache_root(config: Path = Path("mkdocs.yml")) -> Path:
    """The folder ``runbook build`` caches in: the runbook plugin's ``cache_dir`` in
    ./mkdocs.yml, relative to that file's folder (default ``.cache/runbook``).

    Finding the folder must cost nothing next to a replay, and importing a YAML parser costs
    more than the replay: a file that does not say ``cache_dir`` uses the default, and the
    plugin's entry in the usual block form (``- runbook:`` with ``cache_dir:`` under it) is
    read with a line scan. Any other file that says ``cache_dir`` (the mapping form of
    ``plugins``, flow style, a tag) is parsed.
    """
    override = cache_dir_override()
    if override is not None:
        return override
    try:
        text = config.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        text = ""
    value = None
    if "cache_dir" in text:
        value = _scanned(text.splitlines())
        if value is None or value.startswith(("!", "{", "[", "&", "*")):
            value = _parsed(text)
    value = value or DEFAULT_CACHE_DIR
    return (config.resolve().parent / value) if config.is_file() else Path(value).resolve()


def _scanned(lines: list[str]) -> str | None:
    """``cache_dir`` of a ``- runbook:`` block entry, or None when the scan does not find it."""
    block: int | None = None  # indentation of the "- runbook:" entry, once inside it
    for line in lines:
        text = line.split(" #", 1)[0].rstrip()
        indent = len(text) - len(text.lstrip())
        item = text.strip()
        if not item or item.startswith("#"):
            continue
        if block is None:
            if item in ("- runbook:", "- runbook"):
                block = indent
        elif indent <= block:
            return None
        elif item.startswith("cache_dir:"):
            return item[len("cache_dir:"):].strip().strip("'\"") or None
    return None


def _environment_value(loader: Any, node: Any) -> Any:
    """MkDocs' ``!ENV NAME`` or ``!ENV [NAME, OTHER, default]`` (pyyaml_env_tag): the value
    of the first variable that is set, else the last item of a list of two or more."""
    import yaml

    if isinstance(node, yaml.ScalarNode):
        names, default = [loader.construct_scalar(node)], None
    elif isinstance(node, yaml.SequenceNode):
        items = [loader.construct_object(child) for child in node.value]
        names, default = (items[:-1], items[-1]) if len(items) > 1 else (items, None)
    else:  # a mapping: not a form MkDocs reads
        return None
    for name in names:
        if isinstance(name, str) and name in os.environ:
            return os.environ[name]
    return default


def _parsed(text: str) -> str | None:
    """``cache_dir`` of the runbook plugin in the MkDocs configuration ``text``, parsed as
    YAML (MkDocs' own tags read as nothing), or None."""
    import yaml

    loader: Any = type("Loader", (getattr(yaml, "CSafeLoader", yaml.SafeLoader),), {})
    loader.add_multi_constructor("", lambda *_: None)  # !relative, !!python/name:...
    loader.add_constructor("!ENV", _environment_value)
    try:
        data = yaml.load(text, Loader=loader)  # a safe loader: unknown tags give None
    except yaml.YAMLError:
        return None
    plugins = data.get("plugins") if isinstance(data, dict) else None
    entries: list[tuple[Any, Any]] = []
    if isinstance(plugins, dict):  # plugins: {runbook: {...}}
        entries = list(plugins.items())
    elif isinstance(plugins, list):  # plugins: [search, {runbook: {...}}]
        entries = [item for entry in plugins if isinstance(entry, dict)
                   for item in entry.items()]
    for name, settings in entries:
        if name == "runbook" and isinstance(settings, dict):
            found = settings.get("cache_dir")
            return found if isinstance(found, str) and found else None
    return None


class Verdict:
    """What ``runbook validate`` says about one file, flags aside.

    ``lines`` go to standard error (the file's problems, then the note when schema errors
    kept the rules from running); ``site`` is the slug when the file got as far as the model.
    """

    __slots__ = ("errors", "file", "lines", "site", "warnings")

    def __init__(self, file: str, lines: list[str], errors: int, warnings: int,
                 site: str | None) -> None:
        self.file, self.lines, self.errors, self.warnings, self.site = (
            file, lines, errors, warnings, site)

    def as_data(self) -> dict[str, object]:
        """Plain data for :mod:`marshal`."""
        return {"file": self.file, "lines": self.lines, "errors": self.errors,
                "warnings": self.warnings, "site": self.site}

    @classmethod
    def from_data(cls, data: object, file: str) -> Verdict | None:
        """The verdict stored as ``data`` for ``file``; None if it is not one (a miss)."""
        if not isinstance(data, dict) or data.get("file") != file:
            return None
        lines, errors, warnings, site = (data.get(k) for k in ("lines", "errors", "warnings",
                                                                "site"))
        if not (isinstance(lines, list) and all(isinstance(x, str) for x in lines)
                and type(errors) is int and type(warnings) is int
                and (site is None or isinstance(site, str))):
            return None
        return cls(file, lines, errors, warnings, site)

    @classmethod
    def of(cls, item: Loaded) -> Verdict:
        """The verdict on a validated file, from :func:`runbook.topology.validate.load_topology` or
        :func:`~runbook.topology.validate.load_all` (whose duplicate-site errors it then
        includes)."""
        from runbook.errors import format_problems  # only on a miss: the validator's path

        lines = format_problems(item.problems)  # escaped, and bounded per file
        if item.errors and not item.rules_checked:
            lines.append(f"{item.source.file}: {NOTE}")
        site = item.topology.site if item.topology is not None else None
        return cls(item.source.file, lines, len(item.errors), len(item.warnings), site)


class Store:
    """Verdicts under ``<root>/validate/<key[:2]>/<key>``; a failure to write is ignored."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        return self.root / NAMESPACE / key[:2] / key

    def get(self, key: str, file: str) -> Verdict | None:
        """The stored verdict, or None (absent, unreadable or damaged: a miss)."""
        data = load_value(read_entry(self._path(key), NAMESPACE))
        return Verdict.from_data(data, file) if data is not None else None

    def put(self, key: str, verdict: Verdict) -> None:
        """Store atomically (:func:`runbook.engine.store.write_entry`); a failure is ignored."""
        write_entry(self._path(key), marshal.dumps(verdict.as_data()))


# --- printing -----------------------------------------------------------------------------------


def _emit(line: str, err: bool = False) -> None:
    import click

    click.echo(line, err=err)


def report(verdicts: Sequence[Verdict], *, strict: bool = False, quiet: bool = False) -> int:
    """Print what ``runbook validate`` prints for these verdicts; return its exit status."""
    failed = 0
    for v in verdicts:
        for line in v.lines:
            _emit(line, err=True)
        bad = bool(v.errors) or (strict and bool(v.warnings))
        failed += bad
        if not quiet:
            _emit(f"{v.file}: {'invalid' if bad else 'valid'} ({v.errors} error(s), "
                  f"{v.warnings} warning(s))")
    if not quiet:
        _emit(f"{len(verdicts) - failed} of {len(verdicts)} topology file(s) valid")
    return 1 if failed else 0


# --- validate -----------------------------------------------------------------------------------


def _unique_sites(verdicts: Iterable[Verdict]) -> bool:
    sites = [v.site for v in verdicts if v.site is not None]
    return len(sites) == len(set(sites))


def _stored(files: Sequence[Path], store: Store) -> dict[int, Verdict]:
    """The stored verdicts of ``files``, by position."""
    found = {}
    for i, path in enumerate(files):
        data = _read(path)
        if data is not None:
            name = display_name(path)
            verdict = store.get(verdict_key(name, data), name)
            if verdict is not None:
                found[i] = verdict
    return found


class _WarningWatch:
    """Notes whether Python showed a warning (on stderr, where a replay would not show it)."""

    def __enter__(self) -> _WarningWatch:
        import warnings

        self.shown = False
        self._module = warnings
        self._show = warnings.showwarning

        def show(*args: object, **kwargs: object) -> None:
            self.shown = True
            self._show(*args, **kwargs)  # type: ignore[arg-type]

        warnings.showwarning = show
        return self

    def __exit__(self, *exc: object) -> None:
        self._module.showwarning = self._show


# --- validating -----------------------------------------------------------------------------


def validate_files(files: Sequence[Path], store: Store | None) -> list[Verdict]:
    """The verdict on every file: stored ones replayed, the others validated (and stored).

    Equal to :func:`runbook.topology.validate.load_all` on ``files``, item for item. When every file
    has a stored verdict and no two name the same site, the validator is not even imported.
    """
    stored = _stored(files, store) if store is not None else {}
    if len(stored) == len(files) and _unique_sites(stored.values()):
        return [stored[i] for i in range(len(files))]
    with _WarningWatch() as watch:
        from runbook.topology.validate import load_all, load_topology

        fresh: dict[int, tuple[Verdict, bytes | None]] = {}
        for i, path in enumerate(files):
            if i not in stored:
                item = load_topology(path)
                fresh[i] = (Verdict.of(item), item.source.raw)
        verdicts = [stored[i] if i in stored else fresh[i][0] for i in range(len(files))]
        if not _unique_sites(verdicts):
            # Only load_all knows where to report a repeated site: let it do everything.
            verdicts = [Verdict.of(item) for item in load_all(files)]
    if store is not None and not watch.shown:
        for verdict, raw in fresh.values():
            if raw is not None:  # read, so the verdict depends on these bytes alone
                store.put(verdict_key(verdict.file, raw), verdict)
    return verdicts


def run(files: Sequence[Path], *, strict: bool = False, quiet: bool = False,
        use_cache: bool = True) -> int:
    """``runbook validate`` on ``files`` (already discovered): print, return the exit status."""
    FAULTS.clear()  # this run's faults only, not those of an earlier build in this process
    verdicts = validate_files(files, Store(cache_root()) if use_cache else None)
    status = report(verdicts, strict=strict, quiet=quiet)
    for line in FAULTS.notices():  # damaged verdicts (validated again), or a full disk
        _emit(line, err=True)
    return status
