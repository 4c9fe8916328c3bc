"""The pool side and the federation partners in the field runbook and the change request.

adatum-im (hand-worked from inputs/adatum-im.yaml and the sources, see test_plan_pool_side
and test_plan_federation): one Access Edge adedge01.ad.adatum.com, no Director, so the
Federation tab routes to adedge01.ad.adatum.com on 5061; discovery off; partners contoso.com
(Access Edge sip.contoso.com) and tailspintoys.com (found by its SRV record).
"""

from __future__ import annotations

import re
import subprocess
from typing import Any

import pytest

from runbook.outputs.documents import (
    change_request,
    change_request_markdown,
    field_runbook_pdf,
)
from runbook.plan.sites import plan_file
from tests.topo import INPUTS


def pdf_pages(data: bytes) -> list[str]:
    """Each page's text, white space collapsed."""
    done = subprocess.run(["pdftotext", "-", "-"], input=data, capture_output=True, check=True)
    return [" ".join(p.split()) for p in done.stdout.decode("utf-8").split("\f")]


@pytest.fixture(scope="module")
def adatum() -> dict[str, Any]:
    return plan_file(INPUTS / "adatum-im.yaml").to_dict()


@pytest.fixture(scope="module")
def pages(adatum: dict[str, Any]) -> list[str]:
    return pdf_pages(field_runbook_pdf(adatum))


def section(pages: list[str], head: str, signoff: str) -> str:
    # A long name may wrap after one of its dots on paper ("adedge01.ad. adatum.com").
    text = re.sub(r"\.\s", ".", " ".join(pages))
    start = text.index(head)
    return text[start:text.index(f"{signoff} done", start)]


def test_the_pool_side_section_has_its_steps_and_a_signoff(pages: list[str]) -> None:
    text = section(pages, "Pool side: trust the edge, route federation, enable users",
                   "Pool side")
    for expected in ("Global Properties, Edge Servers tab",
                     "Access Edge and Web Conferencing Edge Servers list (internal FQDN): "
                     "adedge01.ad.adatum.com",
                     "Global Properties, Federation tab", "FQDN: adedge01.ad.adatum.com",
                     "Port: 5061", "Configure Office Communications Server Users Wizard",
                     "Tick Remote user access", "Tick Federation"):
        assert expected in text, expected
    # IM only: no Web Conferencing, A/V, Mediation or meeting settings to make.
    for absent in ("Media tab", "Web Conferencing Edge Server tab", "Meetings tab",
                   "Mediation Server", "Public IM connectivity"):
        assert absent not in text, absent


def test_the_federation_section_lists_each_allow_tab_entry(pages: list[str]) -> None:
    text = section(pages, "Federation partners on the Access Edge's Allow tab",
                   "Federation partners")
    assert "Discovery of federation partners off; 2 partners to list" in text
    assert ("Federated partner domain name: contoso.com ☐ Type Federated partner Access "
            "Edge Server: sip.contoso.com") in text
    assert "Federated partner domain name: tailspintoys.com" in text
    assert "Leave Federated partner Access Edge Server empty" in text
    assert "found through _sipfederationtls._tcp.tailspintoys.com" in text
    assert "Check The Allow tab lists 2 partners (contoso.com, tailspintoys.com)" in text


def test_the_sections_start_on_their_own_pages(pages: list[str]) -> None:
    heads = ("Pool side: trust the edge", "Federation partners on the Access Edge's Allow tab")
    for head in heads:
        [page] = [p for p in pages if head in p]
        # Only the running head ("Field runbook", the site) comes before it on its page.
        assert page.index(head) < 80, page[:200]


def test_the_change_request_has_both_steps_with_their_backout(adatum: dict[str, Any]) -> None:
    cr = change_request(adatum)
    steps = {i["id"]: i for i in cr["implementation"]}
    assert steps["federation"]["server"] == "adedge01"
    assert steps["federation"]["details"] == ["contoso.com via sip.contoso.com",
                                              "tailspintoys.com (DNS SRV)"]
    titles = [i["title"] for i in cr["implementation"]]
    assert titles[-2:] == ["Pool side: trust the edge, route federation, enable users",
                           "Federation partners on the Allow tab"]
    undo = {i["id"]: i["backout"] for i in cr["backout"]}
    assert undo["federation"] == ("On adedge01, remove the partners added to the Allow tab "
                                  "(contoso.com, tailspintoys.com).")
    md = change_request_markdown(adatum)
    assert "| Federation partners on the Allow tab | adedge01 |" in md


def test_no_federation_step_without_federation() -> None:
    plan = plan_file(INPUTS / "litware-noav.yaml").to_dict()  # federation off
    assert "federation" not in {i["id"] for i in change_request(plan)["implementation"]}
