/* The runbook's checklist: tickable boxes whose state stays in this browser.
 *
 * Each list of a step (templates/partials/actions.html.j2) is a .runbook-checklist with a
 * data-checklist key "site/server/step". Its ticks are stored in localStorage under that key
 * plus a hash of the list's text, so a topology change that changes the step's instructions
 * starts the step unticked, and an unchanged step keeps its ticks across rebuilds. No network:
 * works offline and from file://. Without localStorage (a locked-down browser) the boxes still
 * tick, they are only not remembered.
 */
(function () {
  "use strict";
  var PREFIX = "runbook-checklist:";

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

  function read(store, key) {
    if (!store) return [];
    try {
      var v = JSON.parse(store.getItem(key) || "[]");
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

    function show() {
      var done = 0, all = 0;
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
    show();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", setUp);
  } else {
    setUp();
  }
})();
