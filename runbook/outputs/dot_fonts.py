"""The fonts configuration ``dot`` starts with: the system's font folders and caches alone.

A ``dot`` process spends most of its life starting: loading its libraries and, through
Pango, fontconfig, which reads and applies every file of the system's configuration (on
Debian, ``/etc/fonts/fonts.conf`` and some fifty files of ``conf.d``) before it finds the one
font a diagram names. The layout itself is a few milliseconds. A diagram needs none of those
rules: its labels name DejaVu Sans, and its text is measured from that font's files.

So each ``dot`` is started with ``FONTCONFIG_FILE`` (fontconfig's documented variable) naming
a configuration of this module's own (:func:`config_text`): every folder that holds a font
the system's configuration lists (``fc-list``), and the system's cache folders (the
``cachedir`` elements of its main file), nothing else. A diagram is then laid out about a
tenth faster, with the same bytes (``tests/test_diagram.py`` lays the examples' diagrams out
both ways). Its text is part of every layout's cache key (:func:`runbook.outputs.diagrams
.layout_tools`).

The system's whole configuration is used instead when the environment names a
configuration itself (``FONTCONFIG_FILE`` or ``FONTCONFIG_PATH``), when
``RUNBOOK_FONTCONFIG=system`` is set, or when the system's main file or its fonts cannot be
read.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import subprocess
import tempfile
import xml.etree.ElementTree as ElementTree
from functools import lru_cache
from html import escape

#: Set to ``system`` to start ``dot`` with the system's whole fontconfig configuration.
ENV = "RUNBOOK_FONTCONFIG"
#: Where fontconfig reads its configuration when the environment names none.
SYSTEM_FILE = "/etc/fonts/fonts.conf"

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


@lru_cache(maxsize=1)
def _config_file() -> str | None:
    text = config_text()
    if text is None:
        return None
    try:
        handle, path = tempfile.mkstemp(prefix="runbook-fonts-", suffix=".conf")
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
    except OSError:
        return None
    owner = os.getpid()

    def remove() -> None:
        if os.getpid() == owner:  # not in a forked worker, which shares the file
            with contextlib.suppress(OSError):
                os.unlink(path)

    atexit.register(remove)
    return path


def dot_environment() -> dict[str, str] | None:
    """The environment to start ``dot`` in: this process's, with ``FONTCONFIG_FILE`` naming
    :func:`config_text`'s file; None (this process's own) for the system's configuration."""
    path = _config_file()
    if path is None or not os.path.isfile(path):
        return None
    return {**os.environ, "FONTCONFIG_FILE": path}


def describe() -> str:
    """What the layouts depend on here, for their cache key: the configuration's text, or
    that the system's is used."""
    text = config_text()
    return "fontconfig: the system's" if text is None else f"fontconfig:\n{text}"
