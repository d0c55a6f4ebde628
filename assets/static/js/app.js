// The app's own script, beside htmx. Every page works without it; it only
// makes htmx show what went wrong instead of doing nothing. No inline
// handlers, no eval, no innerHTML: the Content-Security-Policy stays strict.
(function () {
  "use strict";

  function alertsRegion() {
    return document.getElementById("alerts");
  }

  // showAlert puts a message into the page's alert region (role=alert, so
  // screen readers announce it), built from text nodes only.
  function showAlert(title, message) {
    var region = alertsRegion();
    if (!region) return;
    var box = document.createElement("div");
    box.className = "alert";
    box.setAttribute("data-testid", "alert");
    var body = document.createElement("div");
    body.className = "alert-body";
    var t = document.createElement("p");
    t.className = "alert-title";
    t.textContent = title;
    var m = document.createElement("p");
    m.setAttribute("data-testid", "alert-message");
    m.textContent = message;
    body.appendChild(t);
    body.appendChild(m);
    var close = document.createElement("button");
    close.className = "alert-close";
    close.type = "button";
    close.setAttribute("data-dismiss", "");
    close.setAttribute("aria-label", "Dismiss");
    close.textContent = "\u00d7";
    box.appendChild(body);
    box.appendChild(close);
    region.replaceChildren(box);
  }

  // htmx swaps no error response. The server aims the ones meant for the
  // page at a region of it (HX-Retarget: the alert, or a form with its
  // messages): swap those.
  document.addEventListener("htmx:beforeSwap", function (e) {
    var xhr = e.detail.xhr;
    if (xhr.status >= 400 && xhr.getResponseHeader("HX-Retarget")) {
      e.detail.shouldSwap = true;
      e.detail.isError = false;
    }
  });

  // Any other error answer (a proxy's 502, say) gets a plain message.
  document.addEventListener("htmx:responseError", function (e) {
    var xhr = e.detail.xhr;
    if (xhr.getResponseHeader("HX-Retarget")) return;
    showAlert("That did not work", "The server answered with an error (" + xhr.status + "). Please try again in a moment.");
  });

  document.addEventListener("htmx:sendError", function () {
    showAlert("No connection", "The server could not be reached. Check your connection and try again.");
  });

  // A successful swap elsewhere clears an old alert.
  document.addEventListener("htmx:afterSwap", function (e) {
    var region = alertsRegion();
    if (region && e.detail.target !== region && e.detail.xhr && e.detail.xhr.status < 400) {
      region.replaceChildren();
    }
  });

  document.addEventListener("click", function (e) {
    var button = e.target.closest && e.target.closest("[data-dismiss]");
    if (!button) return;
    var box = button.closest(".alert");
    if (box) box.remove();
  });

  // Copy buttons (data-copy="ID") copy that element's text: the JSON with
  // its indentation, as it was sent. They are hidden until this script can
  // copy, so a page without JavaScript shows no dead button.
  function showCopyButtons(root) {
    if (!navigator.clipboard || !window.isSecureContext) return;
    root.querySelectorAll("[data-copy][hidden]").forEach(function (b) {
      b.hidden = false;
    });
  }
  document.addEventListener("DOMContentLoaded", function () { showCopyButtons(document); });
  document.addEventListener("htmx:load", function (e) { showCopyButtons(e.detail.elt); });

  document.addEventListener("click", function (e) {
    var button = e.target.closest && e.target.closest("[data-copy]");
    if (!button) return;
    var id = button.getAttribute("data-copy");
    var source = document.getElementById(id);
    if (!source) return;
    var status = document.querySelector('[data-copy-status="' + id + '"]');
    navigator.clipboard.writeText(source.textContent).then(function () {
      button.textContent = "Copied";
      if (status) status.textContent = "Copied to the clipboard.";
      setTimeout(function () {
        button.textContent = "Copy";
        if (status) status.textContent = "";
      }, 2000);
    }, function () {
      if (status) status.textContent = "Could not copy. Select the text and copy it instead.";
    });
  });
})();
