"""``runbook validate --format json|github|sarif|junit``: each checked with its format's own
schema or parser, and against what ``--format text`` reports for the same files."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from urllib.parse import unquote

import jsonschema
import pytest
import yaml
from click.testing import CliRunner, Result

from runbook.cli import main
from runbook.topology import verdicts
from tests.topo import CONTOSO, ROOT

SARIF_SCHEMA = ROOT / "tests" / "data" / "sarif-schema-2.1.0.json"

# Three errors worked out by hand: "site: " is 6 characters, so the slug starts in column 7;
# 'features' is a key of edge:, not of the top level; the internal zone has no dot.
BROKEN = CONTOSO.read_text(encoding="utf-8").replace("site: contoso-hq", "site: Contoso HQ", 1)
BROKEN += "features:\n  federation: true\n"
BROKEN = BROKEN.replace("internal: contoso.local", "internal: contoso", 1)


@pytest.fixture(autouse=True)
def own_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path_factory.mktemp("verdicts")
    monkeypatch.setattr(verdicts, "cache_root", lambda: folder)


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder with a valid topology and a broken one whose name needs escaping."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "inputs").mkdir()
    (tmp_path / "inputs" / "contoso.yaml").write_bytes(CONTOSO.read_bytes())
    (tmp_path / "inputs" / "hq, 100%.yaml").write_text(BROKEN, encoding="utf-8")
    return tmp_path


def run(*args: str) -> Result:
    return CliRunner().invoke(main, ["validate", *args])


def text_problems() -> list[tuple[str, int, int, str]]:
    """(file, line, col, rest) of every problem line ``--format text`` prints."""
    result = run("--quiet")
    assert result.exit_code == 1
    found = []
    for line in result.output.splitlines():
        if ": note: " in line:  # a closing note of the file, not a problem
            continue
        m = re.match(r"(.+\.yaml):(\d+):(\d+): (.*)$", line)
        assert m, line
        found.append((m[1], int(m[2]), int(m[3]), m[4]))
    return found


def test_the_broken_file_has_the_errors_worked_out_by_hand(project: Path) -> None:
    where = {(line, col, rest.split(":")[0]) for _, line, col, rest in text_problems()}
    site_line = BROKEN.splitlines().index("site: Contoso HQ") + 1
    features_line = BROKEN.splitlines().index("features:") + 1
    assert (site_line, 7, "site") in where
    assert (features_line, 1, "features") in where
    assert any(rest == "domains.internal" for _, _, rest in where)


def test_json_lists_every_problem_text_prints(project: Path) -> None:
    result = run("--format", "json")
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert data["version"] == 1
    assert [(f["file"], f["valid"]) for f in data["files"]] == [
        ("inputs/contoso.yaml", True), ("inputs/hq, 100%.yaml", False)]
    got = [(p["file"], p["line"], p["col"], f"{p['path']}: {p['message']}") for p in
           data["problems"]]
    assert got == text_problems()
    assert {p["rule"] for p in data["problems"]} == {"schema"}
    assert {p["severity"] for p in data["problems"]} == {"error"}


def test_sarif_is_valid_against_the_sarif_2_1_0_schema(project: Path) -> None:
    result = run("--format", "sarif")
    assert result.exit_code == 1
    log = json.loads(result.stdout)
    schema = json.loads(SARIF_SCHEMA.read_text(encoding="utf-8"))
    jsonschema.Draft4Validator.check_schema(schema)
    errors = list(jsonschema.Draft4Validator(schema).iter_errors(log))
    assert errors == []
    assert log["version"] == "2.1.0"
    (sarif_run,) = log["runs"]
    rules = [r["id"] for r in sarif_run["tool"]["driver"]["rules"]]
    got = []
    for item in sarif_run["results"]:
        assert rules[item["ruleIndex"]] == item["ruleId"]
        assert item["level"] == "error"
        location = item["locations"][0]["physicalLocation"]
        uri = location["artifactLocation"]["uri"]
        assert " " not in uri and "," not in uri  # a URI reference, escaped
        got.append((unquote(uri), location["region"]["startLine"],
                    location["region"]["startColumn"], item["message"]["text"]))
    assert got == text_problems()


def test_sarif_of_valid_files_has_no_results_and_passes_the_schema(project: Path) -> None:
    result = run("--format", "sarif", "inputs/contoso.yaml")
    assert result.exit_code == 0
    log = json.loads(result.stdout)
    schema = json.loads(SARIF_SCHEMA.read_text(encoding="utf-8"))
    assert list(jsonschema.Draft4Validator(schema).iter_errors(log)) == []
    assert log["runs"][0]["results"] == []


def test_junit_parses_with_one_case_per_file_and_one_failure_per_error(project: Path) -> None:
    result = run("--format", "junit")
    assert result.exit_code == 1
    root = ET.fromstring(result.stdout.encode("utf-8"))
    assert root.tag == "testsuites"
    (suite,) = root.findall("testsuite")
    assert suite.get("tests") == "2" and suite.get("failures") == "1"
    cases = {c.get("name"): c for c in suite.findall("testcase")}
    assert set(cases) == {"inputs/contoso.yaml", "inputs/hq, 100%.yaml"}
    assert cases["inputs/contoso.yaml"].findall("failure") == []
    failures = cases["inputs/hq, 100%.yaml"].findall("failure")
    assert [f.text for f in failures] == [
        f"{file}:{line}:{col}: {rest}" for file, line, col, rest in text_problems()]
    assert {f.get("type") for f in failures} == {"schema"}


def _unescape(value: str) -> str:
    for code, char in (("%3A", ":"), ("%2C", ","), ("%0A", "\n"), ("%0D", "\r"), ("%25", "%")):
        value = value.replace(code, char)
    return value


def test_github_prints_one_workflow_command_per_problem(project: Path) -> None:
    result = run("--format", "github")
    assert result.exit_code == 1
    command = re.compile(r"^::(error|warning) file=([^,:]*),line=(\d+),col=(\d+),"
                         r"title=([^,:]*)::(.*)$")
    got = []
    for line in result.stdout.splitlines():
        m = command.match(line)
        assert m, line
        assert m[1] == "error" and _unescape(m[5]) == "runbook schema"
        got.append((_unescape(m[2]), int(m[3]), int(m[4]), _unescape(m[6])))
    assert "file=inputs/hq%2C 100%25.yaml," in result.stdout
    assert got == text_problems()


def test_strict_turns_warnings_into_failures_in_every_format(tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch
                                                             ) -> None:
    monkeypatch.chdir(tmp_path)
    data = yaml.safe_load(CONTOSO.read_text(encoding="utf-8"))
    # No public CA for a production edge without anonymous meetings: a warning, not an error.
    data["certificates"]["public_ca"] = None
    data["edge"]["features"]["anonymous_meetings"] = False
    data["edge"]["features"]["public_im"] = []
    (tmp_path / "site.yaml").write_text(yaml.safe_dump(data), encoding="utf-8")
    assert run("--quiet", "site.yaml").output.count("warning:") >= 1
    for fmt in ("json", "github", "sarif", "junit"):
        assert run("--format", fmt, "site.yaml").exit_code == 0, fmt
        assert run("--format", fmt, "--strict", "site.yaml").exit_code == 1, fmt
    lines = run("--format", "github", "site.yaml").stdout.splitlines()
    assert lines and all(line.startswith("::warning ") for line in lines)


def test_the_pre_commit_hook_runs_runbook_validate_on_topologies() -> None:
    (hook,) = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))
    assert hook["id"] == "runbook-validate" and hook["entry"] == "runbook validate"
    assert hook["language"] == "python"
    assert re.search(hook["files"], "inputs/contoso.yaml")
    assert not re.search(hook["files"], "mkdocs.yml")


def test_validate_reports_only_its_own_cache_faults(tmp_path: Path) -> None:
    # A damaged cache file an earlier build in the same process met is that build's notice,
    # not this run's (the suite saw "1 damaged cache file(s)" here after a fault test).
    from runbook.engine.store import FAULTS

    FAULTS.damaged["files"] += 1
    try:
        result = CliRunner().invoke(main, ["validate", str(ROOT / "inputs" / "contoso.yaml")])
    finally:
        FAULTS.clear()
    assert result.exit_code == 0, result.output
    assert "damaged cache file" not in result.output
