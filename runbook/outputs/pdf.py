"""PDF documents with Typst: data in, PDF out, offline, deterministic, cached.

A document is a Typst template (``templates/documents/*.typ``) and its data: the plan and
the document's context as one JSON string, bound to ``data`` by a line put before the
template's source (``#let data = json(bytes("..."))``, the JSON escaped as a Typst string).
Topology strings are data, never markup: the template places them as text, so ``#``, ``$``,
``*`` or ``#import`` in a value print as themselves. Values that many documents share (the
paper, the verbs) may go in ``sys.inputs`` (``inputs``).

- Memoized across documents: the compiler is reused, and Typst keeps what it laid out for
  the next document. A change of ``sys.inputs`` makes Typst start afresh (its standard
  library is built from them), a change of the source only the parts that differ: so the
  data is in the source, and ``sys.inputs`` hold only what many documents share. A
  template that reads ``sys.inputs.data`` (written for earlier versions) gets it there too.

- Confined: the compiler's root is the packaged templates folder (a template may import
  ``_common.typ`` beside it, and read nothing else). Typst goes to the network only to
  download a package (``#import "@preview/..."``): a template that names one is refused
  before it is compiled, and the packaged templates name none.
- Fonts: DejaVu Sans and DejaVu Sans Mono from the system's DejaVu folder only (the system's
  other fonts are ignored), plus the fonts built into the typst package, so the same
  input gives the same bytes wherever the same DejaVu files are installed.
- Same bytes: the templates set ``document(date: none)``; Typst writes no creation date and
  derives the PDF identifier from the document.
- Fork-safe: the compiler runs worker threads, which a forked child does not have. A process
  forked after its parent laid out a PDF (a build's worker started by a program that printed
  a document first) lays out its PDFs in a fresh Python process instead of deadlocking.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from functools import lru_cache
from pathlib import Path
from typing import Any

from runbook.engine.store import files_fingerprint, read_entry, write_entry
from runbook.errors import RunbookError, ToolMissing

# A package specification in a template's source: "@namespace/name:version".
_PACKAGE = re.compile(rb"""["']@[A-Za-z0-9_-]+/""")


class PdfFailed(RunbookError):
    """Typst could not lay out a document (a template error)."""


# Where Debian (fonts-dejavu-core), Fedora and Arch keep DejaVu; the first that exists is used.
FONT_FOLDERS = ("/usr/share/fonts/truetype/dejavu", "/usr/share/fonts/dejavu-sans-fonts",
                "/usr/share/fonts/TTF")


def font_folder() -> Path:
    """The system's DejaVu folder; a one-line error when DejaVu Sans is not installed."""
    for folder in FONT_FOLDERS:
        if (Path(folder) / "DejaVuSans.ttf").is_file():
            return Path(folder)
    raise ToolMissing("the PDFs are set in DejaVu Sans, which is not installed "
                      "(Debian: apt-get install fonts-dejavu-core)")


@lru_cache(maxsize=1)
def fonts_fingerprint() -> str:
    """The font files the PDFs are laid out with (every file of :func:`font_folder`, as
    :func:`runbook.engine.store.files_fingerprint` identifies them): part of every cache
    key, so an upgrade of the fonts lays every kept PDF out again."""
    folder = font_folder()
    return files_fingerprint(p for p in folder.iterdir() if p.is_file())


def renderer_version() -> str:
    """The typst package's version (part of every cache key)."""
    try:
        from importlib.metadata import version

        return version("typst")
    except Exception as exc:  # pragma: no cover - typst is a dependency
        raise ToolMissing(f"the typst package is not installed ({exc}); pip install typst"
                          ) from exc


# The process that loaded the compiler (None: not loaded). In any other process (a fork
# of it) the compiler's threads are gone, so it must not be called there.
_LOADED_IN: int | None = None


@lru_cache(maxsize=4)
def _compiler(root: str, fonts: str) -> Any:
    # One compiler per templates folder: it keeps the parsed fonts between documents.
    import typst

    global _LOADED_IN
    _LOADED_IN = os.getpid()
    return typst.Compiler(root=root, font_paths=typst.Fonts(
        include_system_fonts=False, include_embedded_fonts=True, font_paths=[fonts]))


def _one_line(exc: BaseException) -> str:
    message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    return " ".join(str(message).split())


def data_line(payload: str) -> bytes:
    """The line that binds ``data`` to the JSON text ``payload`` in a template's source: the
    JSON inside a Typst string literal, where only ``\\`` and ``"`` need escaping."""
    literal = payload.replace("\\", "\\\\").replace('"', '\\"')
    return f'#let data = json(bytes("{literal}"))\n'.encode()


