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
        ["file", "state", "details"].forEach(function (c) {
          var td = document.createElement("td"); td.className = c; tr.appendChild(td);
        });
        body.appendChild(tr);
      } else if (tr.getAttribute("data-state") === f.state) {
        return;
      }
      tr.className = "state-" + f.state + " outcome-" + f.state;
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
      if (f.code) {
        var code = document.createElement("code"); code.textContent = f.code;
        details.appendChild(code); details.appendChild(document.createTextNode(" "));
      }
      details.appendChild(document.createTextNode((f.message || "") + (f.duplicate ? " " + this.dup : "")));
    }
    function show(st) {
      st.files.forEach(row, { dup: st.duplicate_label });
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
