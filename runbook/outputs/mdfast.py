"""Python-Markdown's inline pass, without the work that cannot change a page.

Python-Markdown applies its inline patterns (code spans, emphasis, links, escapes, ...) to
every piece of text in a page, one pattern after the other, through a general method that
checks ancestors, looks the pattern up in a registry and runs its regular expression. Most
text in a runbook page (a server name, an address, a table cell) matches none of the twenty
or so patterns, yet pays for all of them: the inline pass is half of converting a page.

:class:`InlineFastPath` replaces that pass with a subclass that asks each pattern's regular
expression first, and calls Python-Markdown's own code only for a pattern that matches
somewhere in what is left of the text. A pattern whose expression finds nothing would have
returned the text unchanged (its handler only runs on a match). Before that, one regular
expression made from where each pattern's matches can begin (a backtick, a bracket, ``<``,
``&``, ``*``, ...: worked out from the patterns themselves, see :func:`_openings`) tells the
text that none can match at all, and a pattern whose opening characters are not in the text
is skipped without running its expression. So the HTML is the same, byte for byte:
``tests/test_mdfast.py`` converts every page of a real build both ways, and random
Markdown-like text too.

The extension also gives the converter a faster ``is_block_level`` (a set instead of a
list, see :class:`_BlockLevelSnapshot`), asked about a thousand times per page.

It is used with the Python-Markdown versions whose inline pass it was checked against
(:data:`VERIFIED_VERSIONS`); with any other version the extension leaves the pass alone.
"""

from __future__ import annotations

import re
import re._constants as _c
import re._parser as _parser
import types
from functools import lru_cache
from typing import Any, NamedTuple

import markdown
from markdown import util
from markdown.extensions import Extension
from markdown.inlinepatterns import InlineProcessor as NewStylePattern
from markdown.postprocessors import Postprocessor
from markdown.preprocessors import Preprocessor
from markdown.treeprocessors import InlineProcessor

VERIFIED_VERSIONS = frozenset({"3.11.3"})


def _first_chars(items: Any) -> set[str] | None:
    """The characters a match of the parsed regex ``items`` can begin with; None if unsure.

    Zero-width items (lookarounds, anchors) are passed over. Anything this does not model
    (categories, negated sets, a part that can match nothing, back-references) is unsure.
    """
    for op, av in items:
        if op in (_c.ASSERT, _c.ASSERT_NOT, _c.AT):
            continue
        if op is _c.LITERAL:
            return {chr(av)}
        if op is _c.IN:
            chars: set[str] = set()
            for item_op, item_av in av:
                if item_op is _c.LITERAL:
                    chars.add(chr(item_av))
                elif item_op is _c.RANGE and item_av[1] - item_av[0] < 256:
                    chars.update(map(chr, range(item_av[0], item_av[1] + 1)))
                else:
                    return None
            return chars
        if op is _c.BRANCH:
            chars = set()
            for alternative in av[1]:
                first = _first_chars(alternative)
                if first is None:
                    return None
                chars |= first
            return chars
        if op is _c.SUBPATTERN:
            _, add_flags, _, sub = av
            return None if add_flags & re.IGNORECASE else _first_chars(sub)
        if op in (_c.MAX_REPEAT, _c.MIN_REPEAT, _c.POSSESSIVE_REPEAT):
            low, _, sub = av
            return _first_chars(sub) if low >= 1 else None
        return None
    return None  # only zero-width items: it could match anywhere


def _opening(regex: re.Pattern[str]) -> tuple[str, frozenset[str]] | None:
    """Where a match of ``regex`` can start: a regex finding every such place, and the
    characters a match can begin with. None if unsure."""
    if regex.flags & re.IGNORECASE:
        return None
    try:
        items = list(_parser.parse(regex.pattern, regex.flags))
        if items and all(op is _c.LITERAL for op, _ in items):  # a plain string ("  \n")
            text = "".join(chr(av) for _, av in items)
            return re.escape(text), frozenset(text[0])
        chars = _first_chars(items)
    except Exception:  # re's parser is internal: a layout it does not know means unsure
        return None
    if not chars:
        return None
    return "[" + "".join(re.escape(ch) for ch in sorted(chars)) + "]", frozenset(chars)


# The characters of Python-Markdown's placeholders (util.INLINE_PLACEHOLDER): the only ones
# the inline pass adds to a text while it works on it.
_PLACEHOLDER_CHARS = frozenset(util.STX + util.ETX + util.INLINE_PLACEHOLDER_PREFIX
                               + "0123456789")


class _Openings(NamedTuple):
    """What the inline patterns' expressions say about where their matches can begin."""

    # One regex finding nothing in a text no pattern can match anywhere; None if some
    # pattern's starts cannot be worked out (then every text goes through the patterns).
    prefilter: re.Pattern[str] | None
    # Per pattern, the characters its matches can begin with (None: not known, or one the
    # inline pass itself may add); and all of those characters together.
    firsts: tuple[frozenset[str] | None, ...]
    known: frozenset[str]


