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
  /* Image upload (form[data-upload], images/upload.html): the chosen file goes as the body of
     one XHR POST (the name, tag and image in the query string, the CSRF token in the
     X-CSRFToken header); xhr.upload.onprogress drives the <progress> bar and its "x of y"
     text. The words come from the form's data-text-* attributes, in the page's language.
     Without this script the page says that uploading needs JavaScript. */
  var MiB = 1024 * 1024;
  function bytes(n) {
    if (n >= MiB) { return (n / MiB).toFixed(1).replace(/\.0$/, "") + " MiB"; }
    return (n / 1024).toFixed(1).replace(/\.0$/, "") + " KiB";
  }
  function words(form, key, values) {
    var text = form.getAttribute("data-text-" + key) || "";
    Object.keys(values || {}).forEach(function (k) { text = text.split("{" + k + "}").join(values[k]); });
    return text;
  }
  function clearErrors(form) {
    form.querySelectorAll("small.error[data-upload-error]").forEach(function (el) { el.remove(); });
    form.querySelectorAll("[aria-invalid]").forEach(function (el) {
      el.removeAttribute("aria-invalid");
      el.removeAttribute("aria-describedby");
    });
    form.querySelector("#upload-form-errors").textContent = "";
  }
  function showError(form, field, message) {
    var input = field ? form.querySelector("[name='" + field + "']") : null;
    if (!input || input.type === "hidden") {
      var p = document.createElement("p");
      p.className = "error";
      p.textContent = message;
      form.querySelector("#upload-form-errors").appendChild(p);
      return;
    }
    var small = document.createElement("small");
    small.className = "error";
    small.id = input.id + "-error";
    small.setAttribute("data-upload-error", "");
    small.textContent = message;
    var label = input.closest("label") || input;
    label.insertAdjacentElement("afterend", small);
    input.setAttribute("aria-invalid", "true");
    input.setAttribute("aria-describedby", small.id);
    input.focus();
  }
  /* What both uploads share: the form busy while files go (submit disabled, Cancel and the
     <progress> shown), and one file sent as the raw body of an XHR POST (the CSRF token in
     X-CSRFToken), its answer read as JSON: on.progress(loaded, total) as the bytes go,
     on.sent() once the last one left, on.done(answer) for a 201, on.refused(answer) for a
     refusal with a message ({field, message}). Any other end (another answer, a broken
     connection, Cancel) is said in the form's errors. The form is no longer busy after any
     end but on.done, which decides. */
  function busy(form, on) {
    var cancel = form.querySelector("#upload-cancel");
    form.querySelector("#upload-submit").disabled = on;
    form.querySelector("#upload-progress").hidden = !on;
    cancel.hidden = !on;
    if (on) { form.setAttribute("data-busy", "true"); return; }
    form.removeAttribute("data-busy");
    cancel.onclick = null;
  }
  function sendFile(form, url, file, on) {
    var xhr = new XMLHttpRequest();
    var cancelled = false;
    function failed(key, values) { busy(form, false); showError(form, null, words(form, key, values)); }
    xhr.open("POST", url);
    xhr.setRequestHeader("Content-Type", "application/octet-stream");
    xhr.setRequestHeader("X-CSRFToken", form.querySelector("[name=csrf_token]").value);
    xhr.setRequestHeader("Accept", "application/json");
    xhr.upload.onprogress = function (event) {
      if (event.lengthComputable) { on.progress(event.loaded, event.total); }
    };
    if (on.sent) { xhr.upload.onload = on.sent; }
    xhr.onload = function () {
      var answer = null;
      try { answer = JSON.parse(xhr.responseText); } catch (e) { answer = null; }
      if (xhr.status === 201 && answer) { on.done(answer); return; }
      if (answer && answer.message) { busy(form, false); on.refused(answer); return; }
      failed("unexpected", {status: String(xhr.status)});
    };
    xhr.onerror = function () { failed(cancelled ? "cancelled" : "broken"); };
    xhr.onabort = function () { failed("cancelled"); };
    form.querySelector("#upload-cancel").onclick = function () { cancelled = true; xhr.abort(); };
    xhr.send(file);
  }
  function uploadArchive(form) {
    var file = form.querySelector("input[type=file]").files[0];
    var bar = form.querySelector("#upload-bar");
    var status = form.querySelector("#upload-status");
    var done = form.querySelector("#upload-done");
    clearErrors(form);
    done.hidden = true;
    if (!file) { showError(form, "archive", words(form, "no-file")); return; }
    if (file.size > Number(form.getAttribute("data-max-bytes"))) {
      showError(form, "archive", words(form, "too-big", {size: bytes(file.size)}));
      return;
    }
    var query = new URLSearchParams();
    ["name", "tag", "image"].forEach(function (field) {
      var value = form.querySelector("[name='" + field + "']").value.trim();
      if (value || field !== "image") { query.set(field, value); }
    });
    bar.max = file.size || 1;
    bar.value = 0;
    status.textContent = words(form, "progress", {sent: bytes(0), total: bytes(file.size)});
    busy(form, true);
    sendFile(form, form.action + "?" + query.toString(), file, {
      progress: function (loaded, total) {
        bar.max = total;
        bar.value = loaded;
        status.textContent = words(form, "progress", {sent: bytes(loaded), total: bytes(total)});
      },
      sent: function () {
        bar.removeAttribute("value");  /* indeterminate: the registry takes the last blobs and the tag */
        status.textContent = words(form, "pushing");
      },
      done: function (answer) {
        busy(form, false);
        status.textContent = "";
        form.querySelector("#upload-done-text").textContent = words(form, "done", {image: answer.image});
        done.hidden = false;
      },
      refused: function (answer) { showError(form, answer.field, answer.message); }
    });
  }
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.matches || !form.matches("form[data-upload]")) { return; }
    event.preventDefault();
    if (form.hasAttribute("data-busy")) { return; }
    uploadArchive(form);
  });
  /* Forms posted by htmx with a file (form[data-progress], e.g. builds/_form.html): the
     <progress> the attribute names follows the upload (htmx:xhr:progress). */
  document.addEventListener("htmx:xhr:progress", function (event) {
    var form = event.target.closest && event.target.closest("form[data-progress]");
    var detail = event.detail || {};
    if (!form || !detail.total) { return; }
    var bar = form.querySelector(form.getAttribute("data-progress"));
    if (!bar) { return; }
    bar.hidden = false;
    bar.value = Math.round(100 * detail.loaded / detail.total);
  });
  /* Files into a volume (form[data-volume-upload], volumes/files.html): each chosen file goes
     as the body of one XHR POST after the other (?path=&name=[&overwrite=1], the CSRF token
     in X-CSRFToken); the <progress> bar follows the bytes of all of them. Cancel aborts the
     file being sent (the portal keeps nothing of it) and sends no more. When all are sent,
     the file list reloads. */
  function uploadFiles(form) {
    var files = Array.prototype.slice.call(form.querySelector("input[type=file]").files);
    var bar = form.querySelector("#upload-bar");
    var status = form.querySelector("#upload-status");
    var done = form.querySelector("#upload-done");
    var overwrite = form.querySelector("[name=overwrite]");
    var limit = Number(form.getAttribute("data-max-bytes"));
    clearErrors(form);
    done.hidden = true;
    if (!files.length) { showError(form, "files", words(form, "no-file")); return; }
    var big = files.filter(function (f) { return f.size > limit; })[0];
    if (big) { showError(form, "files", words(form, "too-big", {name: big.name})); return; }
    var total = files.reduce(function (sum, f) { return sum + f.size; }, 0) || 1;
    var before = 0;
    function send(index) {
      if (index >= files.length) {
        busy(form, false);
        done.textContent = words(form, "done", {count: String(files.length)});
        done.hidden = false;
        var list = document.getElementById("file-list");
        if (list && window.htmx) {
          htmx.ajax("GET", window.location.href, {target: "#file-list", select: "#file-list", swap: "outerHTML"});
        }
        return;
      }
      var file = files[index];
      var query = new URLSearchParams();
      query.set("path", form.getAttribute("data-path") || "");
      query.set("name", file.name);
      if (overwrite && overwrite.checked) { query.set("overwrite", "1"); }
      sendFile(form, form.action + "?" + query.toString(), file, {
        progress: function (loaded, size) {
          bar.value = before + loaded;
          status.textContent = words(form, "progress", {name: file.name, sent: bytes(loaded),
            total: bytes(size), num: String(index + 1), count: String(files.length)});
        },
        done: function () { before += file.size; send(index + 1); },
        refused: function (answer) {
          showError(form, answer.field === "file" ? "files" : answer.field, file.name + ": " + answer.message);
        }
      });
    }
    bar.max = total;
    bar.value = 0;
    busy(form, true);
    send(0);
  }
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.matches || !form.matches("form[data-volume-upload]")) { return; }
    event.preventDefault();
    if (form.hasAttribute("data-busy")) { return; }
    uploadFiles(form);
  });
})();
