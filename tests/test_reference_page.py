"""The site's Reference page: the product catalog with its sources, linked from the home page,
its values escaped like topology values."""

from __future__ import annotations

import re
from html import unescape
from pathlib import Path
from typing import Any

import pytest
import yaml

import runbook.plan.catalog as catalog_module
from runbook.outputs.pages import render_index, render_references
from runbook.outputs.templating import cell, environment, url
from runbook.plan.catalog import CATALOGS, Catalog, catalog
from runbook.plan.sites import plan_file
from tests.topo import INPUTS


def page() -> str:
    return render_references(environment())["reference/ocs2007.md"]


def row(text: str, first_cell: str) -> str:
    return next(line for line in text.splitlines() if line.startswith(f"| {first_cell} |"))


def test_the_page_lists_every_port_with_its_number_and_sources() -> None:
    text = page()
    c = catalog()
    for key, port in c.ports.items():
        line = row(text, f"`{key}`")
        assert f"`{port.port}`" in line
        for source in port.sources:
            assert f"`{source}`" in line
    assert "| `av-media-in` | av | external | inbound | TCP and UDP | `50000-59999` |" in text
    assert "| A/V Edge | TCP 443, UDP 3478 | TCP 5062, TCP 443, UDP 3478 |" in text
    assert "| Web Conferencing Edge | TCP 443 | none |" in text


def test_the_page_links_every_source_and_shows_what_is_unconfirmed() -> None:
    text = page()
    for key, source in catalog().sources.items():
        # the address percent-encoded as the url filter does: "(" -> %28
        assert row(text, f"`{key}`").endswith(f"({url(source.url)}) |")
    aol = row(text, "AOL (`aol`)")
    assert "`sip.oscar.aol.com`" in aol and "*unconfirmed:*" in aol and "897567" in aol
    assert "with AOL: Server Authentication, Client Authentication" in text


def test_the_page_lists_every_screen_title_and_ui_name_with_its_sources() -> None:
    text = page()
    c = catalog()
    entries = [(f"{cell(x.title)} (`{k}`)", x) for k, x in c.screens.items()]
    entries += [(f"{cell(x.label)} (`{k}`)", x) for k, x in (*c.wizard.items(), *c.ui.items())]
    for first_cell, fact in entries:
        line = row(text, first_cell)
        assert all(f"`{source}`" in line for source in fact.sources), first_cell
        assert ("*unconfirmed:*" in line) == bool(fact.unconfirmed), first_cell
    assert "| Deployment Wizard (`deployment_wizard`) | product screen | `seed`, " in text
    assert "| Before the wizard (`install_before`) | runbook heading | `seed` |" in text
    line = row(text, "Prepare the request now, but send it later (`delayed_request`)")
    assert "`av-cert-wizard-r2`" in line and "*unconfirmed:*" in line


def test_the_home_page_links_the_reference_page() -> None:
    plans = [plan_file(INPUTS / "contoso.yaml").to_dict()]
    home = render_index(plans, environment())
    assert ("Ports, names and addresses of Microsoft Office Communications Server 2007, "
            "with their sources:\n[Reference](reference/ocs2007.md).") in home


def hostile() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((CATALOGS / "ocs2007.yaml").read_text("utf-8"))
    data["ports"]["av-auth"]["purpose"] = "<script>alert(1)</script> | *x* [a](b)"
    data["roles"]["access"]["name"] = "# Edge `x`"
    return data


def test_catalog_values_are_escaped_as_data(monkeypatch: pytest.MonkeyPatch) -> None:
    changed = Catalog.model_validate(hostile())
    monkeypatch.setattr(catalog_module, "catalog", lambda product="ocs2007": changed)
    text = page()
    line = row(text, "`av-auth`")
    assert "<script>" not in line and "&lt;script&gt;" in line
    assert line.count(" | ") == 8  # the "|" in the value does not add a cell
    assert "\\*x\\*" in line and "\\[a\\]" in line
    assert "| \\# Edge \\`x\\` (`access`) |" in text


def test_a_source_with_a_script_address_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    from runbook.errors import RunbookError

    data = hostile()
    data["sources"]["seed"]["url"] = "javascript:alert(1)"
    changed = Catalog.model_validate(data)
    monkeypatch.setattr(catalog_module, "catalog", lambda product="ocs2007": changed)
    with pytest.raises(RunbookError, match="refusing to link to 'javascript:alert"):
        page()


def test_the_built_site_has_the_reference_page_linked_from_home(built_site: Path) -> None:
    html = (built_site / "reference" / "ocs2007.html").read_text("utf-8")
    assert "<h1 id=" in html and "Microsoft Office Communications Server 2007: reference" in html
    cells = [unescape(re.sub(r"<[^>]+>", "", c))
             for c in re.findall(r"<td>(.*?)</td>", html, flags=re.S)]
    assert "access-federation-in" in cells and "5061" in cells
    home = (built_site / "index.html").read_text("utf-8")
    assert '<a href="reference/ocs2007.html">Reference</a>' in home
