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
})();
