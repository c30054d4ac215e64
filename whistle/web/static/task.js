/* The task page /tasks/{id}: 报到, 开始处置, 办结 (note + photos, camera on phones), 退单
   (reason from a list + text), 申请延期 (reason + duration within the rules' limit). Every
   press makes one Idempotency-Key; a dropped answer is sent again with the same key, and a
   second press after a failure reuses it, so the server never acts twice. In-page <dialog>s
   only (never window.alert/confirm/prompt). After a confirmed action the page reloads. */
"use strict";
(function () {
  var W = window.W, T = W.T, el = W.el, data = W.data;
  var formError = document.getElementById("form-error");
  var base = "/api/v1/assignments/" + encodeURIComponent(data.assignment) + "/";
  var PATHS = { acknowledge: "acknowledge", start: "start", resolve: "resolve", "return": "return",
                request_extension: "request-extension" };
  var pendingKeys = {};  // action -> the key of a press that was never confirmed
  var RETRIES = [1000, 2000, 4000];

  function newKey() {
    var bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    return "task-" + Array.prototype.map.call(bytes, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }

  function send(action, body, errorNode, button) {
    var key = pendingKeys[action] || newKey();
    pendingKeys[action] = key;
    var label = button ? button.textContent : "";
    if (button) { button.disabled = true; button.textContent = T.sending; }
    function attempt(n) {
      return W.api("POST", base + PATHS[action], body, { "Idempotency-Key": key }).then(function (answer) {
        if (answer.ok) {
          delete pendingKeys[action];
          window.location.reload();
          return answer;
        }
        delete pendingKeys[action];  // the server answered: a new press is a new action
        if (button) { button.disabled = false; button.textContent = label; }
        showProblem(answer, errorNode);
        return answer;
      }, function () {
        if (n < RETRIES.length) {
          errorNode.textContent = T.retrying;
          return new Promise(function (resolve) { window.setTimeout(resolve, RETRIES[n]); })
            .then(function () { return attempt(n + 1); });
        }
        if (button) { button.disabled = false; button.textContent = label; }
        errorNode.textContent = T.network_failed;
        return null;
      });
    }
    errorNode.textContent = "";
    return attempt(0);
  }

  function showProblem(answer, errorNode) {
    var body = answer.body || {};
    var shown = false;
    (body.errors || []).forEach(function (e) {
      var scope = errorNode.closest("form") || document;
      var slot = scope.querySelector('[data-error-for="' + e.field + '"]');
      if (slot) { slot.textContent = W.reason(e); shown = true; }
    });
    if (!shown) errorNode.textContent = W.problemText(answer);
  }

  // -- 办结: note and photos (uploaded first, through /api/v1/media) -------------------------
  var photos = [];
  var uploads = 0;
  var thumbs = document.getElementById("resolve-thumbs");
  document.getElementById("resolve-photos").addEventListener("change", function (event) {
    var files = Array.prototype.slice.call(event.target.files || []);
    event.target.value = "";
    files.forEach(function (file) {
      var busy = el("figure", { className: "thumb busy", text: T.uploading });
      thumbs.appendChild(busy);
      uploads += 1;
      W.api("POST", "/api/v1/media", file, { "Content-Type": file.type || "application/octet-stream" })
        .then(function (answer) {
          uploads -= 1;
          busy.remove();
          if (!answer.ok) { showProblem(answer, document.querySelector('#form-resolve [data-error-for="photos"]')); return; }
          photos.push(new URL(answer.body.url, window.location.href).href);
          thumbs.appendChild(el("figure", { className: "thumb" }, [el("img", { src: answer.body.url, alt: "" })]));
        }, function () { uploads -= 1; busy.remove(); document.querySelector('#form-resolve [data-error-for="photos"]').textContent = T.network_failed; });
    });
  });

  function clearErrors(form) {
    Array.prototype.forEach.call(form.querySelectorAll(".field-error, .form-error"), function (n) { n.textContent = ""; });
  }

  var forms = {
    resolve: function (form) {
      var note = form.querySelector("#resolve-note").value.trim();
      if (!note) { form.querySelector('[data-error-for="note"]').textContent = T.note_required; return null; }
      if (uploads) { form.querySelector('[data-error-for="photos"]').textContent = T.uploading; return null; }
      return { note: note, photos: photos };
    },
    "return": function (form) {
      var select = form.querySelector("#return-reason");
      var details = form.querySelector("#return-details").value.trim();
      if (select.value === "other" && !details) {
        form.querySelector('[data-error-for="details"]').textContent = T.details_required;
        return null;
      }
      var reason = select.options[select.selectedIndex].text + (details ? "：" + details : "");
      return { reason: reason };
    },
    request_extension: function (form) {
      var reason = form.querySelector("#extension-reason").value.trim();
      if (!reason) { form.querySelector('[data-error-for="reason"]').textContent = T.reason_required; return null; }
      return { reason: reason, duration: form.querySelector("#extension-duration").value };
    },
  };
  var DIALOGS = { resolve: "dialog-resolve", "return": "dialog-return", request_extension: "dialog-extension" };

  Object.keys(DIALOGS).forEach(function (action) {
    var dialog = document.getElementById(DIALOGS[action]);
    var form = dialog.querySelector("form");
    dialog.querySelector("[data-close]").addEventListener("click", function () { dialog.close(); });
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      clearErrors(form);
      var body = forms[action](form);
      if (!body) return;
      send(action, body, form.querySelector('.form-error[data-error-for="form"]'), form.querySelector("button[type=submit]"));
    });
  });

  Array.prototype.forEach.call(document.querySelectorAll("#actions button[data-action]"), function (button) {
    button.addEventListener("click", function () {
      var action = button.getAttribute("data-action");
      if (DIALOGS[action]) { document.getElementById(DIALOGS[action]).showModal(); return; }
      send(action, {}, formError, button);
    });
  });
})();
