"""The ``runbook`` command: a thin click layer over the library API.

Exit codes follow click: 0 success, 1 invalid input (or a failed build), 2 wrong usage.
A :class:`~runbook.errors.RunbookError` is printed as ``file:line:col: path: message`` lines
without a traceback.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from runbook import __version__
from runbook.errors import RunbookError, printable

F = TypeVar("F", bound=Callable[..., Any])
DEFAULT_INPUTS = "inputs"
# export, cr and print write under this one folder by default (git-ignored by runbook init).
OUT = Path("out")


def reports_errors(fn: F) -> F:
    """Turn a RunbookError into its message on stderr and the error's exit code."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except RunbookError as exc:
            click.echo(exc.format(), err=True)  # escaped: it quotes the input
            if exc.problems:
                click.echo(f"{len(exc.problems)} error(s); nothing was written.", err=True)
            sys.exit(exc.exit_code)

    return wrapper  # type: ignore[return-value]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="runbook")
def main() -> None:
    """Site-specific OCS 2007 edge runbooks from topology files in inputs/."""


@main.command()
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@click.option("--strict", is_flag=True, help="Treat warnings as errors.")
@click.option("-q", "--quiet", is_flag=True, help="Print problems only.")
@click.option("--no-cache", is_flag=True,
              help="Validate every file again, even those whose result is in the cache.")
@click.option("--format", "fmt", default="text", show_default=True,
              type=click.Choice(["text", "json", "github", "sarif", "junit"]),
              help="text: the lines below; json; github: GitHub Actions annotations; sarif: "
                   "SARIF 2.1.0; junit: JUnit XML. Other than text, printed on stdout.")
def validate(paths: tuple[Path, ...], strict: bool, quiet: bool, no_cache: bool,
             fmt: str) -> None:
    """Check topology files (default: every file under inputs/).

    Prints every problem of every file as file:line:col: path: message (or, with --format,
    as JSON, GitHub annotations, SARIF or JUnit XML). Exits 0 when all files are valid, 1
    when any is invalid. A file validated before, with the same bytes
    and the same runbook, pydantic and PyYAML, is not validated again: its result comes
    from the build cache (.cache/runbook/validate/ by default).
    """
    from runbook.api import discover, validate_and_report

    targets = list(paths) or [Path(DEFAULT_INPUTS)]
    files = discover(targets)
    if not files:
        names = printable(", ".join(map(str, targets)), 300)
        raise click.UsageError(f"no topology files (*.yaml) found in {names}")
    if fmt != "text":
        from runbook.api import validation_report

        text, status = validation_report(files, fmt, strict=strict)
        click.echo(text, nl=False)
        sys.exit(status)
    sys.exit(validate_and_report(files, strict=strict, quiet=quiet, use_cache=not no_cache))


@main.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the whole plan as JSON.")
@reports_errors
def plan(file: Path, as_json: bool) -> None:
    """Show the plan derived from one topology FILE."""
    from runbook.api import plan_file, summarize

    result = plan_file(file)
    if as_json:
        click.echo(result.to_json(), nl=False)
    else:
        click.echo(printable(summarize(result), keep_newlines=True))


