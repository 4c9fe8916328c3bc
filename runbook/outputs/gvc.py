"""Graphviz in this process, through its C library, laying out each graph from its source alone.

Running ``dot`` once per diagram costs about 20 ms of start-up (loading plugins, fonts) for
3 to 4 ms of layout. One process can lay out many graphs through ``libgvc``, but with
Graphviz's stock id discipline an object's id is the address of its interned name, and
subgraphs, clusters included, are kept in id order. After earlier graphs have freed memory
those addresses follow no order at all, so the order of the clusters, and with it the
layout, would depend on what the process rendered before. (``dot`` given many files shows
exactly that: ``bench/diagrams.py``.) Even a fresh ``dot`` only mostly draws clusters in the
order of the source: a block freed while one graph is read can be reused for a later name.

:class:`Renderer` gives each graph its own id discipline instead: names are numbered in the
order they first appear, so a graph's ids, and its layout, come from its source alone, in
any process and after any other graph. Nodes and edges were already kept in creation order.
The layouts agree with ``dot``'s; the order in which the SVG draws the clusters may not, so
:func:`runbook.outputs.diagrams.clusters_in_source_order` puts both renderers' SVGs in the
source's order.

The C structures declared here match Graphviz's ``cgraph.h`` of the versions in
:data:`VERIFIED_VERSIONS`. This is an opt-in fast path (:mod:`runbook.engine.optin`): the
default is one ``dot`` process per diagram. :func:`renderer` returns a :class:`Renderer` only
when ``RUNBOOK_GRAPHVIZ=libgvc`` is set and the library is there at a verified version; asked
for but unusable, it says why on one line and returns ``None``, and the caller runs ``dot``.
"""

from __future__ import annotations

import ctypes
from ctypes import (
    CFUNCTYPE,
    POINTER,
    Structure,
    byref,
    c_char_p,
    c_int,
    c_long,
    c_size_t,
    c_uint,
    c_uint64,
    c_void_p,
)
from typing import Any

from runbook.engine import optin

#: Graphviz releases whose discipline structs match the declarations below (Debian 12: 2.43).
VERIFIED_VERSIONS = frozenset({"2.43.0"})
#: Set to ``libgvc`` to lay diagrams out in-process (opt-in); anything else runs ``dot``.
ENV = "RUNBOOK_GRAPHVIZ"
#: The value of :data:`ENV` that asks for the in-process renderer.
IN_PROCESS = "libgvc"

_OPEN = CFUNCTYPE(c_void_p, c_void_p, c_void_p)
_MAP = CFUNCTYPE(c_long, c_void_p, c_int, c_char_p, POINTER(c_uint64), c_int)
_ALLOC = CFUNCTYPE(c_long, c_void_p, c_int, c_uint64)
_FREE = CFUNCTYPE(None, c_void_p, c_int, c_uint64)
_PRINT = CFUNCTYPE(c_void_p, c_void_p, c_int, c_uint64)
_CLOSE = CFUNCTYPE(None, c_void_p)
_REGISTER = CFUNCTYPE(None, c_void_p, c_int, c_void_p)
_ERRF = CFUNCTYPE(c_int, c_char_p)


# What Graphviz reports while a graph is read and laid out. agseterrf() is process-wide, so
# there is one callback for every Renderer, alive as long as the module.
_MESSAGES: list[str] = []


def _collect_error(message: bytes | None) -> int:
    _MESSAGES.append((message or b"").decode("utf-8", "replace"))
    return 0


_ERROR_CALLBACK = _ERRF(_collect_error)


class _IdDisc(Structure):  # struct Agiddisc_s
    _fields_ = [("open", _OPEN), ("map", _MAP), ("alloc", _ALLOC), ("free", _FREE),
                ("print", _PRINT), ("close", _CLOSE), ("idregister", _REGISTER)]


class _Disc(Structure):  # struct Agdisc_s
    _fields_ = [("mem", c_void_p), ("id", POINTER(_IdDisc)), ("io", c_void_p)]


class Unsupported(Exception):
    """Graphviz's library is a version whose structures this module was not checked against."""


class RenderError(Exception):
    """Graphviz could not parse or lay out a graph; the message is Graphviz's own."""


