// Acting on a case: in-page <dialog> forms, the assignee picker and the case picker, shared by
// the case page (#case, wired here) and the console (static/console.js, static/bulk.js).
//
// Never window.alert/confirm/prompt: every question is a form in a <dialog> element, with its
// validation messages in the page's language and the server's refusal shown in the dialog.
// Data is set with textContent, never as markup; every POST carries the page's CSRF token.
"use strict";

(function () {
  var ACTIVE = { dispatched: 1, acknowledged: 1, in_progress: 1 };
  var LIVE = { dispatched: 1, open: 1, acknowledged: 1, in_progress: 1 };

  function el(tag, text, className) {
    var node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    if (className) node.className = className;
    return node;
  }

  function fill(template, values) {
    return String(template).replace(/\{(\w+)\}/g, function (all, key) {
      return key in values ? String(values[key]) : all;
    });
  }

  function shortTime(text) {
    return text ? String(text).slice(0, 16).replace("T", " ") : "";
  }

  // 受理编号 when the case has one (the citizens' helper adds it), else a short form of its id.
  function caseNumber(doc) {
    return doc.case_number || String(doc.id || "").slice(-6);
  }

  function post(csrf, path, body) {
    return fetch(path, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify(body || {})
    }).then(answer);
  }

  function getJSON(path) {
    return fetch(path, { credentials: "same-origin" }).then(answer);
  }

  function answer(response) {
    return response.json().catch(function () { return {}; }).then(function (data) {
      if (!response.ok) {
        var errors = (data && data.errors) || [];
        var text = errors.length
          ? errors.map(function (e) { return e.field + ": " + (e.reason || e.message); }).join("; ")
          : (data && (data.detail || data.title)) || String(response.status);
        var error = new Error(text);
        error.status = response.status;
        throw error;
      }
      return data;
    });
  }

  function distanceM(a, b) {
    var la = (a && a.location) || {}, lb = (b && b.location) || {};
    if ([la.lat, la.lon, lb.lat, lb.lon].some(function (v) { return v === null || v === undefined; })) {
      return null;
    }
    var rad = Math.PI / 180, dLat = (lb.lat - la.lat) * rad, dLon = (lb.lon - la.lon) * rad;
    var h = Math.pow(Math.sin(dLat / 2), 2) +
      Math.cos(la.lat * rad) * Math.cos(lb.lat * rad) * Math.pow(Math.sin(dLon / 2), 2);
    return Math.round(2 * 6371000 * Math.asin(Math.sqrt(h)));
  }

  // -- the dialog ------------------------------------------------------------------------

  // open(L, spec): a form in the page's one <dialog>. spec: {title, fields: [{name, label,
  // required, kind: "textarea"|"number"|"select", value, options}], picker: a function
  // (container, L) -> {value(): chosen or null, missing: message}, send: values -> Promise}.
  // Resolves with what send resolved with, or null when cancelled.
  function open(L, spec) {
    var dialog = document.getElementById("action-dialog");
    if (!dialog) {
      dialog = el("dialog", null, "action-dialog");
      dialog.id = "action-dialog";
      document.body.appendChild(dialog);
    }
    dialog.textContent = "";
    var form = el("form");
    form.noValidate = true; // the messages below are ours, in the page's language
    form.appendChild(el("h2", spec.title));
    var inputs = {};
    var picker = null;
    if (spec.picker) {
      var box = el("div", null, "dialog-picker");
      form.appendChild(box);
      picker = spec.picker(box, L);
    }
    (spec.fields || []).forEach(function (f) {
      var label = el("label", f.label + (f.required ? " *" : ""), "dialog-field");
      var input;
      if (f.kind === "select") {
        input = el("select");
        f.options.forEach(function (o) {
          var option = el("option", o.name);
          option.value = o.value;
          input.appendChild(option);
        });
      } else {
        input = el(f.kind === "number" ? "input" : "textarea");
        if (f.kind === "number") { input.type = "number"; input.min = "1"; }
        else input.rows = 3;
      }
      input.name = f.name;
      if (f.value !== undefined) input.value = f.value;
      label.appendChild(input);
      form.appendChild(label);
      inputs[f.name] = { field: f, input: input };
    });
    var error = el("p", null, "dialog-error");
    error.setAttribute("role", "alert");
    form.appendChild(error);
    var buttons = el("div", null, "dialog-buttons");
    var cancel = el("button", L.cancel, "dialog-cancel");
    cancel.type = "button";
    var ok = el("button", L.ok, "dialog-ok primary");
    ok.type = "submit";
    buttons.appendChild(cancel);
    buttons.appendChild(ok);
    form.appendChild(buttons);
    dialog.appendChild(form);

    return new Promise(function (resolve) {
      var settled = false;
      function finish(value) {
        if (settled) return;
        settled = true;
        if (dialog.open) dialog.close();
        resolve(value);
      }
      cancel.addEventListener("click", function () { finish(null); });
      form.addEventListener("input", function (event) {
        if (!event.target.classList.contains("picker-search")) error.textContent = "";
      });
      dialog.addEventListener("cancel", function () { finish(null); }, { once: true });
      form.addEventListener("submit", function (event) {
        event.preventDefault();
        var values = {};
        for (var name in inputs) {
          var entry = inputs[name];
          var value = entry.input.value.trim();
          if (entry.field.required && !value) {
            error.textContent = fill(L.required, { field: entry.field.label });
            entry.input.focus();
            return;
          }
          if (entry.field.check) {
            var problem = entry.field.check(value);
            if (problem) { error.textContent = problem; entry.input.focus(); return; }
          }
          values[name] = value;
        }
        if (picker) {
          values.picked = picker.value();
          if (!values.picked) { error.textContent = picker.missing; return; }
        }
        error.textContent = "";
        ok.disabled = true;
        spec.send(values).then(finish, function (failure) {
          ok.disabled = false;
          error.textContent = L.failed + ": " + failure.message;
        });
      });
      dialog.showModal();
      var first = form.querySelector("input[type=search], textarea, input, select");
      if (first) first.focus();
    });
  }

  // -- pickers ---------------------------------------------------------------------------

  function radio(name, value, disabled) {
    var input = el("input");
    input.type = "radio";
    input.name = name;
    input.value = value;
    input.disabled = !!disabled;
    return input;
  }

  function chosen(container, name) {
    var checked = container.querySelector('input[name="' + name + '"]:checked');
    return checked ? checked.value : null;
  }

  function searchBox(placeholder, onInput) {
    var search = el("input", null, "picker-search");
    search.type = "search";
    search.placeholder = placeholder;
    search.setAttribute("aria-label", placeholder);
    var timer = null;
    search.addEventListener("input", function () {
      window.clearTimeout(timer);
      timer = window.setTimeout(function () { onInput(search.value.trim()); }, 200);
    });
    // Enter in the search box searches; it does not submit the dialog.
    search.addEventListener("keydown", function (event) {
      if (event.key === "Enter") { event.preventDefault(); onInput(search.value.trim()); }
    });
    return search;
  }

  // The assignee picker: the responders of the case's cell and above (GET .../candidates),
  // by kind and name, on duty or not, their open tasks; filtered as one types.
  function responderPicker(whistleId) {
    return function (container, L) {
      var list = el("div", null, "picker-list");
      var asked = 0;
      function load(q) {
        var mine = ++asked;
        list.textContent = L.loading;
        var path = "/api/v1/whistles/" + encodeURIComponent(whistleId) + "/candidates";
        getJSON(path + (q ? "?q=" + encodeURIComponent(q) : "")).then(function (data) {
          if (mine !== asked) return; // an older answer, overtaken by what was typed since
          list.textContent = "";
          if (!data.groups.length) list.appendChild(el("p", L.no_match, "muted"));
          data.groups.forEach(function (group) {
            var set = el("fieldset", null, "pick-group");
            set.appendChild(el("legend", group.kind_name));
            group.items.forEach(function (item) {
              var row = el("label", null, "pick-item" + (item.on_case ? " on-case" : ""));
              row.dataset.responder = item.id;
              row.appendChild(radio("responder", item.id, item.on_case));
              row.appendChild(el("span", item.name, "pick-name"));
              row.appendChild(el("span", item.cell_name, "muted"));
              row.appendChild(el("span", item.on_duty ? L.on_duty : L.off_duty,
                "duty " + (item.on_duty ? "on" : "off")));
              row.appendChild(el("span", fill(L.open_tasks, { n: item.open_tasks }), "load"));
              if (item.on_case) row.appendChild(el("span", L.on_case, "muted"));
              set.appendChild(row);
            });
            list.appendChild(set);
          });
        }, function (failure) {
          if (mine === asked) list.textContent = L.failed + ": " + failure.message;
        });
      }
      container.appendChild(searchBox(L.search_people, load));
      container.appendChild(list);
      load("");
      return { value: function () { return chosen(list, "responder"); }, missing: L.pick_responder };
    };
  }

  function caseRow(L, doc, here, name) {
    var row = el("label", null, "pick-item pick-case");
    row.dataset.whistle = doc.id;
    row.appendChild(radio(name, doc.id, false));
    row.appendChild(el("span", (doc.category && doc.category.name) || "", "pick-name"));
    row.appendChild(el("span", doc.description || ""));
    var away = here ? distanceM(here, doc) : null;
    if (away !== null) row.appendChild(el("span", fill(L.away, { n: away }), "muted"));
    row.appendChild(el("span", shortTime(doc.received_at), "muted"));
    row.appendChild(el("span", caseNumber(doc), "muted case-number"));
    return row;
  }

  // The merge picker: the case's likely duplicates (possible_duplicates), and a search of the
  // town's cases by description words, never a typed id.
  function casePicker(doc) {
    return function (container, L) {
      var dupes = el("fieldset", null, "pick-group");
      dupes.appendChild(el("legend", L.duplicates));
      var results = el("fieldset", null, "pick-group");
      results.appendChild(el("legend", L.results));
      results.hidden = true;
      var ids = (doc.possible_duplicates || []).slice(0, 20);
      if (!ids.length) dupes.appendChild(el("p", L.no_match, "muted"));
      ids.forEach(function (id) {
        getJSON("/api/v1/whistles/" + encodeURIComponent(id)).then(function (other) {
          if (other.status !== "cancelled") dupes.appendChild(caseRow(L, other, doc, "into"));
        }, function () { /* outside the reader's scope: not offered */ });
      });
      var town = ((doc.grid && doc.grid.path) || []).filter(function (c) { return c.level === "town"; })[0];
      var listing = null;
      function town_cases() {
        if (listing) return listing;
        var q = "/api/v1/whistles?limit=200" + (town ? "&grid=" + encodeURIComponent(town.code) : "");
        listing = getJSON(q).catch(function () { return getJSON("/api/v1/whistles?limit=200"); });
        return listing;
      }
      function search(text) {
        var words = text.toLowerCase().split(/\s+/).filter(Boolean);
        if (!words.length) { results.hidden = true; return; }
        town_cases().then(function (page) {
          Array.prototype.slice.call(results.querySelectorAll(".pick-item, p")).forEach(function (n) { n.remove(); });
          var found = page.items.filter(function (other) {
            if (other.id === doc.id || other.status === "cancelled") return false;
            var text = [other.description, other.category && other.category.name,
              other.grid && other.grid.name, other.reporter].join(" ").toLowerCase();
            return words.every(function (w) { return text.indexOf(w) >= 0; });
          }).slice(0, 30);
          if (!found.length) results.appendChild(el("p", L.no_match, "muted"));
          found.forEach(function (other) { results.appendChild(caseRow(L, other, doc, "into")); });
          results.hidden = false;
        });
      }
      container.appendChild(searchBox(L.search_cases, search));
      container.appendChild(dupes);
      container.appendChild(results);
      return { value: function () { return chosen(container, "into"); }, missing: L.pick_case };
    };
  }

  // The cell picker of a whistle waiting for a place (待定位): its address on top, then the
  // cells below where it is held, drilled down level by level (GET /api/v1/grids?parent=);
  // any cell shown may be picked, and "下级" opens the one below it.
  function cellPicker(doc) {
    return function (container, L) {
      var address = ((doc.location || {}).address) || ((doc.placement || {}).address) || "";
      if (address) container.appendChild(el("p", L.address + "：" + address, "pick-address"));
      var crumbs = el("p", null, "pick-crumbs");
      var list = el("fieldset", null, "pick-group pick-cells");
      container.appendChild(crumbs);
      container.appendChild(list);
      var held = doc.grid || {};
      var trail = [{ code: held.code, name: held.name }];
      function drawCrumbs() {
        crumbs.textContent = "";
        trail.forEach(function (cell, i) {
          if (i) crumbs.appendChild(document.createTextNode(" › "));
          var link = el("button", cell.name, "link");
          link.type = "button";
          link.addEventListener("click", function () { trail = trail.slice(0, i + 1); show(); });
          crumbs.appendChild(link);
        });
      }
      function show() {
        drawCrumbs();
        var top = trail[trail.length - 1];
        list.textContent = L.loading;
        getJSON("/api/v1/grids?limit=1000&parent=" + encodeURIComponent(top.code)).then(function (page) {
          list.textContent = "";
          if (!page.items.length) list.appendChild(el("p", L.no_match, "muted"));
          page.items.forEach(function (cell) {
            var row = el("label", null, "pick-item pick-cell");
            row.dataset.code = cell.code;
            row.appendChild(radio("cell", cell.code, false));
            row.appendChild(el("span", cell.name, "pick-name"));
            row.appendChild(el("span", cell.level_name, "muted"));
            if (cell.children) {
              var down = el("button", L.open_cell + " ›", "link pick-down");
              down.type = "button";
              down.addEventListener("click", function (event) {
                event.preventDefault();
                trail.push({ code: cell.code, name: cell.name });
                show();
              });
              row.appendChild(down);
            }
            list.appendChild(row);
          });
        }, function (failure) { list.textContent = L.failed + ": " + failure.message; });
      }
      show();
      return { value: function () { return chosen(list, "cell"); }, missing: L.pick_cell };
    };
  }

  // Which of the selected cases the others merge into (the console's bulk merge).
  function targetPicker(docs) {
    return function (container, L) {
      var set = el("fieldset", null, "pick-group");
      set.appendChild(el("legend", L.merge_target));
      docs.forEach(function (doc) { set.appendChild(caseRow(L, doc, null, "target")); });
      container.appendChild(set);
      return { value: function () { return chosen(set, "target"); }, missing: L.pick_case };
    };
  }

  // -- the actions -------------------------------------------------------------------------

  function whistlePath(id, action) {
    return "/api/v1/whistles/" + encodeURIComponent(id) + "/" + action;
  }

  function assignmentPath(id, action) {
    return "/api/v1/assignments/" + encodeURIComponent(id) + "/" + action;
  }

  // What each action asks and sends. ids: {whistle, assignment, assignments, doc, grid,
  // category, camera}; ctx: {csrf, labels, actor}.
  function specOf(ctx, action, ids) {
    var L = ctx.labels, F = L.fields, csrf = ctx.csrf;
    var note = { name: "note", label: F.note };
    var reason = { name: "reason", label: F.reason, required: true };
    function toWhistle(path, body) {
      return function (v) { return post(csrf, whistlePath(ids.whistle, path), body(v)); };
    }
    function optional(v, key) { var b = {}; if (v[key]) b[key] = v[key]; return b; }
    function assignmentField() {
      // A console row with several live assignments: say which one moves.
      var live = ids.assignments || [];
      if (ids.assignment || live.length < 2) return [];
      return [{ name: "assignment", label: L.buttons.reassign, kind: "select", options: live }];
    }
    function chosenAssignment(v) {
      return v.assignment || ids.assignment || ((ids.assignments || [])[0] || {}).value;
    }
    var specs = {
      verify_pass: { fields: [note], send: toWhistle("verify", function (v) {
        return Object.assign({ passed: true }, optional(v, "note"));
      }) },
      verify_fail: { fields: [reason], send: toWhistle("verify", function (v) {
        return { passed: false, note: v.reason };
      }) },
      urge: { fields: [{ name: "note", label: F.urge_note, required: true }],
        send: toWhistle("urge", function (v) { return { note: v.note }; }) },
      supervise: { fields: [{ name: "note", label: F.supervise_note, required: true }],
        send: toWhistle("supervise", function (v) { return { note: v.note }; }) },
      hold: { fields: [reason], send: toWhistle("hold", function (v) { return { reason: v.reason }; }) },
      release: { fields: [reason], send: toWhistle("release", function (v) { return { reason: v.reason }; }) },
      reopen: { fields: [reason], send: toWhistle("reopen", function (v) { return { reason: v.reason }; }) },
      approve_extension: { fields: [note], send: toWhistle("approve-extension", function (v) {
        return optional(v, "note");
      }) },
      refuse_extension: { fields: [reason], send: toWhistle("refuse-extension", function (v) {
        return { reason: v.reason };
      }) },
      place: { picker: cellPicker(ids.doc || { id: ids.whistle, grid: { code: ids.grid } }),
        send: toWhistle("place", function (v) { return { grid: v.picked }; }) },
      merge: { picker: casePicker(ids.doc || { id: ids.whistle }),
        send: toWhistle("merge", function (v) { return { into: v.picked }; }) },
      reassign: { picker: responderPicker(ids.whistle), fields: assignmentField().concat([reason]),
        send: function (v) {
          return post(csrf, assignmentPath(chosenAssignment(v), "reassign"),
            { responder: v.picked, reason: v.reason });
        } },
      accept_return: { picker: responderPicker(ids.whistle), fields: [note], send: function (v) {
        return post(csrf, assignmentPath(ids.assignment, "accept-return"),
          Object.assign({ responder: v.picked }, optional(v, "note")));
      } },
      refuse_return: { fields: [reason], send: function (v) {
        return post(csrf, assignmentPath(ids.assignment, "refuse-return"), { reason: v.reason });
      } }
    };
    var spec = specs[action];
    if (spec) spec.title = L.titles[action];
    return spec;
  }

  // run(ctx, action, ids): ask in a dialog, send, then ctx.say and ctx.done(data).
  function run(ctx, action, ids) {
    var spec = specOf(ctx, action, ids);
    if (!spec) return Promise.resolve(null);
    return open(ctx.labels, spec).then(function (data) {
      if (data === null) return null;
      ctx.say(ctx.labels.done + ": " + ctx.labels.buttons[action], false);
      if (ctx.done) ctx.done(data);
      return data;
    });
  }

  // -- bulk actions on the console's selected rows -------------------------------------------

  function each(docs, step) {
    // One after the other: each answer is a write of its own, and the summary counts them.
    var summary = { ok: 0, bad: 0, errors: [] };
    return docs.reduce(function (chain, doc) {
      return chain.then(function () {
        var sent = step(doc);
        if (!sent) { summary.bad += 1; return null; }
        return sent.then(function () { summary.ok += 1; }, function (failure) {
          summary.bad += 1;
          summary.errors.push(caseNumber(doc) + ": " + failure.message);
        });
      });
    }, Promise.resolve()).then(function () {
      if (!summary.ok && summary.errors.length) throw new Error(summary.errors.join("; "));
      return summary;
    });
  }

  // The assignment an operator's bulk reassign moves: the owner's, else the first live one.
  function movable(doc) {
    var owner = ((doc.case || {}).owner || {}).assignment;
    var live = (doc.assignments || []).filter(function (a) { return LIVE[a.status]; });
    var found = live.filter(function (a) { return a.id === owner; })[0] || live[0];
    return found ? found.id : null;
  }

  function bulk(ctx, action, docs) {
    var L = ctx.labels, csrf = ctx.csrf, spec;
    if (action === "urge") {
      spec = { title: L.bulk_urge, fields: [{ name: "note", label: L.fields.urge_note, required: true }],
        send: function (v) {
          return each(docs, function (doc) {
            return ACTIVE[doc.status] ? post(csrf, whistlePath(doc.id, "urge"), { note: v.note }) : null;
          });
        } };
    } else if (action === "reassign") {
      spec = { title: L.bulk_reassign, picker: responderPicker(docs[0].id),
        fields: [{ name: "reason", label: L.fields.reason, required: true }],
        send: function (v) {
          return each(docs, function (doc) {
            var aid = movable(doc);
            return aid ? post(csrf, assignmentPath(aid, "reassign"), { responder: v.picked, reason: v.reason }) : null;
          });
        } };
    } else if (action === "merge") {
      if (docs.length < 2) { ctx.say(L.need_two, true); return Promise.resolve(null); }
      spec = { title: L.bulk_merge, picker: targetPicker(docs), send: function (v) {
        return each(docs.filter(function (d) { return d.id !== v.picked; }), function (doc) {
          return post(csrf, whistlePath(doc.id, "merge"), { into: v.picked });
        });
      } };
    } else {
      return Promise.resolve(null);
    }
    return open(L, spec).then(function (summary) {
      if (summary === null) return null;
      var text = fill(L.bulk_done, summary) + (summary.errors.length ? " (" + summary.errors.join("; ") + ")" : "");
      ctx.say(text, summary.bad > 0);
      if (ctx.done) ctx.done(summary);
      return summary;
    });
  }

  // -- the case page -----------------------------------------------------------------------

  function initCase(root) {
    var config = JSON.parse(root.dataset.config);
    var message = document.getElementById("case-message");
    var ctx = {
      csrf: root.dataset.csrf,
      labels: config.labels,
      actor: config.actor,
      say: function (text, bad) {
        message.textContent = text;
        message.className = "console-message" + (bad ? " error" : "");
      },
      done: function () { window.location.reload(); }
    };
    var doc = null; // fetched on first need: the merge picker names the likely duplicates
    Array.prototype.forEach.call(root.querySelectorAll("button[data-action]"), function (button) {
      button.addEventListener("click", function () {
        var ids = {
          whistle: root.dataset.whistle,
          grid: root.dataset.grid,
          category: root.dataset.category,
          camera: root.dataset.camera || null,
          assignment: button.dataset.assignment
        };
        var needsDoc = button.dataset.action === "merge" || button.dataset.action === "place";
        var ready = needsDoc && !doc
          ? getJSON("/api/v1/whistles/" + encodeURIComponent(ids.whistle)).then(function (d) { doc = d; })
          : Promise.resolve();
        ready.then(function () {
          ids.doc = doc;
          return run(ctx, button.dataset.action, ids);
        }).catch(function (failure) { ctx.say(config.labels.failed + ": " + failure.message, true); });
      });
    });
  }

  window.WhistleActions = { run: run, bulk: bulk, caseNumber: caseNumber, post: post };

  document.addEventListener("DOMContentLoaded", function () {
    var caseRoot = document.getElementById("case");
    if (caseRoot) initCase(caseRoot);
  });
})();
