"""A one-line progress display for long builds: stage, count, elapsed time, on stderr.

It draws only when stderr is a terminal and ``quiet`` is off; otherwise every call does
nothing, so logs and CI output stay clean. Redraws are throttled to a few per second.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    """``stage(name, total)``, then ``advance(n)`` as items finish, ``finish()`` at the end."""

    def __init__(self, stream: TextIO | None = None, *, quiet: bool = False,
                 force: bool = False, interval: float = 0.1) -> None:
        self.stream = stream if stream is not None else sys.stderr
        isatty = getattr(self.stream, "isatty", lambda: False)()
        self.enabled = not quiet and (force or bool(isatty))
        self.interval = interval
        self.start = time.monotonic()
        self.name = ""
        self.unit = ""
        self.total = 0
        self.count = 0
        self._last = 0.0
        self._width = 0

    def stage(self, name: str, total: int, unit: str = "") -> None:
        """Begin a stage of ``total`` items (0 when unknown), counted in ``unit``."""
        self.name, self.total, self.count, self.unit = name, total, 0, unit
        self._draw(force=True)

    def advance(self, n: int = 1) -> None:
        """``n`` more items of the current stage are done."""
        self.count += n
        self._draw(force=self.count >= self.total)

    def finish(self) -> None:
        """End the current stage's line (the next stage or message starts a fresh one)."""
        if self.enabled and self._width:
            self._draw(force=True)
            self.stream.write("\n")
            self.stream.flush()
            self._width = 0

    def line(self) -> str:
        """The text drawn for the current state."""
        elapsed = time.monotonic() - self.start
        count = f"{self.count}/{self.total}" if self.total else f"{self.count}"
        return f"runbook: {self.name:<10} {count:>11} {self.unit:<6} {elapsed:6.1f}s"

    def _draw(self, force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if not force and now - self._last < self.interval:
            return
        self._last = now
        text = self.line()
        pad = " " * max(0, self._width - len(text))
        self.stream.write("\r" + text + pad)
        self.stream.flush()
        self._width = len(text)
