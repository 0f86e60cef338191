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

  /* Copy buttons (data-copy names the element whose text they copy): shown only where this
     script runs; "Copied" (data-copied, in the page's language) confirms for a moment. */
  document.querySelectorAll("[data-copy]").forEach(function (button) { button.hidden = false; });
  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("[data-copy]");
    if (!button) { return; }
    var source = document.getElementById(button.getAttribute("data-copy"));
    if (!source) { return; }
    var text = source.textContent.trim();
    var label = button.textContent;
    function done() {
      button.textContent = button.getAttribute("data-copied") || label;
      window.setTimeout(function () { button.textContent = label; }, 1500);
    }
    if (navigator.clipboard && navigator.clipboard.writeText) {
      navigator.clipboard.writeText(text).then(done, function () { selectText(source); });
    } else {
      selectText(source);
    }
  });
  function selectText(el) {
    var range = document.createRange();
    range.selectNodeContents(el);
    var selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
  }
  document.addEventListener("htmx:afterSwap", function () {
    document.querySelectorAll("[data-copy][hidden]").forEach(function (button) { button.hidden = false; });
  });
})();
