/* Hummer's small scripts. No inline script anywhere: the pages work without this file. */
(function () {
  "use strict";

  /* Deploy and edit form: keep each folded section's "N set" count current while typing.
     The server renders the same count, so without this script it is right after each reload. */
  function isSet(el) {
    if (el.type === "checkbox") { return el.checked; }
    if (el.tagName === "SELECT") { return el.value !== "none" && el.value !== ""; }
    return el.value.trim() !== "";
  }
  function recount(details) {
    var badge = details.querySelector("summary .badge");
    if (!badge) { return; }
    var n = 0;
    details.querySelectorAll("[data-counts]").forEach(function (el) { if (isSet(el)) { n += 1; } });
    /* the server's words in the page's language ("2 set", "已设置 2 项"): only the number changes */
    badge.textContent = badge.textContent.replace(/\d+/, String(n));
  }
  function onChange(event) {
    var details = event.target.closest && event.target.closest("#app-form details");
    if (details) { recount(details); }
  }
  document.addEventListener("input", onChange);
  document.addEventListener("change", onChange);

  /* Polled sections (data-poll, such as an app's status) ask nothing while the tab is
     hidden, and catch up ("poll-now" in their hx-trigger) as soon as it is shown again.
     Without this script they poll all the time. */
  document.addEventListener("htmx:beforeRequest", function (event) {
    var elt = event.detail && event.detail.elt;
    if (document.hidden && elt && elt.hasAttribute && elt.hasAttribute("data-poll")) {
      event.preventDefault();
    }
  });
  document.addEventListener("visibilitychange", function () {
    if (document.hidden || !window.htmx) { return; }
    document.querySelectorAll("[data-poll]").forEach(function (el) { window.htmx.trigger(el, "poll-now"); });
  });
})();
