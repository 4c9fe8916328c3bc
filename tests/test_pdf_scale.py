"""A valid topology with 500 servers gets both of its PDFs (issue 17, item 11).

It once failed with "PDF rendering failed: SystemError: error return without exception set"
and `runbook print` took more than 20 minutes. The topology is made here: Fabrikam's
load-balanced edge with 500 servers (half Access + Web Conferencing, half A/V).
"""

from __future__ import annotations

import copy
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from runbook.outputs.documents import change_request_pdf, field_runbook_pdf
from runbook.plan.sites import plan_file
from tests.topo import INPUTS, write

SERVERS = 500


def array(n: int) -> dict[str, Any]:
    """Fabrikam with ``n`` edge servers on /16 networks: ``fbedge0000``... then ``fbav....``."""
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


def text(pdf: bytes) -> str:
    done = subprocess.run(["pdftotext", "-", "-"], input=pdf, capture_output=True, check=True)
    return " ".join(done.stdout.decode("utf-8").split())


@pytest.fixture(scope="module")
def plan(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    path = write(tmp_path_factory.mktemp("array"), array(SERVERS), "array.yaml")
    return plan_file(Path(path)).to_dict()


def test_a_500_server_topology_gets_its_field_runbook(plan: dict[str, Any]) -> None:
    assert len(plan["servers"]) == SERVERS
    body = text(field_runbook_pdf(plan))
    # Every server's six wizard steps, each with its sign-off, in the wizard order.
    for name in ("fbedge0000", "fbedge0249", "fbav0250", "fbav0499"):
        for step in range(1, 7):
            assert f"{name} Step {step} done" in body, (name, step)
    assert body.index("fbedge0000: Step 1, Install Files for Edge Server") < body.index(
        "fbav0499: Step 1, Install Files for Edge Server")
    # The last server (i = 499): 10 + 599 // 250 = 12, 599 % 250 + 2 = 101.
    assert "10.20.12.101/16" in body and "131.107.12.101/16" in body
    assert "Appendix E: Firewall rules" in body


def test_a_500_server_topology_gets_its_change_request(plan: dict[str, Any]) -> None:
    body = text(change_request_pdf(plan))
    assert "Step 1: Install Files for Edge Server" in body
    assert "fbav0499" in body and "fbedge0000" in body
    assert "6. Backout plan" in body and "8. Communication" in body
