// Inside the widget frame (the portal's origin and CSP). Reads the signed identity the host script put in the URL
// fragment, removes it from the address, exchanges it for a widget session (POST /widget/session) and sends that
// token in the X-Widget-Session header of every htmx request. No cookie is involved: browsers block third-party
// cookies in frames, and the token lives in this page's memory only.
(function () {
  "use strict";
  var body = document.body;
  var main = document.getElementById("widget-main");
  if (!body || !body.hasAttribute("data-session-url") || !main) return;
  var key = body.getAttribute("data-widget-key");
  var origins = [];
  try { origins = JSON.parse(body.getAttribute("data-origins") || "[]"); } catch (e) { origins = []; }
  var params = new URLSearchParams(window.location.hash.slice(1));
  history.replaceState(null, "", window.location.pathname + window.location.search);
  // Where to send "close": the host page's origin, only if it is one the site allows (exact match).
  var parentOrigin = origins.indexOf(params.get("origin")) >= 0 ? params.get("origin") : null;
  var token = null;

  function message(text) {
    main.textContent = "";
    var box = document.createElement("div");
    box.className = "widget-refused";
    box.setAttribute("role", "alert");
    var p = document.createElement("p");
    p.textContent = text;
    box.appendChild(p);
    main.appendChild(box);
  }

  document.addEventListener("htmx:configRequest", function (event) {
    if (token) event.detail.headers["X-Widget-Session"] = token;
    event.detail.headers["X-Widget-Key"] = key;
  });
  document.addEventListener("htmx:sendError", function () {
    message("The help service cannot be reached. Check the connection and try again.");
  });

  function close() {
    if (parentOrigin && window.parent !== window) window.parent.postMessage({ type: "esg-widget:close" }, parentOrigin);
  }
  var closeButton = document.getElementById("widget-close");
  if (closeButton) closeButton.addEventListener("click", close);
  document.addEventListener("keydown", function (event) { if (event.key === "Escape") close(); });

  var request = { key: key };
  ["jwt", "email", "user_hash", "kid", "name"].forEach(function (field) {
    if (params.get(field)) request[field] = params.get(field);
  });

  function loadPanel() {
    if (token) body.setAttribute("hx-headers", JSON.stringify({ "X-Widget-Session": token }));
    body.setAttribute("data-widget-state", token ? "signed" : "anonymous");
    window.htmx.ajax("GET", body.getAttribute("data-panel-url"), { target: "#widget-main", swap: "innerHTML" });
  }

  // For the frame's other scripts (the chat panel's event stream, which cannot send a header, passes it as ?ws=).
  window.ESGWidgetFrame = { token: function () { return token; } };

  fetch(body.getAttribute("data-session-url"), {
    method: "POST",
    credentials: "omit",
    headers: { "Content-Type": "application/json", "Accept": "application/json" },
    body: JSON.stringify(request)
  }).then(function (response) {
    return response.json().then(function (data) { return { ok: response.ok, data: data }; });
  }).then(function (result) {
    if (!result.ok) {
      body.setAttribute("data-widget-state", "refused");
      message((result.data && result.data.error && result.data.error.message) || "The widget could not start.");
      return;
    }
    token = result.data.token;
    if (window.htmx) loadPanel(); else document.addEventListener("DOMContentLoaded", loadPanel);
  }).catch(function () {
    body.setAttribute("data-widget-state", "refused");
    message("The help service cannot be reached. Check the connection and try again.");
  });
})();
