// Live chat in the browser: one server-sent event stream per tab (the htmx SSE extension), a polling fallback when
// the stream cannot be had, the composer's niceties, and the console's presence beacon. The server decides
// everything; this file only wires the page to it.
(function () {
  "use strict";
  if (window.esgChat) { window.esgChat.scan(); return; }

  var STUCK_MS = 5000; // a stream that has not (re)opened within this time: poll until it does

  function roots() { return document.querySelectorAll("[data-chat-live]"); }

  function sseReady() { return typeof htmx !== "undefined" && typeof htmx.createEventSource === "function"; }

  function loadExtension(src, done) {
    if (sseReady()) { done(true); return; }
    var existing = document.querySelector("script[data-chat-sse]");
    if (existing) {
      existing.addEventListener("load", function () { done(sseReady()); });
      existing.addEventListener("error", function () { done(false); });
      return;
    }
    var script = document.createElement("script");
    script.src = src;
    script.setAttribute("data-chat-sse", "");
    script.addEventListener("load", function () { done(sseReady()); });
    script.addEventListener("error", function () { done(false); });
    document.head.appendChild(script);
  }

  // ------------------------------------------------------------------ the stream, or polling

  function connect(root) {
    // sse-connect first (htmx processes the root before its children), then every sse-swap target
    root.setAttribute("sse-connect", root.getAttribute("data-sse-url"));
    root._chatConnected = true;
    wire(root);
  }

  function wire(scope) {
    // swap targets name their event in data-chat-swap; they listen once the stream is there (and new ones, such as
    // a pane of a chat just accepted, when they arrive)
    var found = false;
    var targets = Array.prototype.slice.call(scope.querySelectorAll("[data-chat-swap]"));
    if (scope.hasAttribute && scope.hasAttribute("data-chat-swap")) targets.unshift(scope);
    targets.forEach(function (el) {
      if (el.getAttribute("sse-swap") === el.getAttribute("data-chat-swap")) return;
      el.setAttribute("sse-swap", el.getAttribute("data-chat-swap"));
      found = true;
    });
    if (found || scope.hasAttribute("sse-connect")) htmx.process(scope);
  }

  function startPolling(root) {
    if (root._chatPoll || !document.body.contains(root)) return;
    var seconds = parseInt(root.getAttribute("data-poll-seconds"), 10) || 3;
    root._chatPoll = window.setInterval(function () {
      if (!document.body.contains(root)) { stopPolling(root); return; }
      var poller = root.querySelector("#chat-poller");
      if (poller) htmx.trigger(poller, "chat-poll");
    }, seconds * 1000);
  }

  function stopPolling(root) {
    if (root._chatPoll) { window.clearInterval(root._chatPoll); root._chatPoll = null; }
  }

  function activate(root) {
    if (root._chatActive) return;
    root._chatActive = true;
    root.addEventListener("htmx:sseOpen", function () {
      stopPolling(root);
      if (root._chatStuck) { window.clearTimeout(root._chatStuck); root._chatStuck = null; }
    });
    root.addEventListener("htmx:sseError", function (event) {
      var source = event.detail && event.detail.source;
      if (source && source.readyState === 2) { startPolling(root); return; } // closed for good
      // reconnecting (the server ends each stream after a while): only poll if that does not work soon
      if (!root._chatStuck) {
        root._chatStuck = window.setTimeout(function () {
          root._chatStuck = null;
          if (!source || source.readyState !== 1) startPolling(root);
        }, STUCK_MS);
      }
    });
    if (!window.EventSource) { startPolling(root); return; }
    loadExtension(root.getAttribute("data-sse-src"), function (ok) {
      if (!document.body.contains(root)) return;
      if (ok) connect(root); else startPolling(root);
    });
  }

  function scan() { roots().forEach(activate); }

  // ------------------------------------------------------------------ what arrives

  function tidy() {
    // a message may arrive twice (the send's own answer, the stream, a poll after a reconnect): keep the first
    var seen = {};
    document.querySelectorAll(".chat-log .chat-msg[id]").forEach(function (el) {
      if (seen[el.id]) el.remove(); else seen[el.id] = true;
    });
    document.querySelectorAll(".chat-panes .chat-pane[id]").forEach(function (el) {
      if (seen[el.id]) el.remove(); else seen[el.id] = true;
    });
    document.querySelectorAll(".chat-log").forEach(function (log) {
      log.classList.toggle("chat-log-empty", !log.querySelector(".chat-msg"));
      log.scrollTop = log.scrollHeight;
    });
  }

  document.addEventListener("htmx:load", function (event) {
    var el = event.detail && event.detail.elt;
    if (!el || !el.matches) return;
    if (el.matches("[data-chat-live]")) { activate(el); return; }
    el.querySelectorAll("[data-chat-live]").forEach(activate);
    var root = el.closest("[data-chat-live]");
    if (root && root._chatConnected) wire(el);
  });
  document.addEventListener("htmx:afterSettle", tidy);
  document.addEventListener("htmx:sseMessage", tidy);
  document.addEventListener("htmx:oobAfterSwap", tidy);

  // the polls ask from the cursor the last poll left (and the console names the panes it shows)
  document.addEventListener("htmx:configRequest", function (event) {
    var elt = event.detail.elt;
    if (!elt || elt.id !== "chat-poller") return;
    var cursor = document.getElementById("chat-poller-cursor") || document.getElementById("chat-console-cursor");
    if (cursor) event.detail.parameters.since = cursor.getAttribute("data-since");
    var panes = [];
    document.querySelectorAll(".chat-pane[data-chat-id]").forEach(function (p) { panes.push(p.getAttribute("data-chat-id")); });
    if (panes.length) event.detail.parameters.chats = panes.join(",");
  });

  // ------------------------------------------------------------------ the composer

  document.addEventListener("htmx:afterRequest", function (event) {
    var form = event.detail.elt;
    if (!form || !form.matches || !form.matches("form.chat-compose") || !event.detail.successful) return;
    form.reset();
    var error = form.querySelector("[role=alert]");
    if (error) error.textContent = "";
    var input = form.querySelector("textarea");
    if (input) input.focus();
  });

  document.addEventListener("keydown", function (event) {
    var input = event.target;
    if (event.key !== "Enter" || event.shiftKey || event.isComposing) return;
    if (!input.matches || !input.matches("textarea.chat-input") || !input.form) return;
    event.preventDefault();
    if (input.value.trim()) input.form.requestSubmit();
  });

  // ------------------------------------------------------------------ the console's beacon

  window.addEventListener("pagehide", function () {
    var consoleRoot = document.querySelector("[data-chat-live=console][data-beacon-url]");
    if (!consoleRoot || !navigator.sendBeacon) return;
    var data = new FormData();
    data.append("state", "gone");
    data.append("csrf_token", consoleRoot.getAttribute("data-csrf"));
    navigator.sendBeacon(consoleRoot.getAttribute("data-beacon-url"), data);
  });

  window.esgChat = { scan: scan };
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", scan);
  else scan();
})();
