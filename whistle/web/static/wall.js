/* 大屏 /wall: draws the wall from GET /api/v1/wall and keeps it live. The cells' polygons come
   from /api/v1/grids/{code}/shapes (registered once with echarts.registerMap; no tiles, nothing
   from the internet); every event on /api/v1/stream reads the figures again, at most once a
   second, so a new whistle changes the source counts and its cell's colour without a reload.
   Text is only ever set with textContent, never parsed as HTML. */
"use strict";
(function () {
  var config = JSON.parse(document.getElementById("wall-config").textContent);
  var L = config.labels;
  var EVENT_TYPES = [
    "whistle.received", "whistle.routed", "whistle.muted",
    "assignment.acknowledged", "assignment.claimed", "assignment.started",
    "assignment.resolved", "assignment.returned", "assignment.added",
    "assignment.return_accepted", "assignment.return_refused", "assignment.return_overdue",
    "case.verified", "case.closed", "case.reopened", "case.held", "case.released",
    "case.extended", "case.rated", "case.rectification_opened", "case.merged", "case.urged",
    "case.supervised", "case.overdue", "case.repeated",
  ];
  var chart = null, mapReady = null, names = {}, paths = {}, latest = null;
  var pending = null, lastLoad = 0, loading = false, again = false;

  function $(id) { return document.getElementById(id); }
  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); return node; }
  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }
  function fmt(template, values) {
    return template.replace(/\{(\w+)\}/g, function (_, key) { return values[key]; });
  }
  function getJSON(url) {
    return fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) throw new Error(url + ": HTTP " + response.status);
        return response.json();
      });
  }

  function pct(rate) { return rate === null || rate === undefined ? "—" : (rate * 100).toFixed(1) + "%"; }

  function span(seconds) {
    var minutes = Math.max(1, Math.floor(seconds / 60));
    if (minutes < 60) return fmt(L.minutes, { n: minutes });
    var hours = Math.floor(minutes / 60);
    if (hours < 48) return fmt(L.hours, { n: hours }) + (minutes % 60 ? fmt(L.minutes, { n: minutes % 60 }) : "");
    return fmt(L.days, { n: Math.floor(hours / 24) }) + (hours % 24 ? fmt(L.hours, { n: hours % 24 }) : "");
  }

  function clock() {
    var now = new Date();
    $("wall-clock").textContent = now.toLocaleString(config.lang === "en" ? "en-GB" : "zh-CN", {
      timeZone: "Asia/Shanghai", hour12: false, year: "numeric", month: "2-digit", day: "2-digit",
      hour: "2-digit", minute: "2-digit", second: "2-digit",
    });
  }

  function drawSources(doc) {
    $("today-total").textContent = doc.today_total;
    var list = clear($("wall-sources"));
    doc.sources.forEach(function (s) {
      var li = el("li", "source");
      li.setAttribute("data-source", s.key);
      li.appendChild(el("span", "name", s.name));
      li.appendChild(el("span", "count", s.count));
      list.appendChild(li);
    });
  }

  function drawRates(doc) {
    $("rates-window").textContent = doc.rates.since + " – " + doc.rates.until;
    var list = clear($("wall-rates"));
    doc.rates.items.forEach(function (r) {
      var li = el("li", "rate");
      li.setAttribute("data-rate", r.key);
      li.appendChild(el("span", "name", r.name));
      li.appendChild(el("span", "value", pct(r.rate)));
      li.appendChild(el("span", "ratio", r.numerator + " / " + r.denominator));
      list.appendChild(li);
    });
  }

  function drawOverdue(doc) {
    $("overdue-count").textContent = doc.overdue.count;
    var list = clear($("wall-overdue"));
    if (!doc.overdue.items.length) { list.appendChild(el("li", "empty", L.no_overdue)); return; }
    doc.overdue.items.forEach(function (item) {
      var li = el("li", "overdue-item");
      li.setAttribute("data-case", item.id);
      li.appendChild(el("span", "what", item.category.name + " · " + item.source.name));
      li.appendChild(el("span", "late", item.overdue_seconds === null
        ? L.overdue_flagged : fmt(L.overdue_for, { time: span(item.overdue_seconds) })));
      li.appendChild(el("span", "where", item.place.path + " · " + item.case_number + " · " + item.status.name));
      list.appendChild(li);
    });
  }

  function drawTopCells(doc) {
    var list = clear($("top-cells"));
    doc.cells.filter(function (c) { return c.open > 0; })
      .sort(function (a, b) { return b.open - a.open || (a.name < b.name ? -1 : 1); })
      .slice(0, 8)
      .forEach(function (c) {
        var li = el("li", "cell", c.path);
        li.setAttribute("data-cell", c.code);
        li.appendChild(el("strong", "", c.open));
        list.appendChild(li);
      });
    var elsewhere = $("open-elsewhere");
    elsewhere.hidden = !doc.open_elsewhere;
    elsewhere.textContent = doc.open_elsewhere ? fmt(L.elsewhere, { n: doc.open_elsewhere }) : "";
  }

  /* The polygons, once: every /shapes of map.shapes merged into one GeoJSON map. */
  function loadMap(doc) {
    if (mapReady) return mapReady;
    if (!window.echarts) { $("wall-map").textContent = L.no_map + " (echarts)"; return Promise.reject(new Error("no echarts")); }
    mapReady = Promise.all(doc.map.shapes.map(function (code) {
      return getJSON("/api/v1/grids/" + encodeURIComponent(code) + "/shapes");
    })).then(function (collections) {
      var features = [];
      collections.forEach(function (c) { features = features.concat(c.features); });
      window.echarts.registerMap("wall", { type: "FeatureCollection", features: features });
      chart = window.echarts.init($("wall-map"), null, { renderer: "canvas" });
      window.addEventListener("resize", function () { chart.resize(); });
    });
    mapReady.catch(function () { $("wall-map").textContent = L.no_map; mapReady = null; });
    return mapReady;
  }

  function drawMap(doc) {
    doc.cells.forEach(function (c) { names[c.code] = c.name; paths[c.code] = c.path; });
    $("map-title").textContent = fmt(L.by_cell, { level: doc.map.level_name });
    $("open-total").textContent = doc.open_total;
    loadMap(doc).then(function () {
      var data = doc.cells.map(function (c) { return { name: c.code, value: c.open }; });
      var top = Math.max(1, Math.max.apply(null, data.map(function (d) { return d.value; }).concat([0])));
      chart.setOption({
        backgroundColor: "transparent",
        tooltip: { trigger: "item", textStyle: { fontSize: 22 },
          formatter: function (p) { return (paths[p.name] || p.name) + " " + (p.value || 0) + " " + L.cases; } },
        visualMap: {
          min: 0, max: top, left: 16, bottom: 16, calculable: false, itemHeight: 220, itemWidth: 22,
          text: [String(top), "0"], textStyle: { color: "#f2f5fa", fontSize: 20 },
          inRange: { color: ["#1b2b55", "#3b5ba8", "#f5c542", "#f08a24", "#e0301e"] },
        },
        series: [{
          type: "map", map: "wall", nameProperty: "code", roam: false, selectedMode: false,
          aspectScale: 0.95, layoutCenter: ["50%", "50%"], layoutSize: "96%",
          label: { show: doc.cells.length <= 40, color: "#ffffff", fontSize: 18,
            formatter: function (p) { return names[p.name] || p.name; } },
          emphasis: { label: { show: true, color: "#ffffff", fontSize: 22 } },
          itemStyle: { borderColor: "#0a1020", borderWidth: 1 },
          data: data,
        }],
      });
      $("wall-map").setAttribute("data-values", JSON.stringify(doc.cells.reduce(function (acc, c) {
        acc[c.code] = c.open; return acc;
      }, {})));
    }).catch(function () { /* the message is on the map already */ });
  }

  function draw(doc) {
    latest = doc;
    drawSources(doc);
    drawRates(doc);
    drawOverdue(doc);
    drawTopCells(doc);
    drawMap(doc);
    $("wall-updated").textContent = fmt(L.updated, { time: doc.now.slice(11, 19) });
    document.body.setAttribute("data-now", doc.now);
  }

  function load() {
    if (loading) { again = true; return; }
    loading = true;
    lastLoad = Date.now();
    getJSON(config.api).then(draw).catch(function (error) {
      if (window.console) window.console.warn("wall:", error.message);
    }).then(function () {
      loading = false;
      if (again) { again = false; schedule(); }
    });
  }

  /* Many events come together (a whistle is received, routed, assigned): one read for all. */
  function schedule() {
    if (pending) return;
    var wait = Math.max(200, 1000 - (Date.now() - lastLoad));
    pending = window.setTimeout(function () { pending = null; load(); }, wait);
  }

  function follow() {
    if (!window.EventSource) return;
    var source = new EventSource(config.stream);
    var live = $("wall-live");
    EVENT_TYPES.forEach(function (type) { source.addEventListener(type, schedule); });
    source.addEventListener("reset", schedule);
    source.addEventListener("revoked", function () { source.close(); window.location.assign("/login"); });
    source.onopen = function () { live.textContent = "● " + L.live; live.className = "live"; };
    source.onerror = function () { live.textContent = "○ " + L.offline; live.className = "live offline"; };
  }

  clock();
  window.setInterval(clock, 1000);
  // Deadlines pass without an event on the stream: read the figures every minute anyway.
  window.setInterval(load, 60000);
  load();
  follow();
  window.whistleWall = { latest: function () { return latest; } };
})();
