/* 上报 /report: file a whistle from a phone. One Idempotency-Key per form fill, kept in
   sessionStorage until the server confirms, so a retry after a network failure can never
   file the same report twice. */
"use strict";
(function () {
  var W = window.W, T = W.T, el = W.el, data = W.data;
  var KEY = "whistle.report.key", PENDING = "whistle.report.pending";
  var form = document.getElementById("report-form");
  var submit = document.getElementById("submit");
  var formError = document.getElementById("form-error");
  var categoryInput = document.getElementById("category");
  var categoryChosen = document.getElementById("category-chosen");
  var categories = [];
  var place = null;          // {grid: CODE} or {lat, lon}
  var placeLabel = "";
  var photos = [];           // URLs from POST /api/v1/media
  var sending = false;

  function newKey() {
    var bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    return "web-" + Array.prototype.map.call(bytes, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }
  function currentKey() {
    var key = sessionStorage.getItem(KEY);
    if (!key) { key = newKey(); sessionStorage.setItem(KEY, key); }
    return key;
  }

  // -- categories: a datalist over GET /api/v1/categories ------------------------------------
  function categoryLabel(c) { return c.code + " " + (data.lang === "en" && c.name_en ? c.name_en : c.name); }
  function findCategory(text) {
    text = (text || "").trim();
    if (!text) return null;
    var code = text.split(/\s+/)[0].toUpperCase();
    for (var i = 0; i < categories.length; i++) {
      var c = categories[i];
      if (c.code === code || c.name === text || c.name_en === text || categoryLabel(c) === text) return c;
    }
    return null;
  }
  function showCategory() {
    var c = findCategory(categoryInput.value);
    categoryChosen.textContent = c ? (T.chosen + ": " + (c.major_name ? c.major_name + " / " : "") + categoryLabel(c)) : "";
  }
  W.api("GET", "/api/v1/categories").then(function (answer) {
    if (!answer.ok) return;
    categories = answer.body.items || [];
    var list = document.getElementById("category-list");
    categories.forEach(function (c) {
      list.appendChild(el("option", { value: categoryLabel(c), label: c.major_name || "" }));
    });
  });
  categoryInput.addEventListener("input", showCategory);
  categoryInput.addEventListener("change", showCategory);

  // -- place: drill down the five levels from the principal's scope ---------------------------
  var crumbs = document.getElementById("grid-crumbs");
  var picker = document.getElementById("grid-picker");
  var placeChosen = document.getElementById("place-chosen");
  var trail = [];            // [{code, name}] from the scope down to the cell being shown

  function choose(cell) {
    place = { grid: cell.code };
    placeLabel = cell.name + " (" + cell.code + ")";
    placeChosen.textContent = T.chosen + ": " + placeLabel;
    placeChosen.setAttribute("data-code", cell.code);
    document.getElementById("location-status").textContent = "";
  }
  function drawCrumbs() {
    W.clear(crumbs);
    trail.forEach(function (cell, i) {
      if (i) crumbs.appendChild(document.createTextNode(" › "));
      crumbs.appendChild(el("button", { type: "button", className: "link", text: cell.name,
        onclick: function () { trail = trail.slice(0, i + 1); choose(cell); showChildren(); } }));
    });
  }
  function showChildren() {
    drawCrumbs();
    var top = trail[trail.length - 1];
    W.clear(picker).appendChild(el("li", { className: "muted", text: T.loading }));
    W.api("GET", "/api/v1/grids?limit=1000&parent=" + encodeURIComponent(top.code)).then(function (answer) {
      W.clear(picker);
      if (!answer.ok) { picker.appendChild(el("li", { className: "error", text: W.problemText(answer) })); return; }
      answer.body.items.forEach(function (cell) {
        picker.appendChild(el("li", {}, [el("button", {
          type: "button", className: "pick", "data-code": cell.code,
          onclick: function () { choose(cell); if (cell.children) { trail.push(cell); showChildren(); } },
        }, [el("span", { text: cell.name }), el("small", { text: " " + cell.level_name + (cell.children ? " ›" : "") })])]));
      });
      if (!answer.body.items.length) picker.appendChild(el("li", { className: "muted", text: "—" }));
    });
  }
  W.api("GET", "/api/v1/grids/" + encodeURIComponent(data.scope)).then(function (answer) {
    if (!answer.ok) return;
    trail = [{ code: answer.body.code, name: answer.body.name }];
    showChildren();
  });

  document.getElementById("use-location").addEventListener("click", function () {
    var statusNode = document.getElementById("location-status");
    if (!navigator.geolocation) { statusNode.textContent = T.no_geolocation; return; }
    statusNode.textContent = T.locating;
    navigator.geolocation.getCurrentPosition(function (position) {
      var lat = Math.round(position.coords.latitude * 1e6) / 1e6;
      var lon = Math.round(position.coords.longitude * 1e6) / 1e6;
      place = { lat: lat, lon: lon };
      placeLabel = lat + ", " + lon;
      placeChosen.textContent = T.located + ": " + placeLabel;
      placeChosen.removeAttribute("data-code");
      statusNode.textContent = "";
    }, function (error) {
      statusNode.textContent = T.no_geolocation + (error && error.message ? " (" + error.message + ")" : "");
    }, { enableHighAccuracy: true, timeout: 15000, maximumAge: 60000 });
  });

  // -- photos: raw body to POST /api/v1/media, thumbnails from the returned URLs --------------
  var thumbs = document.getElementById("thumbs");
  function drawThumbs() {
    W.clear(thumbs);
    photos.forEach(function (url, i) {
      thumbs.appendChild(el("figure", { className: "thumb" }, [
        el("img", { src: url, alt: T.photos + " " + (i + 1) }),
        el("button", { type: "button", className: "secondary small", text: T.remove,
          onclick: function () { photos.splice(i, 1); drawThumbs(); } }),
      ]));
    });
  }
  document.getElementById("photos").addEventListener("change", function (event) {
    var files = Array.prototype.slice.call(event.target.files || []);
    event.target.value = "";
    files.forEach(function (file) {
      var busy = el("figure", { className: "thumb busy", text: T.uploading });
      thumbs.appendChild(busy);
      W.api("POST", "/api/v1/media", file, { "Content-Type": file.type || "application/octet-stream" })
        .then(function (answer) {
          if (answer.ok) { photos.push(answer.body.url); drawThumbs(); }
          else { busy.remove(); showErrors(answer); }
        }, function () { busy.remove(); formError.textContent = T.network_failed; });
    });
  });

  // -- errors next to their fields -----------------------------------------------------------
  function clearErrors() {
    formError.textContent = "";
    Array.prototype.forEach.call(document.querySelectorAll(".field-error"), function (node) { node.textContent = ""; });
    Array.prototype.forEach.call(document.querySelectorAll(".field-group.invalid"), function (node) { node.classList.remove("invalid"); });
  }
  function showErrors(answer) {
    var body = answer.body || {};
    var placed = false;
    (body.errors || []).forEach(function (error) {
      var top = String(error.field || "").split(".")[0];
      if (top === "body" || top === "photos") top = "media_urls";
      var slot = document.querySelector('[data-error-for="' + top + '"]');
      if (slot) {
        slot.textContent = (slot.textContent ? slot.textContent + "; " : "") + W.reason(error);
        slot.parentNode.classList.add("invalid");
        placed = true;
      }
    });
    formError.textContent = placed ? T.fix_errors : W.problemText(answer);
    if (answer.status === 401) formError.appendChild(el("a", { href: "/login", text: " " + T.login }));
  }

  // -- submit --------------------------------------------------------------------------------
  function body() {
    var c = findCategory(categoryInput.value);
    var doc = {
      source: document.getElementById("source").value,
      category: c ? c.code : categoryInput.value.trim(),
      description: document.getElementById("description").value.trim(),
      // The API takes absolute http(s) URLs; the upload answers with a path on this server.
      media_urls: photos.map(function (url) { return new URL(url, window.location.href).href; }),
    };
    if (place) doc.location = place;
    return doc;
  }

  function send(doc, key, attempt) {
    sending = true;
    submit.disabled = true;
    submit.textContent = attempt ? T.retrying : T.sending;
    return W.api("POST", "/api/v1/whistles", doc, { "Idempotency-Key": key }).then(function (answer) {
      sending = false;
      submit.disabled = false;
      submit.textContent = T.submit;
      if (answer.ok) { done(answer.body); return; }
      // Nothing was stored (or it was, under this key: 422 "reused" says so); keep the key.
      sessionStorage.removeItem(PENDING);
      showErrors(answer);
    }, function () {
      // The request may or may not have reached the server: retry with the same key.
      sessionStorage.setItem(PENDING, JSON.stringify({ key: key, body: doc, label: placeLabel }));
      if (attempt < 2) {
        return new Promise(function (resolve) { setTimeout(resolve, 800 * (attempt + 1)); })
          .then(function () { return send(doc, key, attempt + 1); });
      }
      sending = false;
      submit.disabled = false;
      submit.textContent = T.submit;
      formError.textContent = T.network_failed;
    });
  }

  function done(doc) {
    sessionStorage.removeItem(KEY);
    sessionStorage.removeItem(PENDING);
    document.getElementById("pending").hidden = true;
    form.hidden = true;
    var result = document.getElementById("result");
    result.hidden = false;
    document.getElementById("result-title").textContent = T.sent + " · " + (doc.case_number || ("#" + doc.id.slice(-8)));
    document.getElementById("result-link").setAttribute("href", W.withLang("/cases/" + encodeURIComponent(doc.id)));
    var list = W.clear(document.getElementById("went-to"));
    (doc.assignments || []).forEach(function (a) {
      var who = a.responder ? a.responder.name : (a.cell_name || a.cell) + " · " + T.board;
      var dues = [];
      if (a.claim_due) dues.push(T.claim_by + " " + W.time(a.claim_due));
      if (a.acknowledge_due) dues.push(T.deadline + " " + W.time(a.acknowledge_due));
      if (a.resolve_due) dues.push(T.resolve_by + " " + W.time(a.resolve_due));
      list.appendChild(el("li", { className: "assignment", "data-kind": a.kind }, [
        el("strong", { className: "who", text: who }), " ",
        el("span", { className: "badge", text: data.lang === "en" ? a.kind : (a.kind_name || a.kind) }),
        el("div", { className: "muted", text: dues.join(" · ") }),
      ]));
    });
    if (!(doc.assignments || []).length) list.appendChild(el("li", { className: "muted", text: W.status(doc.status) }));
    result.scrollIntoView();
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    if (sending) return;
    clearErrors();
    send(body(), currentKey(), 0);
  });

  document.getElementById("again").addEventListener("click", function () {
    form.reset();
    photos = []; place = null; placeLabel = "";
    drawThumbs(); clearErrors();
    placeChosen.textContent = ""; categoryChosen.textContent = "";
    document.getElementById("result").hidden = true;
    form.hidden = false;
    currentKey();
  });

  // A report sent before a reload and never confirmed: offer to send it again (same key).
  var pending = null;
  try { pending = JSON.parse(sessionStorage.getItem(PENDING) || "null"); } catch (e) { pending = null; }
  if (pending && pending.key && pending.body) {
    document.getElementById("pending").hidden = false;
    document.getElementById("pending-text").textContent = (pending.body.description || "").slice(0, 60);
    document.getElementById("pending-resend").addEventListener("click", function () {
      clearErrors();
      send(pending.body, pending.key, 0);
    });
    document.getElementById("pending-discard").addEventListener("click", function () {
      sessionStorage.removeItem(PENDING);
      sessionStorage.removeItem(KEY);
      document.getElementById("pending").hidden = true;
    });
  }
  currentKey();
})();
