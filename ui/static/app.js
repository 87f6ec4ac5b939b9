// Archive search: small progressive enhancements; every page works without this file.
(function () {
  "use strict";
  // "/" focuses the search box (unless typing somewhere already)
  document.addEventListener("keydown", function (e) {
    if (e.key !== "/" || e.ctrlKey || e.metaKey || e.altKey) return;
    var el = document.activeElement;
    if (el && (el.tagName === "INPUT" || el.tagName === "TEXTAREA" || el.isContentEditable)) return;
    var q = document.getElementById("q");
    if (q) { e.preventDefault(); q.focus(); q.select(); }
  });
  // the viewer's hit-to-hit navigation: "n" and "p" follow the next and previous hit links
  // (without this script the links themselves work, by Tab and Enter)
  document.addEventListener("keydown", function (e) {
    if ((e.key !== "n" && e.key !== "p") || e.ctrlKey || e.metaKey || e.altKey) return;
    var el = document.activeElement;
    if (el && (el.tagName === "INPUT" || el.tagName === "TEXTAREA" || el.tagName === "SELECT" || el.isContentEditable)) return;
    var link = document.querySelector(e.key === "n" ? "a#next-hit" : "a#prev-hit");
    if (link) { e.preventDefault(); location.href = link.href; }
  });
  // on the document viewer, move keyboard focus to the found passage the URL points at
  window.addEventListener("DOMContentLoaded", function () {
    if (!location.hash || location.hash.indexOf("#passage-") !== 0) return;
    var target = document.getElementById(location.hash.slice(1));
    if (target) { target.focus({ preventScroll: true }); target.scrollIntoView({ block: "center", behavior: "instant" }); }
  });
  // the search page on narrow screens: the filters fold behind a button (shown only with this
  // script; without it they simply follow the results)
  window.addEventListener("DOMContentLoaded", function () {
    var button = document.querySelector(".filters-toggle");
    var panel = document.getElementById("filters");
    if (!button || !panel || !window.matchMedia) return;
    var narrow = window.matchMedia("(max-width: 900px)");
    function set(open) {
      panel.hidden = !open;
      button.setAttribute("aria-expanded", open ? "true" : "false");
    }
    button.hidden = false;
    set(!narrow.matches);
    var follow = function () { set(!narrow.matches); };
    if (narrow.addEventListener) narrow.addEventListener("change", follow);
    button.addEventListener("click", function () {
      var open = panel.hidden;
      set(open);
      if (open) { var h = document.getElementById("filters-heading"); if (h) h.focus(); }
    });
  });
  // the selection tray: hits picked on any page of results stay picked (sessionStorage) until
  // "Clear selection", across tagging and adding to a case; each keeps the query that found it.
  // Without this script the selection is that of the page shown.
  window.addEventListener("DOMContentLoaded", function () {
    var form = document.getElementById("selection");
    if (!form || !window.sessionStorage) return;
    var KEY = "archive-selection";
    var store;
    try { store = JSON.parse(sessionStorage.getItem(KEY) || "{}") || {}; } catch (e) { store = {}; }
    var boxes = Array.prototype.slice.call(document.querySelectorAll('input[name="hit"][form="selection"]'));
    var query = form.querySelector('input[name="q"]').value;
    var count = document.getElementById("selection-count");
    var tray = form.querySelector(".selection-tray");
    function save() { sessionStorage.setItem(KEY, JSON.stringify(store)); }
    function show() {
      var n = Object.keys(store).length;
      count.textContent = n ? form.getAttribute("data-count").replace("{n}", String(n)) : form.getAttribute("data-count-none");
      tray.hidden = false;
      document.getElementById("selection-clear").disabled = n === 0;
      var jump = document.getElementById("selection-jump");
      if (jump) { jump.textContent = count.textContent; jump.hidden = n === 0; }
    }
    boxes.forEach(function (b) {
      if (Object.prototype.hasOwnProperty.call(store, b.value)) b.checked = true;
      else if (b.checked) store[b.value] = query;
      b.addEventListener("change", function () {
        if (b.checked) store[b.value] = query; else delete store[b.value];
        save(); show();
      });
    });
    document.getElementById("selection-clear").addEventListener("click", function () {
      store = {}; save();
      boxes.forEach(function (b) { b.checked = false; });
      show();
    });
    form.addEventListener("submit", function () {
      form.querySelectorAll(".from-tray").forEach(function (el) { el.remove(); });
      var onPage = {};
      boxes.forEach(function (b) { onPage[b.value] = true; });
      Object.keys(store).forEach(function (v) {
        if (!onPage[v]) {
          var i = document.createElement("input");
          i.type = "hidden"; i.name = "hit"; i.value = v; i.className = "from-tray";
          form.appendChild(i);
        }
        var f = document.createElement("input");
        f.type = "hidden"; f.name = "found_" + v; f.value = store[v]; f.className = "from-tray";
        form.appendChild(f);
      });
    });
    save(); show();
  });
  // the upload page follows each file's state (queued, extracting, ok / failed / skipped) by
  // polling its JSON until the job is done; without this script the page refreshes itself
  window.addEventListener("DOMContentLoaded", function () {
    var box = document.getElementById("upload-progress");
    if (!box || box.getAttribute("data-done") === "1" || !window.fetch) return;
    var url = box.getAttribute("data-status-url");
    var body = box.querySelector("tbody");
    var summary = document.getElementById("upload-summary");
    function row(f) {
      var tr = document.getElementById("upload-item-" + f.id);
      if (!tr) {
        tr = document.createElement("tr");
        tr.id = "upload-item-" + f.id;
        ["file", "state", "details", "elapsed"].forEach(function (c) {
          var td = document.createElement("td"); td.className = c; tr.appendChild(td);
        });
        body.appendChild(tr);
      } else if (tr.getAttribute("data-state") === f.state) {
        return;
      }
      tr.className = "state-" + f.state + " outcome-" + (f.css || f.state);
      tr.setAttribute("data-state", f.state);
      var file = tr.children[0], state = tr.children[1], details = tr.children[2];
      file.textContent = "";
      if (f.document_id && f.state === "ok") {
        var a = document.createElement("a"); a.href = "/documents/" + f.document_id; a.textContent = f.name;
        file.appendChild(a);
      } else {
        file.textContent = f.name;
      }
      state.textContent = "";
      var badge = document.createElement("span"); badge.className = "status"; badge.textContent = f.label;
      state.appendChild(badge);
      details.textContent = "";
      if (f.explain) {  // the outcome in the interface language, the code and message beside it
        var ex = document.createElement("span"); ex.className = "explain"; ex.textContent = f.explain;
        var tech = document.createElement("span"); tech.className = "muted small";
        var c = document.createElement("code"); c.textContent = f.code;
        tech.appendChild(document.createTextNode("(")); tech.appendChild(c);
        tech.appendChild(document.createTextNode((f.message ? ": " + f.message : "") + ")"));
        details.appendChild(ex); details.appendChild(document.createTextNode(" ")); details.appendChild(tech);
        return;
      }
      if (f.code) {
        var code = document.createElement("code"); code.textContent = f.code;
        details.appendChild(code); details.appendChild(document.createTextNode(" "));
      }
      details.appendChild(document.createTextNode((f.message || "") + (f.duplicate ? " " + this.dup : "")));
    }
    function show(st) {
      st.files.forEach(row, { dup: st.duplicate_label });
      st.files.forEach(function (f) {  // how long each file has run, refreshed on every poll
        var tr = document.getElementById("upload-item-" + f.id);
        var cell = tr && tr.querySelector("td.elapsed");
        if (cell && cell.textContent !== (f.elapsed || "")) cell.textContent = f.elapsed || "";
      });
      if (summary && summary.textContent !== st.summary) summary.textContent = st.summary;
      if (st.done) {
        box.setAttribute("data-done", "1");
        document.getElementById("upload-live").textContent = box.getAttribute("data-done-text");
      }
    }
    function poll() {
      fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (r) { if (!r.ok) throw new Error("HTTP " + r.status); return r.json(); })
        .then(function (st) { show(st); if (!st.done) setTimeout(poll, 700); })
        .catch(function () { setTimeout(poll, 5000); });
    }
    setTimeout(poll, 300);
  });
})();

