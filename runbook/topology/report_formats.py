"""``runbook validate --format``: the problems of a run for CI systems and other programs.

Every format carries, per problem, the file, line, column, rule id (the problem's ``code``),
severity and message:

- ``json``: one object, ``{"version": 1, "files": [...], "problems": [...]}``;
- ``github``: GitHub Actions workflow commands (``::error file=...,line=...::message``), which
  GitHub shows as annotations on the lines;
- ``sarif``: a SARIF 2.1.0 log (GitHub code scanning, editors' SARIF viewers);
- ``junit``: JUnit XML, one test case per file, one failure per problem (GitLab, Jenkins).

``text`` is the usual output (:mod:`runbook.topology.verdicts`) and is not made here.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence
from urllib.parse import quote

from runbook import __version__
from runbook.errors import Problem
from runbook.topology.validate import Loaded

FORMATS = ("text", "json", "github", "sarif", "junit")
SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"


def rule_id(problem: Problem) -> str:
    """The problem's rule id: its code, or ``runbook`` for a problem without one."""
    return problem.code or "runbook"


def failed(item: Loaded, strict: bool) -> bool:
    """Whether ``item`` fails the run (with ``strict``, a warning does too)."""
    return bool(item.errors) or (strict and bool(item.warnings))


def _text(problem: Problem) -> str:
    return f"{problem.path}: {problem.message}" if problem.path else problem.message


def to_json(results: Sequence[Loaded], strict: bool) -> str:
    """The run as one JSON object."""
    files = [{"file": r.source.file, "valid": not failed(r, strict), "errors": len(r.errors),
              "warnings": len(r.warnings)} for r in results]
    problems = [{**p.as_dict(), "rule": rule_id(p)} for r in results for p in r.problems]
    return json.dumps({"version": 1, "files": files, "problems": problems}, indent=2,
                      ensure_ascii=False) + "\n"


def _command_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _command_property(text: str) -> str:
    return _command_data(text).replace(":", "%3A").replace(",", "%2C")


def to_github(results: Sequence[Loaded], strict: bool) -> str:
    """One GitHub Actions ``::error``/``::warning`` command per problem."""
    lines = []
    for r in results:
        for p in r.problems:
            level = "error" if p.severity == "error" or strict else "warning"
            props = ",".join(f"{key}={_command_property(str(value))}" for key, value in (
                ("file", p.file), ("line", p.line), ("col", p.col),
                ("title", f"runbook {rule_id(p)}")))
            lines.append(f"::{level} {props}::{_command_data(_text(p))}")
    return "".join(f"{line}\n" for line in lines)


def to_sarif(results: Sequence[Loaded], strict: bool) -> str:
    """The run as a SARIF 2.1.0 log with one run of the ``runbook`` tool."""
    problems = [p for r in results for p in r.problems]
    rules = sorted({rule_id(p) for p in problems})
    sarif_results = []
    for p in problems:
        sarif_results.append({
            "ruleId": rule_id(p),
            "ruleIndex": rules.index(rule_id(p)),
            "level": "error" if p.severity == "error" or strict else "warning",
            "message": {"text": _text(p)},
            "locations": [{"physicalLocation": {
                "artifactLocation": {"uri": quote(p.file.replace("\\", "/"))},
                "region": {"startLine": max(p.line, 1), "startColumn": max(p.col, 1)},
            }}],
        })
    log = {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "runbook",
                "version": __version__,
                "rules": [{"id": rule, "shortDescription": {"text": f"runbook {rule} check"}}
                          for rule in rules],
            }},
            "results": sarif_results,
        }],
    }
    return json.dumps(log, indent=2, ensure_ascii=False) + "\n"


# Characters XML 1.0 cannot hold at all, even escaped.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _xml(text: str) -> str:
    return _NOT_XML.sub("\ufffd", text)


def to_junit(results: Sequence[Loaded], strict: bool) -> str:
    """The run as JUnit XML: a test case per file, a failure per problem that fails it."""
    suite = ET.Element("testsuite", {
        "name": "runbook validate",
        "tests": str(len(results)),
        "failures": str(sum(failed(r, strict) for r in results)),
        "errors": "0",
    })
    for r in results:
        case = ET.SubElement(suite, "testcase", {"classname": "runbook.validate",
                                                 "name": _xml(r.source.file)})
        for p in r.problems:
            fails = p.severity == "error" or strict
            if fails:
                node = ET.SubElement(case, "failure", {"type": rule_id(p),
                                                       "message": _xml(_text(p))})
                node.text = _xml(p.format())
        shown = [p.format() for p in r.problems if not (p.severity == "error" or strict)]
        if shown:
            ET.SubElement(case, "system-out").text = _xml("\n".join(shown))
    root = ET.Element("testsuites")
    root.append(suite)
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


RENDERERS: dict[str, Callable[[Sequence[Loaded], bool], str]] = {
    "json": to_json,
    "github": to_github,
    "sarif": to_sarif,
    "junit": to_junit,
}


def render(results: Sequence[Loaded], fmt: str, *, strict: bool = False) -> tuple[str, int]:
    """The report of ``results`` in format ``fmt`` and the run's exit status (0 or 1)."""
    status = 1 if any(failed(r, strict) for r in results) else 0
    return RENDERERS[fmt](results, strict), status
