/* 党建 /party: the two charts (units by type, projects by type) from the page's own data
   block, with Apache ECharts (/vendor/echarts.min.js). Without ECharts the chart card stays
   hidden; every number is in the cards and tables anyway. */
"use strict";
(function () {
  /* 批量报到: the community uploads a CSV of members (POST /api/v1/registrations/bulk);
     nothing is stored unless every line is good, and the page lists each bad line's field. */
  var bulk = document.getElementById("bulk-form");
  if (bulk && window.W) {
    var W = window.W, T = W.T;
    bulk.addEventListener("submit", function (event) {
      event.preventDefault();
      var file = document.getElementById("bulk-file").files[0];
      var result = document.getElementById("bulk-result"), errors = W.clear(document.getElementById("bulk-errors"));
      result.textContent = "";
      if (!file) { result.textContent = T.bulk_no_file; return; }
      var community = document.getElementById("bulk-community").value;
      W.api("POST", "/api/v1/registrations/bulk?community=" + encodeURIComponent(community), file, { "Content-Type": "text/csv" })
        .then(function (answer) {
          if (answer.ok) { result.textContent = T.bulk_done.replace("{n}", String(answer.body.registered)); return; }
          result.textContent = W.problemText(answer);
          ((answer.body && answer.body.errors) || []).forEach(function (e) {
            errors.appendChild(W.el("li", { text: e.field + "：" + e.reason }));
          });
        }, function () { result.textContent = T.network_failed; });
    });
  }
})();
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
