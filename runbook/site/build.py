"""Building the static site: run every producer, then a real MkDocs build.

``build_site`` is ``runbook build``: it validates first (the sites' files are made by
:func:`runbook.site.produce.site_files`, as the plugin makes them under a plain ``mkdocs
build``), builds into a temporary folder beside the output and only then swaps it in, so a failed
build leaves the previous site untouched.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runbook.errors import RunbookError
from runbook.site.produce import site_files
from runbook.site.publish import (
    check_output,
    describe_os_error,
    git_root,
    mark,
    output_lock,
    spare_folder,
    staging_folder,
    swap,
)
from runbook.topology.files import discover

if TYPE_CHECKING:
    from runbook.site.plugin import RunbookPlugin


class SiteBuildFailed(RunbookError):
    """MkDocs could not build the site (in strict mode: it logged a warning)."""


def plugin_of(config: object) -> RunbookPlugin:
    """The runbook plugin of a loaded MkDocs configuration; a one-line error without it."""
    from runbook.site.plugin import RunbookPlugin

    for plugin in config.plugins.values():  # type: ignore[attr-defined]
        if isinstance(plugin, RunbookPlugin):
            return plugin
    raise RunbookError("mkdocs.yml does not enable the runbook plugin (plugins: - runbook)")


def load_configuration(config_file: Path | None = None, *, strict: bool = True
                       ) -> tuple[Any, RunbookPlugin, Path]:
    """``mkdocs.yml`` loaded: the MkDocs configuration, its runbook plugin, and the folder
    its relative paths start from. Raises :class:`RunbookError` for a missing or invalid
    file, or one that does not enable the plugin.

    With ``config_file`` None, ``mkdocs.yml`` of the working folder is used, or when there
    is none the embedded default (:data:`runbook.site.assets.DEFAULT_CONFIG`), with the
    working folder's ``docs/`` if it has one, else the packaged pages.
    """
    import io

    from mkdocs.config import load_config
    from mkdocs.exceptions import Abort, ConfigurationError

    from runbook.site import assets

    options: dict[str, Any] = {}
    source: Any
    if config_file is None and not Path("mkdocs.yml").is_file():
        source = io.StringIO(assets.DEFAULT_CONFIG)
        source.name = str(Path.cwd() / "mkdocs.yml")  # relative paths start here
        docs = Path("docs")
        options["docs_dir"] = str(docs.resolve() if docs.is_dir() else assets.static_dir())
        name = "the default configuration"
    else:
        config_file = config_file or Path("mkdocs.yml")
        if not config_file.is_file():
            raise RunbookError(f"{config_file}: no such MkDocs configuration (run from the "
                               "project folder or name it; without -f, a folder with no "
                               "mkdocs.yml uses the default configuration)")
        source, name = str(config_file), str(config_file)
    try:
        config = load_config(config_file=source, strict=strict, **options)
    except (ConfigurationError, Abort) as exc:
        raise RunbookError(f"{name}: {exc}") from None
    return config, plugin_of(config), Path(config.config_file_path).resolve().parent


def default_config_file(folder: Path | None = None) -> Path:
    """The embedded default configuration written out for ``folder`` (default: the working
    folder), every path in it absolute, for tools that need a file (``runbook serve``)."""
    import yaml

    from runbook.site import assets
    from runbook.site.defaults import default_settings

    base = (folder or Path.cwd()).resolve()
    config = dict(default_settings())
    docs = base / "docs"
    config["docs_dir"] = str(docs if docs.is_dir() else assets.static_dir())
    config["plugins"] = ["search", "offline", {"runbook": {
        "inputs": [str(base / "inputs")], "templates": str(base / "templates"),
        "cache_dir": str(base / ".cache" / "runbook")}}]
    target = base / ".cache" / "runbook" / "default-mkdocs.yml"
    target.parent.mkdir(parents=True, exist_ok=True)
    text = ("# runbook's default configuration, written for `runbook serve` in a folder "
            "without mkdocs.yml.\n" + yaml.safe_dump(config, sort_keys=False))
    if not target.is_file() or target.read_text(encoding="utf-8") != text:
        target.write_text(text, encoding="utf-8")
    return target


def build_site(
    inputs: list[Path],
    output: Path,
    *,
    templates: Path | None = None,
    config_file: Path | None = None,
    strict: bool = True,
    jobs: int | None = None,
    cache_dir: Path | None = None,
    progress: Any = None,
    allow_empty: bool = False,
) -> Path:
    """Build the whole site from ``inputs`` into ``output`` with MkDocs; return ``output``.

    Every topology is validated first (:class:`~runbook.errors.ValidationFailed` lists every
    problem of every file). The site is built into a temporary folder beside ``output`` and
    swapped in only when the build succeeded, so a failure leaves the previous site intact.

    ``jobs`` processes share the work (default: every core); ``cache_dir`` (default: the
    plugin's ``cache_dir``) keeps plans, producers' files and finished pages of unchanged
    sites, so a rebuild redoes only what changed. The pages are built by MkDocs' own
    ``build``, the site pages in site builds on ``jobs`` cores (:mod:`runbook.site.finish`).
    ``progress`` is a
    :class:`runbook.engine.progress.Progress`.
    The output is the same, byte for byte, whatever the jobs and the cache.

    ``output`` is refused (:class:`~runbook.site.publish.OutputRefused`) when it is, holds or lies
    in the project's sources, or holds files runbook did not write; inputs with no topology
    are refused unless ``allow_empty``. An operating-system failure (a read-only folder, a
    full disk) is one :class:`RunbookError` line, and the previous site stays.
    """
    from runbook.engine.parallel import default_jobs
    from runbook.engine.store import FAULTS, Damaged, check_named
    from runbook.site.prune import prune_if_due, using

    # site_dir is set to the staging folder below, once the inputs are known to be valid.
    config, plugin, base = load_configuration(config_file, strict=strict)
    cache_root = (cache_dir or plugin.cache_path).resolve()
    jobs = jobs or default_jobs()
    output = _checked_output(output, config, plugin, base, inputs, templates, cache_root)
    if not allow_empty and not discover(inputs):
        names = ", ".join(map(str, inputs))
        raise RunbookError(f"{names}: no topology files (*.yaml); nothing was built and the "
                           "previous site stays (--allow-empty publishes an empty site)")
    FAULTS.clear()
    try:
        with using(cache_root):  # no prune while this build reads and writes the cache
            try:
                _build(config, plugin, base, inputs, output, templates, cache_root, jobs, progress)
            except Damaged as exc:
                # A spilled copy found damaged after the producers ran: remove every damaged
                # one, then build again (the producers make what is missing).
                spill_dir = Path(exc.path).parent
                check_named(spill_dir)
                config, plugin, base = load_configuration(config_file, strict=strict)
                try:
                    _build(config, plugin, base, inputs, output, templates, cache_root, jobs,
                           progress)
                except Damaged as again:
                    check_named(spill_dir)
                    raise RunbookError(f"{again.path}: the cache was damaged again while the "
                                       "site was built (is another program writing in it?); "
                                       "the previous site stays") from None
    except OSError as exc:
        raise RunbookError(describe_os_error(exc, f"{output}: the site was not built, the "
                                             "previous one stays")) from None
    finally:
        for line in FAULTS.notices():
            logging.getLogger("runbook").warning(line)
    prune_if_due(cache_root, plugin.config.cache_max_age_days)
    return output


def _checked_output(output: Path, config: Any, plugin: RunbookPlugin, base: Path,
                    inputs: list[Path], templates: Path | None, cache_root: Path) -> Path:
    """``output`` resolved, once it is known that building there loses no user file."""
    sources = [("docs folder", Path(config.docs_dir)), ("cache folder", cache_root)]
    for item in inputs:
        sources.append(("inputs", item if item.is_dir() else item.parent))
    for folder in (templates, base / plugin.config.templates):
        if folder is not None and folder.is_dir():
            sources.append(("templates folder", folder))
    custom_dir = config.theme.custom_dir
    if custom_dir:
        sources.append(("theme overrides", Path(custom_dir)))
    roots = [("configuration's folder", base)]
    repo = git_root(base)
    if repo is not None:
        roots.append(("git work tree", repo))
    return check_output(output, sources=sources, roots=roots)


def _build(config: Any, plugin: RunbookPlugin, base: Path, inputs: list[Path], output: Path,
           templates: Path | None, cache_root: Path, jobs: int, progress: Any) -> None:
    """:func:`build_site`'s work, while it holds the cache."""
    if templates is not None:
        plugin.config.templates = str(templates.resolve())
    # Produced here rather than inside MkDocs, so a producer's error surfaces as itself; the
    # plugin, under a plain mkdocs build, makes them with the same call (its on_pre_build).
    sites, generated = site_files(inputs, cache_dir=cache_root, jobs=jobs, progress=progress,
                                  templates=(base / plugin.config.templates).resolve())
    plugin.config.inputs = [str(p.resolve()) for p in inputs]
    publish_site(config, plugin, sites, generated, output, cache_root, jobs)


def publish_site(config: Any, plugin: RunbookPlugin, sites: list[Any],
                 generated: dict[str, Any], output: Path, cache_root: Path, jobs: int) -> None:
    """MkDocs' build of ``sites`` and their ``generated`` files into a staging folder beside
    ``output``, swapped in when it succeeded: :func:`build_site`'s last step (the benchmark's
    site stage too). The site it replaces is linked from, and its ``sites/`` kept as the
    spare the next build starts from (:mod:`runbook.site.publish`)."""
    from mkdocs.commands.build import build as mkdocs_build
    from mkdocs.exceptions import Abort

    output.parent.mkdir(parents=True, exist_ok=True)
    with staging_folder(output) as staging:
        config.site_dir = str(staging)
        plugin.config.cache_dir = str(cache_root)
        plugin.preload(sites, generated, jobs=jobs, cache_root=cache_root)
        plugin.previous_site = output if output.is_dir() else None
        plugin.spare = spare = spare_folder(cache_root, output)
        config.plugins.on_startup(command="build", dirty=False)
        try:
            # MkDocs' own build, public API and plugin events only; the plugin builds the
            # site pages in site builds forked from it (runbook.site.finish).
            mkdocs_build(config)
        except Abort as exc:
            raise SiteBuildFailed(f"mkdocs build failed: {exc}") from None
        finally:
            config.plugins.on_shutdown()
        mark(staging)
        with output_lock(spare):
            kept = swap(staging, output, spare)
            plugin.record_published(output)
            if kept:
                plugin.record_spare()