class _Names:
    """One root graph's names: even ids in order of first appearance, odd ids for anonymous."""

    def __init__(self) -> None:
        self.ids: dict[bytes, int] = {}
        self.buffers: list[ctypes.Array[ctypes.c_char]] = []
        # Name addresses by id // 2; Graphviz asks for names hundreds of times per graph.
        self.addresses: list[int | None] = [None]
        self.anonymous = 1

    def map(self, name: bytes | None, create: bool) -> int | None:
        if name is None:
            anonymous = self.anonymous
            self.anonymous += 2
            return anonymous
        ident = self.ids.get(name)
        if ident is None and create:
            buffer = ctypes.create_string_buffer(name)
            self.buffers.append(buffer)
            self.addresses.append(ctypes.addressof(buffer))
            ident = self.ids[name] = 2 * len(self.buffers)
        return ident


class Renderer:
    """Lays out DOT sources with ``dot`` and returns SVG, in this process."""

    def __init__(self, gvc: ctypes.CDLL, cgraph: ctypes.CDLL, libc: ctypes.CDLL) -> None:
        """Load Graphviz's plugins; raises :class:`Unsupported` for an unverified version.

        Nothing of the structures declared here is touched before the version is known.
        """
        self._gvc, self._cgraph, self._libc = gvc, cgraph, libc
        self._declare()
        self._context = gvc.gvContext()
        if not self._context:
            raise OSError("gvContext() failed")
        self.version = (gvc.gvcVersion(self._context) or b"").decode("ascii", "replace")
        if self.version not in VERIFIED_VERSIONS:
            gvc.gvFreeContext(self._context)
            raise Unsupported(self.version)
        self._tables: dict[int, _Names] = {}
        self._next_state = 1
        self._filename = b""
        # The callbacks must outlive every graph: keep references on the instance.
        self._callbacks = (_OPEN(self._open), _MAP(self._map), _ALLOC(lambda s, t, i: 0),
                           _FREE(lambda s, t, i: None), _PRINT(self._print),
                           _CLOSE(self._close), _REGISTER(lambda s, t, o: None))
        self._id_disc = _IdDisc(*self._callbacks)
        self._disc = _Disc(ctypes.addressof(c_void_p.in_dll(cgraph, "AgMemDisc")),
                           ctypes.pointer(self._id_disc),
                           ctypes.addressof(c_void_p.in_dll(cgraph, "AgIoDisc")))
        cgraph.agseterrf(_ERROR_CALLBACK)  # process-wide: the same callback, whoever sets it

    def _declare(self) -> None:
        gvc, cgraph, libc = self._gvc, self._cgraph, self._libc
        gvc.gvContext.restype = c_void_p
        gvc.gvcVersion.restype = c_char_p
        gvc.gvcVersion.argtypes = [c_void_p]
        gvc.gvLayout.argtypes = [c_void_p, c_void_p, c_char_p]
        gvc.gvRenderData.argtypes = [c_void_p, c_void_p, c_char_p, POINTER(c_void_p),
                                     POINTER(c_uint)]
        gvc.gvFreeRenderData.argtypes = [c_void_p]
        gvc.gvFreeLayout.argtypes = [c_void_p, c_void_p]
        gvc.gvFreeContext.argtypes = [c_void_p]
        cgraph.agconcat.restype = c_void_p
        cgraph.agconcat.argtypes = [c_void_p, c_void_p, POINTER(_Disc)]
        cgraph.agclose.argtypes = [c_void_p]
        cgraph.agsetfile.argtypes = [c_char_p]
        cgraph.aglexbad.argtypes = []
        cgraph.agreseterrors.restype = c_int
        cgraph.agerrors.restype = c_int
        cgraph.agseterrf.argtypes = [_ERRF]
        cgraph.agseterrf.restype = c_void_p
        libc.fmemopen.restype = c_void_p
        libc.fmemopen.argtypes = [c_void_p, c_size_t, c_char_p]
        libc.fclose.argtypes = [c_void_p]

    # -- the id discipline (called by Graphviz) --------------------------------------------

    def _open(self, graph: int | None, disc: int | None) -> int:
        state = self._next_state
        self._next_state += 1
        self._tables[state] = _Names()
        return state

    def _map(self, state: int | None, objtype: int, name: bytes | None, ident: Any,
             create: int) -> int:
        found = self._tables[state or 0].map(name, bool(create))
        if found is None:
            return 0
        ident[0] = found
        return 1

    def _print(self, state: int | None, objtype: int, ident: int) -> int | None:
        # Called hundreds of times per graph. Anonymous (odd) ids: Graphviz names them itself.
        addresses = self._tables[state or 0].addresses
        if ident & 1 or ident >> 1 >= len(addresses):
            return None
        return addresses[ident >> 1]

    def _close(self, state: int | None) -> None:
        self._tables.pop(state or 0, None)

    # -- rendering ---------------------------------------------------------------------------

    def render_svg(self, source: str, name: str = "<graph>") -> bytes:
        """``source`` laid out with ``dot`` as SVG; :class:`RenderError` when Graphviz fails.

        ``name`` is what Graphviz's messages call the source. A source that
        :func:`supports` refuses raises ``ValueError``: give it to ``dot``.
        """
        if not supports(source):
            raise ValueError("this graph has edge labels: lay it out with dot (see supports())")
        data = source.encode("utf-8")
        _MESSAGES.clear()
        self._filename = name.encode("utf-8", "replace")  # kept alive while Graphviz reads it
        self._cgraph.agsetfile(self._filename)  # also restarts the line count
        self._cgraph.agreseterrors()
        stream = self._libc.fmemopen(data, len(data), b"r")
        if not stream:
            raise OSError("fmemopen failed")
        try:
            graph = self._cgraph.agconcat(None, stream, byref(self._disc))
        finally:
            # The lexer keeps what it read past the first graph for the next call: drop it, so
            # a source can never leak into the next one.
            self._cgraph.aglexbad()
            self._libc.fclose(stream)
        if not graph:
            raise RenderError(self._said() or "Graphviz could not read the graph")
        try:
            if self._gvc.gvLayout(self._context, graph, b"dot") != 0:
                raise RenderError(self._said() or "Graphviz could not lay out the graph")
            try:
                out, length = c_void_p(), c_uint()
                status = self._gvc.gvRenderData(self._context, graph, b"svg", byref(out),
                                                byref(length))
                try:
                    svg = ctypes.string_at(out, length.value) if status == 0 and out else None
                finally:
                    if out:
                        self._gvc.gvFreeRenderData(out)
            finally:
                self._gvc.gvFreeLayout(self._context, graph)
            if svg is None:
                raise RenderError(self._said() or "Graphviz could not write SVG")
            # Some errors (a bad HTML-like label) only raise the error level: `dot` turns that
            # into its exit status, after writing its output all the same.
            if self._cgraph.agerrors() > 0:
                raise RenderError(self._said() or "Graphviz reported an error")
            return svg
        finally:
            self._cgraph.agclose(graph)

    def _said(self) -> str:
        return " ".join("".join(_MESSAGES).split())


