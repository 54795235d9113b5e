// File inputs of ticket forms: drop files onto the zone around the input, and see the chosen files with their
// sizes (announced through an aria-live list). Without this script the plain file input does everything.
(function () {
  "use strict";
  if (window.portalAttachments) return; // loaded again by an htmx swap: the listeners below are already there
  window.portalAttachments = true;

  function humanSize(bytes) {
    if (bytes < 1024) return bytes === 1 ? "1 byte" : bytes + " bytes";
    var units = ["KB", "MB", "GB"], value = bytes / 1024, i = 0;
    while (value >= 1024 && i < units.length - 1) { value /= 1024; i++; }
    return value.toFixed(1).replace(/\.0$/, "") + " " + units[i];
  }

  function zoneOf(node) {
    return node && node.closest ? node.closest("[data-attachment-drop]") : null;
  }

  function showChosen(zone) {
    var input = zone.querySelector("input[type=file]");
    var list = zone.querySelector("[data-attachment-list]");
    if (!input || !list) return;
    list.textContent = "";
    Array.prototype.forEach.call(input.files || [], function (file) {
      var item = document.createElement("li");
      item.textContent = file.name + " (" + humanSize(file.size) + ")"; // text, never markup
      list.appendChild(item);
    });
  }

  document.addEventListener("change", function (event) {
    var zone = zoneOf(event.target);
    if (zone && event.target.type === "file") showChosen(zone);
  });

  ["dragenter", "dragover"].forEach(function (name) {
    document.addEventListener(name, function (event) {
      var zone = zoneOf(event.target);
      if (!zone || !event.dataTransfer || Array.prototype.indexOf.call(event.dataTransfer.types, "Files") < 0) return;
      event.preventDefault();
      event.dataTransfer.dropEffect = "copy";
      zone.classList.add("dragging");
    });
  });

  ["dragleave", "drop"].forEach(function (name) {
    document.addEventListener(name, function (event) {
      var zone = zoneOf(event.target);
      if (zone) zone.classList.remove("dragging");
    });
  });

  document.addEventListener("drop", function (event) {
    var zone = zoneOf(event.target);
    if (!zone || !event.dataTransfer || !event.dataTransfer.files.length) return;
    var input = zone.querySelector("input[type=file]");
    if (!input) return;
    event.preventDefault();
    // Add the dropped files to those already chosen (a DataTransfer is the only way to set input.files).
    var merged = new DataTransfer();
    Array.prototype.forEach.call(input.files || [], function (file) { merged.items.add(file); });
    Array.prototype.forEach.call(event.dataTransfer.files, function (file) { merged.items.add(file); });
    input.files = merged.files;
    showChosen(zone);
  });

  // After a reply is sent the composer comes back empty: clear the list too.
  document.addEventListener("htmx:afterSwap", function () {
    Array.prototype.forEach.call(document.querySelectorAll("[data-attachment-drop]"), showChosen);
  });
})();
