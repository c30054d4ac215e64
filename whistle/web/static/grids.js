/* 网格 /grids: the five levels as a lazily drilled tree; for the chosen cell its responders
   with their duty shifts, its open cases, and a map of its children drawn by Apache ECharts
   (registerMap with the cell's GeoJSON; no tiles, nothing from the internet). */
"use strict";
(function () {
  var W = window.W, T = W.T, el = W.el, data = W.data;
  var tree = document.getElementById("tree");
  var chart = null;
  var selected = null;
  var DAYS = { mon: "一", tue: "二", wed: "三", thu: "四", fri: "五", sat: "六", sun: "日" };

  function node(cell) {
    var li = el("li", { role: "treeitem", "data-code": cell.code, "aria-expanded": cell.children ? "false" : null });
    var kids = el("ul", { role: "group", hidden: true });
    var toggle = el("button", { type: "button", className: "toggle", "aria-label": T.children,
                                text: cell.children ? "▸" : "·", disabled: !cell.children });
    var name = el("button", { type: "button", className: "name" }, [
      el("span", { text: cell.name }), el("small", { text: " " + (cell.level_name || "") }),
    ]);
    var loaded = false;
    function expand(open) {
      if (!cell.children) return;
      kids.hidden = !open;
      toggle.textContent = open ? "▾" : "▸";
      li.setAttribute("aria-expanded", open ? "true" : "false");
      if (open && !loaded) {
        loaded = true;
        kids.appendChild(el("li", { className: "muted", text: T.loading }));
        W.api("GET", "/api/v1/grids?limit=1000&parent=" + encodeURIComponent(cell.code)).then(function (answer) {
          W.clear(kids);
          if (!answer.ok) { kids.appendChild(el("li", { className: "error", text: W.problemText(answer) })); return; }
          answer.body.items.forEach(function (child) { kids.appendChild(node(child)); });
        });
      }
    }
    toggle.addEventListener("click", function () { expand(kids.hidden); });
    name.addEventListener("click", function () { expand(true); select(cell.code); });
    li.appendChild(el("div", { className: "tree-row" }, [toggle, name]));
    li.appendChild(kids);
    li._expand = expand;
    return li;
  }

  function shiftText(s) {
    var days = s.days.map(function (d) {
      if (d === "workdays") return T.workdays;
      if (d === "daily") return T.daily;
      return data.lang === "en" ? d : "周" + (DAYS[d] || d);
    }).join("、");
    return days + " " + s.start + "–" + s.end;
  }

  function showResponders(code) {
    var list = W.clear(document.getElementById("responders"));
    W.api("GET", "/api/v1/grids/" + encodeURIComponent(code) + "/roster").then(function (answer) {
      if (!answer.ok) { list.appendChild(el("li", { className: "error", text: W.problemText(answer) })); return; }
      var people = answer.body.responders;
      if (people === null || !people.length) { list.appendChild(el("li", { className: "muted", text: T.none })); return; }
      people.forEach(function (r) {
        var shifts = r.shifts.length ? r.shifts.map(shiftText).join("; ") : T.always;
        list.appendChild(el("li", { className: "item responder", "data-id": r.id }, [
          el("strong", { text: r.name }), " ",
          el("span", { className: "badge", text: data.lang === "en" ? r.kind : r.kind_name }),
          el("div", { className: "muted", text: T.shifts + ": " + shifts + (r.backup ? " · " + T.backup + " " + r.backup : "") }),
        ]));
      });
    });
  }

  function showCases(code) {
    var list = W.clear(document.getElementById("cases"));
    if (!data.may_list_cases) { list.appendChild(el("li", { className: "muted", text: T.no_cases_access })); return; }
    Promise.all(data.statuses.map(function (status) {
      return W.api("GET", "/api/v1/whistles?limit=50&grid=" + encodeURIComponent(code) + "&status=" + status);
    })).then(function (answers) {
      if (selected !== code) return;
      var items = [];
      answers.forEach(function (a) { if (a.ok) items = items.concat(a.body.items); });
      items.sort(function (a, b) { return a.id < b.id ? 1 : -1; });
      items.forEach(function (w) {
        var category = w.category && typeof w.category === "object" ? (w.category.name || w.category.code) : w.category;
        list.appendChild(el("li", { className: "item case", "data-whistle": w.id }, [
          el("a", { href: W.withLang("/cases/" + encodeURIComponent(w.id)), text: w.id }), " ",
          el("span", { className: "badge", text: W.status(w.status) }),
          el("div", { text: (category ? category + " · " : "") + (w.description || "") }),
          el("div", { className: "muted", text: ((w.grid && w.grid.name) || "") + " · " + W.time(w.received_at) }),
        ]));
      });
      if (!items.length) list.appendChild(el("li", { className: "muted", text: T.none }));
    });
  }

  function showMap(code) {
    var box = document.getElementById("map");
    if (!window.echarts) { box.textContent = T.failed + " (echarts)"; return; }
    W.api("GET", "/api/v1/grids/" + encodeURIComponent(code) + "/shapes").then(function (answer) {
      if (!answer.ok || selected !== code) return;
      var names = {}, rows = [];
      answer.body.features.forEach(function (f) {
        names[f.properties.code] = f.properties.name;
        rows.push({ name: f.properties.code, value: f.properties.children });
      });
      var mapName = "cell-" + code;
      window.echarts.registerMap(mapName, answer.body);
      if (!chart) {
        chart = window.echarts.init(box, null, { renderer: "canvas" });
        window.addEventListener("resize", function () { chart.resize(); });
        chart.on("click", function (params) {
          var li = tree.querySelector('li[data-code="' + params.name + '"]');
          if (li && li._expand) li._expand(true);
          if (params.name !== selected) select(params.name);
        });
      }
      chart.clear();
      chart.setOption({
        tooltip: { formatter: function (p) { return names[p.name] + " (" + p.name + ")"; } },
        series: [{
          type: "map", map: mapName, nameProperty: "code", roam: true, selectedMode: false,
          label: { show: rows.length <= 40, formatter: function (p) { return names[p.name] || p.name; }, fontSize: 11 },
          itemStyle: { areaColor: "#fbe9e7", borderColor: "#b3261e", borderWidth: 1 },
          emphasis: { itemStyle: { areaColor: "#f4b4ad" }, label: { show: true } },
          data: rows,
        }],
      });
      box.setAttribute("data-map", code);
    });
  }

  function select(code) {
    selected = code;
    Array.prototype.forEach.call(tree.querySelectorAll(".tree-row.selected"), function (n) { n.classList.remove("selected"); });
    var row = tree.querySelector('li[data-code="' + code + '"] > .tree-row');
    if (row) row.classList.add("selected");
    W.api("GET", "/api/v1/grids/" + encodeURIComponent(code)).then(function (answer) {
      if (!answer.ok) { document.getElementById("cell-title").textContent = W.problemText(answer); return; }
      var cell = answer.body;
      document.getElementById("cell-title").textContent = cell.name + " · " + cell.level_name + " · " + cell.code;
      var path = W.clear(document.getElementById("cell-path"));
      cell.path.forEach(function (p, i) {
        if (i) path.appendChild(document.createTextNode(" › "));
        path.appendChild(el("span", { text: p.name }));
      });
    });
    showResponders(code);
    showCases(code);
    showMap(code);
  }

  W.api("GET", "/api/v1/grids/" + encodeURIComponent(data.scope)).then(function (answer) {
    if (!answer.ok) { tree.appendChild(el("li", { className: "error", text: W.problemText(answer) })); return; }
    var top = node({ code: answer.body.code, name: answer.body.name, level_name: answer.body.level_name,
                     children: answer.body.children });
    tree.appendChild(top);
    top._expand(true);
    select(answer.body.code);
  });
})();
