"""The tickable lists of a site's web pages, each with the key its ticks are kept under.

``docs/assets/checklist.js`` keeps the ticks of a list in the browser's localStorage under
the list's key, and counts the site's ticks over the keys of every list of the site. Both the
lists and their keys are worked out here, once per site, from the plan:

- a page renders each of its lists from its :class:`Checklist` (the template looks it up by
  its id and hands it to the ``screen_list`` macro, which prints what the key was worked out
  from, under that key);
- every page with a list also carries the whole site's keys and numbers of boxes (the hidden
  ``.runbook-checklist-site`` list of ``partials/header.md.j2``), so the site count is exact
  on the first page opened, offline and from ``file://``, whichever pages were opened before.

A key is ``<site>/<id>:<fingerprint>``, the fingerprint a hash of everything the list holds
(its screens' titles and every action with its value and reason). A topology change that
changes a list's content changes its key, so the ticks made before no longer count and the
list starts unticked; an unchanged list keeps its key, and its ticks, across rebuilds. The
same plan always gives the same keys (no time, no randomness), so unchanged pages stay the
same bytes.

The key names a list within one project only: the browser stores the ticks under the key
prefixed with the address of the project's home (the published site's root folder, which
``checklist.js`` takes from its own address), so two projects with a site of the same name
(a lab copy and a production copy, two customers) never share ticks, and a published site
moved elsewhere starts unticked. Nothing of where the site is published is in the pages.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

#: Actions that print no box: a note is a plain item, a warning an admonition
#: (``templates/partials/actions.html.j2``); every other kind is one box.
NO_BOX = frozenset({"note", "warning"})


@dataclass(frozen=True)
class Checklist:
    """One tickable list of a site page.

    ``content`` is what the page prints: a list of screens (``title`` and ``actions``) when
    ``flat`` is false, else a list of actions, each one box (the Overview's "Before you
    start")."""

    page: str
    """The page it is on, e.g. ``runbook.md``."""
    id: str
    """Its id within the site, e.g. ``edge01/1`` (server and wizard step)."""
    key: str
    """What its ticks are kept under, within the project: ``<site>/<id>:<fingerprint>``
    (the browser puts the project's home before it)."""
    boxes: int
    """Its number of boxes."""
    content: Sequence[Mapping[str, Any]]
    """Its screens (or, when ``flat``, its actions)."""
    flat: bool = False
    """A plain list of actions, every one a box, rather than screens."""

    @property
    def unit(self) -> str:
        """What its count calls it: ``test`` for a validation test's list, else ``step``."""
        return "test" if self.id.startswith("validation/") else "step"

    def as_context(self) -> dict[str, Any]:
        """Its fields as a template reads them. Unlike :func:`dataclasses.asdict`, the
        content is not copied: it is the plan's own data, which templates only read (a deep
        copy of every list's screens was a fifth of the time of rendering a site's pages)."""
        return {"page": self.page, "id": self.id, "key": self.key, "boxes": self.boxes,
                "content": self.content, "flat": self.flat, "unit": self.unit}


def fingerprint(content: Sequence[Mapping[str, Any]]) -> str:
    """Eight hex digits of a hash of a list's content (canonical JSON, so key order and
    spacing do not matter)."""
    text = json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:8]


def _screens(site: str, page: str, id_: str, screens: Sequence[Mapping[str, Any]]
             ) -> Checklist:
    boxes = sum(1 for screen in screens for action in screen["actions"]
                if action["kind"] not in NO_BOX)
    return Checklist(page, id_, f"{site}/{id_}:{fingerprint(screens)}", boxes, screens)


def trust_of_the_other_side(plan: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The checks of what the internal servers and the clients trust, as one screen: the
    certificates page's second list, and the field runbook's last screen of the chains."""
    return [{"title": "Trust of the other side", "actions": plan["trust"]["internal"]}]


def site_checklists(plan: Mapping[str, Any], pages: Sequence[str]) -> dict[str, Checklist]:
    """Every tickable list of a site's pages ``pages`` (file names), by id, in page order and
    then in the order each page shows them."""
    site = str(plan["meta"]["site"])
    found: list[Checklist] = []
    if "index.md" in pages:
        before = plan["checklist"]
        found.append(Checklist("index.md", "overview/before",
                               f"{site}/overview/before:{fingerprint(before)}",
                               len(before), before, flat=True))
    if "runbook.md" in pages:
        for server in plan["wizard"]:
            for step in server["steps"]:
                found.append(_screens(site, "runbook.md",
                                      f"{server['server']}/{step['number']}", step["screens"]))
        for test in plan["validation"]["tests"]:
            found.append(_screens(site, "runbook.md", f"validation/{test['id']}",
                                  [{"title": "What to do",
                                    "actions": [*test["steps"], test["check"],
                                                *test["then"]]}]))
    if "pool.md" in pages:
        found.append(_screens(site, "pool.md", "internal/pool-side",
                              plan["pool_side"]["screens"]))
    if "federation.md" in pages and plan.get("federation"):
        found.append(_screens(site, "federation.md", "federation/allow",
                              plan["federation"]["screens"]))
    if "certificates.md" in pages:
        trust = plan["trust"]
        found.append(_screens(site, "certificates.md", "certificates/chains",
                              trust["screens"]))
        found.append(_screens(site, "certificates.md", "certificates/internal",
                              trust_of_the_other_side(plan)))
    if "reverse-proxy.md" in pages and plan.get("reverse_proxy"):
        found.append(_screens(site, "reverse-proxy.md", "reverse-proxy/setup",
                              plan["reverse_proxy"]["screens"]))
    if "pic.md" in pages and plan.get("pic"):
        found.append(_screens(site, "pic.md", "pic/steps", plan["pic"]["steps"]))
    # Page order, whatever the order above.
    order = {name: i for i, name in enumerate(pages)}
    found.sort(key=lambda c: order[c.page])
    lists: dict[str, Checklist] = {}
    for checklist in found:
        if checklist.id in lists:
            # Two lists would share their ticks: a plan with two servers or tests of one name.
            raise ValueError(f"{site}: two tickable lists named {checklist.id!r}")
        lists[checklist.id] = checklist
    return lists
