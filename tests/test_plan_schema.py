"""The plan as a typed contract: frozen sections, a committed JSON Schema that every example
plan satisfies, and a generated reference for template authors."""

from __future__ import annotations

import dataclasses
import json
import typing
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from jsonschema import Draft202012Validator

from runbook.cli import main
from runbook.plan import model
from runbook.plan.model import Action, Plan, json_schema, reference_markdown
from runbook.plan.sites import plan_file
from tests.topo import INPUTS, ROOT, contoso, write

SCHEMA_FILE = ROOT / "schema" / "plan.schema.json"
REFERENCE_FILE = ROOT / "schema" / "plan.md"


def section_types() -> list[type]:
    """Every dataclass reachable from :class:`Plan`, Plan first."""
    found: list[type] = []
    todo: list[Any] = [Plan]
    while todo:
        kind = todo.pop()
        if dataclasses.is_dataclass(kind) and isinstance(kind, type):
            if kind in found:
                continue
            found.append(kind)
            todo.extend(typing.get_type_hints(kind, vars(model)).values())
        else:
            todo.extend(typing.get_args(kind))
    return found


def validator() -> Draft202012Validator:
    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def test_the_committed_schema_is_the_one_the_types_make() -> None:
    # if this fails, the plan's types changed:
    # run `runbook schema --plan -o schema/plan.schema.json`
    assert json.loads(SCHEMA_FILE.read_text(encoding="utf-8")) == json_schema()


def test_schema_plan_prints_exactly_the_committed_file() -> None:
    result = CliRunner().invoke(main, ["schema", "--plan"])
    assert result.exit_code == 0, result.output
    assert result.output == SCHEMA_FILE.read_text(encoding="utf-8")


def test_the_committed_reference_is_the_one_the_types_make() -> None:
    # if this fails: run `runbook schema --plan --reference -o schema/plan.md`
    assert REFERENCE_FILE.read_text(encoding="utf-8") == reference_markdown()
    result = CliRunner().invoke(main, ["schema", "--plan", "--reference"])
    assert result.output == reference_markdown()


def test_reference_without_plan_is_a_usage_error() -> None:
    result = CliRunner().invoke(main, ["schema", "--reference"])
    assert result.exit_code == 2
    assert "--reference needs --plan" in result.output


@pytest.mark.parametrize("path", sorted(INPUTS.glob("*.yaml")), ids=lambda p: p.stem)
def test_every_example_plan_validates_against_the_committed_schema(path: Path) -> None:
    errors = list(validator().iter_errors(plan_file(path).to_dict()))
    assert errors == []


def test_a_plan_without_public_im_or_change_validates_too(tmp_path: Path) -> None:
    data = contoso()
    data.pop("change", None)
    data["edge"]["features"]["public_im"] = []
    p = plan_file(write(tmp_path, data)).to_dict()
    assert p["pic"] is None and p["summary"]["change"] is None
    assert list(validator().iter_errors(p)) == []


def test_the_schema_refuses_an_unknown_key_and_an_unknown_action_kind() -> None:
    good = plan_file(INPUTS / "contoso.yaml").to_dict()
    extra = json.loads(json.dumps(good))
    extra["summary"]["colour"] = "blue"
    assert any("colour" in e.message for e in validator().iter_errors(extra))
    kind = json.loads(json.dumps(good))
    kind["checklist"][0]["kind"] = "press"
    assert any("'press' is not one of" in e.message for e in validator().iter_errors(kind))
    missing = json.loads(json.dumps(good))
    del missing["meta"]["provenance"]
    assert any("'provenance' is a required property" in e.message
               for e in validator().iter_errors(missing))


def test_every_section_is_a_frozen_dataclass_and_no_top_field_is_a_loose_dict() -> None:
    kinds = section_types()
    assert len(kinds) >= 25
    for kind in kinds:
        assert kind.__dataclass_params__.frozen, kind.__name__  # type: ignore[attr-defined]
    for name, hint in typing.get_type_hints(Plan, vars(model)).items():
        assert "Any" not in str(hint) and "dict" not in str(hint), name
    p = plan_file(INPUTS / "contoso.yaml")
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.meta.site = "other"  # type: ignore[misc]


def test_action_kind_is_a_literal_of_the_ten_verbs() -> None:
    kinds = typing.get_args(typing.get_type_hints(Action, vars(model))["kind"])
    assert set(kinds) == {"click", "tick", "clear", "type", "select", "do", "check", "note",
                          "warning", "vault"}
    used = {a["kind"] for path in INPUTS.glob("*.yaml")
            for runbook in plan_file(path).to_dict()["wizard"]
            for step in runbook["steps"] for screen in step["screens"]
            for a in screen["actions"]}
    assert used <= set(kinds) and {"click", "tick", "clear", "type", "vault"} <= used


def test_the_reference_describes_every_field_of_every_section() -> None:
    text = reference_markdown()
    for kind in section_types():
        assert f"\n## {kind.__name__}\n" in text
        section = text.split(f"\n## {kind.__name__}\n", 1)[1].split("\n## ", 1)[0]
        for f in dataclasses.fields(kind):
            row = next((line for line in section.splitlines()
                        if line.startswith(f"| `{f.name}` |")), None)
            assert row is not None, f"{kind.__name__}.{f.name}"
            meaning = row.rsplit("|", 2)[1].strip()
            assert meaning, f"{kind.__name__}.{f.name} has no docstring"
