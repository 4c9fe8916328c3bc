"""A valid topology with 500 servers gets both of its PDFs (issue 17, item 11).

It once failed with "PDF rendering failed: SystemError: error return without exception set"
and `runbook print` took more than 20 minutes. The topology is made here: Fabrikam's
load-balanced edge with 500 servers (half Access + Web Conferencing, half A/V).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from runbook.plan.sites import plan_file
from tests.topo import fabrikam_array, write

SERVERS = 500
RUNBOOK = Path(sys.executable).with_name("runbook")  # the console script users run


array = fabrikam_array


def text(pdf: bytes) -> str:
    done = subprocess.run(["pdftotext", "-", "-"], input=pdf, capture_output=True, check=True)
    return " ".join(done.stdout.decode("utf-8").split())


@pytest.fixture(scope="module")
def pdfs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """Both PDFs as a user makes them: `runbook print` and `runbook cr` on the file, each in
    a process of its own (a 500-server layout holds gigabytes while it runs; the test
    process must not keep that peak)."""
    folder = tmp_path_factory.mktemp("array")
    path = write(folder, array(SERVERS), "array.yaml")
    for command in ("print", "cr"):
        done = subprocess.run([str(RUNBOOK), command, str(path), "-o", str(folder / "out")],
                              capture_output=True, text=True, check=False, cwd=folder)
        assert done.returncode == 0, done.stderr
    site = f"array-{SERVERS}"
    return {kind: (folder / "out" / f"{site}-{kind}.pdf").read_bytes()
            for kind in ("field-runbook", "change-request")}


def test_a_500_server_topology_is_planned_with_every_server(tmp_path: Path) -> None:
    plan = plan_file(Path(write(tmp_path, array(SERVERS), "array.yaml"))).to_dict()
    assert len(plan["servers"]) == SERVERS


def test_a_500_server_topology_gets_its_field_runbook(pdfs: dict[str, bytes]) -> None:
    body = text(pdfs["field-runbook"])
    # Every server's six wizard steps, each with its sign-off, in the wizard order.
    for name in ("fbedge0000", "fbedge0249", "fbav0250", "fbav0499"):
        for step in range(1, 7):
            assert f"{name} Step {step} done" in body, (name, step)
    assert body.index("fbedge0000: Step 1, Install Files for Edge Server") < body.index(
        "fbav0499: Step 1, Install Files for Edge Server")
    # The last server (i = 499): 10 + 599 // 250 = 12, 599 % 250 + 2 = 101.
    assert "10.20.12.101/16" in body and "131.107.12.101/16" in body
    assert "Appendix E: Firewall rules" in body
    # 366 landscape pages of diagram would help no one: the page says so instead.
    assert "The network diagram is too large to print legibly" in body


def test_a_500_server_topology_gets_its_change_request(pdfs: dict[str, bytes]) -> None:
    body = text(pdfs["change-request"])
    assert "Step 1: Install Files for Edge Server" in body
    assert "fbav0499" in body and "fbedge0000" in body
    assert "6. Backout plan" in body and "8. Communication" in body
