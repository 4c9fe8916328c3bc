"""Material's search indexing, with a faster HTML tokenizer in front of its own parser.

Material for MkDocs indexes each page by feeding ``page.content`` to its ``Parser``, an
``html.parser.HTMLParser`` subclass whose ``handle_*`` methods split the page into sections.
The standard library's tokenizer (``goahead``, ``parse_starttag``, ...) costs about as much
as those handlers. :class:`FastParser` is Material's ``Parser`` with a different ``feed``: one
compiled regular expression scans the page into text runs, start tags and end tags, and
calls the handlers exactly as ``HTMLParser`` (``convert_charrefs=True``) would: the same
calls, in the same order, with the same arguments. The handlers are Material's logic too,
restated (:class:`_FastHandlers`) so that the questions they ask of the open elements on
every call cost a dictionary lookup instead of a scan; they are used only while Material's
handlers are the code they restate (:data:`CHECKED_HANDLERS`, a digest of its bytecode).

The fast path takes only markup whose tokenization it is sure of: start tags whose name is
letters and digits, attributes with plain names and quoted or unquoted values, separated by
HTML whitespace, optionally ending in ``/>``; end tags ``</name>``; text without ``<``. Any
other ``<`` (comments, ``<!``, ``<?``, CDATA, a bare ``<``, anything malformed), any raw-text
element (``script``, ``style``, ``textarea``, ...), or an ``&`` in the text after the last
tag (which ``HTMLParser`` may hold back until ``close``) sends the whole page through
``HTMLParser.feed`` instead, so correctness never depends on the page being simple.

:func:`install` makes one search index (``SearchIndex``, made anew by the search plugin's
``on_config`` for every build) use :class:`FastParser`; nothing global changes.
"""

from __future__ import annotations

import re
import types
from html import unescape
from typing import Any

from material.plugins.search import plugin as material_search

__all__ = ["FastParser", "install", "tokenize"]

_WS = r"[ \t\n\r\f]"  # HTML whitespace; \s would also take \v and Unicode spaces
_NAME = r"[a-zA-Z][a-zA-Z0-9]*"
_ATTR_NAME = r"[a-zA-Z_:][-a-zA-Z0-9_:.]*"
# An unquoted value ends at whitespace or ">": HTMLParser's own ends only there, so a value
# directly followed by "/" (<a href=x/>) is left to it (it reads the "/" as part of the value).
_BARE = r"[^\s\"'=<>`/]+"
_VALUE = rf"(?:\"[^\"]*\"|'[^']*'|{_BARE}(?={_WS}|>))"
_ATTR = rf"{_WS}+{_ATTR_NAME}(?:{_WS}*={_WS}*{_VALUE})?"

# Groups: text, start tag name, its attributes, "/" of "/>", end tag name, unsure "<".
_TOKEN = re.compile(
    rf"([^<]+)"
    rf"|<({_NAME})((?:{_ATTR})*){_WS}*(/?)>"
    rf"|</({_NAME}){_WS}*>"
    rf"|(<)"
)
# Groups: name, "=", double-quoted value, single-quoted value, unquoted value. Run only on
# attributes _TOKEN matched, so it needs no lookahead after an unquoted value.
_ATTRIBUTE = re.compile(
    rf"{_WS}+({_ATTR_NAME})(?:{_WS}*(=){_WS}*(?:\"([^\"]*)\"|'([^']*)'|({_BARE})))?"
)
# Elements whose content HTMLParser does not tokenize as markup (script, style), or may not,
# depending on the Python version (newer ones treat more elements as raw text).
_RAW_TEXT = re.compile(
    r"</?(?:script|style|textarea|title|xmp|iframe|noembed|noframes|noscript|plaintext)",
    re.IGNORECASE,
)

Token = tuple[str, str, str, str, str, str]


