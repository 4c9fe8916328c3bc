"""The ``runbook`` executable: ``runbook validate`` straight away, anything else through click.

``runbook validate [--strict] [-q|--quiet] [--no-cache] [PATH...]`` with paths that exist is
run here, without importing click (and, when every verdict is cached, without pydantic):
see :mod:`runbook.verdicts`. Every other command line, including ``--help``, an unknown
option, a missing path or a folder without topologies, goes to :func:`runbook.cli.main`,
which prints exactly what it always did.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pathlib import Path

FLAGS = {"--strict": "strict", "-q": "quiet", "--quiet": "quiet", "--no-cache": "no_cache"}


def plain_validate(args: list[str]) -> tuple[list[str], dict[str, bool]] | None:
    """The paths and flags of a ``validate`` command line this module runs itself, else None."""
    if not args or args[0] != "validate":
        return None
    paths: list[str] = []
    flags = dict.fromkeys(FLAGS.values(), False)
    for arg in args[1:]:
        if arg in FLAGS:
            flags[FLAGS[arg]] = True
        elif arg.startswith("-") or not os.path.exists(arg):
            return None  # an option click knows (or refuses), or a path it reports missing
        else:
            paths.append(arg)
    return paths, flags


def _files(paths: list[str]) -> list[Path] | None:
    from pathlib import Path

    from .verdicts import discover

    targets = [Path(p) for p in paths] or [Path("inputs")]
    if not all(t.exists() for t in targets):
        return None
    return discover(targets) or None


def main() -> None:
    """Run ``runbook`` with ``sys.argv``."""
    plain = None if "_RUNBOOK_COMPLETE" in os.environ else plain_validate(sys.argv[1:])
    files = _files(plain[0]) if plain is not None else None
    if plain is None or files is None:
        from .cli import main as cli

        cli()
        return
    from .verdicts import run

    flags = plain[1]
    # No pydantic plugin runs in this process: plugins observe an application's validation,
    # and this one's result must not depend on what else is installed. Scanning entry points
    # for them costs more than a replayed verdict. (A value the user set is kept.)
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    try:
        status = run(files, strict=flags["strict"], quiet=flags["quiet"],
                     use_cache=not flags["no_cache"])
    except KeyboardInterrupt:  # as click reports it
        sys.stderr.write("\nAborted!\n")
        sys.exit(1)
    except BrokenPipeError:  # as click: the reader went away, say nothing more
        devnull = open(os.devnull, "w")  # noqa: SIM115 - stays open until exit
        sys.stdout = sys.stderr = devnull
        sys.exit(1)
    sys.exit(status)


if __name__ == "__main__":  # pragma: no cover
    main()
