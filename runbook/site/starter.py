"""``runbook init``: a starter project, from the files shipped in the package.

The project gets an example topology (whose first line points editors at the schema), the
schema itself, a short ``mkdocs.yml``, an empty ``docs/`` for the project's own pages, a
``.gitignore``, a ``.pre-commit-config.yaml`` and CI jobs for GitHub Actions and GitLab CI.
Nothing is overwritten: when any of these files exists, nothing is written.
"""

from __future__ import annotations

from pathlib import Path

from runbook.errors import RunbookError
from runbook.site import assets

_FILES = Path(__file__).resolve().parent / "starter_files"


def _example() -> Path:
    """The example topology (the repository's ``inputs/contoso.yaml``)."""
    packaged = _FILES / "contoso.yaml"
    if packaged.is_file():
        return packaged
    return Path(__file__).resolve().parents[2] / "inputs" / "contoso.yaml"


def starter_files() -> dict[str, bytes]:
    """What ``runbook init`` writes: project-relative path -> content."""
    def read(name: str) -> bytes:
        return (_FILES / name).read_bytes()

    return {
        "inputs/contoso.yaml": _example().read_bytes(),
        "schema/topology.schema.json": assets.schema_file().read_bytes(),
        "mkdocs.yml": read("mkdocs.yml"),
        # MkDocs needs the docs folder to exist; dot files in it are not published.
        "docs/.gitkeep": b"",
        ".gitignore": read("gitignore"),
        ".pre-commit-config.yaml": read("pre-commit-config.yaml"),
        ".github/workflows/runbook.yml": read("github-workflow.yml"),
        ".gitlab-ci.yml": read("gitlab-ci.yml"),
    }


class WouldOverwrite(RunbookError):
    """``runbook init`` found files of the starter project already in place."""


def init_project(folder: Path) -> list[Path]:
    """Write the starter project into ``folder`` (made if missing); return the files written.

    Raises :class:`WouldOverwrite`, writing nothing, when any of the files exists.
    """
    files = starter_files()
    existing = [name for name in files if (folder / name).exists() or (folder / name).is_symlink()]
    if existing:
        raise WouldOverwrite(f"{folder}: {', '.join(existing)} already exist(s); runbook init "
                             "writes nothing over a file: remove them, or init another folder")
    written = []
    for name, content in files.items():
        target = folder / name
        target.parent.mkdir(parents=True, exist_ok=True)
        with target.open("xb") as handle:  # "x": never replace a file made meanwhile
            handle.write(content)
        written.append(target)
    return written
