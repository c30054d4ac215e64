/* 认领 /claims: the claim board of the member's community, claims alone or as a team, and
   the member's active and completed work. Operators and admins see it read-only. */
"use strict";
(function () {
  var W = window.W, T = W.T, el = W.el, data = W.data;
  var formError = document.getElementById("form-error");
  var lists = { open: document.getElementById("open-needs"), mine: document.getElementById("my-work"),
                done: document.getElementById("done") };
  if (!data.responder) {
    Object.keys(lists).forEach(function (k) { W.clear(lists[k]).appendChild(el("li", { className: "muted", text: T.none })); });
    return;
  }
  var teamNames = {};
  var base = "/api/v1/responders/" + encodeURIComponent(data.responder);

  function caseLine(item, extra) {
    var w = item.whistle, a = item.assignment;
    var category = w.category && typeof w.category === "object" ? (w.category.name || w.category.code) : w.category;
    var dues = [];
    if (a.claim_due && a.status === "open") dues.push(T.claim_by + " " + W.time(a.claim_due));
    if (a.resolve_due) dues.push(T.resolve_by + " " + W.time(a.resolve_due));
    return el("li", { className: "item", "data-whistle": w.id, "data-assignment": a.id }, [
      el("div", { className: "item-head" }, [
        el("a", { href: W.withLang("/cases/" + encodeURIComponent(w.id)), text: w.case_number || ("#" + w.id.slice(-8)) }), " ",
        el("span", { className: "badge", text: W.status(a.status) }),
        a.team ? el("span", { className: "badge team", text: teamNames[a.team] || a.team }) : null,
      ]),
      el("div", { text: (category ? category + " · " : "") + (w.description || "") }),
      el("div", { className: "muted", text: [(w.grid && w.grid.name) || "", W.time(w.received_at)].concat(dues).join(" · ") }),
      extra || null,
    ]);
  }

  function claim(whistleId, team, button) {
    formError.textContent = "";
    button.disabled = true;
    W.api("POST", "/api/v1/whistles/" + encodeURIComponent(whistleId) + "/claim", team ? { team: team } : {})
      .then(function (answer) {
        if (!answer.ok) { button.disabled = false; formError.textContent = W.problemText(answer); return; }
        load();
      }, function () { button.disabled = false; formError.textContent = T.network_failed; });
  }

  function fill(list, items, extra) {
    W.clear(list);
    items.forEach(function (item) { list.appendChild(caseLine(item, extra && extra(item))); });
    if (!items.length) list.appendChild(el("li", { className: "muted", text: T.none }));
  }

  function load() {
    W.api("GET", base + "/inbox").then(function (answer) {
      if (!answer.ok) { formError.textContent = W.problemText(answer); return; }
      var inbox = answer.body;
      inbox.teams.forEach(function (t) { teamNames[t.id] = t.name; });
      document.getElementById("who").textContent = inbox.responder.name +
        (inbox.teams.length ? " · " + inbox.teams.map(function (t) { return t.name; }).join("、") : "");
      fill(lists.open, inbox.open_needs, function (item) {
        if (!data.may_claim) return null;
        var row = el("div", { className: "row actions" });
        var alone = el("button", { type: "button", className: "big claim", text: T.claim });
        alone.addEventListener("click", function () { claim(item.whistle.id, null, alone); });
        row.appendChild(alone);
        inbox.teams.forEach(function (team) {
          var b = el("button", { type: "button", className: "big secondary claim-team", "data-team": team.id,
                                 text: T.claim_team + " · " + team.name });
          b.addEventListener("click", function () { claim(item.whistle.id, team.id, b); });
          row.appendChild(b);
        });
        return row;
      });
      fill(lists.mine, inbox.assignments);
    }, function () { formError.textContent = T.network_failed; });
    W.api("GET", base + "/history").then(function (answer) {
      if (answer.ok) fill(lists.done, answer.body.items);
      else W.clear(lists.done).appendChild(el("li", { className: "error", text: W.problemText(answer) }));
    });
  }
  load();
})();
