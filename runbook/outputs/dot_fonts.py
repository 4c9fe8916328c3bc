"""The fonts configuration ``dot`` starts with: the system's font folders and caches alone.

A ``dot`` process spends most of its life starting: loading its libraries and, through
Pango, fontconfig, which reads and applies every file of the system's configuration (on
Debian, ``/etc/fonts/fonts.conf`` and some fifty files of ``conf.d``) before it finds the one
font a diagram names. The layout itself is a few milliseconds. A diagram needs none of those
rules: its labels name DejaVu Sans, and its text is measured from that font's files.

So ``dot`` is started with ``FONTCONFIG_FILE`` (fontconfig's documented variable) naming a
configuration of this module's own (:func:`config_text`): every folder that holds a font
the system's configuration lists (``fc-list``), and the system's cache folders (the
``cachedir`` elements of its main file), nothing else. A diagram is then laid out about a
tenth faster, with the same bytes (``tests/test_dot_fonts.py`` lays the examples' diagrams
out both ways). Its text is part of every layout's cache key (:func:`runbook.outputs.diagrams
.layout_tools`), and the file is written beside the diagrams' sources, in the folder of the
call that lays them out (:func:`write_config`), so no process leaves one behind.

Only a diagram every character of whose source each face of the family has is laid out so
(:func:`applies_to`, the faces' character sets as fontconfig reads them, ``fc-query``): a
character the family lacks (a name in Chinese or Thai) is measured in the font fontconfig's
rules choose for it, which a configuration without rules does not choose alike. Such a
diagram gets the system's configuration, as the in-process renderer
(:mod:`runbook.outputs.gvc`) gets it for every diagram.

The system's whole configuration is used instead when the environment names a
configuration itself (``FONTCONFIG_FILE`` or ``FONTCONFIG_PATH``), when
``RUNBOOK_FONTCONFIG=system`` is set, or when the system's main file or its fonts cannot be
read.
"""

from __future__ import annotations

import os
import re
import subprocess
import xml.etree.ElementTree as ElementTree
from functools import lru_cache
from html import escape, unescape
from pathlib import Path

#: Set to ``system`` to start ``dot`` with the system's whole fontconfig configuration.
ENV = "RUNBOOK_FONTCONFIG"
#: Where fontconfig reads its configuration when the environment names none.
SYSTEM_FILE = "/etc/fonts/fonts.conf"
# A control character other than a tab or a line break.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
# The emoji presentation selector and the zero-width joiner of emoji sequences.
_EMOJI = re.compile("[\ufe0f\u200d]")

_HEAD = ('<?xml version="1.0"?>\n<!DOCTYPE fontconfig SYSTEM "urn:fontconfig:fonts.dtd">\n'
         "<!-- runbook: the system's font folders and caches, without its rules -->\n"
         "<fontconfig>\n")


def _font_folders() -> list[str]:
    """Every folder holding a font the system's configuration lists (``fc-list``)."""
    try:
        done = subprocess.run(["fc-list", "--format", "%{file}\n"], capture_output=True,
                              text=True, timeout=30, stdin=subprocess.DEVNULL, check=False)
    except (OSError, subprocess.SubprocessError):
        return []
    if done.returncode != 0:
        return []
    return sorted({os.path.dirname(line) for line in done.stdout.splitlines()
                   if line.startswith("/")})


def _cache_folders(main: str) -> list[str]:
    """The ``cachedir`` elements of fontconfig's main file ``main``, as written there."""
    try:
        root = ElementTree.parse(main).getroot()
    except (OSError, ElementTree.ParseError):
        return []
    out = []
    for element in root.iter("cachedir"):
        element.tail = None
        out.append(ElementTree.tostring(element, encoding="unicode").strip())
    return out


@lru_cache(maxsize=1)
def config_text() -> str | None:
    """The configuration ``dot`` is started with, or None for the system's own (see the
    module's documentation for when)."""
    if os.environ.get(ENV) == "system" or "FONTCONFIG_FILE" in os.environ \
            or "FONTCONFIG_PATH" in os.environ:
        return None
    folders, caches = _font_folders(), _cache_folders(SYSTEM_FILE)
    if not folders or not caches:
        return None
    lines = [f"  <dir>{escape(folder, quote=False)}</dir>\n" for folder in folders]
    lines += [f"  {cache}\n" for cache in caches]
    return _HEAD + "".join(lines) + "</fontconfig>\n"


@lru_cache(maxsize=4)
def coverage(files: tuple[str, ...]) -> frozenset[int]:
    """The characters every one of the font ``files`` has (their ``charset`` as
    ``fc-query`` reads it); empty when one cannot be read."""
    common: set[int] | None = None
    for file in files:
        try:
            done = subprocess.run(["fc-query", "--format", "%{charset}\n", file],
                                  capture_output=True, text=True, timeout=30,
                                  stdin=subprocess.DEVNULL, check=False)
        except (OSError, subprocess.SubprocessError):
            return frozenset()
        if done.returncode != 0:
            return frozenset()
        found: set[int] = set()
        for line in done.stdout.splitlines()[:1]:  # a file's first face: the font itself
            for span in line.split():
                first, _, last = span.partition("-")
                try:
                    found.update(range(int(first, 16), int(last or first, 16) + 1))
                except ValueError:
                    return frozenset()
        common = found if common is None else common & found
    return frozenset(common or ())


def applies_to(source: str, files: tuple[str, ...]) -> bool:
    """Whether the diagram of DOT ``source`` is laid out with :func:`config_text`: each of
    its characters, character references read as Graphviz reads them, is a tab, a line
    break or one every face of the family (``files``,
    :func:`runbook.outputs.diagrams.font_files`) has, and none asks for an emoji
    presentation or joins emoji (U+FE0F, U+200D: fontconfig's rules choose those fonts)."""
    text = unescape(source)
    if _CONTROL.search(text) is not None or _EMOJI.search(text) is not None:
        return False
    have = coverage(files)
    return bool(have) and all(ord(c) in have for c in set(text) if c not in "\t\n")


def _text_for(files: tuple[str, ...]) -> str | None:
    # The configuration for the family ``files``: none when their characters are unknown.
    text = config_text()
    return text if text is not None and coverage(files) else None


def write_config(folder: Path, files: tuple[str, ...]) -> Path | None:
    """:func:`config_text` written to ``folder`` (the caller's scratch folder), or None when
    ``dot`` starts with the system's configuration (also when the characters of the family
    ``files`` cannot be read). Raises :class:`OSError`."""
    text = _text_for(files)
    if text is None:
        return None
    path = folder / "fonts.conf"
    path.write_text(text, encoding="utf-8")
    return path


def environment(config: Path | None) -> dict[str, str] | None:
    """The environment to start ``dot`` in: this process's, with ``FONTCONFIG_FILE`` naming
    ``config`` (from :func:`write_config`); None (this process's own) without one."""
    if config is None:
        return None
    return {**os.environ, "FONTCONFIG_FILE": os.fspath(config)}


def describe(files: tuple[str, ...]) -> str:
    """What the layouts of the family ``files`` depend on here, for their cache key: the
    configuration's text, or that the system's is used."""
    text = _text_for(files)
    return "fontconfig: the system's" if text is None else f"fontconfig:\n{text}"
