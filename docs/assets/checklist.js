/* The runbook's checklist: tickable boxes whose state stays in this browser.
 *
 * Each list of a step (templates/partials/actions.html.j2) is a .runbook-checklist with a
 * data-checklist key "site/server/step". Its ticks are stored in localStorage under that key
 * plus a hash of the list's text, so a topology change that changes the step's instructions
 * starts the step unticked, and an unchanged step keeps its ticks across rebuilds. No network:
 * works offline and from file://. Without localStorage (a locked-down browser) the boxes still
 * tick, they are only not remembered.
 *
 * The count for the site covers every page of it: each page, when opened, records under
 * PAGES + "site/page" the keys of its lists and their number of boxes, and the site count adds
 * up the ticks and boxes of every page so recorded. The pages with lists that this browser
 * has not opened yet (from the hidden .runbook-checklist-pages list the page carries) are
 * named as not counted. The reset clears the ticks of every page; the records stay.
 */
(function () {
  "use strict";
  var PREFIX = "runbook-checklist:";
  var PAGES = "runbook-checklist-page:";

  function hash(text) {
    // FNV-1a, 32 bits: a short, stable fingerprint of the step's instructions.
    var h = 0x811c9dc5;
    for (var i = 0; i < text.length; i++) {
      h ^= text.charCodeAt(i);
      h = Math.imul(h, 0x01000193) >>> 0;
    }
    return ("0000000" + h.toString(16)).slice(-8);
  }

  function storage() {
    try {
      var s = window.localStorage;
      s.getItem(PREFIX);
      return s;
    } catch (e) {
      return null;
    }
  }

  function parse(store, key, fallback) {
    if (!store) return fallback;
    try {
      var v = JSON.parse(store.getItem(key) || "null");
      return v !== null && typeof v === "object" && Array.isArray(v) === Array.isArray(fallback)
        ? v : fallback;
    } catch (e) {
      return fallback;
    }
  }

  function read(store, key) {
    return parse(store, key, []);
  }

  // This page's file name, as the hidden list of the site's pages names it.
  function pageName() {
    var last = window.location.pathname.split("/").pop();
    return last ? decodeURIComponent(last) : "index.html";
  }

  function boxes(n) {
    return n + (n === 1 ? " box" : " boxes");
  }

  function setUp() {
    var lists = Array.prototype.slice.call(document.querySelectorAll(".runbook-checklist"));
    if (!lists.length) return;
    var store = storage();
    var site = (lists[0].getAttribute("data-checklist") || "").split("/")[0];
    var steps = lists.map(function (list) {
      var ol = list.querySelector("ol");
      var boxes = Array.prototype.slice.call(list.querySelectorAll("input[type=checkbox]"));
      var key = PREFIX + list.getAttribute("data-checklist") + ":" +
        hash(ol ? ol.textContent.replace(/\s+/g, " ").trim() : "");
      var ticked = read(store, key);
      boxes.forEach(function (box, i) {
        box.disabled = false;
        box.checked = ticked.indexOf(i) >= 0;
      });
      return { list: list, boxes: boxes, key: key,
               count: list.querySelector(".runbook-checklist__count") };
    });

    // What this page holds, for the site count on the site's other pages.
    var here = pageName();
    var record = {};
    steps.forEach(function (step) { record[step.key] = step.boxes.length; });
    if (store) {
      try {
        store.setItem(PAGES + site + "/" + here, JSON.stringify(record));
      } catch (e) { /* storage full or refused: the count is this page's only */ }
    }
    var sitePages = Array.prototype.slice.call(
      document.querySelectorAll(".runbook-checklist-pages [data-page]")
    ).map(function (li) {
      return { file: li.getAttribute("data-page"), title: li.getAttribute("data-title") };
    });

    var summary = document.createElement("div");
    summary.className = "runbook-checklist-summary";
    var total = document.createElement("span");
    total.className = "runbook-checklist-summary__count";
    var unseen = document.createElement("span");
    unseen.className = "runbook-checklist-summary__unseen";
    var reset = document.createElement("button");
    reset.type = "button";
    reset.className = "md-button runbook-checklist-summary__reset";
    reset.textContent = "Reset all ticks of this site";
    summary.appendChild(total);
    summary.appendChild(document.createTextNode(" "));
    summary.appendChild(unseen);
    summary.appendChild(document.createTextNode(" "));
    summary.appendChild(reset);
    var heading = document.querySelector("article h1");
    if (heading && heading.parentNode) {
      heading.parentNode.insertBefore(summary, heading.nextSibling);
    } else {
      lists[0].parentNode.insertBefore(summary, lists[0]);
    }

    // The ticks and boxes of the site's other pages opened in this browser, and the pages
    // with lists not opened yet.
    function elsewhere() {
      var done = 0, all = 0, missing = [];
      var seen = {};
      seen[here] = true;
      if (store) {
        var mine = PAGES + site + "/";
        for (var i = 0; i < store.length; i++) {
          var k = store.key(i);
          if (!k || k.indexOf(mine) !== 0) continue;
          var page = k.slice(mine.length);
          seen[page] = true;
          if (page === here) continue;
          var lists = parse(store, k, {});
          Object.keys(lists).forEach(function (key) {
            var n = lists[key];
            if (typeof n !== "number" || key.indexOf(PREFIX + site + "/") !== 0) return;
            all += n;
            done += read(store, key).filter(function (i) { return i >= 0 && i < n; }).length;
          });
        }
      }
      sitePages.forEach(function (p) { if (!seen[p.file]) missing.push(p.title); });
      return { done: done, all: all, missing: missing };
    }

    function show() {
      var other = elsewhere();
      var done = other.done, all = other.all;
      steps.forEach(function (step) {
        var n = step.boxes.filter(function (b) { return b.checked; }).length;
        done += n;
        all += step.boxes.length;
        if (step.count) {
          step.count.textContent = n + " of " + boxes(step.boxes.length) +
            " ticked in this step";
          step.count.setAttribute("data-done", n === step.boxes.length ? "all" : "some");
        }
      });
      total.textContent = "Checklist: " + done + " of " + boxes(all) +
        " ticked on this site.";
      unseen.textContent = other.missing.length
        ? "Not counted yet, as not opened in this browser: " + other.missing.join(", ") + "."
        : "";
    }

    function save(step) {
      if (!store) return;
      var ticked = [];
      step.boxes.forEach(function (b, i) { if (b.checked) ticked.push(i); });
      try {
        if (ticked.length) store.setItem(step.key, JSON.stringify(ticked));
        else store.removeItem(step.key);
      } catch (e) { /* storage full or refused: the ticks stay on screen only */ }
    }

    steps.forEach(function (step) {
      step.boxes.forEach(function (box) {
        box.addEventListener("change", function () { save(step); show(); });
      });
    });

    reset.addEventListener("click", function () {
      if (!window.confirm("Untick every box of this site in this browser?")) return;
      if (store) {
        // Also the ticks of steps whose text has changed since they were ticked.
        var mine = PREFIX + site + "/";
        for (var i = store.length - 1; i >= 0; i--) {
          var k = store.key(i);
          if (k && k.indexOf(mine) === 0) store.removeItem(k);
        }
      }
      steps.forEach(function (step) {
        step.boxes.forEach(function (b) { b.checked = false; });
      });
      show();
    });
    // Ticks made on another page of the site in another tab.
    window.addEventListener("storage", function () { show(); });
    show();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", setUp);
  } else {
    setUp();
  }
})();
