// Report charts: each <canvas data-chart="line|bar" data-table="ID"> is drawn from the accessible table it names
// (that table is the source and stays on the page for screen readers and keyboard users). Row headers give the
// labels; the columns whose header carries data-series are the series; a cell's data-value is its number (a cell
// without one is a gap). Chart.js is vendored from its npm package and loaded from this site only (CSP 'self').
(function () {
  "use strict";
  var self = document.currentScript;
  var LIBRARY = self && /js\/reports\.js/.test(self.src)
    ? self.src.replace(/js\/reports\.js(\?.*)?$/, "vendor/chartjs/chart.umd.min.js")
    : "/static/vendor/chartjs/chart.umd.min.js";
  var COLOURS = ["#0b5cad", "#a4161a", "#17663a", "#8a4b00", "#6f42c1"];
  var waiting = [];

  function whenLibraryReady(callback) {
    if (window.Chart) { callback(); return; }
    waiting.push(callback);
    if (document.querySelector("script[data-chart-library]")) return;
    var script = document.createElement("script");
    script.src = LIBRARY;
    script.setAttribute("data-chart-library", "");
    script.addEventListener("load", function () {
      var queued = waiting; waiting = [];
      queued.forEach(function (fn) { fn(); });
    });
    document.head.appendChild(script);
  }

  function readTable(table) {
    var headers = Array.prototype.slice.call(table.tHead.rows[0].cells);
    var series = [];
    headers.forEach(function (cell, index) {
      if (cell.hasAttribute("data-series")) series.push({ index: index, label: cell.getAttribute("data-series"), data: [] });
    });
    var labels = [];
    Array.prototype.forEach.call(table.tBodies[0].rows, function (row) {
      labels.push(row.cells[0].textContent.trim());
      series.forEach(function (s) {
        var cell = row.cells[s.index];
        var value = cell && cell.getAttribute("data-value");
        s.data.push(value === null || value === undefined || value === "" ? null : Number(value));
      });
    });
    return { labels: labels, series: series };
  }

  function draw(canvas) {
    if (canvas.getAttribute("data-drawn") === "true") return;
    var table = document.getElementById(canvas.getAttribute("data-table"));
    if (!table || !table.tHead || !table.tBodies.length) return;
    var kind = canvas.getAttribute("data-chart") === "line" ? "line" : "bar";
    var percent = canvas.getAttribute("data-percent") === "true";
    var read = readTable(table);
    var datasets = read.series.map(function (s, i) {
      var colour = COLOURS[i % COLOURS.length];
      return { label: s.label, data: s.data, borderColor: colour, backgroundColor: colour, spanGaps: false,
               tension: 0, pointRadius: 3 };
    });
    var scale = { beginAtZero: true, ticks: { precision: 0 } };
    if (percent) { scale.max = 100; scale.ticks = { callback: function (v) { return v + " %"; } }; }
    canvas.chart = new window.Chart(canvas, {
      type: kind,
      data: { labels: read.labels, datasets: datasets },
      options: {
        responsive: true, maintainAspectRatio: false, animation: false,
        plugins: { legend: { position: "bottom" }, tooltip: { enabled: true } },
        scales: { y: scale }
      }
    });
    canvas.setAttribute("data-drawn", "true");
  }

  function drawAll(root) {
    var canvases = (root || document).querySelectorAll("canvas[data-chart]");
    if (!canvases.length) return;
    whenLibraryReady(function () { Array.prototype.forEach.call(canvases, draw); });
  }

  if (!window.reportCharts) {
    window.reportCharts = { drawAll: drawAll };
    // Pages swapped in by htmx (boosted links, the period picker) bring new canvases.
    document.addEventListener("htmx:load", function (event) { drawAll(event.detail.elt); });
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () { drawAll(document); });
  } else {
    drawAll(document);
  }
})();
