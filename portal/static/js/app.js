// Small progressive enhancements; every page works without them.
document.addEventListener("htmx:afterSwap", function (event) {
  // Move focus to a swapped-in alert so screen readers and keyboard users notice conflicts and errors.
  var alert = event.detail.target && event.detail.target.querySelector && event.detail.target.querySelector("[data-focus-on-swap]");
  if (alert) { alert.setAttribute("tabindex", "-1"); alert.focus(); }
});
document.addEventListener("htmx:responseError", function (event) {
  var box = document.getElementById("flashes");
  if (!box) return;
  var p = document.createElement("p");
  p.className = "flash flash-error";
  p.setAttribute("role", "alert");
  p.textContent = "The change could not be saved (" + event.detail.xhr.status + "). Reload the page and try again.";
  box.appendChild(p);
});
