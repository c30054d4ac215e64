// 调度台: the live queue and the operator's actions. Vanilla JS, no build step.
//
// The console page (#console) lists through GET /api/v1/whistles with its filters and follows
// GET /api/v1/stream (Server-Sent Events), refreshing each case an event names. Its actions are
// asked in dialogs (static/dialogs.js, shared with the case page) and its bulk actions on
// selected rows live in static/bulk.js. Data is always set with textContent, never as markup.
"use strict";

(function () {
  var ACTIVE = { dispatched: 1, acknowledged: 1, in_progress: 1 };
  var LIVE_ASSIGNMENT = { dispatched: 1, open: 1, acknowledged: 1, in_progress: 1 };
  // Out of the open queue (the list API's queue=open): merged, or done with.
  var CLOSED = { cancelled: 1, closed: 1, rated: 1, verified: 1 };
  var EVENT_TYPES = [
    "whistle.received", "whistle.routed", "whistle.muted", "whistle.unplaced", "whistle.placed",
    "assignment.acknowledged", "assignment.claimed", "assignment.started",
    "assignment.resolved", "assignment.returned", "assignment.added",
    "assignment.return_accepted", "assignment.return_refused", "assignment.return_overdue",
    "case.verified", "case.closed", "case.reopened", "case.held", "case.released",
    "case.extended", "case.rated", "case.rectification_opened", "case.merged", "case.urged",
    "case.supervised",
    "case.overdue", "case.repeated", "notification.failed"
  ];

  function el(tag, text, className) {
    var node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    if (className) node.className = className;
    return node;
  }

  function shortTime(text) {
    // The API sends RFC 3339 in the county's zone (+08:00): its wall clock is local time.
    return text ? String(text).slice(0, 16).replace("T", " ") : "";
  }

  // -- actions: asked in dialogs (static/dialogs.js), never window.prompt -------------------

  function actionButton(labels, action, onClick) {
    var button = el("button", labels.buttons[action], "action action-" + action);
    button.type = "button";
    button.dataset.action = action;
    button.addEventListener("click", onClick);
    return button;
  }

  // -- the console page ----------------------------------------------------------------------

  function initConsole(root) {
    var csrf = root.dataset.csrf;
    var config = JSON.parse(root.dataset.config);
    var labels = config.labels;
    var statuses = config.statuses;
    var rows = document.getElementById("queue-rows");
    var message = document.getElementById("console-message");
    var liveState = document.getElementById("live-state");
    var form = document.getElementById("filters");
    var more = document.getElementById("more");
    var known = {}; // whistle id -> {status, overdue, escalated}: for the live counts
    var nextCursor = null;
    var pending = {};
    var bulk = !!(window.WhistleBulk && window.WhistleBulk.init(root, say));
    // The queue's columns, sort, search and sound: static/queue.js.
    var Q = window.WhistleQueue;
    var q = config.queue;
    Q.setServerNow(config.now);
    var sorter = Q.Sorter(rows.closest("table"), rows);
    var search = document.getElementById("q-search");
    var sound = Q.Sound(document.getElementById("q-sound"), root);
    var countsTimer = null;

    function say(text, bad) {
      message.textContent = text;
      message.className = "console-message" + (bad ? " error" : "");
    }

    function filters() {
      var data = new FormData(form);
      var f = {};
      data.forEach(function (value, key) { if (value) f[key] = String(value); });
      return f;
    }

    function listQuery(cursor) {
      var f = filters();
      var q = new URLSearchParams();
      var grid = f.community || f.town;
      if (grid) q.set("grid", grid);
      ["level", "source", "category", "status"].forEach(function (key) {
        if (f[key]) q.set(key, f[key]);
      });
      // 退单待定 is a queue (returns awaiting a decision), not a status.
      if (f.status === "returned") { q.delete("status"); q.set("queue", "returned"); }
      // Without a state chosen: the open queue (merged and closed cases are out of it).
      if (!f.status) q.set("queue", "open");
      if (search.value.trim()) q.set("q", search.value.trim());
      // By time left where a clock runs (the open queues); other states newest first.
      if (!f.status || ACTIVE[f.status] || f.status === "returned") q.set("sort", "due");
      q.set("limit", "100");
      if (cursor) q.set("cursor", cursor);
      return "/api/v1/whistles?" + q.toString();
    }

    function matches(doc) {
      // The same filters as the list API, for cases that the stream brings in.
      var f = filters();
      var grid = f.community || f.town;
      if (grid && !doc.grid.path.some(function (c) { return c.code === grid; })) return false;
      if (f.level && doc.grid.level !== f.level) return false;
      if (f.source && doc.source !== f.source) return false;
      if (f.category && doc.category.code.indexOf(f.category) !== 0) return false;
      if (!Q.matchesText(doc, search.value.trim())) return false;
      if (!f.status && CLOSED[doc.status]) return false;
      if (f.status === "returned") return ((doc.case || {}).returns_pending || []).length > 0;
      if (f.status && doc.status !== f.status) return false;
      return true;
    }

    function flags(doc) {
      var active = !!ACTIVE[doc.status];
      // Overdue: the next deadline, the one the row shows, has passed (queue.js).
      var overdue = Q.isOverdue(doc);
      // Escalated: a live assignment added after intake by an escalation or the backstop
      // (the first routing may itself reach the backstop; that is not an escalation).
      var routed = {};
      (doc.trace || []).forEach(function (t) { routed[t.assignment] = 1; });
      var escalated = active && (doc.assignments || []).some(function (a) {
        return LIVE_ASSIGNMENT[a.status] && !routed[a.id] &&
          (a.origin === "escalation" || a.origin === "backstop");
      });
      var waiting = {};
      ((doc.case || {}).returns_pending || []).forEach(function (r) { waiting[r.assignment] = 1; });
      var returned = (doc.assignments || []).filter(function (a) { return waiting[a.id]; });
      return { overdue: overdue, escalated: escalated, returned: returned };
    }

    function refreshCounts() {
      // The counts are the store's, over the whole subtree (GET /api/v1/queue-counts), asked
      // again once a burst of events has passed: exact, whatever rows are loaded.
      window.clearTimeout(countsTimer);
      countsTimer = window.setTimeout(function () {
        fetch("/api/v1/queue-counts", { credentials: "same-origin" })
          .then(function (response) { return response.ok ? response.json() : null; })
          .then(function (data) {
            if (!data) return;
            Object.keys(data.counts).forEach(function (key) {
              var node = root.querySelector('[data-count="' + key + '"]');
              if (node) node.textContent = String(data.counts[key]);
            });
          });
      }, 300);
    }

    function track(id, status, f) {
      known[id] = {
        status: status, overdue: f.overdue, escalated: f.escalated, returned: f.returned.length > 0
      };
      refreshCounts();
    }

    function row(doc) {
      var f = flags(doc);
      var tr = el("tr");
      tr.dataset.id = doc.id;
      if (bulk) tr.appendChild(window.WhistleBulk.cell(doc)); // static/bulk.js: the selection
      tr.classList.toggle("overdue", f.overdue);
      tr.classList.toggle("escalated", f.escalated);
      tr.classList.toggle("returned", f.returned.length > 0);
      var columns = Q.cells(doc, q);
      columns.before.forEach(function (td) { tr.appendChild(td); });
      var state = el("td", statuses[doc.status] || doc.status);
      if (f.overdue) state.appendChild(el("span", labels.flags.overdue, "flag flag-overdue"));
      if (f.escalated) state.appendChild(el("span", labels.flags.escalated, "flag flag-escalated"));
      if (f.returned.length) state.appendChild(el("span", labels.flags.returned, "flag flag-returned"));
      // Which silence muted the case, or covered an emergency that was dispatched anyway:
      // named by its comment (an operator knows "道路施工", not an id), its author on hover.
      ["muted_by", "silence_warning"].forEach(function (key) {
        var named = doc[key];
        if (!named) return;
        var flag = el("span", labels.flags[key] + ": " + named.comment, "flag flag-" + key.replace("_", "-"));
        flag.title = named.author;
        state.appendChild(flag);
      });
      tr.appendChild(state);
      columns.after.forEach(function (td) { tr.appendChild(td); });
      if (config.can_act) tr.appendChild(actionsCell(doc, f));
      return tr;
    }

    function actionsCell(doc, f) {
      var td = el("td", null, "actions");
      var allowed = (doc.case || {}).allowed || [];
      var live = (doc.assignments || []).filter(function (a) { return LIVE_ASSIGNMENT[a.status]; });
      var ids = {
        whistle: doc.id,
        doc: doc,
        grid: doc.grid && doc.grid.code,
        category: doc.category && doc.category.code,
        camera: doc.source === "camera" ? doc.camera_id : null,
        // Which live assignment a row's 改派 moves, when there are several: asked in the dialog.
        assignments: live.map(function (a) {
          return { value: a.id, name: a.kind_name + " · " + (a.responder ? a.responder.name : a.cell_name) };
        })
      };
      function add(action, extra) {
        td.appendChild(actionButton(config.actions, action, function () {
          window.WhistleActions.run(actionContext(doc.id), action, Object.assign({}, ids, extra || {}));
        }));
      }
      if (doc.status === "unplaced") add("place"); // 待定位: pick its cell, then it is routed
      if (allowed.indexOf("verify") >= 0) { add("verify_pass"); add("verify_fail"); }
      if (ACTIVE[doc.status]) add("urge");
      if (ACTIVE[doc.status] && live.length) add("reassign");
      f.returned.forEach(function (a) {
        add("accept_return", { assignment: a.id });
        add("refuse_return", { assignment: a.id });
      });
      if (allowed.indexOf("hold") >= 0) add("hold");
      if (allowed.indexOf("release") >= 0) add("release");
      if (allowed.indexOf("merge") >= 0) add("merge");
      // A silence is made on the silences page, filled in from this case.
      var silence = el("a", q.silence_link, "action action-silence");
      silence.href = "/silences/new?from=" + encodeURIComponent(doc.id);
      td.appendChild(silence);
      return td;
    }

    function actionContext(id) {
      return { csrf: csrf, labels: config.actions, actor: config.actor, say: say,
               done: function () { refresh(id); } };
    }

    function clearEmpty() {
      var empty = rows.querySelector("tr.empty");
      if (empty) empty.remove();
    }

    function upsert(doc, atTop) {
      var f = flags(doc);
      track(doc.id, doc.status, f);
      var old = rows.querySelector('tr[data-id="' + CSS.escape(doc.id) + '"]');
      if (!matches(doc)) {
        if (old) old.remove();
        return;
      }
      var fresh = row(doc);
      if (old) {
        rows.replaceChild(fresh, old);
      } else {
        clearEmpty();
        if (atTop) rows.insertBefore(fresh, rows.firstChild); else rows.appendChild(fresh);
      }
      sorter.apply();
      fresh.classList.add("changed");
      window.setTimeout(function () { fresh.classList.remove("changed"); }, 2000);
    }

    function load(cursor) {
      return fetch(listQuery(cursor), { credentials: "same-origin" })
        .then(function (response) {
          if (!response.ok) throw new Error(String(response.status));
          return response.json();
        })
        .then(function (page) {
          if (!cursor) rows.textContent = "";
          page.items.forEach(function (doc) {
            var f = flags(doc);
            known[doc.id] = {
              status: doc.status, overdue: f.overdue, escalated: f.escalated,
              returned: f.returned.length > 0
            };
            rows.appendChild(row(doc));
          });
          if (!rows.firstChild) {
            var empty = el("tr", null, "empty");
            var td = el("td", labels.empty, "muted");
            td.colSpan = 10;
            empty.appendChild(td);
            rows.appendChild(empty);
          }
          nextCursor = page.next_cursor;
          more.hidden = !nextCursor;
          sorter.apply();
        })
        .catch(function (error) { say(labels.failed + ": " + error.message, true); });
    }

    function refresh(id) {
      // Several events of one write arrive together: fetch the case once for all of them.
      if (pending[id]) return;
      pending[id] = window.setTimeout(function () {
        delete pending[id];
        fetch("/api/v1/whistles/" + encodeURIComponent(id), { credentials: "same-origin" })
          .then(function (response) { return response.ok ? response.json() : null; })
          .then(function (doc) {
            if (!doc) return;
            if (alerts[id] === "new" && doc.urgency === "urgent") sound.beep();
            delete alerts[id];
            upsert(doc, true);
          });
      }, 150);
    }

    var alerts = {}; // whistle id -> "new": a whistle.received to check for urgency

    function onEvent(message) {
      var data;
      try { data = JSON.parse(message.data); } catch (e) { return; }
      if (data.type === "whistle.received" && !known[data.whistle_id]) {
        known[data.whistle_id] = { status: data.status, overdue: false, escalated: false };
        alerts[data.whistle_id] = "new";
      }
      if (data.type === "assignment.added" &&
          (data.reason === "escalation" || data.reason === "backstop")) sound.beep();
      // A merge or a cancel takes the case out of the open queue: its refresh drops the row.
      refreshCounts();
      refresh(data.whistle_id);
    }

    function follow() {
      if (!window.EventSource) return;
      var source = new EventSource("/api/v1/stream");
      EVENT_TYPES.forEach(function (type) { source.addEventListener(type, onEvent); });
      source.addEventListener("reset", function () { load(null); });
      // The token was revoked or the session ended: reconnecting would only be refused.
      source.addEventListener("revoked", function () {
        source.close();
        window.location.assign("/login");
      });
      source.onopen = function () {
        liveState.textContent = "● " + labels.live;
        liveState.className = "live-state ok";
      };
      source.onerror = function () {
        // EventSource reconnects by itself, sending Last-Event-ID: the stream replays.
        liveState.textContent = "○ " + labels.offline;
        liveState.className = "live-state error";
      };
    }

    // The community list follows the chosen town.
    var town = document.getElementById("f-town");
    var community = document.getElementById("f-community");
    town.addEventListener("change", function () {
      Array.prototype.forEach.call(community.options, function (option) {
        option.hidden = !!(option.value && town.value && option.dataset.town !== town.value);
      });
      if (community.selectedOptions[0] && community.selectedOptions[0].hidden) community.value = "";
    });
    form.addEventListener("submit", function (event) { event.preventDefault(); load(null); });
    Q.searchBox(search, function () { load(null); });
    // The countdowns run every second; the rows turn red as their deadline passes.
    window.setInterval(function () { Q.tick(rows, q); }, 1000);
    form.addEventListener("change", function () { load(null); });
    more.addEventListener("click", function () { if (nextCursor) load(nextCursor); });

    load(null);
    follow();
    // Deadlines pass without events: re-check the overdue marks every minute.
    window.setInterval(function () {
      Object.keys(known).forEach(function (id) {
        var tr = rows.querySelector('tr[data-id="' + CSS.escape(id) + '"]');
        if (tr && !tr.classList.contains("overdue")) refresh(id);
      });
    }, 60000);
  }

  document.addEventListener("DOMContentLoaded", function () {
    var consoleRoot = document.getElementById("console");
    if (consoleRoot) initConsole(consoleRoot);
  });
})();
