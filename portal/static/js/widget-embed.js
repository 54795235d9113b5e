// The ESG support widget, on the platform's page: one tag,
//   <script src="https://<portal>/widget.js" data-key="<site public key>" data-jwt="<signed token>" async></script>
// (or data-email + data-user-hash + data-kid). It adds a "Help" button; the button opens the portal's frame.
// The signed identity goes to the frame in the URL fragment, which browsers never send to a server (so it is in
// no log), and the frame's script removes it from its address at once. Nothing here is stored or sent elsewhere.
(function () {
  "use strict";
  var script = document.currentScript ||
    document.querySelector("script[data-key][src*='/widget.js']");
  if (!script || window.ESGSupportWidget) return;
  var portal = new URL(script.src, window.location.href).origin;
  var key = script.getAttribute("data-key") || "";
  var IDENTITY = { jwt: "data-jwt", email: "data-email", user_hash: "data-user-hash", kid: "data-kid", name: "data-name" };
  var launcher, frame, open = false;

  function css(el, rules) {  // CSSOM properties, allowed by any style-src policy of the host page
    Object.keys(rules).forEach(function (name) { el.style.setProperty(name, rules[name]); });
  }

  function fragment() {
    var params = new URLSearchParams();
    Object.keys(IDENTITY).forEach(function (field) {
      var value = script.getAttribute(IDENTITY[field]);
      if (value) params.set(field, value);
    });
    params.set("origin", window.location.origin);
    return params.toString();
  }

  function makeFrame() {
    frame = document.createElement("iframe");
    frame.id = "esg-support-widget-frame";
    frame.title = "ESG support";
    frame.setAttribute("referrerpolicy", "no-referrer");
    frame.src = portal + "/widget/frame?key=" + encodeURIComponent(key) + "#" + fragment();
    css(frame, {
      position: "fixed", right: "16px", bottom: "76px", width: "380px", height: "600px",
      "max-width": "calc(100vw - 32px)", "max-height": "calc(100vh - 96px)", border: "1px solid #c7ccd4",
      "border-radius": "8px", background: "#fff", "box-shadow": "0 6px 24px rgba(0,0,0,.2)",
      "z-index": "2147483646", display: "none"
    });
    frame.addEventListener("load", function () { frame.setAttribute("data-loaded", "true"); });
    document.body.appendChild(frame);
    launcher.setAttribute("aria-controls", frame.id);
  }

  function show(value) {
    if (!frame) makeFrame();
    open = value;
    css(frame, { display: open ? "block" : "none" });
    launcher.setAttribute("aria-expanded", open ? "true" : "false");
    if (open) frame.focus(); else launcher.focus();
  }

  function start() {
    launcher = document.createElement("button");
    launcher.type = "button";
    launcher.id = "esg-support-widget-launcher";
    launcher.textContent = "Help";
    launcher.setAttribute("aria-expanded", "false");
    launcher.setAttribute("aria-haspopup", "dialog");
    css(launcher, {
      position: "fixed", right: "16px", bottom: "16px", "z-index": "2147483647", padding: "10px 18px",
      "border-radius": "999px", border: "2px solid #fff", background: "#0b5cab", color: "#fff",
      font: "600 16px/1.2 system-ui, sans-serif", cursor: "pointer", "box-shadow": "0 2px 8px rgba(0,0,0,.3)"
    });
    launcher.addEventListener("click", function () { show(!open); });
    document.body.appendChild(launcher);
    document.addEventListener("keydown", function (event) {
      if (event.key === "Escape" && open) show(false);
    });
    // The frame asks to close (its Close button, Escape inside it): only our frame, from the portal's origin.
    window.addEventListener("message", function (event) {
      if (!frame || event.source !== frame.contentWindow || event.origin !== portal) return;
      if (event.data && event.data.type === "esg-widget:close") show(false);
    });
  }

  window.ESGSupportWidget = { open: function () { show(true); }, close: function () { show(false); } };
  if (document.body) start(); else document.addEventListener("DOMContentLoaded", start);
})();
