// 静默管理: create a silence in the page and expire one early, through the silence API.
// Vanilla JS; validation messages come from the page's labels (Chinese by default); every
// request carries the page's CSRF token. No window.alert/confirm/prompt.
"use strict";

(function () {
  var MAX_MINUTES = 90 * 24 * 60;

  function send(csrf, method, path, body) {
    return fetch(path, {
      method: method,
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: body === undefined ? undefined : JSON.stringify(body)
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (data) {
        if (!response.ok) {
          var error = new Error((data && (data.detail || data.title)) || String(response.status));
          error.fields = (data && data.errors) || [];
          throw error;
        }
        return data;
      });
    });
  }

  function init(root) {
    var csrf = root.dataset.csrf;
    var labels = JSON.parse(root.dataset.config).labels;
    var message = document.getElementById("silence-message");
    var form = document.getElementById("silence-form");
    var errors = document.getElementById("silence-errors");

    function say(text, bad) {
      message.textContent = text;
      message.className = "silence-message" + (bad ? " error" : "");
    }

    function showErrors(list) {
      errors.textContent = "";
      list.forEach(function (text) {
        var line = document.createElement("div");
        line.textContent = text;
        errors.appendChild(line);
      });
    }

    if (form) {
      form.addEventListener("submit", function (event) {
        event.preventDefault();
        var data = new FormData(form);
        var matchers = {};
        ["camera", "grid", "category", "source"].forEach(function (key) {
          var value = String(data.get(key) || "");
          if (value) matchers[key] = value;
        });
        var minutes = parseInt(String(data.get("duration") || ""), 10);
        var comment = String(data.get("comment") || "").trim();
        var problems = [];
        if (!matchers.camera && !matchers.category && !matchers.source) {
          problems.push(labels.errors.matchers);
        }
        if (!(minutes >= 1 && minutes <= MAX_MINUTES)) problems.push(labels.errors.duration);
        if (!comment) problems.push(labels.errors.comment);
        showErrors(problems);
        if (problems.length) return;
        send(csrf, "POST", "/api/v1/silences", {
          matchers: matchers, duration_minutes: minutes, comment: comment
        }).then(function () {
          window.location.assign("/silences?created=1");
        }, function (error) {
          // The server's reasons, each under the field's name in the page's language.
          var named = error.fields.map(function (f) {
            return (labels.fields[f.field] || f.field) + ": " + f.message;
          });
          showErrors(named.length ? named : [labels.failed + ": " + error.message]);
        });
      });
    }

    Array.prototype.forEach.call(root.querySelectorAll("button.expire"), function (button) {
      button.addEventListener("click", function () {
        button.disabled = true;
        send(csrf, "DELETE", "/api/v1/silences/" + encodeURIComponent(button.dataset.id))
          .then(function () {
            window.location.assign("/silences?expired=1");
          }, function (error) {
            button.disabled = false;
            say(labels.failed + ": " + error.message, true);
          });
      });
    });

    var query = new URLSearchParams(window.location.search);
    if (query.has("created")) say(labels.created, false);
    if (query.has("expired")) say(labels.expired_now, false);
  }

  document.addEventListener("DOMContentLoaded", function () {
    var root = document.getElementById("silences");
    if (root) init(root);
  });
})();
