"""Building the static site: run every producer, then a real MkDocs build.

``generate`` is what the MkDocs plugin calls; ``build_site`` is ``runbook build``: it validates
first, builds into a temporary folder beside the output and only then swaps it in, so a failed
build leaves the previous site untouched.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from runbook.errors import RunbookError
from runbook.site.generate import generate
from runbook.site.publish import (
    check_output,
    describe_os_error,
    git_root,
    mark,
    staging_folder,
    swap,
)
from runbook.topology.files import discover

if TYPE_CHECKING:
    from runbook.site.generate import Builder
    from runbook.site.plugin import RunbookPlugin


class SiteBuildFailed(RunbookError):
    """MkDocs could not build the site (in strict mode: it logged a warning)."""


def _plugin(config: object) -> RunbookPlugin:
    from runbook.site.plugin import RunbookPlugin

    for plugin in config.plugins.values():  # type: ignore[attr-defined]
        if isinstance(plugin, RunbookPlugin):
            return plugin
    raise RunbookError("mkdocs.yml does not enable the runbook plugin (plugins: - runbook)")


def load_configuration(config_file: Path, *, strict: bool = True
                       ) -> tuple[Any, RunbookPlugin, Path]:
    """``mkdocs.yml`` loaded: the MkDocs configuration, its runbook plugin, and the folder
    its relative paths start from. Raises :class:`RunbookError` for a missing or invalid
    file, or one that does not enable the plugin."""
    from mkdocs.config import load_config
    from mkdocs.exceptions import Abort, ConfigurationError

    if not config_file.is_file():
        raise RunbookError(f"{config_file}: no such MkDocs configuration (run from the project "
                           "folder or name it)")
    try:
        config = load_config(config_file=str(config_file), strict=strict)
    except (ConfigurationError, Abort) as exc:
        raise RunbookError(f"{config_file}: {exc}") from None
    return config, _plugin(config), Path(config.config_file_path).resolve().parent


def build_site(
    inputs: list[Path],
    output: Path,
    *,
    templates: Path | None = None,
    config_file: Path = Path("mkdocs.yml"),
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
    plugin's ``cache_dir``) keeps plans and producers' files of unchanged sites, so a rebuild
    redoes only what changed. The pages are built by MkDocs' own ``build``; with
    ``RUNBOOK_SITE_BUILD=split`` (opt-in, :mod:`runbook.site.fastbuild`) they are built on
    ``jobs`` cores and kept in the cache too. ``progress`` is a
    :class:`runbook.engine.progress.Progress`.
    The output is the same, byte for byte, whatever the jobs and the cache.

    ``output`` is refused (:class:`~runbook.site.publish.OutputRefused`) when it is, holds or lies
    in the project's sources, or holds files runbook did not write; inputs with no topology
    are refused unless ``allow_empty``. An operating-system failure (a read-only folder, a
    full disk) is one :class:`RunbookError` line, and the previous site stays.
    """
    from runbook.engine.parallel import default_jobs
    from runbook.engine.store import Cache
    from runbook.site.generate import Builder
    from runbook.site.prune import prune_if_due, using

    # site_dir is set to the staging folder below, once the inputs are known to be valid.
    config, plugin, base = load_configuration(config_file, strict=strict)
    cache_root = (cache_dir or base / plugin.config.cache_dir).resolve()
    builder = Builder(Cache(cache_root), jobs=jobs or default_jobs(), progress=progress,
                      spill_dir=cache_root / "files")
    output = _checked_output(output, config, plugin, base, inputs, templates, cache_root)
    if not allow_empty and not discover(inputs):
        names = ", ".join(map(str, inputs))
        raise RunbookError(f"{names}: no topology files (*.yaml); nothing was built and the "
                           "previous site stays (--allow-empty publishes an empty site)")
    try:
        with using(cache_root):  # no prune while this build reads and writes the cache
            _build(config, plugin, base, inputs, output, templates, builder, progress)
    except OSError as exc:
        raise RunbookError(describe_os_error(exc, f"{output}: the site was not built, the "
                                             "previous one stays")) from None
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
           templates: Path | None, builder: Builder, progress: Any) -> None:
    """:func:`build_site`'s work, while it holds the cache."""
    from mkdocs.commands.build import build as mkdocs_build
    from mkdocs.exceptions import Abort

    from runbook.site import fastbuild
    from runbook.site.generate import load_sites

    cache_root = builder.cache.root
    sites = load_sites(inputs, builder)
    output.parent.mkdir(parents=True, exist_ok=True)
    with staging_folder(output) as staging:
        config.site_dir = str(staging)
        plugin.config.inputs = [str(p.resolve()) for p in inputs]
        plugin.config.cache_dir = str(cache_root)
        if templates is not None:
            plugin.config.templates = str(templates.resolve())
        # Generate here rather than inside MkDocs, so a producer's error surfaces as itself.
        plugin_templates = (base / plugin.config.templates).resolve()
        generated = generate(sites, cache_root, builder=builder,
                             templates=plugin_templates if plugin_templates.is_dir() else None)
        plugin.preload(sites, generated)
        config.plugins.on_startup(command="build", dirty=False)
        try:
            if fastbuild.chosen():
                fastbuild.build(config, jobs=builder.jobs, cache=builder.cache,
                                progress=progress, previous_site=output)
            else:
                # The default path: MkDocs' own build, public API and plugin events only.
                mkdocs_build(config)
        except Abort as exc:
            raise SiteBuildFailed(f"mkdocs build failed: {exc}") from None
        finally:
            config.plugins.on_shutdown()
        mark(staging)
        swap(staging, output)
