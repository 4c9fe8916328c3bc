"""The runbook site's settings and files, added to whatever ``mkdocs.yml`` a project has.

:func:`apply_defaults` runs in the plugin's ``on_config``: every setting of
:data:`runbook.site.assets.DEFAULT_CONFIG` that the project's ``mkdocs.yml`` does not give
(read as MkDocs reads it, ``INHERIT`` and ``!ENV`` included) is set; a setting the project
gives is left as it is. :func:`add_packaged_files` runs in ``on_files`` and adds the
packaged CSS, search shim, About page and schema that the project's ``docs/`` does not have.
"""

from __future__ import annotations

import copy
import logging
import os
from functools import cache
from typing import Any

import yaml
from mkdocs.config import config_options as c
from mkdocs.config.defaults import MkDocsConfig
from mkdocs.structure.files import File, Files

from runbook.site import assets

log = logging.getLogger("mkdocs.plugins.runbook")

OFFLINE = ("offline", "material/offline")
SEARCH = ("search", "material/search")


@cache
def default_settings() -> dict[str, Any]:
    """:data:`runbook.site.assets.DEFAULT_CONFIG`, parsed."""
    data: dict[str, Any] = yaml.safe_load(assets.DEFAULT_CONFIG)
    return data


def _given(config: MkDocsConfig) -> dict[str, Any]:
    """The settings the project's configuration file gives (its parents merged in)."""
    from mkdocs.utils.yaml import get_yaml_loader, yaml_load

    merged: dict[str, Any] = {}
    path = config.config_file_path
    if not path or not os.path.isfile(path):
        return merged
    with open(path, encoding="utf-8-sig") as stream:
        raw = yaml_load(stream, get_yaml_loader(config=config)) or {}
    if isinstance(raw, dict):
        for key, value in raw.items():
            if key == "theme" and isinstance(value, str):
                value = {"name": value}
            if isinstance(value, dict) and isinstance(merged.get(key), dict):
                merged[key] = {**merged[key], **value}
            else:
                merged[key] = value
    return merged


def _extension_name(entry: object) -> str | None:
    if isinstance(entry, str):
        return entry
    if isinstance(entry, dict) and len(entry) == 1:
        return str(next(iter(entry)))
    return None


def apply_defaults(config: MkDocsConfig) -> None:
    """Give ``config`` the runbook site's settings that the project's files leave out."""
    defaults, given = copy.deepcopy(default_settings()), _given(config)
    if "use_directory_urls" not in given:
        config.use_directory_urls = False  # links to .html files also work from file://
    theme_given = given.get("theme") or {}
    if config.theme.name == "material":
        for key in ("font", "icon", "palette", "features"):
            if key not in theme_given:
                config.theme[key] = defaults["theme"][key]
    ours = str(assets.theme_dir())
    if ours not in config.theme.dirs:
        # after the project's custom_dir, before the theme's own templates
        config.theme.dirs.insert(1 if theme_given.get("custom_dir") else 0, ours)
    if config.nav is None and "nav" not in given:
        config.nav = defaults["nav"]
        if "not_in_nav" not in given:
            config.not_in_nav = c.PathSpec().validate(defaults["not_in_nav"])
    extra = config.extra
    if "generator" not in (given.get("extra") or {}):
        extra["generator"] = False
    polyfills = list(extra.get("polyfills") or [])
    if not any("iframe-worker" in url for url in polyfills):
        extra["polyfills"] = [*polyfills, assets.SHIM]
    for css in assets.EXTRA_CSS:
        if css not in config.extra_css:
            config.extra_css.append(css)
    if "markdown_extensions" not in given:
        present = {_extension_name(e) for e in config.markdown_extensions}
        for entry in defaults["markdown_extensions"]:
            name = _extension_name(entry)
            if name is None:
                continue
            if name not in present:
                config.markdown_extensions.append(name)
            if isinstance(entry, dict):
                config.mdx_configs.setdefault(name, entry[name])
    names = set(config.plugins)
    if not names & set(SEARCH):
        log.warning("the search plugin is not enabled: the site has no search; list it "
                    "under plugins: (- search) before runbook")
    elif not names & set(OFFLINE):
        log.warning("the offline plugin is not enabled: search will not work from file://; "
                    "list it under plugins: (- offline) before runbook")


def _walk_order(src_uri: str) -> list[tuple[int, int, str]]:
    """MkDocs' order of the docs folder (a folder's files, index first, before its folders)."""
    *folders, name = src_uri.split("/")
    stem = name.rsplit(".", 1)[0]
    return [(1, 0, f) for f in folders] + [(0, 0 if stem in ("index", "README") else 1, name)]


def add_packaged_files(files: Files, config: MkDocsConfig) -> None:
    """Add each packaged site file (CSS, search shim, About page, schema) ``files`` lacks,
    in the place it would have in the project's ``docs/`` (the order pages are built and
    indexed in), so the site is the same as with the files in ``docs/``."""
    missing = [(uri, path) for uri, path in assets.static_files()
               if files.get_file_from_path(uri) is None]
    if not missing:
        return
    for uri, path in missing:
        files.append(File.generated(config, uri, abs_src_path=str(path)))
    ordered = sorted(files, key=lambda f: _walk_order(f.src_uri))
    for file in ordered:
        files.remove(file)
        files.append(file)
