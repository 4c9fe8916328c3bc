"""Material's search indexing, with a faster HTML tokenizer in front of its own parser.

Material for MkDocs indexes each page by feeding ``page.content`` to its ``Parser``, an
``html.parser.HTMLParser`` subclass whose ``handle_*`` methods split the page into sections.
The standard library's tokenizer (``goahead``, ``parse_starttag``, ...) costs about as much
as those handlers. :class:`FastParser` is Material's ``Parser`` with a different ``feed``: one
compiled regular expression scans the page into text runs, start tags and end tags, and
calls the inherited handlers exactly as ``HTMLParser`` (``convert_charrefs=True``) would: the
same calls, in the same order, with the same arguments. The indexing logic stays Material's.

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


class FastParser(material_search.Parser):
    """Material's search ``Parser``, fed by a regex tokenizer when the page allows it.

    Handler calls are those ``HTMLParser.feed`` would make. Not tracked on the fast path:
    positions (``getpos``) and ``get_starttag_text``, which Material's handlers do not use.
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
