/* 我的报到 /party/me: a member registers with the community they live in (双报到), claims
   the community's projects, and withdraws a registration after a question in the page (no
   window.confirm). Text is set with textContent only; every POST carries the CSRF token. */
"use strict";
(function () {
  var W = window.W, T = W.T, el = W.el, data = W.data;
  var formError = document.getElementById("form-error");

  function failed(answer) {
    formError.textContent = W.problemText(answer);
  }

  function send(path, body, button) {
    formError.textContent = "";
    if (button) button.disabled = true;
    return W.api("POST", path, body).then(function (answer) {
      if (!answer.ok) { if (button) button.disabled = false; failed(answer); return; }
      window.location.reload();
    }, function () {
      if (button) button.disabled = false;
      formError.textContent = T.network_failed;
    });
  }

  var form = document.getElementById("register-form");
  if (form) {
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var services = String(form.elements.services.value || "").split(/[,，、;；]/)
        .map(function (s) { return s.trim(); }).filter(function (s) { return s; });
      send("/api/v1/registrations", {
        community: form.elements.community.value,
        unit_id: form.elements.unit_id.value,
        services: services,
      }, document.getElementById("register"));
    });
  }

  Array.prototype.forEach.call(document.querySelectorAll("button.claim"), function (button) {
    button.addEventListener("click", function () {
      var project = button.getAttribute("data-project");
      send("/api/v1/projects/" + encodeURIComponent(project) + "/claims", { by: "member" }, button);
    });
  });

  var withdraw = document.getElementById("withdraw");
  if (withdraw && data.registration) {
    withdraw.addEventListener("click", function () {
      var dialog = el("dialog", { id: "withdraw-dialog" }, [
        el("p", { text: T.withdraw_confirm }),
        el("div", { className: "row" }, [
          el("button", { type: "button", className: "secondary", id: "withdraw-cancel", text: T.cancel,
                         onclick: function () { dialog.close(); dialog.remove(); } }),
          el("button", { type: "button", id: "withdraw-confirm", text: T.confirm,
                         onclick: function (event) {
                           dialog.close(); dialog.remove();
                           send("/api/v1/registrations/" + encodeURIComponent(data.registration) + "/withdraw", {}, withdraw);
                         } }),
        ]),
      ]);
      document.body.appendChild(dialog);
      dialog.showModal();
    });
  }
})();