def supports(source: str) -> bool:
    """Whether ``source`` may be laid out in-process; if not, run ``dot`` for it.

    Graphviz 2.43 frees memory twice when it releases the layout of a graph with edge labels
    between nodes of one rank (``flat_edges`` reallocates the rank array that
    ``gvFreeLayout`` frees again). ``dot`` never frees its last graph, so it is safe there; in
    a process that goes on it corrupts the heap. So any line that states an edge, or edge
    defaults, with a label is refused, reading the source line by line as the graphviz
    package writes it. A quoted ``->`` in a node's label is refused too, which only costs a
    ``dot`` run. The choice depends on the source alone, so output stays the same whoever
    renders it.
    """
    for line in source.splitlines():
        if "label" not in line:
            continue
        start = line.lstrip()
        if "->" in line or "--" in line or start.startswith(("edge [", "edge[")):
            return False
    return True


_RENDERER: Renderer | None = None
_TRIED = False


def renderer() -> Renderer | None:
    """This process's in-process renderer, or ``None`` where ``dot`` must be run instead.

    ``None`` unless ``RUNBOOK_GRAPHVIZ=libgvc`` asks for it (the default is ``dot``); asked
    for, but without the library or at an unverified version, also ``None`` after a notice.
    """
    global _RENDERER, _TRIED
    if not optin.requested(ENV, IN_PROCESS):
        return None
    if not _TRIED:
        _TRIED = True
        try:
            _RENDERER = Renderer(ctypes.CDLL("libgvc.so.6"), ctypes.CDLL("libcgraph.so.6"),
                                 ctypes.CDLL(None))
        except Unsupported as exc:
            optin.notice(f"{ENV}={IN_PROCESS}", f"Graphviz {exc} is not one of "
                         f"{', '.join(sorted(VERIFIED_VERSIONS))}")
        except (OSError, AttributeError, ValueError) as exc:
            optin.notice(f"{ENV}={IN_PROCESS}", f"libgvc could not be loaded: {exc}")
    return _RENDERER


def engine() -> str:
    """What renders diagrams here, for cache keys: ``libgvc <version>`` or ``dot``."""
    found = renderer()
    return f"libgvc {found.version}" if found is not None else "dot"
