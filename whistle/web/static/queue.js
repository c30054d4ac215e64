// The console's queue (issue 17): columns, the countdown to each case's next deadline, sort
// by column, search as you type, and the optional sound alert. Loaded before console.js,
// which builds the rows with these helpers. Vanilla JS; data set with textContent only.
//
// Time left is counted to case.next_due (the earliest open deadline: report in, claim, a
// return's decision, or resolution), the same deadline the row shows and the server counts
// overdue by. The browser's clock is corrected by the server's time at render (config.now).
"use strict";

window.WhistleQueue = (function () {
  var LIVE = { dispatched: 1, open: 1, acknowledged: 1, in_progress: 1 };
  var PLACE_LEVELS = { community: 1, grid: 1, micro_grid: 1 };
  var SOUND_KEY = "whistle.console.sound";
  var skew = 0; // server time minus browser time, in ms

  function el(tag, text, className) {
    var node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    if (className) node.className = className;
    return node;
  }

  function setServerNow(iso) {
    var server = iso ? Date.parse(iso) : NaN;
    if (!isNaN(server)) skew = server - Date.now();
  }

  function now() { return Date.now() + skew; }

  // The 受理编号, or until the case has one the last eight characters of its id.
  function caseLabel(doc) {
    return doc.case_number ? String(doc.case_number) : "#" + String(doc.id).slice(-8);
  }

  function placeName(doc) {
    var grid = doc.grid || {};
    var names = (grid.path || []).filter(function (p) { return PLACE_LEVELS[p.level]; })
      .map(function (p) { return p.name; });
    return names.length ? names.join(" › ") : (grid.name || "");
  }

  // Who holds the case now: its owner once someone reported in, else everyone it is pushed to.
  function assignees(doc) {
    var owner = ((doc.case || {}).owner || {}).assignment;
    var live = (doc.assignments || []).filter(function (a) { return LIVE[a.status]; });
    if (owner) {
      var own = live.filter(function (a) { return a.id === owner; });
      if (own.length) live = own;
    }
    var names = [];
    live.forEach(function (a) {
      var name = a.responder ? a.responder.name : (a.kind_name || a.kind);
      if (names.indexOf(name) < 0) names.push(name);
    });
    return names;
  }

  function dueOf(doc) {
    var due = (doc.case || {}).next_due;
    return due && due.at ? { at: Date.parse(due.at), iso: due.at, kind: due.kind } : null;
  }

  function isOverdue(doc) {
    var due = dueOf(doc);
    return !!due && due.at <= now();
  }

  function duration(ms, q) {
    var minutes = Math.max(0, Math.floor(Math.abs(ms) / 60000));
    var days = Math.floor(minutes / 1440);
    var hours = Math.floor((minutes % 1440) / 60);
    var mins = minutes % 60;
    if (days) return days + q.days + hours + q.hours;
    if (hours) return hours + q.hours + mins + q.minutes;
    return mins + q.minutes;
  }

  // "办结 剩 2小时5分" or "报到 超时 10分": the kind of deadline and the time to it.
  function countdownText(iso, kind, q) {
    var left = Date.parse(iso) - now();
    var text = left > 0 ? q.left.replace("{t}", duration(left, q))
      : q.overdue_by.replace("{t}", duration(left, q));
    return (q.due_kinds[kind] || kind) + " " + text;
  }

  function countdownCell(doc, q) {
    var due = dueOf(doc);
    var td = el("td", due ? null : q.no_due, "countdown");
    if (due) {
      td.dataset.due = due.iso;
      td.dataset.kind = due.kind;
      td.title = due.iso.slice(0, 16).replace("T", " ");
      td.textContent = countdownText(due.iso, due.kind, q);
      td.classList.toggle("late", due.at <= now());
    }
    return td;
  }

  // The cells before the state column and after it; console.js adds the flags and actions.
  // What was said, at most three lines in the row (all of it on hover and on the case page).
  function described(text) {
    var td = el("td", null, "q-desc");
    td.appendChild(el("span", text, "clamp"));
    td.title = text || "";
    return td;
  }

  function cells(doc, q) {
    var link = el("a", caseLabel(doc));
    link.href = "/cases/" + encodeURIComponent(doc.id);
    link.title = doc.id;
    var number = el("td");
    number.appendChild(link);
    var category = doc.category || {};
    var urgency = doc.urgency || "normal";
    return {
      before: [
        number,
        el("td", doc.source_name || doc.source),
        el("td", category.name),
        described(doc.description),
        el("td", placeName(doc)),
        el("td", assignees(doc).join(" · ") || q.nobody)
      ],
      after: [
        countdownCell(doc, q),
        el("td", q.urgency[urgency] || urgency, "urgency-" + urgency)
      ]
    };
  }

  // Re-count every countdown (deadlines pass without events); the row turns red with it.
  function tick(tbody, q) {
    Array.prototype.forEach.call(tbody.querySelectorAll("td.countdown[data-due]"), function (td) {
      var late = Date.parse(td.dataset.due) <= now();
      td.textContent = countdownText(td.dataset.due, td.dataset.kind, q);
      td.classList.toggle("late", late);
      var tr = td.parentNode;
      if (tr && late && !tr.classList.contains("overdue")) tr.classList.add("overdue");
    });
  }

  // -- sort by column ----------------------------------------------------------------------

  var COLUMN = { number: 0, source: 1, category: 2, place: 4, assignee: 5, state: 6, left: 7,
    urgency: 8 };

  function sortValue(tr, key) {
    if (key === "left") {
      var td = tr.querySelector("td.countdown");
      return td && td.dataset.due ? td.dataset.due : "~";
    }
    if (key === "urgency") return tr.querySelector(".urgency-urgent") ? "0" : "1";
    var cell = tr.children[COLUMN[key]];
    return cell ? cell.textContent : "";
  }

  // Sorts the loaded rows by the clicked heading (again: the other way). The server sends
  // the queue by time left; the default order is that one.
  function Sorter(table, tbody) {
    var state = { key: "left", dir: 1 };
    var heads = table.querySelectorAll("th[data-sort]");
    function apply() {
      var rows = Array.prototype.filter.call(tbody.children, function (tr) {
        return tr.dataset && tr.dataset.id;
      });
      rows.sort(function (a, b) {
        var x = sortValue(a, state.key), y = sortValue(b, state.key);
        var order = x < y ? -1 : x > y ? 1 : 0;
        if (!order) order = a.dataset.id < b.dataset.id ? -1 : 1;
        return order * state.dir;
      });
      rows.forEach(function (tr) { tbody.appendChild(tr); });
      Array.prototype.forEach.call(heads, function (th) {
        if (th.dataset.sort === state.key) {
          th.setAttribute("aria-sort", state.dir > 0 ? "ascending" : "descending");
        } else {
          th.removeAttribute("aria-sort");
        }
      });
    }
    Array.prototype.forEach.call(heads, function (th) {
      th.addEventListener("click", function () {
        if (state.key === th.dataset.sort) state.dir = -state.dir;
        else { state.key = th.dataset.sort; state.dir = 1; }
        apply();
      });
    });
    return { apply: apply };
  }

  // -- search --------------------------------------------------------------------------------

  // Calls onChange with the search text as the operator types, once typing pauses.
  function searchBox(input, onChange) {
    var timer = null;
    input.addEventListener("input", function () {
      window.clearTimeout(timer);
      timer = window.setTimeout(function () { onChange(input.value.trim()); }, 250);
    });
    input.addEventListener("keydown", function (event) {
      if (event.key === "Enter") {
        event.preventDefault();
        window.clearTimeout(timer);
        onChange(input.value.trim());
      }
    });
  }

  // For cases the stream brings in while a search is on: the same fields as the server's.
  function matchesText(doc, text) {
    if (!text) return true;
    var category = doc.category || {};
    var hay = [caseLabel(doc), doc.id, doc.description, doc.reporter, category.name,
      placeName(doc)].join(" ").toLowerCase();
    return text.toLowerCase().split(/\s+/).every(function (word) {
      return !word || hay.indexOf(word) >= 0;
    });
  }

  // -- sound -----------------------------------------------------------------------------------

  // A short beep through WebAudio (no sound file) for new urgent cases and escalations; off
  // unless the operator turns it on, remembered in this browser.
  function Sound(checkbox, root) {
    var context = null;
    var on = false;
    try { on = window.localStorage.getItem(SOUND_KEY) === "on"; } catch (e) { on = false; }
    checkbox.checked = on;
    checkbox.addEventListener("change", function () {
      on = checkbox.checked;
      try { window.localStorage.setItem(SOUND_KEY, on ? "on" : "off"); } catch (e) { /* private mode */ }
      if (on) beep(); // a user gesture: browsers let audio start now
    });
    function beep() {
      if (!on) return;
      root.dataset.beeps = String((parseInt(root.dataset.beeps || "0", 10) || 0) + 1);
      var Context = window.AudioContext || window.webkitAudioContext;
      if (!Context) return;
      try {
        context = context || new Context();
        var tone = context.createOscillator();
        var gain = context.createGain();
        tone.frequency.value = 880;
        gain.gain.setValueAtTime(0.15, context.currentTime);
        gain.gain.exponentialRampToValueAtTime(0.001, context.currentTime + 0.3);
        tone.connect(gain);
        gain.connect(context.destination);
        tone.start();
        tone.stop(context.currentTime + 0.3);
      } catch (e) { /* no audio device: the count above still says an alert was due */ }
    }
    return { beep: beep };
  }

  return {
    LIVE: LIVE,
    assignees: assignees,
    caseLabel: caseLabel,
    cells: cells,
    isOverdue: isOverdue,
    matchesText: matchesText,
    placeName: placeName,
    searchBox: searchBox,
    setServerNow: setServerNow,
    Sorter: Sorter,
    Sound: Sound,
    tick: tick
  };
})();