@lru_cache(maxsize=8)
def _openings(regexes: tuple[re.Pattern[str] | None, ...]) -> _Openings:
    """:func:`_opening` of every pattern (``None`` for an old-style one), combined."""
    openings = [_opening(r) if r is not None else None for r in regexes]
    prefilter = None
    if openings and all(o is not None for o in openings):
        prefilter = re.compile("|".join(dict.fromkeys(o[0] for o in openings if o)))
    firsts = tuple(None if o is None or o[1] & _PLACEHOLDER_CHARS else o[1] for o in openings)
    known = frozenset().union(*(f for f in firsts if f is not None))
    return _Openings(prefilter, firsts, known)


class _FastInlineProcessor(InlineProcessor):
    """Python-Markdown's inline pass, skipping patterns whose expression cannot match."""

    _patterns: list[Any]
    _regexes: list[re.Pattern[str] | None]
    _any: re.Pattern[str] | None
    _openers: frozenset[str]
    _firsts: tuple[frozenset[str] | None, ...]

    def run(self, tree: Any, ancestors: list[str] | None = None) -> Any:
        # The registry is read once per page: an indexed lookup sorts it on every call.
        self._patterns = list(self.inlinePatterns)
        self._regexes = [p.getCompiledRegExp() if isinstance(p, NewStylePattern) else None
                         for p in self._patterns]
        self._any, self._firsts, self._openers = _openings(tuple(self._regexes))
        return super().run(tree, ancestors)

    # The name Python-Markdown's own methods call (``self.__handleInline``), mangled.
    def _InlineProcessor__handleInline(self, data: str, patternIndex: int = 0) -> str:
        if isinstance(data, util.AtomicString):
            return data
        if self._any is not None and self._any.search(data) is None:
            return data  # no pattern can match anywhere in it: it stays as it is
        # The characters that can begin a match, found in the text. The pass below only ever
        # replaces matched text with placeholders, so none appears later that is not here now.
        present = self._openers.intersection(data)
        firsts = self._firsts
        patterns, regexes = self._patterns, self._regexes
        apply = self._InlineProcessor__applyPattern  # type: ignore[attr-defined]
        start = 0
        count = len(patterns)
        while patternIndex < count:
            regex = regexes[patternIndex]
            first = firsts[patternIndex]
            if regex is not None and ((first is not None and first.isdisjoint(present))
                                      or regex.search(data, start) is None):
                # __applyPattern would find no match from ``start`` and answer
                # (data, False, 0): move on to the next pattern, from the start.
                patternIndex += 1
                start = 0
                continue
            data, matched, start = apply(patterns[patternIndex], data, patternIndex, start)
            if not matched:
                patternIndex += 1
        return data


class _BlockLevelSnapshot(Preprocessor):
    """Takes, as each conversion starts, the set of ``md.block_level_elements``.

    ``Markdown.is_block_level`` looks a tag up in that list (fifty-odd names, compared one by
    one) hundreds of times per page; :func:`_is_block_level` looks it up in this set. The
    list is only ever changed while extensions load, before any conversion.
    """

    def run(self, lines: list[str]) -> list[str]:
        self.md._runbook_block_level = frozenset(self.md.block_level_elements)  # type: ignore[attr-defined]
        return lines


class _BlockLevelRelease(Postprocessor):
    """Drops the snapshot when the conversion ends (calls outside one read the list)."""

    def run(self, text: str) -> str:
        self.md.__dict__.pop("_runbook_block_level", None)
        return text


def _is_block_level(md: markdown.Markdown, tag: Any) -> bool:
    """``Markdown.is_block_level``, reading the snapshot while a conversion runs."""
    if isinstance(tag, str):
        names = md.__dict__.get("_runbook_block_level")
        return tag.lower().rstrip("/") in (md.block_level_elements if names is None else names)
    return False


def active() -> bool:
    """Whether the installed Python-Markdown is one the fast pass was checked against."""
    return markdown.__version__ in VERIFIED_VERSIONS and hasattr(
        InlineProcessor, "_InlineProcessor__applyPattern")


class InlineFastPath(Extension):
    """A Markdown extension that swaps in the faster inline pass (same HTML)."""

    def extendMarkdown(self, md: markdown.Markdown) -> None:
        """Replace the stock inline pass; leave any other (or an unchecked version) alone."""
        if not active() or "inline" not in md.treeprocessors:
            return
        if type(md.treeprocessors["inline"]) is not InlineProcessor:
            return
        priority = next(item.priority for item in md.treeprocessors._priority
                        if item.name == "inline")
        md.treeprocessors.register(_FastInlineProcessor(md), "inline", priority)
        # First of the preprocessors, last of the postprocessors.
        md.preprocessors.register(_BlockLevelSnapshot(md), "runbook_block_level", 1000)
        md.postprocessors.register(_BlockLevelRelease(md), "runbook_block_level_end", -1000)
        md.is_block_level = types.MethodType(_is_block_level, md)  # type: ignore[method-assign]
