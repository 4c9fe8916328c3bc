"""The topology schema: one file (packaged, committed, printed, published), and it flags every
single-value syntax error that ``runbook validate`` reports, as checked by ``jsonschema`` and
``check-jsonschema`` (the tools editors and CI use)."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from runbook.site.assets import schema_file
from runbook.topology.model import SCHEMA_ID, json_schema
from runbook.topology.validate import load_topology
from tests.topo import INPUTS, SCHEMA, contoso, write

VALIDATOR = jsonschema.Draft7Validator(json.loads(SCHEMA.read_text(encoding="utf-8")))


def test_the_schema_has_an_id_and_is_one_file_everywhere(built_site: Path) -> None:
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    jsonschema.Draft7Validator.check_schema(schema)
    assert schema["$id"] == SCHEMA_ID == "urn:runbook:schema:topology:1"
    assert schema == json_schema()
    assert schema_file().read_bytes() == SCHEMA.read_bytes()
    assert (built_site / "schema" / "topology.schema.json").read_bytes() == SCHEMA.read_bytes()


def test_check_jsonschema_accepts_every_example() -> None:
    examples = sorted(str(p) for p in INPUTS.glob("*.yaml"))
    done = subprocess.run([sys.executable, "-m", "check_jsonschema", "--schemafile",
                           str(SCHEMA), *examples], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def _set(data: dict[str, Any], path: tuple[str | int, ...], value: object) -> dict[str, Any]:
    data = copy.deepcopy(data)
    node: Any = data
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    return data


def _dotted(path: tuple[str | int, ...]) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


SERVER = ("edge", "servers", 0)
IFACE = (*SERVER, "nics", "internal", "ip")
ROUTE = (*SERVER, "nics", "internal", "routes", 0, "to")

# (where, value, valid?) worked out from the rules: a slug is 1-63 of [a-z0-9-] starting with
# a letter or digit; a DNS name is 1-253 characters (a trailing dot aside) of two labels or
# more, each 1-63 letters, digits, hyphens, no hyphen first or last; an IPv4 address is four
# decimal numbers 0-255 without leading zeros; an interface address has a prefix 0-30 (or the
# netmask of one); a network a prefix 0-32.
CASES: list[tuple[tuple[str | int, ...], object, bool]] = [
    (("site",), "contoso-hq", True),
    (("site",), "Contoso HQ", False),
    (("site",), "-hq", False),
    (("site",), "hq-", False),  # a slug ends with a letter or digit
    (("site",), "a" * 63, True),
    (("site",), "a" * 64, False),
    (("domains", "internal"), "contoso", False),
    (("domains", "internal"), "CONTOSO.Local", True),
    (("domains", "internal"), "contoso.local.", True),
    (("domains", "internal"), "-contoso.local", False),
    (("domains", "internal"), "contoso-.local", False),
    (("domains", "internal"), "con_toso.local", False),
    (("domains", "internal"), "a" * 63 + ".local", True),
    (("domains", "internal"), "a" * 64 + ".local", False),
    (("domains", "internal"), ".".join(["a" * 63] * 4)[:253], True),
    (("domains", "internal"), ".".join(["a" * 63] * 4)[:251] + ".ab", False),  # 254
    (("domains", "sip", 0), "contoso..com", False),
    (("pools", 0, "ip"), "10.0.0.5", True),
    (("pools", 0, "ip"), "10.0.0.256", False),
    (("pools", 0, "ip"), "10.0.0", False),
    (("pools", 0, "ip"), "010.0.0.5", False),
    (("pools", 0, "ip"), "10.0.0.5/24", False),
    ((*SERVER, "name"), "edge_01", False),
    ((*SERVER, "name"), "EDGE01", True),
    ((*SERVER, "name"), "edge01.contoso.local", False),
    (IFACE, "10.0.0.10", False),
    (IFACE, "10.0.0.10/33", False),
    (IFACE, "10.0.0.10/31", False),
    (IFACE, "10.0.0.10/30", True),
    (IFACE, "10.0.0.10/255.255.255.0", True),
    (IFACE, "10.0.0.10/255.255.0.255", False),
    (IFACE, "10.0.0.300/24", False),
    (ROUTE, "10.0.0.0/32", True),
    (ROUTE, "10.0.0.0/33", False),
    (ROUTE, "10.0.0.0/255.0.0.0", True),
    (ROUTE, "10.0.0", False),
    (("vault", "service_account"), "contoso/ocs/RTCProxyService", True),
    (("vault", "service_account"), "has a space", False),
]


@pytest.mark.parametrize(("where", "value", "valid"), CASES,
                         ids=[f"{_dotted(w)}={v!s:.20}" for w, v, _ in CASES])
def test_schema_and_validate_agree_on_each_value(tmp_path: Path, where: tuple[str | int, ...],
                                                  value: object, valid: bool) -> None:
    data = _set(contoso(), where, value)
    path = _dotted(where)
    by_schema = {_dotted(tuple(e.absolute_path)) for e in VALIDATOR.iter_errors(data)}
    by_runbook = {p.path for p in load_topology(write(tmp_path, data)).errors
                  if p.code == "schema"}
    assert (path in by_schema) == (not valid), by_schema
    assert (path in by_runbook) == (not valid), by_runbook


def test_what_the_schema_cannot_see_runbook_validate_still_reports(tmp_path: Path) -> None:
    # A subnet's network address is well-formed text, so the schema lets it pass; it is no
    # host address, so runbook validate refuses it.
    data = _set(contoso(), IFACE, "10.0.0.0/24")
    assert not list(VALIDATOR.iter_errors(data))
    errors = load_topology(write(tmp_path, data)).errors
    assert [p.path for p in errors] == [_dotted(IFACE)]
