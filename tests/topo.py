"""Small helpers for building topology files in tests: start from contoso, change one thing.

Other test modules may import these (``from tests.topo import contoso, write, problems``).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

from runbook.errors import Problem
from runbook.topology.validate import load_topology

ROOT = Path(__file__).resolve().parent.parent
INPUTS = ROOT / "inputs"
CONTOSO = INPUTS / "contoso.yaml"
SCHEMA = ROOT / "schema" / "topology.schema.json"

_CONTOSO_DATA: dict[str, Any] = yaml.safe_load(CONTOSO.read_text(encoding="utf-8"))


def contoso() -> dict[str, Any]:
    """A fresh, mutable copy of ``inputs/contoso.yaml`` as parsed data."""
    return copy.deepcopy(_CONTOSO_DATA)


def dump(data: dict[str, Any]) -> str:
    """Block-style YAML for ``data``, keys in insertion order (one key per line)."""
    return yaml.safe_dump(data, sort_keys=False, default_flow_style=False, allow_unicode=True)


def write(tmp_path: Path, data_or_text: dict[str, Any] | str | bytes,
          name: str = "site.yaml") -> Path:
    """Write a topology (data, YAML text or raw bytes) to ``tmp_path/name`` and return its path."""
    path = tmp_path / name
    if isinstance(data_or_text, bytes):
        path.write_bytes(data_or_text)
    elif isinstance(data_or_text, str):
        path.write_text(data_or_text, encoding="utf-8")
    else:
        path.write_text(dump(data_or_text), encoding="utf-8")
    return path


def problems(path: Path) -> list[Problem]:
    """Every problem (errors and warnings) the validator finds in ``path``."""
    return load_topology(path).problems


def errors(path: Path) -> list[Problem]:
    """Only the errors found in ``path``."""
    return [p for p in problems(path) if p.severity == "error"]


def at(found: list[Problem], path: str) -> list[Problem]:
    """The problems reported at field ``path`` (e.g. ``edge.servers[0].nics.av.ip``)."""
    return [p for p in found if p.path == path]


def one(found: list[Problem], path: str) -> Problem:
    """The single problem at field ``path``; fails listing everything found otherwise."""
    hits = at(found, path)
    assert len(hits) == 1, f"expected one problem at {path}, got:\n" + "\n".join(
        p.format() for p in found)
    return hits[0]


def pos(text: str, needle: str, nth: int = 1) -> tuple[int, int]:
    """1-based (line, column) where the ``nth`` occurrence of ``needle`` starts in ``text``."""
    start = -1
    for _ in range(nth):
        start = text.index(needle, start + 1)
    line = text.count("\n", 0, start) + 1
    col = start - (text.rfind("\n", 0, start) + 1) + 1
    return line, col


def where(path: Path, needle: str, nth: int = 1) -> tuple[int, int]:
    """:func:`pos` in the file at ``path``."""
    return pos(path.read_text(encoding="utf-8"), needle, nth)


def value_at(path: Path, key: str, value: str, nth: int = 1) -> tuple[int, int]:
    """Where the value of the ``nth`` line ``key: value`` starts in the file at ``path``."""
    line, col = where(path, f"{key}: {value}\n", nth)
    return line, col + len(key) + 2


def fabrikam_array(n: int) -> dict[str, Any]:
    """Fabrikam's load-balanced edge with ``n`` servers: the first half Access + Web
    Conferencing (``fbedge0000``...), the rest A/V (``fbav....``), on /16 networks."""
    data: dict[str, Any] = copy.deepcopy(
        yaml.safe_load((INPUTS / "fabrikam-lb.yaml").read_text("utf-8")))
    servers = []
    for i in range(n):
        host = f"{10 + (i + 100) // 250}.{(i + 100) % 250 + 2}"
        internal = {"name": "LAN", "ip": f"10.20.{host}/16",
                    "routes": [{"to": "10.0.0.0/8", "via": "10.20.0.1"}]}
        if i < n // 2:
            servers.append({"name": f"fbedge{i:04d}", "roles": ["access", "webconf"], "nics": {
                "internal": internal,
                "access": {"name": "DMZ-AE", "ip": f"172.20.{host}/16", "gateway": "172.20.0.1"},
                "webconf": {"name": "DMZ-WCE", "ip": f"172.21.{host}/16"}}})
        else:
            servers.append({"name": f"fbav{i:04d}", "roles": ["av"], "nics": {
                "internal": internal,
                "av": {"name": "PUBLIC-AV", "ip": f"131.107.{host}/16",
                       "gateway": "131.107.0.1"}}})
    data["site"] = f"array-{n}"
    data["edge"]["servers"] = servers
    lb = data["edge"]["load_balancer"]
    lb["webconf"]["external_ip"] = "172.21.0.20"
    lb["av"]["external_ip"] = "131.107.0.30"
    return data
