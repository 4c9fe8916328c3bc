"""Blocks of finished HTML inside generated Markdown, passed through without parsing.

Python-Markdown parses a page block by block, runs its inline patterns over every piece of
text, walks the tree in several passes and serializes it again. The wizard screens of a
runbook page (numbered screens, each with a task list) cost about 20 ms that way, and every
table cell pays the same passes. The page templates therefore write their tables and wizard
screens as HTML (every value escaped there by the ``html`` and ``html_code`` filters) and
wrap each in two marker lines (:func:`wrap`, the ``html_block`` filter)::

    <!-- runbook:html -->
    <table>
    ...
    </table>
    <!-- /runbook:html -->

:class:`HtmlBlocks` (added by the ``runbook`` plugin) puts each marked block in
Python-Markdown's HTML stash before the parsers see it, and the block comes out of the
conversion exactly as written. The templates write what Python-Markdown itself made of the
same tables and lists, so the pages did not change, byte for byte. Without the extension the
same text is still correct: the lines are a raw HTML block, which Python-Markdown passes
through after parsing it (and keeps the two markers, as comments).

Links in a block are not rewritten or checked by MkDocs, so a block links only to anchors and
files of its own page's folder, never to another page (those tables stay Markdown).

Why the markers cannot be forged by a topology value:

* the preprocessor runs after fenced code blocks are stashed (a value printed in a fenced
  block is never seen as a line here), and before MkDocs and Python-Markdown read raw HTML;
* only a line that is exactly a marker counts, at the start of the line. Every other place a
  value lands escapes ``<`` (``md``, ``cell``) or is inline in a longer line (``code``), and an
  indented fence inside a list keeps its indentation;
* :func:`wrap` refuses a block with a line that does not start with a tag, so an HTML block
  can hold no Markdown (no fence opener either) and no marker of its own.
"""

from __future__ import annotations

import markdown
from markdown.extensions import Extension
from markdown.preprocessors import Preprocessor

START = "<!-- runbook:html -->"
END = "<!-- /runbook:html -->"
# After pymdownx.superfences stashes fenced code blocks (25) and before MkDocs' scan of raw
# HTML for anchors (21) and Python-Markdown's raw HTML blocks (20).
PRIORITY = 24


class NotAnHtmlBlock(ValueError):
    """Text given to :func:`wrap` is not a block of HTML lines."""


def wrap(html: str) -> str:
    """``html`` between the two marker lines, for a page template, ending in a line break.

    Printed on a line of its own, the block is then followed by a blank line: the next
    Markdown block starts afresh, with or without this extension.

    Every line must start with ``<`` (one element or tag per line) and none may be blank or a
    marker: that keeps the block one raw HTML block for any Markdown converter, and keeps
    fences and markers out of it.
    """
    lines = html.strip("\n").split("\n")
    for number, line in enumerate(lines, 1):
        if not line.startswith("<") or line in (START, END):
            raise NotAnHtmlBlock(f"line {number} of an HTML block must start with a tag "
                                 f"(and not be a block marker): {line[:60]!r}")
    return "\n".join([START, *lines, END, ""])


class _StashBlocks(Preprocessor):
    """Replaces each marked block with a placeholder of Python-Markdown's HTML stash."""

    def run(self, lines: list[str]) -> list[str]:
        if START not in lines:
            return lines
        out: list[str] = []
        index = 0
        while index < len(lines):
            line = lines[index]
            if line == START:
                try:
                    end = lines.index(END, index + 1)
                except ValueError:
                    end = -1
                if end > 0:
                    html = "\n".join(lines[index + 1:end])
                    # A blank line on each side makes the placeholder a paragraph of its
                    # own, which the raw HTML postprocessor replaces whole (no <p>).
                    out.extend(["", self.md.htmlStash.store(html), ""])
                    index = end + 1
                    continue
            out.append(line)
            index += 1
        return out


class HtmlBlocks(Extension):
    """A Markdown extension that passes marked HTML blocks (:func:`wrap`) through as they are."""

    def extendMarkdown(self, md: markdown.Markdown) -> None:
        """Register the preprocessor that stashes marked blocks."""
        md.preprocessors.register(_StashBlocks(md), "runbook_html_blocks", PRIORITY)
