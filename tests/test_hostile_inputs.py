"""Hostile and broken topologies (tests/hostile_corpus.py) through ``runbook validate``.

The whole corpus goes through one process and one run, the way users run it, on a folder:
every file is reported, under a printable name; nothing ends in a traceback; every problem
line is ``file:line:col: ...``; one file prints a bounded amount; no control character,
lone surrogate or bidirectional control reaches the terminal; no planted secret is shown.
A second run, which replays the cached verdicts, prints the same bytes.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import unicodedata
from pathlib import Path

import pytest
from click.testing import CliRunner

from runbook.cli import main
from runbook.topology import verdicts
from tests import hostile_corpus
from tests.hostile_corpus import Case

ROOT = Path(__file__).resolve().parent.parent
RUNBOOK = Path(sys.executable).with_name("runbook")  # the console script users run
LINE = re.compile(r"^(?P<file>.+?):(?P<line>\d+):(?P<col>\d+): ")
VERDICT = re.compile(r"^(?P<file>.+): (?P<verdict>valid|invalid) \(\d+ error\(s\), \d+ "
                     r"warning\(s\)\)$")
MAX_LINE = 1_200  # a message line's bound: 600 of message, file name and path besides
MAX_LINES_PER_FILE = 52  # 50 problems, the count of the rest, the note


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Case]]:
    """The corpus, written once into a folder of its own."""
    root = tmp_path_factory.mktemp("hostile")
    folder = root / "inputs"
    folder.mkdir()
    return root, hostile_corpus.build(folder)


@pytest.fixture(scope="module")
def runs(corpus: tuple[Path, list[Case]]) -> list[subprocess.CompletedProcess[bytes]]:
    """``runbook validate inputs`` twice from the corpus' folder: fresh, then replayed."""
    root, _ = corpus
    env = {**os.environ, "LC_ALL": "C.UTF-8"}
    return [subprocess.run([str(RUNBOOK), "validate", "inputs"], cwd=root, env=env,
                           capture_output=True, timeout=300, check=False) for _ in range(2)]


def _text(data: bytes) -> str:
    return data.decode("utf-8")  # fails the test on anything that is not UTF-8


def _by_file(stderr: str, names: list[str]) -> dict[str, list[str]]:
    """The problem lines of each file (longest name first, so prefixes do not steal lines)."""
    out: dict[str, list[str]] = {n: [] for n in names}
    ordered = sorted(names, key=len, reverse=True)
    for line in stderr.splitlines():
        owner = next((n for n in ordered if line.startswith(f"{n}:")), None)
        assert owner is not None, f"a line names no file of the corpus: {line[:200]!r}"
        out[owner].append(line)
    return out


def _compact(text: str) -> str:
    """Letters and digits only, upper-cased, with escapes such as \\u200b taken out: what
    a product key leaves in a text however it is spaced, dashed or escaped."""
    text = re.sub(r"\\(x[0-9a-f]{2}|u[0-9a-f]{4}|U[0-9a-f]{8})", "", text)
    text = unicodedata.normalize("NFKC", text)
    return "".join(c for c in text if c.isascii() and c.isalnum()).upper()


def test_the_corpus_covers_every_class_with_a_few_hundred_files(
        corpus: tuple[Path, list[Case]]) -> None:
    _, cases = corpus
    assert len(cases) >= 250
    stems = {c.shown_as.split("-")[0].removesuffix(".yaml") for c in cases}
    assert {"surrogate", "ctl", "raw", "huge", "many", "dup", "pool", "gateway", "slug",
            "fqdn", "org", "key", "password", "alias", "tag", "payload", "name", "special",
            "fuzz"} <= stems
    assert {c.kind for c in cases} == {"file", "fifo", "link"}


def test_validate_on_the_folder_reports_every_file_without_a_traceback(
        corpus: tuple[Path, list[Case]], runs: list[subprocess.CompletedProcess[bytes]]) -> None:
    _, cases = corpus
    done = runs[0]
    stdout, stderr = _text(done.stdout), _text(done.stderr)
    assert done.returncode == 1
    assert "Traceback" not in stderr and "Error:" not in stderr
    reported = {}
    for line in stdout.splitlines()[:-1]:
        m = VERDICT.match(line)
        assert m, f"not a verdict line: {line!r}"
        reported[m["file"]] = m["verdict"]
    expected = {f"inputs/{c.shown_as}": c.valid for c in cases}
    assert set(reported) == set(expected)
    for name, valid in expected.items():
        if valid is not None:
            assert reported[name] == ("valid" if valid else "invalid"), name
    valid_count = sum(v == "valid" for v in reported.values())
    assert stdout.splitlines()[-1] == f"{valid_count} of {len(cases)} topology file(s) valid"


def test_every_problem_line_is_positioned_and_says_what_the_case_expects(
        corpus: tuple[Path, list[Case]], runs: list[subprocess.CompletedProcess[bytes]]) -> None:
    _, cases = corpus
    names = [f"inputs/{c.shown_as}" for c in cases]
    lines = _by_file(_text(runs[0].stderr), names)
    for case in cases:
        own = lines[f"inputs/{case.shown_as}"]
        for line in own:
            m = LINE.match(line)
            ends = (" more problem(s) not shown; fix the ones above and run again",
                    ": note: the deployment rules run once the errors above are fixed; run "
                    "validate again then")
            assert m or line.endswith(ends), line[:300]
            if m:
                assert int(m["line"]) >= 1 and int(m["col"]) >= 1
        text = "\n".join(own)
        for fragment in case.expect:
            assert fragment in text, (case.shown_as, fragment, text[:2000])
        if case.valid:
            assert own == [], (case.shown_as, own)


