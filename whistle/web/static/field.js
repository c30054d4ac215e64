/* Shared helpers for the field pages (report, claims, grids). No build step, no framework.
   Text is always set with textContent, never parsed as HTML. */
"use strict";
(function () {
  var dataNode = document.getElementById("page-data");
  var data = dataNode ? JSON.parse(dataNode.textContent) : {};
  var csrfNode = document.getElementById("csrf");
  var T = data.text || {};

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (key) {
      var value = attrs[key];
      if (value === null || value === undefined || value === false) return;
      if (key === "text") node.textContent = value;
      else if (key === "className") node.className = value;
      else if (key.slice(0, 2) === "on") node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? "" : value);
    });
    (children || []).forEach(function (child) {
      if (child === null || child === undefined) return;
      node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    });
    return node;
  }

  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); return node; }

  /* fetch with the session cookie; unsafe methods carry the page's CSRF token. Resolves to
     {ok, status, body} for any HTTP answer; rejects only when the network failed. */
  function api(method, url, body, headers) {
    var init = { method: method, credentials: "same-origin", headers: Object.assign({ Accept: "application/json" }, headers || {}) };
    if (method !== "GET" && csrfNode) init.headers["X-CSRF-Token"] = csrfNode.getAttribute("data-token");
    if (body !== undefined && body !== null) {
      if (body instanceof Blob) { init.body = body; }
      else { init.body = JSON.stringify(body); init.headers["Content-Type"] = "application/json"; }
    }
    return fetch(url, init).then(function (response) {
      var type = response.headers.get("Content-Type") || "";
      var parse = type.indexOf("json") >= 0 ? response.json() : response.text();
      return parse.then(function (parsed) { return { ok: response.ok, status: response.status, body: parsed }; });
    });
  }

  /* The one date-time form of every page, 2026-12-03 10:32 in the county's time zone (the
     server renders the same, whistle.timefmt.display). */
  var formatter = null;
  function time(iso) {
    if (!iso) return "";
    var at = new Date(iso);
    if (isNaN(at.getTime())) return iso;
    if (!formatter) {
      formatter = new Intl.DateTimeFormat("en-CA", {
        timeZone: data.tz || "Asia/Shanghai", year: "numeric", month: "2-digit", day: "2-digit",
        hour: "2-digit", minute: "2-digit", hourCycle: "h23",
      });
    }
    var parts = {};
    formatter.formatToParts(at).forEach(function (p) { parts[p.type] = p.value; });
    return parts.year + "-" + parts.month + "-" + parts.day + " " + parts.hour + ":" + parts.minute;
  }

  function problemText(answer) {
    var body = answer.body || {};
    if (typeof body === "string") return body || String(answer.status);
    return body.detail || body.title || String(answer.status);
  }

  /* Why the server refused a field, in the page's language: the API's reason code said with
     the page's words (whistle/web/i18n/frame.py REASONS), else the API's own reason. */
  function reason(error) {
    var said = error && error.code && T.reasons && T.reasons[error.code];
    if (!said) return (error && (error.reason || error.message)) || "";
    var params = error.params || {};
    return said.replace(/\{(\w+)\}/g, function (whole, key) {
      return Object.prototype.hasOwnProperty.call(params, key) ? String(params[key]) : whole;
    });
  }

  function status(value) { return (T.statuses && T.statuses[value]) || value; }

  function withLang(url) {
    return data.lang === "en" ? url + (url.indexOf("?") >= 0 ? "&" : "?") + "lang=en" : url;
  }

  window.W = { data: data, T: T, el: el, clear: clear, api: api, time: time,
               problemText: problemText, reason: reason, status: status, withLang: withLang };
})();
