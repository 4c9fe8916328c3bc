"""The one user-facing error type and the problems it carries.

Every mistake a user can make in a topology becomes a :class:`Problem` with a file, a
line, a column and a field path. Problems are collected, never raised one at a time, so a
single run reports all of them; :class:`RunbookError` is what the CLI prints without a
traceback.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Severity = Literal["error", "warning"]


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
        """Render as ``file:line:col: path: message`` (warnings say so)."""
        where = f"{self.file}:{self.line}:{self.col}"
        prefix = "warning: " if self.severity == "warning" else ""
        path = f"{self.path}: " if self.path else ""
        return f"{where}: {prefix}{path}{self.message}"

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
        """All problems, one a line, or the bare message when there are none."""
        if not self.problems:
            return self.message
        return "\n".join(p.format() for p in self.problems)


class ValidationFailed(RunbookError):
    """One or more topology files are invalid; ``problems`` lists every error found."""


class ToolMissing(RunbookError):
    """An external program (Graphviz ``dot``) is not installed."""
