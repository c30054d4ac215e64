/* 党建 /party: the two charts (units by type, projects by type) from the page's own data
   block, with Apache ECharts (/vendor/echarts.min.js). Without ECharts the chart card stays
   hidden; every number is in the cards and tables anyway. */
"use strict";
(function () {
  var card = document.getElementById("charts");
  var node = document.getElementById("party-data");
  if (!card || !node || !window.echarts) return;
  var data = JSON.parse(node.textContent);
  var names = data.names || {};

  function pie(id, counts) {
    var target = document.getElementById(id);
    var chart = window.echarts.init(target);
    chart.setOption({
      title: { text: target.getAttribute("data-title") || "", left: "center", textStyle: { fontSize: 14 } },
      tooltip: { trigger: "item" },
      series: [{
        type: "pie", radius: ["35%", "65%"], top: 24,
        data: Object.keys(counts).map(function (key) {
          return { name: String(names[key] || key), value: Number(counts[key]) || 0 };
        }),
      }],
    });
    window.addEventListener("resize", function () { chart.resize(); });
  }

  card.hidden = false;
  pie("chart-units", data.units || {});
  pie("chart-projects", data.projects || {});
})();