def tokenize(html: str) -> list[Token] | None:
    """Split ``html`` into tokens for :class:`FastParser`, or None if it must not take it.

    Each token is ``(text, tag, attributes, slash, end_tag, unsure)``; exactly one of
    ``text``, ``tag`` and ``end_tag`` is set. None means ``HTMLParser`` must parse the page.
    """
    if _RAW_TEXT.search(html):
        return None
    tokens: list[Token] = _TOKEN.findall(html)
    if any(token[5] for token in tokens):
        return None
    # Trailing text with an "&" may be held back by HTMLParser.feed until close(): not worth
    # modelling, as Markdown output ends in a tag or a newline.
    if tokens and "&" in tokens[-1][0]:
        return None
    return tokens


def _attributes(raw: str) -> list[tuple[str, str | None]]:
    # As HTMLParser.parse_starttag: lower-cased names, None without "=", values unescaped.
    return [(name.lower(), unescape(dq or sq or bare) if eq else None)
            for name, eq, dq, sq, bare in _ATTRIBUTE.findall(raw)]


_HEADINGS = frozenset(f"h{x}" for x in range(1, 7))
_NEVER_UNSKIPPED = ("script", "style", "object")


def _may_matter(attrs: str) -> bool:
    """True when the attributes ``attrs`` may hold one that Material's handlers look at on
    any element: ``data-search-exclude`` (a name, in any case) or ``class="linenodiv"`` (a
    value, perhaps written with character references)."""
    return ("&" in attrs or "linenodiv" in attrs
            or ("-" in attrs and "data-search-exclude" in attrs.lower()))


def _code_digest(code: types.CodeType) -> bytes:
    import hashlib

    h = hashlib.sha256(code.co_code)
    h.update(repr(code.co_names).encode())
    for const in code.co_consts:  # nested code objects (comprehensions) by their own digest
        h.update(_code_digest(const) if isinstance(const, types.CodeType)
                 else repr(const).encode())
    return h.digest()


def _fingerprint(cls: type, element: type | None = None, section: type | None = None) -> str:
    """A digest of the bytecode of the search parser ``cls``'s handlers and ``__init__``, and
    of what they rely on in Material's ``Element`` (equal by tag) and ``Section``."""
    import hashlib

    element = element or material_search.Element
    section = section or material_search.Section
    methods = [vars(cls)[name] for name in (
        "__init__", "handle_starttag", "handle_endtag", "handle_data")]
    # Material's parser inherits HTMLParser's: FastParser._run relies on it (void tags
    # written "<br/>" are then no-ops), so a parser of its own would change the digest.
    if "handle_startendtag" in vars(cls):
        methods.append(vars(cls)["handle_startendtag"])
    methods += [vars(element)[name] for name in ("__init__", "__eq__", "__hash__",
                                                 "is_excluded")]
    methods += [vars(section)[name] for name in ("__init__", "is_excluded")]
    return hashlib.sha256(b"".join(_code_digest(m.__code__) for m in methods)).hexdigest()[:16]


# Material's Parser handlers (with its Element and Section) whose logic FastParser's handlers
# restate (mkdocs-material 9.8.2). With any other code they are not used: the tokenizer is.
CHECKED_HANDLERS = "f3985c5faf30878f"
_HANDLERS_MATCH = _fingerprint(material_search.Parser) == CHECKED_HANDLERS


