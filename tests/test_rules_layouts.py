"""Layout rules (load balancing, split edges): each broken layout is a clear error at the
line and column of the field to change."""

from __future__ import annotations

from pathlib import Path

from runbook.topology.validate import load_topology
from tests.topo import pos as position

INPUTS = Path(__file__).resolve().parent.parent / "inputs"


def variant(tmp_path: Path, example: str, old: str, new: str) -> tuple[Path, str]:
    text = (INPUTS / f"{example}.yaml").read_text()
    assert old in text, old
    text = text.replace(old, new, 1)
    path = tmp_path / f"{example}.yaml"
    path.write_text(text)
    return path, text


def errors(path: Path) -> list[tuple[int, int, str, str]]:
    return [(p.line, p.col, p.path, p.message) for p in load_topology(path).errors]


def test_a_load_balanced_role_without_a_vip_is_rejected(tmp_path: Path) -> None:
    path, text = variant(tmp_path, "fabrikam-lb",
                         "    webconf: {external_ip: 172.20.0.20, public_ip: 198.51.100.41}\n",
                         "")
    [(line, col, field, message)] = errors(path)
    assert (line, col) == position(text, "name: hlb-edge")
    assert field == "edge.load_balancer"
    assert "runs on 2 servers" in message and "load_balancer.webconf" in message


def test_av_sharing_a_server_under_load_balancing_is_rejected(tmp_path: Path) -> None:
    path, text = variant(
        tmp_path, "fabrikam-lb",
        "      roles: [access, webconf]\n      nics:\n        internal: {name: LAN, ip: "
        "10.20.0.11/24, routes: [{to: 10.20.0.0/16, via: 10.20.0.1}]}\n",
        "      roles: [access, webconf, av]\n      nics:\n        av: {ip: 203.0.113.35/24}\n"
        "        internal: {name: LAN, ip: 10.20.0.11/24, routes: [{to: 10.20.0.0/16, "
        "via: 10.20.0.1}]}\n")
    found = errors(path)
    roles = [e for e in found if e[2] == "edge.servers[0].roles"]
    assert roles, found
    line, col, _, message = roles[0]
    assert (line, col) == position(text, "[access, webconf, av]")
    assert "servers of its own" in message and "four servers" in message


def test_a_role_fqdn_that_differs_inside_one_pool_is_rejected(tmp_path: Path) -> None:
    path, text = variant(tmp_path, "fabrikam-lb",
                         "      roles: [webconf, access]\n",
                         "      roles: [webconf, access]\n"
                         "      fqdns: {access: sip2.fabrikam.com}\n")
    [(line, col, field, message)] = errors(path)
    assert field == "edge.servers[1].fqdns.access"
    assert (line, col) == position(text, "sip2.fabrikam.com")
    assert "share one public name" in message


def test_fewer_servers_than_the_layout_needs_is_rejected(tmp_path: Path) -> None:
    text = (INPUTS / "fabrikam-lb.yaml").read_text()
    start = text.index("    - name: fbav02")
    end = text.index("  load_balancer:")
    path = tmp_path / "fabrikam-lb.yaml"
    text = text[:start] + text[end:]
    path.write_text(text)
    [(line, col, field, message)] = errors(path)
    assert field == "edge.load_balancer.av"
    assert (line, col) == position(text, "{external_ip: 203.0.113.30")
    assert "found 1" in message and "four servers" in message


def test_a_split_edge_enabling_the_same_feature_twice_is_rejected(tmp_path: Path) -> None:
    path, text = variant(tmp_path, "woodgrove-split", "features: {remote_access: false, "
                         "federation: true", "features: {remote_access: true, "
                         "federation: true")
    [(line, col, field, message)] = errors(path)
    assert field == "edge.servers[1].features.remote_access"
    assert (line, col) == position(text, "true", nth=3)
    assert "remote user access is enabled on wgedge-ra and again on wgedge-fed" in message


def test_split_edges_need_their_own_public_names(tmp_path: Path) -> None:
    path, _ = variant(tmp_path, "woodgrove-split",
                         "      fqdns: {access: federation.woodgrovebank.com}\n", "")
    found = errors(path)
    assert any(e[2] == "edge.servers[1].fqdns" and "its own public name" in e[3]
               for e in found), found


def test_a_web_conferencing_role_on_two_servers_needs_a_load_balancer(
        tmp_path: Path) -> None:
    text = (INPUTS / "fabrikam-lb.yaml").read_text()
    text = text[:text.index("  load_balancer:")] + text[text.index("certificates:"):]
    path = tmp_path / "x.yaml"
    path.write_text(text)
    messages = [e[3] for e in errors(path)]
    assert any("needs a hardware load balancer" in m and "webconf" in m for m in messages)
    assert any("needs a hardware load balancer" in m and "av" in m for m in messages)


def test_every_example_is_valid() -> None:
    for path in sorted(INPUTS.glob("*.yaml")):
        assert errors(path) == [], path