// Region redaction (care page): drag across the page image to fill the four fractions of the
// form; typing the numbers moves the box. Without script the numbers alone work.
(function () {
  var fig = document.querySelector("[data-region-picker]");
  if (!fig) return;
  var form = fig.closest("form");
  var img = fig.querySelector("img"), box = fig.querySelector(".region-box");
  var field = function (n) { return form.querySelector("#care-region-" + n); };
  var page = field("page");
  fig.hidden = false;
  function load() {
    var n = parseInt(page.value, 10);
    if (n >= 1) img.src = fig.getAttribute("data-src") + n + ".png";
  }
  function draw() {
    var v = ["x", "y", "w", "h"].map(function (n) { return parseFloat(field(n).value); });
    if (v.some(isNaN) || v[2] <= 0 || v[3] <= 0) { box.hidden = true; return; }
    box.hidden = false;
    box.style.left = v[0] * 100 + "%"; box.style.top = v[1] * 100 + "%";
    box.style.width = v[2] * 100 + "%"; box.style.height = v[3] * 100 + "%";
  }
  function at(ev) {
    var r = img.getBoundingClientRect();
    var clamp = function (t) { return Math.min(1, Math.max(0, t)); };
    return [clamp((ev.clientX - r.left) / r.width), clamp((ev.clientY - r.top) / r.height)];
  }
  var start = null;
  function set(a, b) {
    var x = Math.min(a[0], b[0]), y = Math.min(a[1], b[1]);
    field("x").value = x.toFixed(3); field("y").value = y.toFixed(3);
    field("w").value = Math.max(0.001, Math.abs(a[0] - b[0])).toFixed(3);
    field("h").value = Math.max(0.001, Math.abs(a[1] - b[1])).toFixed(3);
    draw();
  }
  img.addEventListener("pointerdown", function (ev) {
    ev.preventDefault(); start = at(ev); img.setPointerCapture(ev.pointerId);
  });
  img.addEventListener("pointermove", function (ev) { if (start) set(start, at(ev)); });
  img.addEventListener("pointerup", function (ev) { if (start) { set(start, at(ev)); start = null; } });
  page.addEventListener("change", load);
  ["x", "y", "w", "h"].forEach(function (n) { field(n).addEventListener("input", draw); });
  load(); draw();
})();
