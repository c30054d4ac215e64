/* 统计 /stats: draws the charts from /api/v1/stats with Apache ECharts (/vendor/echarts.min.js).
   The tables are server-rendered; without ECharts (not installed, blocked) the chart card
   stays hidden and the page still shows every figure. Data is only ever set as chart data or
   textContent, never parsed as HTML. */
"use strict";
(function () {
  var card = document.getElementById("charts");
  if (!card || !window.echarts) return;

  function chart(id) {
    var node = document.getElementById(id);
    return { node: node, title: node.getAttribute("data-title") || "" };
  }

  function draw(target, option) {
    var instance = window.echarts.init(target.node);
    option.title = { text: target.title, left: "center", textStyle: { fontSize: 14 } };
    option.tooltip = option.tooltip || { trigger: "axis" };
    instance.setOption(option);
    window.addEventListener("resize", function () { instance.resize(); });
  }

  function names(rows) { return rows.map(function (r) { return String(r.name || r.key || "—"); }); }
  function totals(rows) { return rows.map(function (r) { return Number(r.total) || 0; }); }

  fetch(card.getAttribute("data-api"), { credentials: "same-origin", headers: { Accept: "application/json" } })
    .then(function (response) {
      if (!response.ok) throw new Error("HTTP " + response.status);
      return response.json();
    })
    .then(function (doc) {
      card.hidden = false;
      var days = doc.days || [], sources = doc.sources || [], categories = doc.categories || [];
      draw(chart("chart-days"), {
        grid: { left: 48, right: 16, top: 40, bottom: 32 },
        xAxis: { type: "category", data: days.map(function (r) { return String(r.key); }) },
        yAxis: { type: "value", minInterval: 1 },
        series: [{ type: "line", data: totals(days), smooth: true, areaStyle: {} }],
      });
      draw(chart("chart-sources"), {
        tooltip: { trigger: "item" },
        series: [{
          type: "pie", radius: ["35%", "65%"], top: 24,
          data: sources.map(function (r) { return { name: String(r.name || r.key), value: Number(r.total) || 0 }; }),
        }],
      });
      draw(chart("chart-categories"), {
        grid: { left: 48, right: 16, top: 40, bottom: 64 },
        xAxis: { type: "category", data: names(categories), axisLabel: { rotate: 30 } },
        yAxis: { type: "value", minInterval: 1 },
        series: [{ type: "bar", data: totals(categories) }],
      });
    })
    .catch(function (error) {
      // The tables already show every number: a failed fetch only costs the charts.
      card.hidden = true;
      if (window.console) window.console.warn("stats charts:", error.message);
    });
})();
