"""Engine-neutral output: the whole docs tree and a ``mkdocs.yml`` without the runbook plugin.

``runbook generate -o DIR`` writes ``DIR/docs`` (every generated page, diagram, export and
document, the packaged and the project's own static files), ``DIR/overrides`` (the theme
overrides) and ``DIR/mkdocs.yml``. Each site page carries its site's navigation in its front
matter (``runbook_nav``, read by ``overrides/main.html``), so the tree needs no plugin event:
MkDocs, ProperDocs and Zensical build it alike. ``runbook build --engine properdocs|zensical``
runs that engine on such a tree (:func:`build_with_engine`).
"""

from __future__ import annotations

import copy
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml

from runbook.errors import RunbookError, ToolMissing
from runbook.site import assets
from runbook.site.publish import MARKER, check_output, git_root, mark, staging_folder, swap

ENGINES = ("mkdocs", "properdocs", "zensical")


def neutral_config(site_dir: str = "site") -> dict[str, Any]:
    """The site's settings with the plugin's work written out (no ``runbook`` plugin)."""
    from runbook.site.defaults import default_settings

    config = copy.deepcopy(default_settings())
    config["docs_dir"] = "docs"
    config["site_dir"] = site_dir
    config["theme"]["custom_dir"] = "overrides"
    config["plugins"] = [p for p in config["plugins"] if p != "runbook"]
    config["extra_css"] = list(assets.EXTRA_CSS)
    config["extra"]["polyfills"] = [assets.SHIM]
    # The Markdown extension the plugin adds, named as Python-Markdown loads it.
    config["markdown_extensions"] += ["runbook.outputs.htmlblocks:HtmlBlocks"]
    return config


def _front_matter(text: bytes, meta: dict[str, Any]) -> bytes:
    head = yaml.safe_dump(meta, sort_keys=True, allow_unicode=True, default_flow_style=False)
    return b"---\n" + head.encode("utf-8") + b"---\n\n" + text


def _relative(src_uri: str, page_uri: str) -> str:
    target = src_uri[:-3] + ".html" if src_uri.endswith(".md") else src_uri
    return os.path.relpath(target, os.path.dirname(page_uri) or ".").replace(os.sep, "/")


def build_cache_dir() -> Path:
    """The cache folder ``runbook build`` uses here: ``RUNBOOK_CACHE_DIR``, else the runbook
    plugin's ``cache_dir`` in this folder's ``mkdocs.yml`` (or the default configuration's),
    else ``.cache/runbook`` (a ``mkdocs.yml`` without the plugin)."""
    from runbook.engine.store import cache_dir_override
    from runbook.site.build import load_configuration

    override = cache_dir_override()
    if override is not None:
        return override
    try:
        _, plugin, _ = load_configuration(None)
    except RunbookError:
        return Path(".cache/runbook").resolve()
    return plugin.cache_path


def docs_tree(inputs: list[Path], *, templates: Path | None = None,
              cache_dir: Path | None = None) -> dict[str, bytes]:
    """Every file of the docs folder, path -> bytes, site pages with their navigation; made
    as ``runbook build`` makes them (:func:`runbook.site.produce.site_files`), through the
    cache in ``cache_dir`` (default: :func:`build_cache_dir`)."""
    from runbook.site.nav import site_navigation
    from runbook.site.produce import site_files

    sites, generated = site_files(inputs, cache_dir=cache_dir or build_cache_dir(),
                                  templates=templates)
    files: dict[str, bytes] = {uri: path.read_bytes() for uri, path in assets.static_files()}
    own = Path("docs")
    if own.is_dir():
        for path in sorted(own.rglob("*")):
            if path.is_file() and not path.name.startswith("."):
                files[path.relative_to(own).as_posix()] = path.read_bytes()
    for uri, content in generated.items():
        files[uri] = content.read_bytes() if isinstance(content, Path) else bytes(content)
    navs = site_navigation(sites, set(generated))
    for page in [uri for uri in files if uri.startswith("sites/") and uri.endswith(".md")]:
        nav = navs.get(page.split("/")[1])
        if nav is not None:
            files[page] = _front_matter(files[page], {"runbook_nav": {
                "title": nav.title,
                "home": _relative("index.md", page),
                "pages": [{"title": e.title,
                           "url": _relative(e.src_uri, page) + (f"#{e.anchor}" if e.anchor
                                                                else ""),
                           "active": e.src_uri == page and not e.anchor} for e in nav.pages],
            }})
    return dict(sorted(files.items()))


