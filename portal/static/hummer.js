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
    badge.textContent = n + " set";
  }
  function onChange(event) {
    var details = event.target.closest && event.target.closest("#app-form details");
    if (details) { recount(details); }
  }
  document.addEventListener("input", onChange);
  document.addEventListener("change", onChange);
})();
