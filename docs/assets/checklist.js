/* The runbook's checklist: tickable boxes whose state stays in this browser.
 *
 * Each tickable list of a page (templates/partials/actions.html.j2) is a .runbook-checklist
 * whose data-checklist is its key, "site/list:fingerprint", worked out at build time from the
 * list's content (runbook/outputs/checklists.py). Its ticks are stored in localStorage under
 * "runbook-checklist:" + HOME + " " + key, HOME being the address of the project's home (the
 * root folder of the published site). So a topology change that changes the list's content
 * changes its key and starts the list unticked, an unchanged list keeps its ticks across
 * rebuilds in place, and two projects never share ticks, even with sites of the same name
 * (Chromium gives every file:// page one storage; two projects on one server share one too).
 * Moved elsewhere, a published site starts unticked. No network: works offline and from
 * file://. Without localStorage (a locked-down browser) the boxes still tick, they are only
 * not remembered.
 *
 * The count for the site covers every list of every page of it, opened or not: each page with
 * a list carries the hidden .runbook-checklist-site list of the key and number of boxes of
 * every list of the site, and the site count adds up the boxes of all of them and the ticks
 * stored under their keys. Ticks under keys no page has any more (a list whose content
 * changed) do not count. The reset clears every tick of the site in this project, those
 * included.
 */
(function () {
  "use strict";
  // The project's home, from this script's own address: the theme loads it from
  // HOME + "assets/checklist.js" (overrides/main.html), whatever the page's folder. (Should
  // neither document.currentScript nor the script element be found, the page's own folder
  // stands in: the ticks are then kept per folder of pages.)
  // A URL holds no space (it is %20), so the space ends HOME in a key.
  var script = document.currentScript ||
    document.querySelector('script[src$="assets/checklist.js"]');
  var src = script && script.src;
  var HOME = new URL(src ? ".." : ".", src || location.href).href;
  var PREFIX = "runbook-checklist:" + HOME + " ";

  function storage() {
    try {
      var s = window.localStorage;
      s.getItem(PREFIX);
      return s;
    } catch (e) {
      return null;
    }
  }

  // The box numbers stored as ticked under key: a list of numbers, else none.
  function read(store, key) {
    if (!store) return [];
    try {
      var v = JSON.parse(store.getItem(key) || "null");
      return Array.isArray(v) ? v : [];
    } catch (e) {
      return [];
    }
  }

  function boxes(n) {
    return n + (n === 1 ? " box" : " boxes");
  }

  function setUp() {
    var lists = Array.prototype.slice.call(document.querySelectorAll(".runbook-checklist"));
    if (!lists.length) return;
    var store = storage();
    var steps = {};
    var mine = lists.map(function (list) {
      var boxes = Array.prototype.slice.call(list.querySelectorAll("input[type=checkbox]"));
      var key = PREFIX + list.getAttribute("data-checklist");
      var ticked = read(store, key);
      boxes.forEach(function (box, i) {
        box.disabled = false;
        box.checked = ticked.indexOf(i) >= 0;
      });
      // What the list is, for its count: a wizard "step" unless it says ("test").
      var step = { boxes: boxes, key: key, unit: list.getAttribute("data-unit") || "step",
                   count: list.querySelector(".runbook-checklist__count") };
      steps[key] = step;
      return step;
    });

    // Every list of the site: its key and number of boxes (this page's lists as well).
    var manifest = document.querySelector(".runbook-checklist-site");
    var site = manifest ? manifest.getAttribute("data-site") || "" :
      (lists[0].getAttribute("data-checklist") || "").split("/")[0];
    var everyList = manifest ? Array.prototype.slice.call(
      manifest.querySelectorAll("[data-key]")
    ).map(function (li) {
      return { key: PREFIX + li.getAttribute("data-key"),
               boxes: parseInt(li.getAttribute("data-boxes"), 10) || 0 };
    }) : [];
    var listed = {};
    everyList.forEach(function (entry) { listed[entry.key] = true; });
    // A page without the site's list (a template that leaves it out) counts its own lists.
    mine.forEach(function (step) {
      if (!listed[step.key]) everyList.push({ key: step.key, boxes: step.boxes.length });
    });

    var summary = document.createElement("div");
    summary.className = "runbook-checklist-summary";
    var total = document.createElement("span");
    total.className = "runbook-checklist-summary__count";
    var reset = document.createElement("button");
    reset.type = "button";
    reset.className = "md-button runbook-checklist-summary__reset";
    reset.textContent = "Reset all ticks of this site";
    summary.appendChild(total);
    summary.appendChild(document.createTextNode(" "));
    summary.appendChild(reset);
    var heading = document.querySelector("article h1");
    if (heading && heading.parentNode) {
      heading.parentNode.insertBefore(summary, heading.nextSibling);
    } else {
      lists[0].parentNode.insertBefore(summary, lists[0]);
    }

    function ticked(step) {
      return step.boxes.filter(function (b) { return b.checked; }).length;
    }

    function show() {
      var done = 0, all = 0;
      everyList.forEach(function (entry) {
        all += entry.boxes;
        var step = steps[entry.key];
        if (step) {
          done += ticked(step);
        } else {
          // Another page's list: its ticks as stored, each box counted once.
          var seen = {};
          read(store, entry.key).forEach(function (i) {
            if (typeof i === "number" && i >= 0 && i < entry.boxes && !seen[i]) {
              seen[i] = true;
              done += 1;
            }
          });
        }
      });
      mine.forEach(function (step) {
        var n = ticked(step);
        if (step.count) {
          step.count.textContent = n + " of " + boxes(step.boxes.length) +
            " ticked in this " + step.unit;
          step.count.setAttribute("data-done", n === step.boxes.length ? "all" : "some");
        }
      });
      total.textContent = "Checklist: " + done + " of " + boxes(all) +
        " ticked on this site.";
    }

    function save(step) {
      if (!store) return;
      var on = [];
      step.boxes.forEach(function (b, i) { if (b.checked) on.push(i); });
      try {
        if (on.length) store.setItem(step.key, JSON.stringify(on));
        else store.removeItem(step.key);
      } catch (e) { /* storage full or refused: the ticks stay on screen only */ }
    }

    mine.forEach(function (step) {
      step.boxes.forEach(function (box) {
        box.addEventListener("change", function () { save(step); show(); });
      });
    });

    reset.addEventListener("click", function () {
      if (!window.confirm("Untick every box of this site in this browser?")) return;
      if (store && site) {
        // Also the ticks of lists whose content has changed since they were ticked.
        // The keys are gathered first: removing one may change the order of the others.
        var ours = PREFIX + site + "/";
        var doomed = [];
        for (var i = 0; i < store.length; i++) {
          var k = store.key(i);
          if (k && k.indexOf(ours) === 0) doomed.push(k);
        }
        doomed.forEach(function (k) { store.removeItem(k); });
      }
      mine.forEach(function (step) {
        step.boxes.forEach(function (b) { b.checked = false; });
      });
      show();
    });
    // This page's boxes as stored: another tab may have ticked them since, or the browser
    // may show this page again from its cache (Back).
    function load() {
      mine.forEach(function (step) {
        var on = read(store, step.key);
        step.boxes.forEach(function (b, i) { b.checked = on.indexOf(i) >= 0; });
      });
    }
    window.addEventListener("storage", function () { load(); show(); });
    window.addEventListener("pageshow", function (event) {
      if (event.persisted) { load(); show(); }
    });
    show();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", setUp);
  } else {
    setUp();
  }
})();
