"""The one user-facing error type and the problems it carries.

Every mistake a user can make in a topology becomes a :class:`Problem` with a file, a
line, a column and a field path. Problems are collected, never raised one at a time, so a
single run reports all of them; :class:`RunbookError` is what the CLI prints without a
traceback.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

Severity = Literal["error", "warning"]

VALUE_LIMIT = 80  # characters of one echoed value (a key, an input value)
NAME_LIMIT = 300  # characters of a file name in a message (long enough for any real path)
LINE_LIMIT = 600  # characters of one message line, whatever it quotes
PROBLEMS_PER_FILE = 50  # lines one file may print; the rest are counted

# Unicode categories never printed as they are: control characters (ESC, CR, NUL, ...),
# format characters (bidirectional overrides, zero-width characters), lone surrogates
# (from a YAML "\ud800" escape, or a file name that is not UTF-8), line and paragraph
# separators, private use and unassigned code points.
_HIDDEN = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


def _escape(char: str) -> str:
    code = ord(char)
    if 0xDC80 <= code <= 0xDCFF:  # a byte of a file name that is not UTF-8 (surrogateescape)
        return f"\\x{code - 0xDC00:02x}"
    if code < 0x100:
        return {"\n": "\\n", "\r": "\\r", "\t": "\\t"}.get(char, f"\\x{code:02x}")
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def printable(text: str, limit: int | None = None, *, keep_newlines: bool = False) -> str:
    """``text`` safe to print on a terminal: every invisible or control character written
    as an escape (``\\x1b``, ``\\r``, ``\\u202e``), and at most ``limit`` characters of the
    text, the rest replaced by an ellipsis and a count.

    Escaping never adds a character that would be escaped again, so applying it twice
    gives the same text. ``keep_newlines`` leaves line feeds as they are (for multi-line
    reports); everything else is escaped.
    """
    cut = 0
    if limit is not None and len(text) > limit:
        cut = len(text) - limit
        text = text[:limit]
    if text.isprintable() and not cut:  # the common case: nothing to escape
        return text
    out = []
    for char in text:
        kept = char.isprintable() or unicodedata.category(char) not in _HIDDEN
        if kept or (char == "\n" and keep_newlines):
            out.append(char)
        else:
            out.append(_escape(char))
    shown = "".join(out)
    return f"{shown}… ({cut} more characters)" if cut else shown


def shown(value: object, limit: int = VALUE_LIMIT) -> str:
    """A value from the input as a message quotes it: in single quotes, escaped, and cut
    to ``limit`` characters (one huge value must not print megabytes)."""
    return f"'{printable(str(value), limit)}'"


@dataclass(frozen=True, order=True)
class Problem:
    """One finding about a topology file, positioned for an editor to jump to."""

    file: str
    line: int
    col: int
    path: str
    message: str
    severity: Severity = "error"
    code: str = ""

    def format(self) -> str:
        """Render as ``file:line:col: path: message`` (warnings say so), one line, safe to
        print: input quoted in it is escaped (:func:`printable`) and bounded."""
        where = f"{printable(self.file, NAME_LIMIT)}:{self.line}:{self.col}"
        prefix = "warning: " if self.severity == "warning" else ""
        path = f"{printable(self.path, VALUE_LIMIT * 2)}: " if self.path else ""
        return f"{where}: {prefix}{path}{printable(self.message, LINE_LIMIT)}"

    def as_dict(self) -> dict[str, object]:
        """Plain data for the plan and JSON output."""
        return {
            "file": self.file,
            "line": self.line,
            "col": self.col,
            "path": self.path,
            "message": self.message,
            "severity": self.severity,
            "code": self.code,
        }


def format_problems(problems: Iterable[Problem],
                    per_file: int = PROBLEMS_PER_FILE) -> list[str]:
    """The lines that report ``problems``: at most ``per_file`` of each file, in order, each
    file's followed by one line counting the ones left out (one file must not flood the
    terminal)."""
    lines: list[str] = []
    count: dict[str, int] = {}
    tails: dict[str, int] = {}  # file -> index in lines after its last shown problem
    for p in problems:
        count[p.file] = count.get(p.file, 0) + 1
        if count[p.file] <= per_file:
            lines.append(p.format())
            tails[p.file] = len(lines)
    for file in sorted(tails, key=tails.__getitem__, reverse=True):
        if count[file] > per_file:
            lines.insert(tails[file], f"{printable(file, NAME_LIMIT)}: {count[file] - per_file} "
                         "more problem(s) not shown; fix the ones above and run again")
    return lines


class RunbookError(Exception):
    """An error the user can fix; the CLI prints it without a traceback.

    ``exit_code`` follows click: 1 for bad input, 2 for wrong usage.
    """

    exit_code = 1

    def __init__(self, message: str, problems: list[Problem] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.problems = list(problems or [])

    def format(self) -> str:
        """All problems, one a line (at most :data:`PROBLEMS_PER_FILE` a file), or the bare
        message when there are none; escaped as :func:`printable` does."""
        if not self.problems:
            return printable(self.message, 4 * LINE_LIMIT, keep_newlines=True)
        return "\n".join(format_problems(self.problems))


class ValidationFailed(RunbookError):
    """One or more topology files are invalid; ``problems`` lists every error found."""


class ToolMissing(RunbookError):
    """An external program (Graphviz ``dot``) is not installed."""
