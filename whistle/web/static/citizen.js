/* /citizen 我要反映: a resident reports a problem from a phone, without a login.
   Category by everyday words, place by the phone's location or by tapping the grid's
   polygons (an inline SVG: no map tiles), description, photos, a call-back number.
   One Idempotency-Key per form fill, so a retry never files the report twice. */
"use strict";
(function () {
  var W = window.W, T = W.T, el = W.el, data = W.data;
  var KEY = "whistle.citizen.key";
  var form = document.getElementById("citizen-form");
  var formError = document.getElementById("form-error");
  var submit = document.getElementById("submit");
  var chosenCategory = null;  // a catalog entry
  var place = null;           // {grid: CODE} or {lat, lon}
  var photos = [];            // URLs from POST /api/v1/public/media
  var sending = false;

  function newKey() {
    var bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    return "citizen-" + Array.prototype.map.call(bytes, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }
  function currentKey() {
    var key = sessionStorage.getItem(KEY);
    if (!key) { key = newKey(); sessionStorage.setItem(KEY, key); }
    return key;
  }
  function setError(field, text) {
    var slot = document.querySelector('[data-error-for="' + field + '"]');
    if (!slot) { formError.textContent = text; return; }
    slot.textContent = text;
    slot.parentNode.classList.toggle("invalid", !!text);
  }
  function clearErrors() {
    formError.textContent = "";
    ["category", "location", "description", "media_urls", "phone"].forEach(function (f) { setError(f, ""); });
  }

  // -- categories: grouped 事件 / 部件, filtered by name, 大类 and everyday keywords ---------
  var categories = data.categories || [];
  var list = document.getElementById("category-list");
  var search = document.getElementById("category-search");
  function label(c) { return data.lang === "en" && c.name_en ? c.name_en : c.name; }
  function matches(c, q) {
    if (!q) return null;
    var hay = [c.name, c.name_en || "", c.major_name || "", c.code].concat(c.keywords || []);
    for (var i = 0; i < hay.length; i++) {
      if (hay[i].toLowerCase().indexOf(q) >= 0) return hay[i];
    }
    return undefined;
  }
  function drawCategories() {
    var q = search.value.trim().toLowerCase();
    W.clear(list);
    var shown = 0;
    [["event", T.events], ["facility", T.facilities]].forEach(function (group) {
      var items = categories.filter(function (c) { return c.type === group[0] && matches(c, q) !== undefined; });
      if (!items.length) return;
      list.appendChild(el("li", { className: "group", text: group[1] }));
      items.forEach(function (c) {
        var hit = matches(c, q);
        var hint = c.major_name + (hit && hit !== c.name && hit !== c.major_name ? " · " + hit : "");
        list.appendChild(el("li", {}, [el("button", {
          type: "button", className: "pick" + (chosenCategory && chosenCategory.code === c.code ? " chosen" : ""),
          "data-code": c.code,
          onclick: function () { chooseCategory(c); },
        }, [el("span", { text: label(c) }), el("small", { text: " " + hint })])]));
        shown++;
      });
    });
    if (!shown) list.appendChild(el("li", { className: "muted", text: T.no_match }));
  }
  function chooseCategory(c) {
    chosenCategory = c;
    var node = document.getElementById("category-chosen");
    node.textContent = T.chosen + ": " + c.major_name + " / " + label(c);
    node.setAttribute("data-code", c.code);
    setError("category", "");
    Array.prototype.forEach.call(list.querySelectorAll("button.pick"), function (b) {
      b.classList.toggle("chosen", b.getAttribute("data-code") === c.code);
    });
  }
  search.addEventListener("input", drawCategories);
  drawCategories();

  // -- place: the phone's location, placed by the server in the deepest cell ---------------
  var placeChosen = document.getElementById("place-chosen");
  var locStatus = document.getElementById("location-status");
  function showPlace(text, code) {
    placeChosen.textContent = text;
    if (code) placeChosen.setAttribute("data-code", code); else placeChosen.removeAttribute("data-code");
    setError("location", "");
  }
  document.getElementById("use-location").addEventListener("click", function () {
    if (!navigator.geolocation) { locStatus.textContent = T.no_geolocation; return; }
    locStatus.textContent = T.locating;
    navigator.geolocation.getCurrentPosition(function (position) {
      var lat = Math.round(position.coords.latitude * 1e6) / 1e6;
      var lon = Math.round(position.coords.longitude * 1e6) / 1e6;
      W.api("GET", "/api/v1/public/locate?lat=" + lat + "&lon=" + lon).then(function (answer) {
        if (!answer.ok) { locStatus.textContent = T.outside; return; }
        locStatus.textContent = "";
        place = { lat: lat, lon: lon };
        showPlace(T.located + ": " + answer.body.place, answer.body.code);
        located = (answer.body.path || []).map(function (c) { return c.code; });
        highlight(null);
      }, function () { locStatus.textContent = T.network_failed; });
    }, function () {
      locStatus.textContent = T.no_geolocation;
    }, { enableHighAccuracy: true, timeout: 15000, maximumAge: 60000 });
  });

  // -- place: tap the cells' polygons, one level at a time ----------------------------------
  var svg = document.getElementById("cell-map");
  var NS = "http://www.w3.org/2000/svg";
  var mapUp = document.getElementById("map-up");
  var mapTitle = document.getElementById("map-title");
  var trail = [];  // [{code, name}] from the county down to the cell whose children are shown

  function rings(geometry) {
    if (geometry.type === "Polygon") return geometry.coordinates;
    if (geometry.type === "MultiPolygon") return [].concat.apply([], geometry.coordinates);
    return [];
  }
  var located = [];  // the cells holding the phone's position, county down
  function highlight(code) {
    if (code) located = [];
    Array.prototype.forEach.call(svg.querySelectorAll("path"), function (p) {
      var mine = p.getAttribute("data-code");
      p.classList.toggle("chosen", mine === code || located.indexOf(mine) >= 0);
    });
  }
  function names() { return trail.slice(1).map(function (c) { return c.name; }); }
  function chooseCell(props, isLeaf) {
    place = { grid: props.code };
    var chain = names();
    if (isLeaf || chain[chain.length - 1] !== props.name) chain.push(props.name);
    showPlace(T.chosen + ": " + chain.join(" · "), props.code);
    highlight(props.code);
  }
  function drawMap(code) {
    W.api("GET", "/api/v1/public/grids/" + encodeURIComponent(code) + "/shapes").then(function (answer) {
      if (!answer.ok) return;
      var features = answer.body.features || [];
      while (svg.firstChild) svg.removeChild(svg.firstChild);
      var minX = Infinity, minY = Infinity, maxX = -Infinity, maxY = -Infinity;
      features.forEach(function (f) {
        rings(f.geometry).forEach(function (ring) {
          ring.forEach(function (pt) {
            minX = Math.min(minX, pt[0]); maxX = Math.max(maxX, pt[0]);
            minY = Math.min(minY, pt[1]); maxY = Math.max(maxY, pt[1]);
          });
        });
      });
      if (!features.length || !isFinite(minX)) return;
      var kx = Math.cos(((minY + maxY) / 2) * Math.PI / 180);  // degrees of longitude are shorter
      var span = Math.max((maxX - minX) * kx, maxY - minY) || 1;
      var scale = 96 / span;
      var offX = (100 - (maxX - minX) * kx * scale) / 2, offY = (100 - (maxY - minY) * scale) / 2;
      function xy(pt) {
        return [(offX + (pt[0] - minX) * kx * scale).toFixed(2), (offY + (maxY - pt[1]) * scale).toFixed(2)];
      }
      var leafView = features.length === 1 && features[0].properties.code === code;
      features.forEach(function (f) {
        var d = rings(f.geometry).map(function (ring) {
          return "M" + ring.map(function (pt) { return xy(pt).join(" "); }).join("L") + "Z";
        }).join("");
        var props = f.properties;
        var path = document.createElementNS(NS, "path");
        path.setAttribute("d", d);
        path.setAttribute("data-code", props.code);
        path.setAttribute("tabindex", "0");
        path.setAttribute("role", "button");
        path.setAttribute("aria-label", props.name);
        var title = document.createElementNS(NS, "title");
        title.textContent = props.name;
        path.appendChild(title);
        function pick() {
          if (props.children && !leafView) {
            trail.push({ code: props.code, name: props.name });
            chooseCell(props, false);
            drawMap(props.code);
          } else {
            chooseCell(props, true);
          }
        }
        path.addEventListener("click", pick);
        path.addEventListener("keydown", function (e) { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); pick(); } });
        svg.appendChild(path);
        if (features.length <= 30) {
          var box = path.getBBox();
          var text = document.createElementNS(NS, "text");
          text.setAttribute("x", (box.x + box.width / 2).toFixed(2));
          text.setAttribute("y", (box.y + box.height / 2).toFixed(2));
          text.setAttribute("text-anchor", "middle");
          text.setAttribute("font-size", features.length > 12 ? "3" : "4");
          text.textContent = props.name;
          svg.appendChild(text);
        }
      });
      mapUp.hidden = trail.length <= 1;
      mapTitle.textContent = trail[trail.length - 1].name;
      highlight(place && place.grid ? place.grid : null);
    });
  }
  mapUp.addEventListener("click", function () {
    if (trail.length > 1) trail.pop();
    drawMap(trail[trail.length - 1].code);
  });
  W.api("GET", "/api/v1/public/grids/" + encodeURIComponent(data.root) + "/shapes").then(function (answer) {
    trail = [{ code: data.root, name: answer.ok ? answer.body.name : "" }];
    drawMap(data.root);
  });

  // -- photos: each to POST /api/v1/public/media; named by their file, not shown (the page
  //    may not show images from elsewhere, and a citizen may not read them back) -----------
  var thumbs = document.getElementById("thumbs");
  function drawPhotos() {
    W.clear(thumbs);
    photos.forEach(function (photo, i) {
      thumbs.appendChild(el("div", { className: "row" }, [
        el("span", { text: "✓ " + photo.name }),
        el("button", { type: "button", className: "secondary small", text: T.remove,
          onclick: function () { photos.splice(i, 1); drawPhotos(); } }),
      ]));
    });
  }
  document.getElementById("photos").addEventListener("change", function (event) {
    var files = Array.prototype.slice.call(event.target.files || []);
    event.target.value = "";
    files.forEach(function (file) {
      setError("media_urls", T.uploading);
      W.api("POST", "/api/v1/public/media", file, { "Content-Type": file.type || "application/octet-stream" })
        .then(function (answer) {
          setError("media_urls", "");
          if (answer.ok) { photos.push({ name: file.name, url: answer.body.url }); drawPhotos(); }
          else { setError("media_urls", refusal(answer)); }
        }, function () { setError("media_urls", T.network_failed); });
    });
  });

  // -- checks before sending, in the page's language -----------------------------------------
  // An address in words: with a place chosen it is kept beside it; alone, the server places
  // it by its place names, or an operator does (待定位) when none is known.
  function addressValue() { return document.getElementById("address").value.trim(); }
  function whereValue() {
    var where = Object.assign({}, place || {});
    if (addressValue()) where.address = addressValue();
    return where;
  }
  function phoneValue() { return document.getElementById("phone").value.replace(/[\s-]/g, ""); }
  function check() {
    var ok = true;
    if (!chosenCategory) { setError("category", T.need_category); ok = false; }
    if (!place && !addressValue()) { setError("location", T.need_place); ok = false; }
    var text = document.getElementById("description").value.trim();
    if (!text) { setError("description", T.need_description); ok = false; }
    else if (text.length > 2000) { setError("description", T.too_long); ok = false; }
    var phone = phoneValue();
    if (phone && !/^(1\d{10}|0\d{9,11})$/.test(phone)) { setError("phone", T.bad_phone); ok = false; }
    return ok;
  }
  function waitText(answer) {
    var seconds = parseInt(answer.retryAfter || "0", 10) || 12;
    return seconds < 90 ? seconds + (data.lang === "en" ? " s" : " 秒") : Math.ceil(seconds / 60) + (data.lang === "en" ? " min" : " 分钟");
  }
  function refusal(answer) {
    if (answer.status === 429) return T.rate_limited.replace("{wait}", waitText(answer));
    return T.refused;
  }
  // The server names fields in English; the page says what to do in its own words.
  var FIELD_TEXT = { category: "need_category", location: "need_place", description: "need_description", phone: "bad_phone" };
  function showRefusal(answer) {
    var placed = false;
    ((answer.body && answer.body.errors) || []).forEach(function (e) {
      var top = String(e.field || "").split(".")[0];
      if (FIELD_TEXT[top]) { setError(top, T[FIELD_TEXT[top]]); placed = true; }
      else if (top === "media_urls") { setError("media_urls", T.refused); placed = true; }
    });
    formError.textContent = refusal(answer);
    if (placed && answer.status !== 429) formError.textContent = T.refused;
  }

  function send(body, key, attempt) {
    sending = true;
    submit.disabled = true;
    submit.textContent = T.sending;
    var init = { method: "POST", credentials: "omit",
      headers: { "Content-Type": "application/json", Accept: "application/json", "Idempotency-Key": key },
      body: JSON.stringify(body) };
    return fetch("/api/v1/public/whistles", init).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (parsed) {
        sending = false;
        submit.disabled = false;
        submit.textContent = T.submit;
        var answer = { ok: response.ok, status: response.status, body: parsed, retryAfter: response.headers.get("Retry-After") };
        if (answer.ok) done(parsed); else showRefusal(answer);
      });
    }, function () {
      if (attempt < 2) {
        return new Promise(function (resolve) { setTimeout(resolve, 800 * (attempt + 1)); })
          .then(function () { return send(body, key, attempt + 1); });
      }
      sending = false;
      submit.disabled = false;
      submit.textContent = T.submit;
      formError.textContent = T.network_failed;
    });
  }

  function done(answer) {
    sessionStorage.removeItem(KEY);
    form.hidden = true;
    var result = document.getElementById("result");
    result.hidden = false;
    document.getElementById("result-number").textContent = answer.case_number;
    var link = document.getElementById("result-link");
    link.setAttribute("href", W.withLang(answer.follow_url || ("/track/" + encodeURIComponent(answer.case_number))));
    link.textContent = T.track_link + " · " + answer.case_number;
    result.scrollIntoView();
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    if (sending) return;
    clearErrors();
    if (!check()) { formError.textContent = T.refused; return; }
    var body = {
      category: chosenCategory.code,
      description: document.getElementById("description").value.trim(),
      location: whereValue(),
      media_urls: photos.map(function (p) { return new URL(p.url, window.location.href).href; }),
    };
    var phone = phoneValue();
    if (phone) body.phone = phone;
    var trap = document.getElementById("website").value;
    if (trap) body.website = trap;  // only a bot fills the hidden field: the server refuses it
    send(body, currentKey(), 0);
  });

  document.getElementById("again").addEventListener("click", function () {
    form.reset();
    chosenCategory = null; place = null; photos = [];
    drawPhotos(); clearErrors(); drawCategories();
    document.getElementById("category-chosen").textContent = "";
    placeChosen.textContent = "";
    highlight(null);
    document.getElementById("result").hidden = true;
    form.hidden = false;
    currentKey();
  });
  currentKey();
})();
