"""What the CLI prints of a problem: escaped, bounded, one line, every file counted."""

from __future__ import annotations

import pytest

from runbook.errors import (
    Problem,
    RunbookError,
    ValidationFailed,
    format_problems,
    printable,
    shown,
)


@pytest.mark.parametrize(("text", "escaped"), [
    ("\x1b]52;c;aGk=\x07", "\\x1b]52;c;aGk=\\x07"),  # OSC 52 would write the clipboard
    ("ok\rEVIL", "ok\\rEVIL"),
    ("a\x00b\x7fc", "a\\x00b\\x7fc"),
    ("\x9b2J", "\\x9b2J"),  # C1 CSI
    ("two\nlines\ttab", "two\\nlines\\ttab"),
    ("abc\u202edcba\u2066", "abc\\u202edcba\\u2066"),  # bidirectional controls
    ("zero\u200bwidth\ufeff", "zero\\u200bwidth\\ufeff"),
    ("half \ud800", "half \\ud800"),  # a lone surrogate
    ("caf\udce9.yaml", "caf\\xe9.yaml"),  # byte 0xE9 of a file name that is not UTF-8
    ("sep\u2028par\u2029", "sep\\u2028par\\u2029"),
    ("private \ue000", "private \\ue000"),
])
def test_printable_escapes_what_a_terminal_would_act_on(text: str, escaped: str) -> None:
    assert printable(text) == escaped
    assert printable(escaped) == escaped  # escaping twice changes nothing


@pytest.mark.parametrize("text", ["Société Générale", "中文 名称", "emoji \U0001f600",
                                  "no\u00a0break space", "C:\\path\\x1b as typed"])
def test_printable_leaves_visible_text_as_it_is(text: str) -> None:
    assert printable(text) == text


def test_printable_keeps_line_feeds_only_when_asked() -> None:
    assert printable("a\nb\x1b", keep_newlines=True) == "a\nb\\x1b"


def test_a_long_text_is_cut_with_an_ellipsis_and_a_count() -> None:
    assert printable("x" * 100, 10) == "xxxxxxxxxx… (90 more characters)"
    assert printable("x" * 10, 10) == "x" * 10


def test_shown_quotes_escapes_and_cuts_a_value() -> None:
    assert shown("edge01\n") == "'edge01\\n'"
    assert shown("a" * 200) == f"'{'a' * 80}… (120 more characters)'"
    assert shown(42) == "'42'"


def test_a_problem_line_is_one_printable_bounded_line() -> None:
    p = Problem("in\x1bputs/x.yaml", 3, 7, "edge.\x1b[2J" + "k" * 500, "bad " + "v" * 5000)
    line = p.format()
    assert "\n" not in line and line.isprintable()
    assert line.startswith("in\\x1bputs/x.yaml:3:7: edge.\\x1b[2Jkkk")
    assert line.endswith("… (4404 more characters)")  # a message line keeps 600 characters
    assert len(line) < 1_000


def test_at_most_fifty_problems_a_file_are_printed_then_a_count() -> None:
    problems = ([Problem("a.yaml", i, 1, "", "m") for i in range(1, 54)]
                + [Problem("b.yaml", 1, 1, "", "n")])
    lines = format_problems(problems)
    assert len(lines) == 52
    assert lines[49] == "a.yaml:50:1: m"
    assert lines[50] == "a.yaml: 3 more problem(s) not shown; fix the ones above and run again"
    assert lines[51] == "b.yaml:1:1: n"


def test_a_runbook_error_formats_its_problems_capped_and_its_message_escaped() -> None:
    failed = ValidationFailed("x", [Problem("a.yaml", i, 1, "", "m") for i in range(1, 61)])
    assert failed.format().splitlines()[-1] == ("a.yaml: 10 more problem(s) not shown; fix the "
                                                "ones above and run again")
    assert RunbookError("out\x1b]0;x\x07: cannot write").format() == (
        "out\\x1b]0;x\\x07: cannot write")