def write_tree(inputs: list[Path], folder: Path, *, site_dir: str = "site",
               templates: Path | None = None) -> list[Path]:
    """Write the docs tree, the theme overrides and ``mkdocs.yml`` into ``folder``."""
    written = []
    for uri, content in docs_tree(inputs, templates=templates).items():
        target = folder / "docs" / uri
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
        written.append(target)
    theme = assets.theme_dir()
    for path in sorted(theme.rglob("*")):
        # The tree's site pages are pages of its own: each engine's own sitemap lists them.
        if path.is_file() and path.relative_to(theme).as_posix() != "sitemap.xml":
            target = folder / "overrides" / path.relative_to(theme)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(path.read_bytes())
            written.append(target)
    config = folder / "mkdocs.yml"
    config.write_text("# Written by runbook generate: builds with mkdocs, properdocs or "
                      "zensical, no runbook plugin needed.\n"
                      + yaml.safe_dump(neutral_config(site_dir), sort_keys=False,
                                       allow_unicode=True), encoding="utf-8")
    written.append(config)
    return written


def _checked(output: Path, inputs: list[Path]) -> Path:
    sources = [("inputs", p if p.is_dir() else p.parent) for p in inputs]
    roots = [("working folder", Path.cwd())]
    repo = git_root(Path.cwd())
    if repo is not None:
        roots.append(("git work tree", repo))
    return check_output(output, sources=sources, roots=roots)


def generate_tree(inputs: list[Path], output: Path, *, templates: Path | None = None) -> Path:
    """``runbook generate``: the engine-neutral tree in ``output``, replaced as a whole."""
    output = _checked(output, inputs)
    output.parent.mkdir(parents=True, exist_ok=True)
    with staging_folder(output) as staging:
        write_tree(inputs, staging, templates=templates)
        mark(staging)
        swap(staging, output)
    return output


def _executable(engine: str) -> str:
    beside = Path(sys.executable).parent / engine
    found = str(beside) if beside.is_file() else shutil.which(engine)
    if found is None:
        raise ToolMissing(f"{engine} is not installed: pip install {engine} (beside runbook), "
                          "or build with --engine mkdocs")
    return found


def build_with_engine(engine: str, inputs: list[Path], output: Path, *,
                      templates: Path | None = None) -> Path:
    """Build the site with ``engine`` from an engine-neutral tree; replace ``output``."""
    if engine not in ENGINES:
        raise RunbookError(f"unknown engine '{engine}': use one of {', '.join(ENGINES)}")
    exe = _executable(engine)
    output = _checked(output, inputs)
    output.parent.mkdir(parents=True, exist_ok=True)
    # The tree lies beside the output (Zensical wants site_dir inside the project's folder,
    # and a rename then moves the site into place).
    with tempfile.TemporaryDirectory(prefix=f".{output.name}.tree-", dir=output.parent) as tree, \
            staging_folder(output) as staging:
        folder = Path(tree)
        write_tree(inputs, folder, templates=templates)
        env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
        done = subprocess.run([exe, "build", "-f", str(folder / "mkdocs.yml")], cwd=folder,
                              env=env, capture_output=True, text=True, check=False)
        built = folder / "site"
        if done.returncode != 0 or not (built / "index.html").is_file():
            raise RunbookError(f"{engine} build failed; the previous site stays:\n"
                               + (done.stderr or done.stdout).strip())
        for item in sorted(built.iterdir()):
            item.rename(staging / item.name)
        (staging / MARKER).unlink(missing_ok=True)
        mark(staging)
        swap(staging, output)
    return output
