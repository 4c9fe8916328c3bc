"""The tickable lists of a site and their keys (runbook/outputs/checklists.py): what the pages
tick under, and what every page tells the browser about the whole site."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from runbook.outputs.checklists import site_checklists
from runbook.outputs.pages import render_site, site_pages
from runbook.outputs.templating import make_environment
from runbook.plan.sites import plan_file
from tests.conftest import ROOT
from tests.test_render import to_html
from tests.topo import contoso, write

EXAMPLES = sorted((ROOT / "inputs").glob("*.yaml"))


class Lists(HTMLParser):
    """A page's tickable lists as the browser finds them: each ``.runbook-checklist``'s key
    and its number of boxes, and the hidden list of the site's keys and boxes."""

    def __init__(self, source: str) -> None:
        super().__init__(convert_charrefs=True)
        self.boxes: dict[str, int] = {}
        self.site: dict[str, int] = {}
        self.site_name: str | None = None
        self._open: list[str | None] = []  # per open <div>: the list's key, if it is one
        self.feed(source)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "div":
            key = a.get("data-checklist") if a.get("class") == "runbook-checklist" else None
            if key is not None:
                assert key not in self.boxes, f"two lists under {key}"
                self.boxes[key] = 0
            self._open.append(key)
        elif tag == "input" and a.get("type") == "checkbox":
            inside = [k for k in self._open if k is not None]
            if inside:
                self.boxes[inside[-1]] += 1
        elif tag == "ul" and a.get("class") == "runbook-checklist-site":
            self.site_name = a.get("data-site")
        elif tag == "li" and "data-key" in a:
            self.site[a["data-key"] or ""] = int(a["data-boxes"] or "-1")

    def handle_endtag(self, tag: str) -> None:
        if tag == "div":
            self._open.pop()


def lists_of(text: str) -> Lists:
    """The lists of a Markdown page, converted as the site converts it."""
    return Lists(to_html(text))


def plan_of(path: Path) -> dict[str, Any]:
    return plan_file(path).to_dict()


def keys_of(plan: dict[str, Any]) -> dict[str, str]:
    lists = site_checklists(plan, [p.filename for p in site_pages(plan)])
    return {id_: c.key for id_, c in lists.items()}


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_every_page_with_a_list_carries_exactly_the_sites_lists_as_its_pages_show_them(
        path: Path) -> None:
    plan = plan_of(path)
    pages = {name.rsplit("/", 1)[1]: lists_of(text)
             for name, text in render_site(plan, make_environment()).items()}
    # Every list on every page, with the boxes the page really has.
    shown: dict[str, int] = {}
    for found in pages.values():
        assert not set(found.boxes) & set(shown)
        shown.update(found.boxes)
    assert shown and all(n > 0 for n in shown.values())
    for name, found in pages.items():
        if found.boxes:
            assert found.site == shown, name
            assert found.site_name == plan["meta"]["site"], name
        else:
            assert found.site == {} and found.site_name is None, name


def test_contosos_lists_are_those_of_its_plan_page_by_page() -> None:
    plan = plan_of(ROOT / "inputs" / "contoso.yaml")
    lists = site_checklists(plan, [p.filename for p in site_pages(plan)])
    servers = [w["server"] for w in plan["wizard"]]
    assert servers == ["edge01"]
    tests = [t["id"] for t in plan["validation"]["tests"]]
    assert [(c.page, c.id) for c in lists.values()] == [
        ("index.md", "overview/before"),
        *[("runbook.md", f"edge01/{n}") for n in range(1, 7)],
        *[("runbook.md", f"validation/{t}") for t in tests],
        ("pool.md", "internal/pool-side"),
        ("federation.md", "federation/allow"),
        ("certificates.md", "certificates/chains"),
        ("certificates.md", "certificates/internal"),
        ("reverse-proxy.md", "reverse-proxy/setup"),
        ("pic.md", "pic/steps"),
    ]
    # "Before you start": 8 items every site has, the test users and the reverse proxy.
    assert lists["overview/before"].boxes == 10
    for c in lists.values():
        assert re.fullmatch(rf"contoso-hq/{re.escape(c.id)}:[0-9a-f]{{8}}", c.key), c.key
    # A note is no box, a warning no box, anything else one box.
    step_4 = plan["wizard"][0]["steps"][3]["screens"]
    kinds = [a["kind"] for s in step_4 for a in s["actions"]]
    assert lists["edge01/4"].boxes == len(kinds) - kinds.count("note") - kinds.count("warning")


def test_the_same_topology_gives_the_same_keys() -> None:
    path = ROOT / "inputs" / "contoso.yaml"
    first, second = keys_of(plan_of(path)), keys_of(plan_of(path))
    assert first == second and len(set(first.values())) == len(first)


def test_a_topology_change_changes_the_keys_of_the_lists_it_changes_only(
        tmp_path: Path) -> None:
    before = keys_of(plan_of(ROOT / "inputs" / "contoso.yaml"))
    data = contoso()
    assert data["edge"]["features"]["public_im"] == ["msn", "aol", "yahoo"]
    data["edge"]["features"]["public_im"] = ["msn", "aol"]
    after = keys_of(plan_of(write(tmp_path, data, "contoso.yaml")))
    assert after.keys() == before.keys()
    # Without Yahoo!: Step 3 no longer ticks it on the IM provider tab, and the PIC steps no
    # longer provision it. Nothing else of the site names the providers one by one.
    assert {id_ for id_ in before if before[id_] != after[id_]} == {"edge01/3", "pic/steps"}


def test_two_lists_of_one_id_are_refused() -> None:
    plan = plan_of(ROOT / "inputs" / "contoso.yaml")
    plan["wizard"] = [plan["wizard"][0], plan["wizard"][0]]
    with pytest.raises(ValueError, match="two tickable lists named 'edge01/1'"):
        site_checklists(plan, [p.filename for p in site_pages(plan)])


def test_a_list_gives_templates_every_field_without_copying_its_content() -> None:
    import dataclasses

    plan = plan_of(ROOT / "inputs" / "contoso.yaml")
    lists = site_checklists(plan, [p.filename for p in site_pages(plan)])
    assert lists
    for checklist in lists.values():
        context = checklist.as_context()
        # Every field, and what its count calls it.
        assert context == {**dataclasses.asdict(checklist), "unit": checklist.unit}
        assert context["content"] is checklist.content
        assert checklist.unit == ("test" if checklist.id.startswith("validation/") else "step")
