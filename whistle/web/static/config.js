// 规则版本: edit the active version's files with validation as you type (a debounced call to
// POST /api/v1/config/validate, problems listed under each file by line), propose a version,
// apply it or roll back to an earlier one. Vanilla JS; every request carries the page's CSRF
// token; no window.alert/confirm/prompt (the confirmation is the page's <dialog>).
"use strict";

(function () {
  var PAUSE_MS = 400;

  function fill(template, values) {
    return String(template).replace(/\{(\w+)\}/g, function (all, key) {
      return key in values ? String(values[key]) : all;
    });
  }

  function send(csrf, method, path, body) {
    return fetch(path, {
      method: method,
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: body === undefined ? undefined : JSON.stringify(body)
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (data) {
        return { status: response.status, ok: response.ok, data: data };
      });
    });
  }

  function init(root) {
    var csrf = root.dataset.csrf;
    var config = JSON.parse(root.dataset.config);
    var labels = config.labels;
    var editors = Array.prototype.slice.call(root.querySelectorAll("textarea.config-file"));
    var status = document.getElementById("config-status");
    var message = document.getElementById("config-message");
    var form = document.getElementById("config-form");
    var reason = document.getElementById("config-reason");
    var dialog = document.getElementById("config-confirm");
    var timer = null;
    var asked = 0;

    function files() {
      var out = {};
      editors.forEach(function (area) { out[area.dataset.file] = area.value; });
      return out;
    }

    function say(text, bad) {
      message.textContent = text;
      message.className = "config-message" + (bad ? " error" : "");
    }

    function showProblems(problems) {
      var byFile = {};
      problems.forEach(function (p) { (byFile[p.file] = byFile[p.file] || []).push(p); });
      editors.forEach(function (area) {
        var list = root.querySelector('[data-problems-for="' + area.dataset.file + '"]');
        var mine = byFile[area.dataset.file] || [];
        delete byFile[area.dataset.file];
        list.textContent = "";
        area.classList.toggle("has-problems", mine.length > 0);
        mine.forEach(function (p) { list.appendChild(item(p)); });
      });
      // Problems of files without an editor (a missing file) go under the first one.
      var rest = Object.keys(byFile);
      if (rest.length && editors.length) {
        var first = root.querySelector('[data-problems-for="' + editors[0].dataset.file + '"]');
        rest.forEach(function (name) {
          byFile[name].forEach(function (p) { first.appendChild(item(p)); });
        });
      }
      status.textContent = problems.length
        ? fill(labels.invalid, { count: problems.length }) : labels.valid;
      status.className = "config-status " + (problems.length ? "error" : "ok");
    }

    function item(p) {
      var li = document.createElement("li");
      li.className = "config-problem";
      li.dataset.file = p.file;
      if (p.line) {
        li.dataset.line = String(p.line);
        var line = document.createElement("span");
        line.className = "line";
        line.textContent = p.file + " " + fill(labels.line, { line: p.line });
        li.appendChild(line);
      }
      li.appendChild(document.createTextNode((p.where ? p.where + ": " : "") + p.message));
      return li;
    }

    function validate() {
      var n = ++asked;
      status.textContent = labels.checking;
      status.className = "config-status muted";
      return send(csrf, "POST", "/api/v1/config/validate", { files: files() }).then(function (r) {
        if (n !== asked) return null;  // a later call is on its way: its answer counts
        if (!r.ok) { say(fill(labels.failed, { reason: r.data.detail || r.status }), true); return null; }
        showProblems(r.data.problems || []);
        return r.data;
      });
    }

    editors.forEach(function (area) {
      area.addEventListener("input", function () {
        if (timer) clearTimeout(timer);
        timer = setTimeout(validate, PAUSE_MS);
      });
    });

    function refresh(active) {
      config.active = active;
      document.getElementById("active-version").textContent = labels.id + " " + active;
      return send(csrf, "GET", "/api/v1/config/versions").then(function (r) {
        if (!r.ok) return;
        var body = document.querySelector("#config-versions tbody");
        body.textContent = "";
        r.data.items.forEach(function (v) {
          body.appendChild(versionRow(v));
          if (v.id === active) document.getElementById("active-hash").textContent = v.hash.slice(0, 12);
        });
      });
    }

    // The version read from --config at start, named in words as the server renders it.
    function authorName(v) {
      return v.author === config.start.author ? labels.from_dir : v.author;
    }

    function reasonText(v) {
      return v.reason === config.start.reason ? labels.start_reason : v.reason;
    }

    function versionRow(v) {
      var tr = document.createElement("tr");
      tr.dataset.id = String(v.id);
      tr.dataset.state = v.state;
      [String(v.id), labels[v.state + "_state"], authorName(v),
        String(v.created_at).slice(0, 16).replace("T", " "), reasonText(v), v.hash.slice(0, 12)
      ].forEach(function (text) {
        var td = document.createElement("td");
        td.textContent = text;
        tr.appendChild(td);
      });
      var cell = document.createElement("td");
      if (v.state !== "active") {
        var button = document.createElement("button");
        button.type = "button";
        button.className = "apply-version";
        button.dataset.id = String(v.id);
        button.textContent = v.state === "retired" ? labels.rollback : labels.apply;
        cell.appendChild(button);
      }
      tr.appendChild(cell);
      return tr;
    }

    function apply(id) {
      return send(csrf, "POST", "/api/v1/config/versions/" + id + "/apply", {}).then(function (r) {
        if (!r.ok) {
          if (r.data.problems) showProblems(r.data.problems);
          say(fill(labels.failed, { reason: r.data.detail || r.data.title || r.status }), true);
          return;
        }
        say(fill(r.data.action === "rollback" ? labels.rolled_back : labels.applied, { id: id }));
        return refresh(r.data.active);
      });
    }

    function propose(andApply) {
      return send(csrf, "POST", "/api/v1/config/versions", {
        files: files(), reason: reason.value.trim()
      }).then(function (r) {
        if (!r.ok) {
          if (r.data.problems) showProblems(r.data.problems);
          say(fill(labels.failed, { reason: r.data.title || r.status }), true);
          return;
        }
        say(fill(r.status === 201 ? labels.proposed : labels.unchanged, { id: r.data.id }));
        if (andApply && r.data.state !== "active") return apply(r.data.id);
        return refresh(config.active);
      });
    }

    form.addEventListener("submit", function (event) {
      event.preventDefault();
      propose(false);
    });
    document.getElementById("config-propose-apply").addEventListener("click", function () {
      propose(true);
    });

    root.addEventListener("click", function (event) {
      var button = event.target.closest("button.apply-version");
      if (!button) return;
      var id = button.dataset.id;
      document.getElementById("config-confirm-text").textContent = fill(labels.confirm_apply, { id: id });
      dialog.returnValue = "";
      dialog.showModal();
      dialog.addEventListener("close", function once() {
        dialog.removeEventListener("close", once);
        if (dialog.returnValue === "yes") apply(id);
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var root = document.getElementById("config");
    if (root) init(root);
  });
})();
