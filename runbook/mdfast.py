"""Python-Markdown's inline pass, without the work that cannot change a page.

Python-Markdown applies its inline patterns (code spans, emphasis, links, escapes, ...) to
every piece of text in a page, one pattern after the other, through a general method that
checks ancestors, looks the pattern up in a registry and runs its regular expression. Most
text in a runbook page (a server name, an address, a table cell) matches none of the twenty
or so patterns, yet pays for all of them: the inline pass is half of converting a page.

:class:`InlineFastPath` replaces that pass with a subclass that asks each pattern's regular
expression first, and calls Python-Markdown's own code only for a pattern that matches
somewhere in what is left of the text. A pattern whose expression finds nothing would have
returned the text unchanged (its handler only runs on a match), so the HTML is the same,
byte for byte: ``tests/test_mdfast.py`` converts every page of a real build both ways, and
random Markdown-like text too.

It is used with the Python-Markdown versions whose inline pass it was checked against
(:data:`VERIFIED_VERSIONS`); with any other version the extension leaves the pass alone.
"""

from __future__ import annotations

import re
from typing import Any

import markdown
from markdown import util
from markdown.extensions import Extension
from markdown.inlinepatterns import InlineProcessor as NewStylePattern
from markdown.treeprocessors import InlineProcessor

VERIFIED_VERSIONS = frozenset({"3.11.3"})


class _FastInlineProcessor(InlineProcessor):
    """Python-Markdown's inline pass, skipping patterns whose expression cannot match."""

    _patterns: list[Any]
    _regexes: list[re.Pattern[str] | None]

    def run(self, tree: Any, ancestors: list[str] | None = None) -> Any:
        # The registry is read once per page: an indexed lookup sorts it on every call.
        self._patterns = list(self.inlinePatterns)
        self._regexes = [p.getCompiledRegExp() if isinstance(p, NewStylePattern) else None
                         for p in self._patterns]
        return super().run(tree, ancestors)

    # The name Python-Markdown's own methods call (``self.__handleInline``), mangled.
    def _InlineProcessor__handleInline(self, data: str, patternIndex: int = 0) -> str:
        if isinstance(data, util.AtomicString):
            return data
        patterns, regexes = self._patterns, self._regexes
        apply = self._InlineProcessor__applyPattern  # type: ignore[attr-defined]
        start = 0
        count = len(patterns)
        while patternIndex < count:
            regex = regexes[patternIndex]
            if regex is not None and regex.search(data, start) is None:
                # __applyPattern would find no match from ``start`` and answer
                # (data, False, 0): move on to the next pattern, from the start.
                patternIndex += 1
                start = 0
                continue
            data, matched, start = apply(patterns[patternIndex], data, patternIndex, start)
            if not matched:
                patternIndex += 1
        return data


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
