"""The built site in headless Chromium: navigation, no outside requests, escaped values."""

from __future__ import annotations

import contextlib
import functools
import shutil
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from runbook.outputs.pages import site_pages
from runbook.plan.sites import plan_file
from runbook.site.build import build_site
from tests.conftest import ROOT
from tests.topo import contoso, write

playwright_sync = pytest.importorskip("playwright.sync_api")

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update"]
IMG_PAYLOAD = '<img src=x onerror="window.__xss=1">'
SCRIPT_PAYLOAD = "<script>window.__xss=1</script>"
# Material's own <title> un-escapes the page title (striptags); this would end the element.
TITLE_BREAKOUT = "</title>"


def contoso_pages() -> list[str]:
    """The file names of contoso-hq's pages, as the renderer lists them."""
    plan = plan_file(ROOT / "inputs" / "contoso.yaml").to_dict()
    return [spec.filename for spec in site_pages(plan)]


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@functools.cache
def _chromium() -> str:
    path = shutil.which("chromium")
    if path is None:
        pytest.fail("chromium is not installed (scripts/dev.sh test installs it)")
    return path


# Module scope: the browser and the server thread end with this module, so later tests
# (the parallel build refuses to fork while other threads run) see a single-threaded process.
@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with playwright_sync.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=_chromium(), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@contextlib.contextmanager
def serving(folder: Path) -> Iterator[str]:
    """``folder`` over HTTP on 127.0.0.1 (any free port); yields the base URL."""
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def served(built_site: Path) -> Iterator[str]:
    """The built site over HTTP on 127.0.0.1 (any free port); yields the base URL."""
    with serving(built_site) as base:
        yield base


class Recorder:
    """A page that records every request it makes and every HTTP status it gets."""

    def __init__(self, browser: Any) -> None:
        self.page = browser.new_page()
        self.requests: list[str] = []
        self.failed: list[str] = []
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.on("requestfailed", lambda r: self.failed.append(r.url))
        self.page.on("response",
                      lambda r: r.status >= 400 and self.failed.append(f"{r.status} {r.url}"))

    def goto(self, url: str) -> Any:
        response = self.page.goto(url, wait_until="load")
        self.page.wait_for_load_state("networkidle")
        return response

    def outside(self) -> list[str]:
        """Requests that would leave the machine (anything but 127.0.0.1, file:, data:)."""
        found = []
        for url in self.requests:
            parts = urlsplit(url)
            if parts.scheme in ("file", "data", "blob", "about"):
                continue
            if parts.scheme in ("http", "https") and parts.hostname == "127.0.0.1":
                continue
            found.append(url)
        return found


def search(page: Any, text: str) -> None:
    """Type into Material's search box as a user does."""
    page.click("input.md-search__input")
    page.locator("input.md-search__input").press_sequentially(text)


def test_every_link_of_a_site_navigation_opens_a_page(browser: Any, served: str) -> None:
    visitor = Recorder(browser)
    visitor.goto(served + "sites/contoso-hq/index.html")
    links = visitor.page.eval_on_selector_all(
        "nav.runbook-site-nav a.md-nav__link", "els => els.map(e => e.href)")
    # The site's pages, "All sites", its change request and its downloads.
    assert len(links) == len(contoso_pages()) + 3
    for link in links:
        response = visitor.goto(link)
        assert response is not None and response.status == 200, link
        assert visitor.page.locator("article h1").count() >= 1, link
    assert visitor.failed == []
    assert visitor.outside() == []
    visitor.page.close()


def test_every_download_linked_from_a_site_exists(browser: Any, served: str) -> None:
    visitor = Recorder(browser)
    visitor.goto(served + "sites/contoso-hq/index.html")
    links = visitor.page.eval_on_selector_all(
        "article a[href]", "els => els.map(e => e.href)")
    targets = sorted({link.split("#")[0] for link in links if link.startswith(served)})
    assert targets
    for target in targets:
        assert visitor.page.request.get(target).status == 200, target
    visitor.page.close()


