/* 规则推演 /admin/replay: starts a replay (POST /api/v1/replays), polls it, and shows its
   report as tables and, when Apache ECharts is there (/vendor/echarts.min.js), charts.
   Every value is set as textContent or chart data, never parsed as HTML. */
"use strict";
(function () {
  var root = document.getElementById("replay");
  if (!root) return;
  var words = JSON.parse(document.getElementById("replay-words").textContent);
  var csrf = root.dataset.csrf;
  var status = document.getElementById("replay-status");
  var form = document.getElementById("replay-form");
  var button = document.getElementById("r-run");

  function el(tag, text, cls) {
    var node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    if (cls) node.className = cls;
    return node;
  }
  function pct(rate) { return rate === null || rate === undefined ? "—" : (rate * 100).toFixed(1) + "%"; }
  function signed(n) { return n > 0 ? "+" + n : String(n); }

  function fill(id, rows, cells) {
    var body = document.querySelector("#" + id + " tbody");
    body.textContent = "";
    if (!rows.length) {
      var tr = el("tr"); var td = el("td", words.none, "muted"); td.colSpan = 4; tr.appendChild(td);
      body.appendChild(tr);
      return;
    }
    rows.forEach(function (row) {
      var tr = el("tr");
      cells(row).forEach(function (cell) { tr.appendChild(cell); });
      body.appendChild(tr);
    });
  }

  function diffRows(id, rows) {
    fill(id, rows, function (r) {
      var delta = el("td", signed(r.delta), "num" + (r.delta > 0 ? " up" : r.delta < 0 ? " down" : ""));
      return [el("td", r.name), el("td", r.before, "num"), el("td", r.after, "num"), delta];
    });
  }

  // Each assignment by name (kind, who or the claim board, where); the router's own
  // explanation, with its codes, on hover.
  function route(list) {
    var ul = el("ul");
    list.forEach(function (a) {
      var who = a.responder ? a.responder.name : words.board;
      var li = el("li", a.kind_name + " · " + who + " · " + a.cell_name);
      li.title = a.explain;
      ul.appendChild(li);
    });
    var td = el("td"); td.appendChild(ul);
    return td;
  }

  function show(job) {
    var doc = job.report;
    document.getElementById("replay-result").hidden = false;
    document.getElementById("replay-cases").textContent = doc.cases;
    document.getElementById("replay-changed").textContent = doc.changed;
    document.getElementById("replay-retimed").textContent = doc.retimed;
    var keys = ["response", "on_time_closure", "backstop_share"];
    fill("table-rates", keys, function (k) {
      var b = el("td", pct(doc.rates.before[k]), "num"); b.id = "rate-" + k + "-before";
      var a = el("td", pct(doc.rates.after[k]), "num"); a.id = "rate-" + k + "-after";
      return [el("td", words[k]), b, a];
    });
    diffRows("table-kinds", doc.kinds);
    diffRows("table-levels", doc.levels);
    diffRows("table-units", doc.units);
    ["before", "after"].forEach(function (side) {
      fill("table-busiest-" + side, doc.busiest[side], function (r) {
        return [el("td", r.name + " · " + r.kind_name), el("td", r.cases, "num")];
      });
    });
    fill("table-changed", doc.changed_cases, function (c) {
      var what = el("td");
      what.appendChild(el("div", c.case_number || c.id));
      what.appendChild(el("div", c.category_name + " · " + c.cell_name + " · " + c.received_at.slice(0, 16).replace("T", " "), "muted"));
      return [what, route(c.before), route(c.after)];
    });
    ["rates", "kinds", "levels", "units", "busiest", "changed"].forEach(function (t) {
      document.getElementById("csv-" + t).href = "/api/v1/replays/" + encodeURIComponent(job.id) + "/" + t + ".csv";
    });
    charts(doc);
    status.textContent = words.cases + " " + doc.cases + " · " + words.changed + " " + doc.changed
      + " · " + words.seconds + " " + (job.seconds === null ? "—" : job.seconds);
  }

  function charts(doc) {
    var card = document.getElementById("replay-charts");
    if (!window.echarts) return;
    card.hidden = false;
    function bars(id, names, before, after) {
      var node = document.getElementById(id);
      var chart = window.echarts.getInstanceByDom(node) || window.echarts.init(node);
      chart.setOption({
        title: { text: node.getAttribute("data-title") || "", left: "center", textStyle: { fontSize: 14 } },
        tooltip: { trigger: "axis" },
        legend: { bottom: 0, data: [words.before, words.after] },
        grid: { left: 48, right: 16, top: 40, bottom: 88 },
        xAxis: { type: "category", data: names, axisLabel: { rotate: 30 } },
        yAxis: { type: "value", minInterval: 1 },
        series: [
          { name: words.before, type: "bar", data: before },
          { name: words.after, type: "bar", data: after },
        ],
      }, true);
      window.addEventListener("resize", function () { chart.resize(); });
    }
    function of(rows, key) { return rows.map(function (r) { return Number(r[key]) || 0; }); }
    function names(rows) { return rows.map(function (r) { return String(r.name); }); }
    bars("chart-kinds", names(doc.kinds), of(doc.kinds, "before"), of(doc.kinds, "after"));
    bars("chart-levels", names(doc.levels), of(doc.levels, "before"), of(doc.levels, "after"));
    var units = {};
    doc.busiest.before.concat(doc.busiest.after).forEach(function (r) { units[r.unit] = r.name; });
    var ids = Object.keys(units);
    function count(side, id) {
      var found = doc.busiest[side].filter(function (r) { return r.unit === id; })[0];
      return found ? found.cases : 0;
    }
    bars("chart-busiest", ids.map(function (id) { return units[id]; }),
      ids.map(function (id) { return count("before", id); }), ids.map(function (id) { return count("after", id); }));
  }

  function poll(id) {
    fetch("/api/v1/replays/" + encodeURIComponent(id), { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.json(); })
      .then(function (job) {
        if (job.status === "running") { window.setTimeout(function () { poll(id); }, 500); return; }
        button.disabled = false;
        if (job.status === "failed") { status.textContent = words.failed + ": " + job.error; status.className = "error"; return; }
        status.className = "muted";
        root.dataset.replay = job.id;
        show(job);
      })
      .catch(function (error) { button.disabled = false; status.textContent = words.failed + ": " + error.message; });
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    button.disabled = true;
    status.className = "muted";
    status.textContent = words.running;
    fetch("/api/v1/replays", {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf, Accept: "application/json" },
      body: JSON.stringify({
        since: document.getElementById("r-from").value,
        until: document.getElementById("r-to").value,
        config: document.getElementById("r-config").value,
      }),
    })
      .then(function (r) { return r.json().then(function (body) { return { ok: r.ok, body: body }; }); })
      .then(function (answer) {
        if (!answer.ok) {
          button.disabled = false;
          var errors = (answer.body.errors || []).map(function (e) { return e.field + ": " + e.reason; });
          status.textContent = words.failed + ": " + (errors.join("; ") || answer.body.detail || answer.body.title);
          status.className = "error";
          return;
        }
        poll(answer.body.id);
      })
      .catch(function (error) { button.disabled = false; status.textContent = words.failed + ": " + error.message; });
  });
})();