@main.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("-o", "--output", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Folder to write into (default: out/exports/<site>).")
@reports_errors
def export(file: Path, out_dir: Path | None) -> None:
    """Write the exports of one topology FILE: DNS (CSV, PowerShell, BIND zone fragment),
    firewall rules and addressing (CSV), and one certreq INF + OpenSSL config per
    certificate."""
    from runbook.api import export as write_exports
    from runbook.api import plan_file

    result = plan_file(file)
    target = out_dir or OUT / "exports" / result.meta.site
    written = write_exports(result, target)
    click.echo(f"wrote {len(written)} file(s) to {printable(str(target))}")


@main.command()
@click.argument("files", nargs=-1, required=True,
                type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--git", "rev", metavar="REV",
              help="Compare FILE as committed at REV (git show REV:FILE) with FILE now.")
@click.option("--json", "as_json", is_flag=True, help="Print the differences as JSON.")
@click.option("--exit-code", is_flag=True,
              help="Exit 3 when there are differences, 0 when there are none.")
@click.option("--force", is_flag=True,
              help="Compare OLD and NEW even when they are of two different sites.")
@reports_errors
def diff(files: tuple[Path, ...], rev: str | None, as_json: bool, exit_code: bool,
         force: bool) -> None:
    """What changes between two versions of a topology: OLD NEW, or FILE --git REV.

    Lists DNS records, certificates to re-issue, firewall rules, addresses and the wizard
    steps to re-run per server. Exits 0 (or 3 with --exit-code when something changed),
    1 when an input is invalid.
    """
    from runbook.api import diff as diff_files
    from runbook.api import diff_revision, format_diff

    if rev is not None:
        if len(files) != 1:
            raise click.UsageError("with --git REV give exactly one FILE")
        result = diff_revision(files[0], rev)
    else:
        if len(files) != 2:
            raise click.UsageError("give OLD and NEW, or one FILE with --git REV")
        result = diff_files(files[0], files[1], force=force)
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2, ensure_ascii=False))
    else:
        click.echo(printable(format_diff(result), keep_newlines=True), nl=False)
    if exit_code and not result.empty:
        sys.exit(3)


@main.command()
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the schema to this file instead of standard output.")
@click.option("--plan", "of_plan", is_flag=True,
              help="The JSON Schema of the plan (runbook plan --json, the templates' data).")
@click.option("--reference", is_flag=True,
              help="With --plan: the template authors' reference (Markdown) instead.")
def schema(output: Path | None, of_plan: bool, reference: bool) -> None:
    """Print the JSON Schema of a topology file (generated from the model)."""
    from runbook.api import plan_reference, plan_schema, topology_schema

    if reference and not of_plan:
        raise click.UsageError("--reference needs --plan")
    if reference:
        text = plan_reference()
    else:
        text = json.dumps(plan_schema() if of_plan else topology_schema(), indent=2,
                          sort_keys=True) + "\n"
    if output is None:
        click.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        click.echo(f"wrote {output}")


@main.command()
@click.argument("folder", required=False, default=Path("."),
                type=click.Path(file_okay=False, path_type=Path))
@reports_errors
def init(folder: Path) -> None:
    """Start a project in FOLDER (default: here): an example topology in inputs/, the
    schema, mkdocs.yml, .gitignore, .pre-commit-config.yaml and CI jobs for GitHub Actions
    and GitLab CI. Writes nothing when any of these files exists."""
    from runbook.api import init_project

    written = init_project(folder)
    for path in written:
        click.echo(f"wrote {path}")
    where = "" if folder == Path(".") else f"cd {folder} && "
    click.echo(f"next: {where}runbook validate && runbook build")


PAPER = click.Choice(["a4", "letter"], case_sensitive=False)