def test_no_request_leaves_the_machine_and_search_works_over_http(
    browser: Any, served: str
) -> None:
    visitor = Recorder(browser)
    visitor.goto(served + "index.html")
    visitor.page.locator("label[title='Switch to dark mode']").click()
    search(visitor.page, "DNS")
    visitor.page.wait_for_selector(".md-search-result__item", timeout=10_000)
    visitor.goto(served + "sites/contoso-hq/runbook.html")
    assert visitor.page.evaluate("document.body.dataset.mdColorScheme") == "slate"
    assert any(url.endswith(".css") for url in visitor.requests)  # the recorder sees requests
    assert visitor.outside() == []
    assert visitor.failed == []
    visitor.page.close()


def test_a_page_opened_from_the_file_system_reads_correctly(
    browser: Any, built_site: Path
) -> None:
    visitor = Recorder(browser)
    visitor.goto((built_site / "sites" / "contoso-hq" / "runbook.html").as_uri())
    page = visitor.page
    # The theme's stylesheet loaded: the header is styled, the site navigation is there.
    assert page.evaluate(
        "getComputedStyle(document.querySelector('.md-header')).position") == "sticky"
    assert page.locator("nav.runbook-site-nav a.md-nav__link").count() == len(contoso_pages()) + 3
    page.locator("nav.runbook-site-nav a", has_text="DNS records").click()
    page.wait_for_load_state("load")
    assert page.url.endswith("/sites/contoso-hq/dns.html")
    # Search from file:// runs on the inlined index and the vendored worker shim.
    search(page, "DNS")
    page.wait_for_selector(".md-search-result__item", timeout=10_000)
    assert visitor.outside() == []
    assert visitor.failed == []
    page.close()


def result_links(page: Any) -> list[str]:
    """Where the search results shown link to, once some are shown."""
    page.wait_for_selector(".md-search-result__item", timeout=10_000)
    return list(page.eval_on_selector_all("a.md-search-result__link",
                                          "links => links.map(a => a.href)"))


@pytest.mark.parametrize("scheme", ["file", "http"])
def test_a_site_page_loads_only_its_own_sites_search_index(
    browser: Any, built_site: Path, served: str, scheme: str
) -> None:
    """Search from a site page loads that site's index alone, whatever the number of sites."""
    base = built_site.as_uri() + "/" if scheme == "file" else served
    visitor = Recorder(browser)
    page = visitor.page
    visitor.goto(base + "sites/contoso-hq/dns.html")
    search(page, "edge01")
    links = result_links(page)
    assert links and all(link.startswith(base + "sites/contoso-hq/") for link in links)
    suffix = "js" if scheme == "file" else "json"
    assert [u for u in visitor.requests if "search_index" in u] == [
        f"{base}sites/contoso-hq/search/search_index.{suffix}"]
    # A result opens its page, at the heading it names.
    first = links[0]
    page.locator("a.md-search-result__link").first.click()
    page.wait_for_load_state("load")
    assert page.url.split("?")[0].split("#")[0] == first.split("?")[0].split("#")[0]
    assert visitor.failed == [] and visitor.outside() == []
    page.close()


def test_the_home_page_searches_the_home_and_static_pages(
    browser: Any, built_site: Path
) -> None:
    visitor = Recorder(browser)
    page = visitor.page
    visitor.goto((built_site / "index.html").as_uri())
    search(page, "printing")
    links = result_links(page)
    assert links and all("/sites/" not in link for link in links)
    assert [u for u in visitor.requests if "search_index" in u] == [
        (built_site / "search" / "search_index.js").as_uri()]
    assert visitor.failed == [] and visitor.outside() == []
    page.close()


