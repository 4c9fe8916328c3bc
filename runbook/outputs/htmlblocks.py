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

import re

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


# Table cells of plain text as runbook's escaping filters write them
# (runbook.outputs.templating.cell):
# text without any character that can open an inline pattern, backslash escapes of Markdown
# punctuation, and the entities the filters write. Python-Markdown shows such a cell as the
# same text with the backslashes removed and the entities kept.
# (Possessive: a row that does not match fails at once instead of backtracking.)
_PLAIN_ROW = re.compile(r"(?:[^\\`*_{}\[\]<>&\x00-\x1f\x7f]++|\\[\\`*_{}\[\]()#+\-.!|]"
                        r"|&(?:amp|lt|gt|#[0-9]{1,5});)*+")
_UNESCAPE = re.compile(r"\\(.)")
# Any character that is not plain text by itself (control characters, tabs included:
# Python-Markdown expands a tab by its column, which differs between a row and its block).
_SPECIAL = re.compile(r"[\\`*_{}\[\]<>&\x00-\x1f\x7f]")
_DELIMITER = re.compile(r"\|(?:---+\|)+")
_CELL_SPLIT = re.compile(r"(?<!\\)((?:\\\\)*)\|")


# A cell that is one code span as the ``code`` filter writes it for a value without
# backticks, pipes, backslashes or control characters (a port, a range, an address).
_CODE_CELL = re.compile(r"`([^`|\\\x00-\x1f\x7f]+)`")


def _code_html(text: str) -> str:
    # Python-Markdown's code span: its text stripped, and &, < and > escaped.
    text = text.strip()
    return "<code>" + text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;") + \
        "</code>"


def _cells(line: str) -> list[str] | None:
    """The cells of a table row ``| a | b |`` when every one is plain text or one code span
    (:data:`_CODE_CELL`), as HTML; else None."""
    if len(line) < 2 or not line.startswith("|") or not line.endswith("|"):
        return None
    if _SPECIAL.search(line) is None:  # the common row: nothing escaped, nothing to check
        return [c.strip(" ") for c in line[1:-1].split("|")]
    if _PLAIN_ROW.fullmatch(line) is None:
        return _code_cells(line) if "`" in line else None
    if "\\|" in line:
        if line.endswith("\\|"):
            # Python-Markdown's end border takes an even run of backslashes with it, and an
            # odd one escapes the pipe: no row the filters write ends so, so leave it.
            return None
        # Split on pipes not escaped by a backslash (an even run escapes itself).
        cells = _CELL_SPLIT.sub(_mark_split, line[1:-1]).split("\0")
    else:
        cells = line[1:-1].split("|")
    return [_UNESCAPE.sub(_escaped, c.strip(" ")) if "\\" in c else c.strip(" ")
            for c in cells]


def _code_cells(line: str) -> list[str] | None:
    """The cells of a row with code spans, when each is one (:data:`_CODE_CELL`) or plain
    text; else None."""
    if "\\|" in line:  # an escaped pipe beside a code span: left to Python-Markdown
        return None
    out = []
    for c in line[1:-1].split("|"):
        c = c.strip(" ")
        code = _CODE_CELL.fullmatch(c)
        if code is not None:
            out.append(_code_html(code.group(1)))
        elif _PLAIN_ROW.fullmatch(c) is None:
            return None
        else:
            out.append(_UNESCAPE.sub(_escaped, c) if "\\" in c else c)
    return out


def _mark_split(match: re.Match[str]) -> str:
    return match.group(1) + "\0"


def _escaped(match: re.Match[str]) -> str:
    return match.group(1)


def _table_html(block: list[str]) -> str | None:
    """Python-Markdown's HTML for the table ``block`` of plain and code cells, or None."""
    if len(block) < 3 or not _DELIMITER.fullmatch(block[1]):
        return None
    rows = [_cells(line) for line in block]
    head, body = rows[0], rows[2:]
    width = block[1].count("|") - 1
    if head is None or len(head) != width or any(r is None or len(r) != width for r in body):
        return None
    out = ["<table>", "<thead>", "<tr>", *(f"<th>{c}</th>" for c in head), "</tr>",
           "</thead>", "<tbody>"]
    for row in body:
        assert row is not None
        out += ["<tr>", *(f"<td>{c}</td>" for c in row), "</tr>"]
    return "\n".join([*out, "</tbody>", "</table>"])


def tables_to_blocks(text: str) -> str:
    """``text`` with each Markdown table of plain-text and code cells written as an HTML
    block.

    A table qualifies when it is a block of its own at the start of a line (a blank line
    before and after), its delimiter row has no alignment, every row has as many cells as the
    header, and every cell is plain text as runbook's escaping filters write it
    (:data:`_PLAIN_ROW`) or one code span of a plain value (:data:`_CODE_CELL`). Any other
    table is left to Python-Markdown as it is, so the page converts to the same HTML either
    way (``tests/test_htmlblocks.py`` checks every change request page, and random cells).
    A text with fenced code or raw HTML is left as it is: a line that looks like a table row
    might be inside either.
    """
    lines = text.split("\n")
    if any(line.lstrip().startswith(("```", "~~~", "<")) for line in lines):
        return text
    out: list[str] = []
    index = 0
    while index < len(lines):
        line = lines[index]
        if line.startswith("|") and (index == 0 or _blank(lines[index - 1])):
            end = index
            while end < len(lines) and not _blank(lines[end]):
                end += 1
            html = _table_html(lines[index:end])
            if html is not None:
                out.append(wrap(html).rstrip("\n"))
                index = end
                continue
        out.append(line)
        index += 1
    return "\n".join(out)


def _blank(line: str) -> bool:
    # As Python-Markdown: spaces and tabs only (a no-break space is text).
    return not line.strip(" \t")


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
                # Its own end: the next END, before any other START (an unmatched marker,
                # hand-written in a user template, is left to Markdown as a comment).
                end = next((i for i in range(index + 1, len(lines))
                            if lines[i] in (START, END)), -1)
                if end > 0 and lines[end] == END:
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