@main.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("-o", "--output", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              default=OUT / "change-requests", show_default=True, help="Folder to write into.")
@click.option("--since", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Older version of FILE: the change request covers only the delta.")
@click.option("--since-git", metavar="REV",
              help="Like --since, with FILE as committed at git revision REV.")
@click.option("--paper", type=PAPER, default="a4", show_default=True, help="PDF paper size.")
@click.option("--force", is_flag=True,
              help="Write the delta even when --since names a topology of another site.")
@reports_errors
def cr(file: Path, out_dir: Path, since: Path | None, since_git: str | None,
       paper: str, force: bool) -> None:
    """Write the change request of one topology FILE as Markdown and PDF
    (<site>-change-request.md and .pdf)."""
    from runbook.api import change_request as write_change_request

    if since is not None and since_git is not None:
        raise click.UsageError("give either --since or --since-git, not both")
    for path in write_change_request(file, out_dir, since=since, since_git=since_git,
                                     paper=paper.lower(),  # type: ignore[arg-type]
                                     force=force):
        click.echo(f"wrote {path}")


@main.command(name="print")
@click.argument("files", nargs=-1, required=True,
                type=click.Path(exists=True, path_type=Path))
@click.option("-o", "--output", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              default=OUT / "field-runbooks", show_default=True, help="Folder to write into.")
@click.option("--paper", type=PAPER, default="a4", show_default=True, help="Paper size.")
@reports_errors
def print_(files: tuple[Path, ...], out_dir: Path, paper: str) -> None:
    """Write a printable field runbook PDF per site (<site>-field-runbook.pdf): cover page,
    every action with a checkbox, sign-off lines, the network diagram and the tables."""
    from runbook.api import field_runbooks as write_field_runbooks

    for path in write_field_runbooks(files, out_dir,
                                     paper=paper.lower()):  # type: ignore[arg-type]
        click.echo(f"wrote {path}")


def _log_mkdocs(level: int) -> None:
    """Show MkDocs' messages from ``level`` up on stderr (build: warnings; serve: progress)."""
    import logging

    logger = logging.getLogger("mkdocs")
    # Handler.name (documented) marks the handler this function adds, so it is added once.
    if not any(h.name == "runbook" for h in logger.handlers):
        handler = logging.StreamHandler()
        handler.name = "runbook"
        handler.setFormatter(logging.Formatter("%(levelname)-7s - %(message)s"))
        handler.setLevel(level)
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False


@main.command()
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@click.option("-o", "--output", type=click.Path(path_type=Path),
              default=Path("site"), show_default=True, help="Folder to write the site to.")
@click.option("--templates", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Folder of template overrides (default: the plugin's, templates/).")
@click.option("-f", "--config-file", type=click.Path(dir_okay=False, path_type=Path),
              help="MkDocs configuration (default: mkdocs.yml, or runbook's default "
                   "configuration in a folder without one).")
@click.option("-j", "--jobs", type=click.IntRange(min=1), default=None,
              help="Processes to use (default: one per core).")
@click.option("-q", "--quiet", is_flag=True,
              help="Print nothing but problems: no progress display (shown only on a "
                   "terminal anyway), no closing line.")
@click.option("--allow-empty", is_flag=True,
              help="Publish a site even when the inputs hold no topology file.")
@click.option("--engine", type=click.Choice(["mkdocs", "properdocs", "zensical"]),
              default="mkdocs", show_default=True,
              help="The site generator: mkdocs runs the runbook plugin; properdocs and "
                   "zensical build the tree of `runbook generate` (install them beside runbook).")
@reports_errors
def build(paths: tuple[Path, ...], output: Path, templates: Path | None,
          config_file: Path | None, jobs: int | None, quiet: bool, allow_empty: bool,
          engine: str) -> None:
    """Build the site from topology files (default: every file under inputs/).

    Validates every file first; on any problem nothing is written and the previous site
    stays as it was. The output folder must be a folder of its own: runbook refuses one that
    is, holds or lies in the project's sources, or that holds files it did not write.
    Sites whose topology, templates and generator are unchanged since the last build come
    from the cache (.cache/runbook/); the output is the same either way.
    """
    import logging

    from runbook.api import build_site
    from runbook.api import progress_display as Progress

    _log_mkdocs(logging.WARNING)
    targets = list(paths) or [Path(DEFAULT_INPUTS)]
    if engine != "mkdocs":
        from runbook.api import build_with_engine

        site = build_with_engine(engine, targets, output, templates=templates)
        if not quiet:
            click.echo(_built_message(site, output))
        return
    progress = Progress(quiet=quiet)
    site = build_site(targets, output, templates=templates, config_file=config_file,
                      jobs=jobs, progress=progress, allow_empty=allow_empty)
    progress.finish()
    if not quiet:
        click.echo(_built_message(site, output))


def _built_message(site: Path, output: Path) -> str:
    """Where the site is and how to open it (``runbook build``'s closing line)."""
    index = site / "index.html"
    folder = printable(str(output)).rstrip("/") + "/"
    return (f"built the site in {folder}: open {printable(index.as_uri())} in a browser (it "
            "works from disk), or run `runbook serve` for a live preview")


@main.command()
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True,
              help="Folder to write the tree to (replaced as a whole).")
@click.option("--templates", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Folder of template overrides.")
@reports_errors
def generate(paths: tuple[Path, ...], output: Path, templates: Path | None) -> None:
    """Write the whole site as an engine-neutral tree: docs/ (pages, diagrams, exports,
    documents, assets), overrides/ and a mkdocs.yml without the runbook plugin, which
    mkdocs, properdocs and zensical build alike (default inputs: inputs/)."""
    from runbook.api import generate_tree

    targets = list(paths) or [Path(DEFAULT_INPUTS)]
    tree = generate_tree(targets, output, templates=templates)
    click.echo(f"wrote the tree to {printable(str(output))}: build it with `mkdocs build -f "
               f"{tree / 'mkdocs.yml'}` (or properdocs, zensical)")


@main.command()
@click.option("-a", "--dev-addr", metavar="IP:PORT", help="Address to serve on "
              "(default: mkdocs.yml's dev_addr, 127.0.0.1:8000).")
@click.option("-f", "--config-file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="MkDocs configuration (default: mkdocs.yml, or runbook's default "
                   "configuration in a folder without one).")
@reports_errors
def serve(dev_addr: str | None, config_file: Path | None) -> None:
    """Live preview: serve the site and rebuild when a topology or a template changes."""
    import logging

    from mkdocs.commands.serve import serve as mkdocs_serve
    from mkdocs.exceptions import Abort, ConfigurationError

    from runbook.errors import RunbookError

    _log_mkdocs(logging.INFO)
    if config_file is None:
        from runbook.api import default_config_file

        config_file = Path("mkdocs.yml")
        if not config_file.is_file():
            config_file = default_config_file()
    options: dict[str, Any] = {"dev_addr": dev_addr} if dev_addr else {}
    try:
        mkdocs_serve(config_file=str(config_file), **options)
    except (Abort, ConfigurationError) as exc:
        raise RunbookError(f"mkdocs serve: {exc}") from None


@main.group()
def cache() -> None:
    """The build cache (the runbook plugin's cache_dir, .cache/runbook/ by default)."""


def _megabytes(size: int) -> str:
    return f"{size / 1e6:.1f} MB"


@cache.command(name="prune")
@click.option("--older-than", "days", type=click.IntRange(min=0), metavar="DAYS",
              help="Remove what no build has used for DAYS days, counted to within a day "
                   "(default: the plugin's cache_max_age_days, 30; 0 removes everything).")
@click.option("--dry-run", is_flag=True, help="Say what would be removed; remove nothing.")
@click.option("-f", "--config-file", type=click.Path(dir_okay=False, path_type=Path),
              help="MkDocs configuration (default: mkdocs.yml, or runbook's default).")
@reports_errors
def cache_prune(days: int | None, dry_run: bool, config_file: Path | None) -> None:
    """Remove cache files that no build has used for a while.

    runbook build does this once a day by itself. What is removed is made again by the next
    build that needs it: the site comes out the same. Exits 1, removing nothing, while a
    build is using the cache.
    """
    from runbook.api import cache_settings
    from runbook.api import prune_cache as prune

    root, max_age = cache_settings(config_file)
    age = max_age if days is None else days
    if age == 0 and days is None:
        click.echo(f"{root}: pruning is turned off (cache_max_age_days: 0 in "
                   f"{config_file or 'mkdocs.yml'}); "
                   "give --older-than DAYS to prune all the same")
        return
    done = prune(root, age, dry_run=dry_run)
    verb = "would remove" if dry_run else "removed"
    for namespace, (count, size) in sorted(done.by_namespace.items()):
        click.echo(f"  {namespace}: {count} file(s), {_megabytes(size)}")
    click.echo(f"{root}: {verb} {done.removed} file(s), {_megabytes(done.removed_bytes)}, "
               f"unused for {age} day(s); kept {done.kept} file(s), "
               f"{_megabytes(done.kept_bytes)}")
    if done.failed:
        raise RunbookError(f"{root}: {done.failed} file(s) could not be removed (check the "
                           "folder's owner and permissions)")


if __name__ == "__main__":  # pragma: no cover
    main()