def test_html_and_script_in_a_topology_show_as_text_and_run_nothing(
    browser: Any, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path_factory.mktemp("xss")
    monkeypatch.chdir(folder)  # relative input path: stable provenance, warm PDF cache
    (folder / "inputs").mkdir()
    data = contoso()
    data["site"] = "hostile"
    data["title"] = f"Hostile {IMG_PAYLOAD} {TITLE_BREAKOUT}{SCRIPT_PAYLOAD}"
    data["organization"] = f"Org {SCRIPT_PAYLOAD} {IMG_PAYLOAD}"
    write(folder / "inputs", data, "hostile.yaml")
    site = build_site([Path("inputs")], folder / "site", config_file=ROOT / "mkdocs.yml")

    visitor = Recorder(browser)
    pages = ["index.html", *sorted(
        p.relative_to(site).as_posix() for p in (site / "sites" / "hostile").rglob("*.html"))]
    assert len(pages) > len(contoso_pages())
    for name in pages:
        visitor.goto((site / name).as_uri())
        assert visitor.page.evaluate("typeof window.__xss") == "undefined", name
        assert visitor.page.locator("img[src='x']").count() == 0, name
    visitor.goto((site / "sites" / "hostile" / "index.html").as_uri())
    body = visitor.page.inner_text("body")
    assert f"{IMG_PAYLOAD} {TITLE_BREAKOUT}{SCRIPT_PAYLOAD}" in body
    assert f"Org {SCRIPT_PAYLOAD} {IMG_PAYLOAD}" in body
    assert f"{IMG_PAYLOAD} {TITLE_BREAKOUT}{SCRIPT_PAYLOAD}" in visitor.page.title()
    search(visitor.page, "Hostile")
    visitor.page.wait_for_selector(".md-search-result__item", timeout=10_000)
    assert IMG_PAYLOAD in visitor.page.inner_text(".md-search-result")
    assert visitor.page.evaluate("typeof window.__xss") == "undefined"
    assert visitor.outside() == []
    visitor.page.close()


# --- the runbook's checklist (docs/assets/checklist.js) ---------------------------------------

STEP_1 = "contoso-hq/edge01/1"


def contoso_boxes() -> dict[str, int]:
    """contoso-hq's boxes per page, counted from its plan: one for every action of a
    tickable list that is neither a note nor a warning, one for every "Before you start"
    item."""
    plan = plan_file(ROOT / "inputs" / "contoso.yaml").to_dict()

    def tasks(screens: list[dict[str, Any]]) -> int:
        return sum(a["kind"] not in ("note", "warning") for s in screens for a in s["actions"])

    return {
        "index.html": len(plan["checklist"]),
        "runbook.html": sum(tasks(step["screens"]) for w in plan["wizard"] for step in w["steps"])
        + sum(tasks([{"actions": [*t["steps"], t["check"], *t["then"]]}])
              for t in plan["validation"]["tests"]),
        "pool.html": tasks(plan["pool_side"]["screens"]),
        "federation.html": tasks(plan["federation"]["screens"]),
        "certificates.html": tasks(plan["trust"]["screens"])
        + tasks([{"actions": plan["trust"]["internal"]}]),
        "reverse-proxy.html": tasks(plan["reverse_proxy"]["screens"]),
        "pic.html": tasks(plan["pic"]["steps"]),
    }


def checklist_state(page: Any) -> dict[str, Any]:
    """What the reader sees of the checklist: ticked boxes per step, the counts, storage."""
    return page.evaluate("""() => ({
        ticked: Array.from(document.querySelectorAll('.runbook-checklist')).map(
            l => Array.from(l.querySelectorAll('input[type=checkbox]'))
                      .map((b, i) => b.checked ? i : -1).filter(i => i >= 0)),
        disabled: document.querySelectorAll('.runbook-checklist input:disabled').length,
        boxes: document.querySelectorAll('.runbook-checklist input[type=checkbox]').length,
        steps: Array.from(document.querySelectorAll('.runbook-checklist__count'))
                    .map(e => e.textContent),
        site: document.querySelector('.runbook-checklist-summary__count').textContent,
        stored: Object.keys(localStorage).filter(k => k.startsWith('runbook-checklist:'))
                      .sort(),
    })""")


def tick(page: Any, step: int, box: int) -> None:
    """Click a box's visible circle, as a reader does (Material draws it left of the label)."""
    x, y = page.evaluate("""([step, box]) => {
        const label = document.querySelectorAll('.runbook-checklist')[step]
            .querySelectorAll('.task-list-control')[box];
        label.scrollIntoView({block: 'center'});
        const r = label.getBoundingClientRect();
        const circle = getComputedStyle(label.querySelector('.task-list-indicator'), '::before');
        return [r.left + parseFloat(circle.left) + parseFloat(circle.width) / 2,
                r.top + parseFloat(circle.top) + parseFloat(circle.height) / 2];
    }""", [step, box])
    page.mouse.click(x, y)


def test_a_finger_ticks_a_box_by_tapping_beside_its_drawn_circle(browser: Any,
                                                                   served: str) -> None:
    # On a tablet the drawn circle (about 20 px) is too small to hit: the area that ticks
    # it is about 44 px square, in the margin left of the text.
    context = browser.new_context(has_touch=True, viewport={"width": 800, "height": 1100})
    page = context.new_page()
    page.goto(served + "sites/contoso-hq/runbook.html", wait_until="load")
    circle, text = page.evaluate("""() => {
        const label = document.querySelector('.runbook-checklist .task-list-control');
        label.scrollIntoView({block: 'center'});
        const r = label.getBoundingClientRect();
        const c = getComputedStyle(label.querySelector('.task-list-indicator'), '::before');
        const left = r.left + parseFloat(c.left), top = r.top + parseFloat(c.top);
        const item = label.closest('li').getBoundingClientRect();
        return [[left, top, parseFloat(c.width), parseFloat(c.height)], item.left];
    }""")
    left, top, width, height = circle
    assert width < 24 and height < 24  # the circle alone: too small for a finger
    middle = top + height / 2
    for x, y in ((left - 8, middle), (left + width + 2, middle), (left + width / 2, top - 6),
                 (left + width / 2, top + height + 12)):
        assert x < text  # beside the circle, never on the text
        before = checklist_state(page)["ticked"][0]
        page.touchscreen.tap(x, y)
        assert checklist_state(page)["ticked"][0] != before, (x, y)
    context.close()


def tick_reload_reset(browser: Any, home: str) -> None:
    """Tick three boxes in two steps, reload, find them ticked; print; reset. ``home`` is the
    site's root folder."""
    context = browser.new_context()  # storage of its own
    page = context.new_page()
    page.goto(home + "sites/contoso-hq/runbook.html", wait_until="load")
    state = checklist_state(page)
    per_page = contoso_boxes()
    total = sum(per_page.values())
    assert state["boxes"] == per_page["runbook.html"] and state["disabled"] == 0
    assert state["site"] == f"Checklist: 0 of {total} boxes ticked on this site."
    for step, box in ((0, 0), (0, 2), (1, 1)):
        tick(page, step, box)
    assert checklist_state(page)["ticked"][:3] == [[0, 2], [1], []]
    page.reload(wait_until="load")
    state = checklist_state(page)
    assert state["ticked"][:3] == [[0, 2], [1], []]
    assert not any(state["ticked"][3:])
    first = page.locator(".runbook-checklist").nth(0).locator("input[type=checkbox]").count()
    assert state["steps"][0] == f"2 of {first} boxes ticked in this step"
    # A validation test's list is a test, not a wizard step.
    tests = page.locator(".runbook-checklist[data-unit=test]")
    assert tests.count() == 7
    assert tests.nth(0).locator(".runbook-checklist__count").text_content() == (
        f"0 of {tests.nth(0).locator('input[type=checkbox]').count()} boxes ticked in this test")
    assert state["site"] == f"Checklist: 3 of {total} boxes ticked on this site."
    # Under the project's home, then the site, server and step.
    assert [k.rsplit(":", 1)[0] for k in state["stored"]] == [
        f"runbook-checklist:{home} {STEP_1}", f"runbook-checklist:{home} contoso-hq/edge01/2"]
    # On paper a ticked box is black, an unticked one white.
    page.emulate_media(media="print")
    colours = page.evaluate("""() => Array.from(document.querySelectorAll(
        '.runbook-checklist .task-list-indicator')).slice(0, 2).map(
        e => getComputedStyle(e, '::before').backgroundColor)""")
    assert colours == ["rgb(0, 0, 0)", "rgb(255, 255, 255)"]
    page.emulate_media(media="screen")
    page.once("dialog", lambda dialog: dialog.accept())
    page.click(".runbook-checklist-summary__reset")
    page.reload(wait_until="load")
    state = checklist_state(page)
    assert not any(state["ticked"]) and state["stored"] == []
    context.close()


def test_the_checklist_remembers_ticks_over_http(browser: Any, served: str) -> None:
    tick_reload_reset(browser, served)


def test_the_checklist_remembers_ticks_from_the_file_system(browser: Any,
                                                            built_site: Path) -> None:
    tick_reload_reset(browser, built_site.as_uri() + "/")


def site_count(page: Any) -> str:
    """The site's count, as the page shows it."""
    return page.locator(".runbook-checklist-summary__count").text_content() or ""


def page_boxes(page: Any) -> int:
    """The number of tickable boxes on the open page."""
    return int(page.locator(".runbook-checklist input[type=checkbox]:enabled").count())


def ticks_across_pages(browser: Any, base: str) -> None:
    """Every page shows the whole site's total from its first load; ticks on one page count
    on every other; a reload keeps them; the reset on one page clears every page."""
    per_page = contoso_boxes()
    assert {f"{name[:-3]}.html" for name in contoso_pages()} >= per_page.keys()
    total = sum(per_page.values())
    context = browser.new_context()
    page = context.new_page()
    # Each page, opened for the first time in this browser, counts every page of the site.
    for name, boxes in per_page.items():
        page.goto(base + name, wait_until="load")
        assert page_boxes(page) == boxes, name
        assert site_count(page) == f"Checklist: 0 of {total} boxes ticked on this site.", name
    context.close()

    context = browser.new_context()
    page = context.new_page()
    page.goto(base + "pool.html", wait_until="load")
    assert site_count(page) == f"Checklist: 0 of {total} boxes ticked on this site."
    page.goto(base + "runbook.html", wait_until="load")
    for step, box in ((0, 0), (0, 2), (1, 1)):
        tick(page, step, box)
    assert site_count(page) == f"Checklist: 3 of {total} boxes ticked on this site."
    page.goto(base + "pic.html", wait_until="load")  # never opened before
    assert not any(checklist_state(page)["ticked"])
    assert site_count(page) == f"Checklist: 3 of {total} boxes ticked on this site."
    tick(page, 0, 0)
    assert site_count(page) == f"Checklist: 4 of {total} boxes ticked on this site."
    page.reload(wait_until="load")
    assert checklist_state(page)["ticked"][0] == [0]
    assert site_count(page) == f"Checklist: 4 of {total} boxes ticked on this site."
    page.goto(base + "certificates.html", wait_until="load")  # never opened before
    assert site_count(page) == f"Checklist: 4 of {total} boxes ticked on this site."
    page.once("dialog", lambda dialog: dialog.accept())
    page.click(".runbook-checklist-summary__reset")
    assert site_count(page) == f"Checklist: 0 of {total} boxes ticked on this site."
    assert checklist_state(page)["stored"] == []
    for name in ("runbook.html", "pic.html"):
        page.goto(base + name, wait_until="load")
        state = checklist_state(page)
        assert not any(state["ticked"]) and state["stored"] == [], name
        assert site_count(page) == f"Checklist: 0 of {total} boxes ticked on this site.", name
    context.close()


def test_the_site_count_covers_every_page_over_http(browser: Any, served: str) -> None:
    ticks_across_pages(browser, served + "sites/contoso-hq/")


def test_the_site_count_covers_every_page_from_the_file_system(browser: Any,
                                                               built_site: Path) -> None:
    ticks_across_pages(browser, (built_site / "sites/contoso-hq").as_uri() + "/")


@pytest.fixture(scope="module")
def two_projects(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """inputs/contoso.yaml built as two projects, a lab copy and a production copy:
    ``lab/site`` and ``production/site`` under the folder returned, the same bytes in two
    places."""
    folder = tmp_path_factory.mktemp("projects")
    for name in ("lab", "production"):
        (folder / name / "inputs").mkdir(parents=True)
        shutil.copy(ROOT / "inputs" / "contoso.yaml", folder / name / "inputs")
        with pytest.MonkeyPatch.context() as mp:
            mp.chdir(folder / name)  # relative input path: the same provenance in both
            build_site([Path("inputs")], folder / name / "site", config_file=ROOT / "mkdocs.yml")
    page = "sites/contoso-hq/runbook.html"
    assert (folder / "lab/site" / page).read_bytes() == (
        folder / "production/site" / page).read_bytes()
    return folder


@pytest.mark.parametrize("scheme", ["file", "http"])
def test_two_projects_of_one_site_keep_their_ticks_apart(
        browser: Any, two_projects: Path, scheme: str) -> None:
    """Two builds of one topology in two folders, opened in one browser (from file://, one
    storage origin for all local files in Chromium; or from one HTTP server): ticks, counts
    and the reset of one leave the other alone."""
    with serving(two_projects) as base:
        root = two_projects.as_uri() + "/" if scheme == "file" else base
        lab, production = root + "lab/site/", root + "production/site/"
        total = sum(contoso_boxes().values())

        def count(n: int) -> str:
            return f"Checklist: {n} of {total} boxes ticked on this site."

        context = browser.new_context()
        page = context.new_page()
        page.goto(lab + "sites/contoso-hq/runbook.html", wait_until="load")
        for step, box in ((0, 0), (0, 2), (1, 1)):
            tick(page, step, box)
        assert site_count(page) == count(3)

        page.goto(production + "sites/contoso-hq/runbook.html", wait_until="load")
        state = checklist_state(page)
        assert not any(state["ticked"]) and state["site"] == count(0)
        page.goto(production + "sites/contoso-hq/pic.html", wait_until="load")
        assert site_count(page) == count(0)
        tick(page, 0, 0)
        assert site_count(page) == count(1)

        page.goto(lab + "sites/contoso-hq/pic.html", wait_until="load")
        assert not any(checklist_state(page)["ticked"]) and site_count(page) == count(3)
        page.goto(lab + "sites/contoso-hq/runbook.html", wait_until="load")
        state = checklist_state(page)
        assert state["ticked"][:3] == [[0, 2], [1], []] and state["site"] == count(3)
        # Each project's ticks are stored under its own home.
        assert [k.rsplit(":", 1)[0] for k in state["stored"]] == [
            f"runbook-checklist:{lab} contoso-hq/edge01/1",
            f"runbook-checklist:{lab} contoso-hq/edge01/2",
            f"runbook-checklist:{production} contoso-hq/pic/steps",
        ]

        # The production copy's reset clears its own ticks only.
        page.goto(production + "sites/contoso-hq/index.html", wait_until="load")
        page.once("dialog", lambda dialog: dialog.accept())
        page.click(".runbook-checklist-summary__reset")
        assert site_count(page) == count(0)
        page.goto(lab + "sites/contoso-hq/runbook.html", wait_until="load")
        state = checklist_state(page)
        assert state["ticked"][:3] == [[0, 2], [1], []] and state["site"] == count(3)
        assert all(k.startswith(f"runbook-checklist:{lab} ") for k in state["stored"])
        context.close()


def test_after_a_topology_change_the_lists_it_changed_start_unticked(
        browser: Any, served: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = served + "sites/contoso-hq/runbook.html"
    context = browser.new_context()
    page = context.new_page()
    page.goto(url, wait_until="load")
    before = page.evaluate("""() => Array.from(document.querySelectorAll('.runbook-checklist'))
        .map(l => l.getAttribute('data-checklist'))""")
    # Box 0 of each of the six wizard steps of edge01.
    for step in range(6):
        tick(page, step, 0)
    assert site_count(page).startswith("Checklist: 6 of ")

    # The same site rebuilt without Yahoo!: Step 3 (its IM provider tab) changes.
    monkeypatch.chdir(tmp_path)
    (tmp_path / "inputs").mkdir()
    data = contoso()
    data["edge"]["features"]["public_im"] = ["msn", "aol"]
    write(tmp_path / "inputs", data, "contoso.yaml")
    site = build_site([Path("inputs")], tmp_path / "site", config_file=ROOT / "mkdocs.yml")
    rebuilt = (site / "sites/contoso-hq/runbook.html").read_bytes()
    page.route(url, lambda route: route.fulfill(body=rebuilt,
                                                headers={"content-type": "text/html"}))
    page.reload(wait_until="load")
    after = page.evaluate("""() => Array.from(document.querySelectorAll('.runbook-checklist'))
        .map(l => l.getAttribute('data-checklist'))""")
    changed = [i for i, (a, b) in enumerate(zip(before, after, strict=True)) if a != b]
    assert changed == [2]  # Step 3; the PIC steps that changed too are on pic.html
    state = checklist_state(page)
    assert state["ticked"][:6] == [[0], [0], [], [0], [0], [0]]
    # Step 3's old tick is still stored, but no page has its key any more: it does not count.
    assert f"runbook-checklist:{served} {before[2]}" in state["stored"]
    new_total = sum(int(n) for n in page.evaluate("""() => Array.from(
        document.querySelectorAll('.runbook-checklist-site [data-boxes]'))
        .map(li => li.getAttribute('data-boxes'))"""))
    assert site_count(page) == f"Checklist: 5 of {new_total} boxes ticked on this site."
    context.close()


# --- pages a tablet can use ----------------------------------------------------------------------


def test_on_a_tablet_diagrams_read_inline_and_ranges_and_addresses_stay_on_one_line(
        browser: Any, served: str) -> None:
    context = browser.new_context(viewport={"width": 1024, "height": 768})
    page = context.new_page()
    page.goto(served + "sites/woodgrove-split/index.html", wait_until="load")
    # Graphviz's smallest text is 9 pt in the SVG's own units: at the SVG's own size or larger
    # it is 12 px or more on screen, in a box that scrolls sideways in place.
    shown = page.evaluate("""() => Array.from(document.querySelectorAll('.runbook-diagram img'))
        .map(img => ({scale: img.getBoundingClientRect().width / img.naturalWidth,
                      scrolls: img.closest('.runbook-diagram').scrollWidth >
                               img.closest('.runbook-diagram').clientWidth,
                      overflow: getComputedStyle(img.closest('.runbook-diagram')).overflowX}))""")
    assert len(shown) == 2
    assert all(d["scale"] >= 0.99 and d["scrolls"] and d["overflow"] == "auto" for d in shown)
    for name in ("firewall.html", "documents/change-request.html"):
        page.goto(served + "sites/woodgrove-split/" + name, wait_until="load")
        lines = page.evaluate("""() => Array.from(document.querySelectorAll('td code'))
            .filter(c => /^[0-9.\\/-]+$/.test(c.textContent))
            .map(c => [c.textContent, c.getClientRects().length])""")
        assert ["50000-59999", 1] in lines, name
        assert [value for value, n in lines if n != 1] == [], name
    context.close()


def test_on_a_tablet_long_names_and_urls_wrap_so_their_tables_fit_the_page(
        browser: Any, served: str) -> None:
    # A revocation list's LDAP URL made its table twice the width of the page, and the SRV
    # records' names squeezed Purpose off it: long names and URLs break after their dots,
    # slashes and commas (the copied text is unchanged).
    context = browser.new_context(viewport={"width": 800, "height": 1000})
    page = context.new_page()
    for name, heading in (("fabrikam-lb/certificates.html", "Distribution point"),
                          ("woodgrove-split/dns.html", "Target")):
        page.goto(served + "sites/" + name, wait_until="load")
        widths = page.evaluate("""(heading) => {
            const table = Array.from(document.querySelectorAll('.md-content table'))
                .find(t => Array.from(t.querySelectorAll('th')).some(
                    th => th.textContent.trim() === heading));
            const names = Array.from(table.querySelectorAll('td code'));
            return [table.scrollWidth,
                    document.querySelector('.md-content__inner').clientWidth,
                    names.filter(c => c.getClientRects().length > 1).length,
                    names.map(c => c.textContent)];
        }""", heading)
        table, room, wrapped, texts = widths
        assert table <= room, name
        assert wrapped > 0, name  # it fits because names wrap, not because they are short
        assert not any("\u200b" in t or "<" in t for t in texts), name
    context.close()


def test_a_page_open_in_two_tabs_shows_the_ticks_made_in_the_other(browser: Any,
                                                                   served: str) -> None:
    context = browser.new_context()
    url = served + "sites/contoso-hq/runbook.html"
    first, second = context.new_page(), context.new_page()
    first.goto(url, wait_until="load")
    second.goto(url, wait_until="load")
    tick(second, 0, 1)
    # The other tab's box is ticked too, so its next tick keeps this one.
    first.wait_for_function("() => document.querySelectorAll('.runbook-checklist')[0]"
                            ".querySelectorAll('input[type=checkbox]')[1].checked")
    tick(first, 0, 0)
    second.reload(wait_until="load")
    assert checklist_state(second)["ticked"][0] == [0, 1]
    assert checklist_state(first)["site"] == checklist_state(second)["site"]
    assert "2 of" in checklist_state(second)["site"]
    context.close()