def test_the_output_is_bounded_per_file_and_per_line(
        corpus: tuple[Path, list[Case]], runs: list[subprocess.CompletedProcess[bytes]]) -> None:
    _, cases = corpus
    stderr = _text(runs[0].stderr)
    lines = _by_file(stderr, [f"inputs/{c.shown_as}" for c in cases])
    assert max(len(own) for own in lines.values()) <= MAX_LINES_PER_FILE
    assert max(len(line) for line in stderr.splitlines()) <= MAX_LINE
    # 3,000 bad pools, 5,000 unknown keys, a 200 kB value: a few kB each, not megabytes
    assert len(runs[0].stderr) + len(runs[0].stdout) < 400 * len(cases) + 60_000


def test_no_control_character_surrogate_or_bidi_control_reaches_the_terminal(
        runs: list[subprocess.CompletedProcess[bytes]]) -> None:
    for data in (runs[0].stdout, runs[0].stderr):
        text = _text(data)
        hidden = {c for c in text if c != "\n" and unicodedata.category(c) in
                  ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp")}
        assert hidden == set()
        assert "\\x1b" in text  # the escapes are shown, as escapes


def test_no_planted_secret_is_ever_echoed(
        corpus: tuple[Path, list[Case]], runs: list[subprocess.CompletedProcess[bytes]]) -> None:
    _, cases = corpus
    output = _text(runs[0].stdout) + _text(runs[0].stderr)
    squeezed = _compact(output)
    secrets = [s for c in cases for s in c.secrets]
    assert len(secrets) >= 15
    for secret in secrets:
        assert secret not in output
        assert _compact(secret) not in squeezed, secret


def test_a_second_run_replays_the_verdicts_and_prints_the_same_bytes(
        runs: list[subprocess.CompletedProcess[bytes]]) -> None:
    first, second = runs
    assert (second.returncode, second.stdout, second.stderr) == (
        first.returncode, first.stdout, first.stderr)


# -- the other commands on the same files -------------------------------------------------


@pytest.mark.parametrize(("stem", "message"), [
    ("special-fifo", "cannot read file: it is a named pipe (FIFO), not a regular file"),
    ("special-zero", "cannot read file: it is a character device, not a regular file"),
    ("special-urandom", "cannot read file: it is a character device, not a regular file"),
    ("surrogate-0", "title: this value holds the lone surrogate \\ud800"),
    ("ctl-osc52-title", "title: this value holds the control character \\x1b"),
    ("name-folded-newline", "edge.servers[0].name: 'edge01\\n' is not a valid host name"),
    ("key-en-dash-title", "title: this value looks like a product key"),
])
def test_plan_of_a_hostile_file_is_one_clear_error_and_no_traceback(
        corpus: tuple[Path, list[Case]], monkeypatch: pytest.MonkeyPatch,
        tmp_path: Path, stem: str, message: str) -> None:
    root, _ = corpus
    monkeypatch.chdir(root)
    monkeypatch.setattr(verdicts, "cache_root", lambda: tmp_path)
    result = CliRunner().invoke(main, ["plan", f"inputs/{stem}.yaml"])
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    lines = result.output.splitlines()
    assert lines[0].startswith(f"inputs/{stem}.yaml:") and message in lines[0]
    assert lines[-1].endswith("error(s); nothing was written.")


def test_build_refuses_special_files_and_hostile_values_in_one_line_each(
        tmp_path: Path) -> None:
    """``runbook build`` reads topologies as validate does: a FIFO does not hang it, a link
    to /dev/zero is not read, control characters are refused and printed escaped; nothing is
    written."""
    root = tmp_path / "project"
    root.mkdir()
    shutil.copy(ROOT / "mkdocs.yml", root / "mkdocs.yml")
    for name in ("docs", "overrides", "templates"):
        shutil.copytree(ROOT / name, root / name)
    inputs = root / "inputs"
    inputs.mkdir()
    shutil.copy(ROOT / "inputs" / "contoso.yaml", inputs / "contoso.yaml")
    os.mkfifo(inputs / "fifo.yaml")
    (inputs / "zero.yaml").symlink_to("/dev/zero")
    text = (ROOT / "inputs" / "contoso.yaml").read_text(encoding="utf-8")
    text = text.replace("site: contoso-hq", "site: other", 1)
    (inputs / "esc.yaml").write_text(text.replace(
        "title: Contoso HQ edge deployment", 'title: "\\e]52;c;aGk=\\a"', 1), encoding="utf-8")
    done = subprocess.run([str(RUNBOOK), "build", "-q"], cwd=root, capture_output=True,
                          timeout=300, check=False)
    stderr = _text(done.stderr)
    assert done.returncode == 1
    assert stderr.splitlines() == [
        "inputs/esc.yaml:6:8: title: this value holds the control character \\x1b, which "
        "would reach terminals and generated files as it is: remove it",
        "inputs/fifo.yaml:1:1: cannot read file: it is a named pipe (FIFO), not a regular "
        "file; give the path of a topology file",
        "inputs/zero.yaml:1:1: cannot read file: it is a character device, not a regular "
        "file; give the path of a topology file",
        "3 error(s); nothing was written.",
    ]
    assert not (root / "site").exists()
