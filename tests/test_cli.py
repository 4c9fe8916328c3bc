"""The ``runbook`` command line: validate, plan and schema (run through click's CliRunner).

Exit codes: 0 valid, 1 invalid input, 2 wrong usage. Problems go to standard error as
``file:line:col: path: message`` lines, never as a traceback.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result

from runbook.cli import main
from runbook.plan.sites import plan_file
from runbook.topology import verdicts
from runbook.topology.model import json_schema
from tests.topo import CONTOSO, INPUTS, ROOT, SCHEMA, contoso, pos, value_at, write

MODELINE = "# yaml-language-server: $schema="


def run(*args: str) -> Result:
    """Invoke ``runbook ARGS`` in-process and return click's result."""
    return CliRunner().invoke(main, list(args))


@pytest.fixture(autouse=True)
def own_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test validates for real: verdicts go to a fresh folder, not the project's cache."""
    folder = tmp_path_factory.mktemp("verdicts")
    monkeypatch.setattr(verdicts, "cache_root", lambda: folder)


@pytest.fixture
def in_root(monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run from the repository root, as a user following the README would."""
    monkeypatch.chdir(ROOT)
    return ROOT


def broken() -> dict[str, Any]:
    """Contoso with two errors: a domain-joined edge and an A/V Edge on a private address."""
    t = contoso()
    t["edge"]["servers"][0]["domain_joined"] = True
    t["edge"]["servers"][0]["nics"]["av"]["ip"] = "10.1.0.12/24"
    return t


# -- runbook validate --------------------------------------------------------------------------


def test_validate_with_no_argument_checks_inputs_and_passes(in_root: Path) -> None:
    result = run("validate")
    assert result.exit_code == 0, result.output
    files = sorted(p.name for p in INPUTS.glob("*.yaml"))
    for name in files:
        assert f"inputs/{name}: valid (0 error(s), " in result.stdout
    assert result.stdout.endswith(f"{len(files)} of {len(files)} topology file(s) valid\n")
    # Warnings are printed but do not fail the run (only the lab example has one).
    assert all(": warning: " in line for line in result.stderr.splitlines())


def test_validate_a_valid_file_exits_0(tmp_path: Path) -> None:
    path = write(tmp_path, contoso())
    result = run("validate", str(path))
    assert result.exit_code == 0
    assert result.stdout == (f"{path}: valid (0 error(s), 0 warning(s))\n"
                             "1 of 1 topology file(s) valid\n")


def test_validate_an_invalid_file_exits_1_and_prints_every_error(tmp_path: Path) -> None:
    t = broken()
    path = write(tmp_path, t)
    text = path.read_text()
    result = run("validate", str(path))
    assert result.exit_code == 1
    av_line, av_col = pos(text, "10.1.0.12/24")
    dj_line, dj_col = value_at(path, "domain_joined", "true")
    assert result.stderr.splitlines() == [
        f"{path}:{av_line}:{av_col}: edge.servers[0].nics.av.ip: the A/V Edge address "
        "10.1.0.12 is not publicly routable: media relay needs a public address routed to "
        "this NIC without NAT",
        f"{path}:{dj_line}:{dj_col}: edge.servers[0].domain_joined: an edge server must stay "
        "in a workgroup, never joined to the internal domain: set it to false",
    ]
    assert f"{path}: invalid (2 error(s), 0 warning(s))" in result.stdout
    assert "0 of 1 topology file(s) valid" in result.stdout
    assert "Traceback" not in result.output


def test_validate_a_folder_reports_every_file_even_after_a_broken_one(tmp_path: Path) -> None:
    write(tmp_path, broken(), "a-broken.yaml")
    ok = contoso()
    ok["site"] = "zeta"
    write(tmp_path, ok, "z-valid.yaml")
    write(tmp_path, "site: [unclosed\n", "b-syntax.yaml")
    result = run("validate", str(tmp_path))
    assert result.exit_code == 1
    assert "a-broken.yaml: invalid (2 error(s), 0 warning(s))" in result.stdout
    assert "b-syntax.yaml: invalid (1 error(s), 0 warning(s))" in result.stdout
    assert "z-valid.yaml: valid (0 error(s), 0 warning(s))" in result.stdout
    assert "1 of 3 topology file(s) valid" in result.stdout
    assert len(result.stderr.splitlines()) == 4
    # The syntax error kept the deployment rules from running on b-syntax.yaml: say so.
    assert "b-syntax.yaml: note: the deployment rules run once the errors above are fixed" \
        in result.stderr
    assert "b-syntax.yaml:2:1: YAML syntax error" in result.stderr


def test_validate_two_files_given_by_name_reports_both(tmp_path: Path) -> None:
    a = write(tmp_path, broken(), "a.yaml")
    b = write(tmp_path, "", "b.yaml")
    result = run("validate", str(a), str(b))
    assert result.exit_code == 1
    assert "a.yaml: invalid (2 error(s)" in result.stdout
    assert f"{b}:1:1: the file is empty" in result.stderr


def test_validate_a_folder_without_yaml_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("nothing here\n")
    result = run("validate", str(tmp_path))
    assert result.exit_code == 2
    assert f"no topology files (*.yaml) found in {tmp_path}" in result.stderr


def test_validate_a_missing_path_is_a_usage_error(tmp_path: Path) -> None:
    result = run("validate", str(tmp_path / "absent.yaml"))
    assert result.exit_code == 2
    assert "does not exist" in result.stderr


def test_warnings_are_printed_but_do_not_fail_unless_strict(tmp_path: Path) -> None:
    t = contoso()
    del t["edge"]["servers"][0]["nics"]["webconf"]["public_ip"]
    path = write(tmp_path, t)
    line, col = pos(path.read_text(), "172.16.0.11/24")
    relaxed = run("validate", str(path))
    assert relaxed.exit_code == 0
    assert relaxed.stderr.startswith(f"{path}:{line}:{col}: warning: "
                                     "edge.servers[0].nics.webconf.ip: 172.16.0.11 is private")
    assert f"{path}: valid (0 error(s), 1 warning(s))" in relaxed.stdout
    strict = run("validate", "--strict", str(path))
    assert strict.exit_code == 1
    assert f"{path}: invalid (0 error(s), 1 warning(s))" in strict.stdout


def test_validate_quiet_prints_problems_only(tmp_path: Path) -> None:
    path = write(tmp_path, broken())
    result = run("validate", "-q", str(path))
    assert result.exit_code == 1
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == 2


# -- runbook plan ------------------------------------------------------------------------------


def test_plan_json_is_valid_json_and_byte_identical_across_runs(in_root: Path) -> None:
    first = run("plan", "inputs/contoso.yaml", "--json")
    second = run("plan", "inputs/contoso.yaml", "--json")
    assert first.exit_code == 0 and second.exit_code == 0
    assert first.stdout_bytes == second.stdout_bytes
    data = json.loads(first.stdout)
    assert data["meta"]["site"] == "contoso-hq"
    assert first.stdout == plan_file(CONTOSO).to_json()
    for key in ("addresses", "certificates", "dns", "firewall", "wizard", "pic", "warnings"):
        assert key in data


def test_plan_without_json_prints_a_readable_summary(in_root: Path) -> None:
    result = run("plan", "inputs/contoso.yaml")
    assert result.exit_code == 0
    out = result.stdout
    assert out.startswith("Contoso HQ edge deployment")
    for fact in ("contoso-hq", "pool01.contoso.local", "198.51.100.10", "sip.contoso.com",
                 "_sipfederationtls._tcp.contoso.com"):
        assert fact in out
    with pytest.raises(json.JSONDecodeError):
        json.loads(out)


def test_plan_of_an_invalid_file_exits_1_with_positioned_errors(tmp_path: Path) -> None:
    path = write(tmp_path, broken())
    result = run("plan", str(path), "--json")
    assert result.exit_code == 1
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert lines[0].startswith(f"{path}:")
    assert "edge.servers[0].nics.av.ip" in lines[0]
    assert "edge.servers[0].domain_joined" in lines[1]
    assert "Traceback" not in result.output


def test_plan_of_hostile_yaml_is_a_clear_error(tmp_path: Path) -> None:
    path = write(tmp_path, "- just\n- a list\n")
    result = run("plan", str(path))
    assert result.exit_code == 1
    assert result.stderr.startswith(f"{path}:1:1: the document must be a mapping")


def test_plan_of_a_folder_is_a_usage_error(tmp_path: Path) -> None:
    result = run("plan", str(tmp_path))
    assert result.exit_code == 2


# -- runbook schema ----------------------------------------------------------------------------


def test_schema_prints_exactly_the_committed_schema_file() -> None:
    result = run("schema")
    assert result.exit_code == 0
    # if this fails, the model changed: run `runbook schema -o schema/topology.schema.json`
    assert result.stdout == SCHEMA.read_text(encoding="utf-8")
    assert json.loads(result.stdout) == json_schema()


def test_schema_output_option_writes_the_same_text(tmp_path: Path) -> None:
    target = tmp_path / "topology.schema.json"
    result = run("schema", "-o", str(target))
    assert result.exit_code == 0
    assert target.read_text(encoding="utf-8") == run("schema").stdout


def _resolve(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    ref = node.get("$ref")
    if ref is None:
        return node
    assert ref.startswith("#/"), ref
    target: Any = schema
    for part in ref[2:].split("/"):
        target = target[part]
    return target


TYPES: dict[str, Any] = {"string": str, "boolean": bool, "integer": int, "number": (int, float),
                         "null": type(None), "array": list, "object": dict}


def schema_errors(schema: dict[str, Any], node: dict[str, Any], value: Any,
                  path: str = "") -> list[str]:
    """A small JSON Schema checker for the keywords pydantic emits (enough to prove the schema
    accepts the examples and rejects broken input, as an editor would)."""
    node = _resolve(schema, node)
    if "anyOf" in node:
        options = [schema_errors(schema, option, value, path) for option in node["anyOf"]]
        return [] if any(not o for o in options) else [f"{path}: matches no alternative"]
    errors: list[str] = []
    kind = node.get("type")
    if kind is not None:
        ok = isinstance(value, TYPES[kind]) and not (kind in ("integer", "number")
                                                     and isinstance(value, bool))
        if not ok:
            return [f"{path}: expected {kind}"]
    if "enum" in node and value not in node["enum"]:
        errors.append(f"{path}: not one of {node['enum']}")
    if isinstance(value, str) and not (
            node.get("minLength", 0) <= len(value) <= node.get("maxLength", 10**9)):
        errors.append(f"{path}: wrong length")
    if isinstance(value, list):
        if len(value) < node.get("minItems", 0):
            errors.append(f"{path}: too few items")
        for i, item in enumerate(value):
            errors += schema_errors(schema, node.get("items", {}), item, f"{path}[{i}]")
    if isinstance(value, dict):
        props = node.get("properties", {})
        errors += [f"{path}.{k}: required" for k in node.get("required", []) if k not in value]
        for key, item in value.items():
            if key in props:
                errors += schema_errors(schema, props[key], item, f"{path}.{key}")
            elif node.get("additionalProperties") is False:
                errors.append(f"{path}.{key}: not allowed")
    return errors


def test_the_schema_accepts_every_example_and_rejects_a_broken_one() -> None:
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    assert schema["$schema"] == "http://json-schema.org/draft-07/schema#"
    for example in sorted(INPUTS.glob("*.yaml")):
        data = yaml.safe_load(example.read_text(encoding="utf-8"))
        assert schema_errors(schema, schema, data) == [], example.name
    bad = contoso()
    bad["edge"]["features"]["remote_acess"] = True
    bad["organization"] = 12
    del bad["pools"]
    assert sorted(schema_errors(schema, schema, bad)) == [
        ".edge.features.remote_acess: not allowed", ".organization: expected string",
        ".pools: required"]


@pytest.mark.parametrize("example", sorted(p.name for p in INPUTS.glob("*.yaml")))
def test_every_example_starts_with_the_schema_modeline(example: str) -> None:
    path = INPUTS / example
    first = path.read_text(encoding="utf-8").splitlines()[0]
    assert first.startswith(MODELINE)
    target = (path.parent / first[len(MODELINE):]).resolve()
    assert target == SCHEMA.resolve()


# -- help --------------------------------------------------------------------------------------


@pytest.mark.parametrize("command", [[], ["validate"], ["plan"], ["schema"]])
def test_every_command_has_help(command: list[str]) -> None:
    result = run(*command, "--help")
    assert result.exit_code == 0
    assert result.stdout.startswith("Usage: ")