def typst_pdf(template: Path, data: dict[str, Any], root: Path | None = None,
              inputs: dict[str, str] | None = None) -> bytes:
    """Lay out ``template`` (a ``.typ`` file) with ``data`` (JSON) to PDF bytes.

    ``root`` is the folder the template may read (its imports); by default the template's
    own folder. ``inputs``: the template's ``sys.inputs``, for values many documents share.
    A compile error is one line naming the template, never a traceback.
    """
    try:
        import typst
    except ImportError as exc:  # pragma: no cover - typst is a dependency
        raise ToolMissing(f"the typst package is not installed ({exc}); pip install typst"
                          ) from exc
    source = template.read_bytes()
    if _PACKAGE.search(source):
        raise PdfFailed(f"PDF rendering failed: {template.name}: imports a Typst package "
                        "(\"@...\"); documents are laid out offline, from their own templates")
    folder = root if root is not None else template.parent
    payload = json.dumps(data, ensure_ascii=False, sort_keys=True, default=str)
    sys_inputs = dict(inputs or {})
    if b"sys.inputs.data" in source:
        sys_inputs["data"] = payload
    if _LOADED_IN is not None and os.getpid() != _LOADED_IN:
        return _in_fresh_process(template, folder, payload, sys_inputs)
    compiler = _compiler(str(folder.resolve()), str(font_folder()))
    try:
        out = compiler.compile(input=data_line(payload) + source, format="pdf",
                               sys_inputs=sys_inputs, pdf_tags=False)
    except typst.TypstError as exc:
        raise PdfFailed(f"PDF rendering failed: {template.name}: {_one_line(exc)}") from exc
    except (RuntimeError, ValueError, OSError) as exc:
        raise PdfFailed(f"PDF rendering failed: {template.name}: {type(exc).__name__}: "
                        f"{_one_line(exc)}") from exc
    if not isinstance(out, bytes):  # pragma: no cover - one PDF for format="pdf"
        raise PdfFailed(f"PDF rendering failed: {template.name}: no PDF returned")
    return out


def _in_fresh_process(template: Path, folder: Path, payload: str,
                      inputs: dict[str, str]) -> bytes:
    request = json.dumps({"template": str(template), "root": str(folder), "data": payload,
                          "inputs": inputs})
    done = subprocess.run([sys.executable, "-m", "runbook.outputs.pdf"], input=request.encode(),
                          capture_output=True, check=False)
    if done.returncode != 0:
        lines = done.stderr.decode("utf-8", "replace").strip().splitlines() or ["no output"]
        raise PdfFailed(lines[-1])
    return done.stdout


def _serve() -> None:
    """Lay out one document for a forked process (``python -m runbook.outputs.pdf``): the
    request is JSON on standard input, the PDF goes to standard output."""
    request = json.loads(sys.stdin.buffer.read())
    try:
        out = typst_pdf(Path(request["template"]), json.loads(request["data"]),
                        Path(request["root"]), request["inputs"])
    except RunbookError as exc:
        print(exc, file=sys.stderr)
        raise SystemExit(1) from None
    sys.stdout.buffer.write(out)


def cache_key(template: Path, data: dict[str, Any],
              inputs: dict[str, str] | None = None) -> str:
    """What a kept PDF depends on: the typst version, the fonts (:func:`fonts_fingerprint`),
    the template bytes (and the shared ``_common.typ``), the data and the inputs."""
    parts = [f"entry-3 typst {renderer_version()}", fonts_fingerprint(), template.name,
             json.dumps(inputs or {}, ensure_ascii=False, sort_keys=True)]
    for path in (template, template.parent / "_common.typ"):
        if path.is_file():
            parts.append(hashlib.sha256(path.read_bytes()).hexdigest())
    parts.append(json.dumps(data, ensure_ascii=False, sort_keys=True, default=str))
    return hashlib.sha256("\n".join(parts).encode("utf-8")).hexdigest()


def cached_pdf(template: Path, data: dict[str, Any], workdir: Path | None,
               root: Path | None = None, inputs: dict[str, str] | None = None) -> bytes:
    """``typst_pdf`` behind a file cache in ``workdir/pdf/``.

    An unchanged document is not laid out again; without a ``workdir`` nothing is cached.
    A kept PDF is checked when read: a damaged one is laid out again.
    """
    if workdir is None:
        return typst_pdf(template, data, root, inputs)
    path = Path(workdir) / "pdf" / f"{cache_key(template, data, inputs)}.pdf"
    kept = read_entry(path, "pdf")  # checked: a damaged PDF is laid out again
    if kept is not None:
        return kept
    out = typst_pdf(template, data, root, inputs)
    write_entry(path, out)  # a full cache disk stores nothing, and the build goes on
    return out


if __name__ == "__main__":
    _serve()