class _FastHandlers(material_search.Parser):
    """Material's ``Parser`` handlers, restated with the bookkeeping they imply.

    Material compares its ``Element`` objects by tag name alone, and its handlers ask three
    questions of the open elements (``self.context``) many times per page: is any of them
    skipped, is the section's heading one of them, is any of them ``pre`` or a permalink.
    Each question is a Python-level scan with ``__eq__``/``__hash__`` calls. Here counts of
    open elements (per tag, of skipped tags, of permalinks) answer them directly; everything
    else (sections, their text and titles) is Material's logic, line for line, on Material's
    own ``Element`` and ``Section`` objects.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._open: dict[str, int] = {}  # tag -> how many elements of it are in context
        self._skipped = {"object", "script", "style"}  # the tags self.skip stands for
        self._open_skipped = 0  # open elements whose tag is skipped
        self._permalinks = 0  # open <a class="headerlink">

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        attrs = dict(attrs)
        el = material_search.Element(tag, attrs)
        if tag in material_search.void:
            return
        self.context.append(el)
        self._open[tag] = self._open.get(tag, 0) + 1
        if tag in self._skipped:
            self._open_skipped += 1
        if tag == "a" and attrs.get("class") == "headerlink":
            self._permalinks += 1

        if tag in _HEADINGS:
            depth = len(self.context)
            if "id" in attrs:
                if tag != "h1" and not self.data:
                    self.section = material_search.Section(material_search.Element("hx"),
                                                           depth)
                    self.data.append(self.section)
                self.section = material_search.Section(el, depth)
                if self.data:
                    self.section.id = attrs["id"]
                self.data.append(self.section)

        if not self.section:
            self.section = material_search.Section(material_search.Element("hx"))
            self.data.append(self.section)

        for key, value in attrs.items():
            if key == "data-search-exclude" or (key == "class" and value == "linenodiv"):
                self.skip.add(el)
                if tag not in self._skipped:
                    self._skipped.add(tag)
                    self._open_skipped += self._open[tag]
                return

        if tag in self.keep and not self._open_skipped:
            data = self.section.text
            if self._open.get(self.section.el.tag):
                data = self.section.title
            data.append(f"<{tag}>")

    def handle_endtag(self, tag: str) -> None:
        context = self.context
        if not context or context[-1].tag != tag:
            return

        if self.section.depth > len(context):
            for section in reversed(self.data):
                if section.depth <= len(context):
                    self.section.depth = float("inf")
                    self.section = section
                    break

        el = context.pop()
        self._open[el.tag] -= 1
        if el.tag == "a" and el.attrs.get("class") == "headerlink":
            self._permalinks -= 1
        if el.tag in self._skipped:
            self._open_skipped -= 1
            if el.tag not in _NEVER_UNSKIPPED:
                self.skip.remove(el)
                self._skipped.discard(el.tag)
                self._open_skipped -= self._open[el.tag]
            return

        if tag in self.keep and not self._open_skipped:
            data = self.section.text
            if self._open.get(self.section.el.tag):
                data = self.section.title

            index = data.index(f"<{tag}>")
            for i in range(index + 1, len(data)):
                if not data[i].isspace():
                    index = len(data)
                    break

            if len(data) > index:
                while len(data) > index:
                    data.pop()
            else:
                data.append(f"</{tag}>")

    def handle_data(self, data: str) -> None:
        if self._open_skipped:
            return

        in_pre = bool(self._open.get("pre"))
        if not in_pre:
            data = data.replace("\n", " ") if not data.isspace() else " "

        if not self.section:
            self.section = material_search.Section(material_search.Element("hx"))
            self.data.append(self.section)

        section = self.section
        if self._open.get(section.el.tag):
            if not self._permalinks:
                section.title.append(material_search.escape(data, quote=False))
        elif data.isspace():
            if not section.text or not section.text[-1].isspace() or in_pre:
                section.text.append(data)
        else:
            section.text.append(material_search.escape(data, quote=False))

    def _run(self, tokens: list[Token]) -> None:
        """Make the handler calls ``tokens`` stand for, in one loop (about a fifth faster).

        Text is handled here, as :meth:`handle_data` does. So are the tags of a *plain*
        element: not a heading, not a kept or skipped tag, not ``a``, no ``/>``, and no
        attribute the handlers look at on any element (:func:`_may_matter`). Such a tag's
        only effect is its place among the open elements (an ``Element`` compares by tag
        alone, so one per tag serves them all, its attributes unread). A void tag has no
        effect at all. Every other tag goes to the handlers above.
        """
        context, opened, keep = self.context, self._open, self.keep
        void = material_search.void
        element, section_of = material_search.Element, material_search.Section
        escape = material_search.escape
        plain: dict[str, Any] = {}
        for text, tag, attrs, slash, end_tag, _ in tokens:
            if text:
                if self._open_skipped:
                    continue
                data = unescape(text) if "&" in text else text
                in_pre = bool(opened.get("pre"))
                if not in_pre:
                    data = data.replace("\n", " ") if not data.isspace() else " "
                section = self.section
                if not section:
                    section = self.section = section_of(element("hx"))
                    self.data.append(section)
                if opened.get(section.el.tag):
                    if not self._permalinks:
                        section.title.append(escape(data, quote=False))
                elif data.isspace():
                    if not section.text or not section.text[-1].isspace() or in_pre:
                        section.text.append(data)
                else:
                    section.text.append(escape(data, quote=False))
            elif tag:
                tag = tag.lower()
                self.lasttag = tag
                if tag in void:  # never opened: neither handler does anything with it
                    continue
                if (slash or tag in _HEADINGS or tag in keep or tag == "a"
                        or tag in self._skipped
                        or (attrs and _may_matter(attrs))):
                    parsed = _attributes(attrs) if attrs else []
                    if slash:
                        self.handle_startendtag(tag, parsed)
                    else:
                        self.handle_starttag(tag, parsed)
                    continue
                el = plain.get(tag)
                if el is None:
                    el = plain[tag] = element(tag, {})
                context.append(el)
                opened[tag] = opened.get(tag, 0) + 1
                if not self.section:
                    self.section = section_of(element("hx"))
                    self.data.append(self.section)
            else:
                tag = end_tag.lower()
                if (not context or context[-1].tag != tag or tag in keep or tag == "a"
                        or tag in self._skipped or self.section.depth > len(context)):
                    self.handle_endtag(tag)
                    continue
                context.pop()
                opened[tag] -= 1


_BASE: type = _FastHandlers if _HANDLERS_MATCH else material_search.Parser
_FUSED = _BASE is _FastHandlers


def _handlers(cls: type) -> tuple[Any, ...]:
    # _run stands for these handlers' calls: a subclass that overrides one gets the calls.
    return (cls.handle_data, cls.handle_starttag, cls.handle_endtag, cls.handle_startendtag)


class FastParser(_BASE):  # type: ignore[misc, valid-type]
    """Material's search ``Parser``, fed by a regex tokenizer when the page allows it.

    Handler calls are those ``HTMLParser.feed`` would make. Not tracked on the fast path:
    positions (``getpos``) and ``get_starttag_text``, which Material's handlers do not use.
    With the Material version it was checked against, the handlers are
    :class:`_FastHandlers` (the same entries, without the per-call scans).
    """

    def feed(self, data: str) -> None:
        """Feed ``data``: tokenized here when safe, else by ``HTMLParser.feed``."""
        tokens = None
        # Only from a clean state: nothing held back from an earlier feed, not inside a
        # script or style element, character references converted (Material's default).
        if not self.rawdata and self.cdata_elem is None and self.convert_charrefs:
            tokens = tokenize(data)
        if tokens is None:
            super().feed(data)
            return
        if _FUSED and _handlers(type(self)) == _handlers(_FastHandlers):
            self._run(tokens)
            return
        handle_data, handle_starttag = self.handle_data, self.handle_starttag
        handle_startendtag, handle_endtag = self.handle_startendtag, self.handle_endtag
        for text, tag, attrs, slash, end_tag, _ in tokens:
            if text:
                handle_data(unescape(text))
            elif tag:
                tag = tag.lower()
                self.lasttag = tag
                if slash:
                    handle_startendtag(tag, _attributes(attrs) if attrs else [])
                else:
                    handle_starttag(tag, _attributes(attrs) if attrs else [])
            else:
                handle_endtag(end_tag.lower())


def install(index: Any) -> bool:
    """Make Material's search ``index`` parse pages with :class:`FastParser`; True if done.

    The index gets, as its own ``add_entry_from_context``, Material's method itself (same
    code object) run against a copy of its module's globals in which ``Parser`` is
    :class:`FastParser`. Nothing is patched globally, and the index is made anew for every
    build. Anything else (MkDocs' own search, a subclass, a Material version whose method
    no longer names ``Parser``) is left alone.
    """
    if type(index) is not material_search.SearchIndex:
        return False
    method = material_search.SearchIndex.add_entry_from_context
    code = method.__code__
    if "Parser" not in code.co_names:
        return False
    namespace = {**vars(material_search), "Parser": FastParser}
    fast = types.FunctionType(code, namespace, method.__name__, method.__defaults__,
                              method.__closure__)
    index.add_entry_from_context = types.MethodType(fast, index)
    return True
