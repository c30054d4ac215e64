/* 我的任务 /tasks: live countdowns to each card's next deadline (red once past), new
   assignments arriving over the event stream (the server sends a responder only its own
   notices), an optional beep (WebAudio, off by default), and the count badge. The task page
   (/tasks/{id}) uses the countdowns too. No framework; text is set with textContent. */
"use strict";
(function () {
  var W = window.W, T = W.T, data = W.data;
  // The server's clock, not the phone's: a phone set five minutes wrong must not lie.
  var skew = data.now ? Date.parse(data.now) - Date.now() : 0;

  function span(ms) {
    var minutes = Math.floor(Math.abs(ms) / 60000);
    var days = Math.floor(minutes / 1440), hours = Math.floor((minutes % 1440) / 60), mins = minutes % 60;
    if (days) return days + T.days + " " + hours + T.hours;
    if (hours) return hours + T.hours + " " + ("0" + mins).slice(-2) + T.minutes;
    return mins + T.minutes;
  }

  function tick() {
    var now = Date.now() + skew;
    Array.prototype.forEach.call(document.querySelectorAll(".countdown[data-due]"), function (node) {
      var left = Date.parse(node.getAttribute("data-due")) - now;
      var late = left < 0;
      node.textContent = late ? T.overdue + " " + span(left) : span(left);
      var card = node.closest(".task-card, .due-line");
      if (card) card.classList.toggle("overdue", late);
    });
  }
  tick();
  window.setInterval(tick, 15000);
  window.WTasks = { tick: tick };

  var list = document.getElementById("task-list");
  if (!list) return;  // the task page: countdowns only

  // -- the beep: WebAudio, unlocked by the tap on the toggle (browsers need a gesture) ------
  var sound = document.getElementById("sound");
  var audio = null;
  sound.checked = window.localStorage.getItem("whistle.tasks.sound") === "on";
  function unlock() {
    if (!audio && (window.AudioContext || window.webkitAudioContext)) {
      audio = new (window.AudioContext || window.webkitAudioContext)();
    }
  }
  sound.addEventListener("change", function () {
    window.localStorage.setItem("whistle.tasks.sound", sound.checked ? "on" : "off");
    if (sound.checked) { unlock(); beep(); }
  });
  function beep() {
    if (!sound.checked) return;
    unlock();
    if (!audio) return;
    var osc = audio.createOscillator(), gain = audio.createGain();
    osc.type = "sine"; osc.frequency.value = 880;
    gain.gain.setValueAtTime(0.2, audio.currentTime);
    gain.gain.exponentialRampToValueAtTime(0.001, audio.currentTime + 0.4);
    osc.connect(gain); gain.connect(audio.destination);
    osc.start(); osc.stop(audio.currentTime + 0.4);
  }

  // -- live list: any notice of ours reloads the list (the page renders it) ------------------
  function ids(root) {
    return Array.prototype.map.call(root.querySelectorAll(".task-card"), function (n) { return n.getAttribute("data-assignment"); });
  }
  var loading = null, soon = null;
  // A burst of events (a case routed to three people) is one reload, a moment later.
  function reloadSoon() {
    if (soon) return;
    soon = window.setTimeout(function () { soon = null; reload(); }, 300);
  }
  function reload() {
    if (loading) return loading;
    var before = ids(list);
    loading = fetch(window.location.pathname + window.location.search, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (response) { return response.ok ? response.text() : null; })
      .then(function (html) {
        loading = null;
        if (!html) return;
        var doc = new DOMParser().parseFromString(html, "text/html");
        var fresh = doc.getElementById("task-list"), badge = doc.getElementById("task-count");
        if (!fresh) return;
        list.replaceWith(fresh);
        list = fresh;
        var head = document.querySelector(".tasks-head"), newHead = doc.querySelector(".tasks-head");
        if (head && newHead) head.replaceWith(newHead);
        var history = document.getElementById("history"), newHistory = doc.getElementById("history");
        if (history && newHistory) history.replaceWith(newHistory);
        var added = ids(list).filter(function (id) { return before.indexOf(id) < 0; });
        added.forEach(function (id) {
          var card = list.querySelector('.task-card[data-assignment="' + id + '"]');
          if (card) card.classList.add("fresh");
        });
        if (added.length) {
          var note = document.getElementById("arrived");
          note.textContent = T.arrived + " (" + added.length + ")";
          note.hidden = false;
          beep();
        }
        if (badge) document.title = (Number(badge.getAttribute("data-waiting")) ? "(" + badge.getAttribute("data-waiting") + ") " : "") + document.title.replace(/^\(\d+\) /, "");
        tick();
      }, function () { loading = null; });
    return loading;
  }
  window.WTasks.reload = reload;

  var liveState = document.getElementById("live-state");
  var TYPES = ["whistle.routed", "assignment.added", "assignment.claimed", "assignment.acknowledged",
               "assignment.started", "assignment.resolved", "assignment.returned", "assignment.return_refused",
               "case.urged", "case.supervised", "case.extension_requested", "case.extension_refused",
               "case.rectification_opened", "case.reopened"];
  if (window.EventSource) {
    var source = new EventSource("/api/v1/stream");
    TYPES.forEach(function (type) { source.addEventListener(type, reloadSoon); });
    source.addEventListener("reset", reloadSoon);
    source.addEventListener("revoked", function () { source.close(); liveState.textContent = T.offline; liveState.className = "muted error"; });
    source.onopen = function () { liveState.textContent = T.live; liveState.className = "muted ok"; };
    source.onerror = function () { liveState.textContent = T.offline; liveState.className = "muted error"; };
  }
})();
