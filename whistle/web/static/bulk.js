// The console's bulk actions: a checkbox on each row, and a bar that urges, reassigns to one
// responder or merges into one the selected cases (static/dialogs.js asks and sends).
//
// static/console.js calls WhistleBulk.cell(doc) for each row it draws; this file keeps the
// selection (by case id, with the case as last drawn) across the live updates of the rows.
"use strict";

(function () {
  var selected = {}; // whistle id -> its document
  var bar = null;
  var count = null;
  var ctx = null;

  function el(tag, text, className) {
    var node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    if (className) node.className = className;
    return node;
  }

  function ids() { return Object.keys(selected); }

  function update() {
    if (!bar) return;
    var n = ids().length;
    bar.hidden = n === 0;
    count.textContent = ctx.labels.selected.replace("{n}", String(n));
  }

  function clear() {
    selected = {};
    Array.prototype.forEach.call(document.querySelectorAll("input.row-select"), function (box) {
      box.checked = false;
    });
    update();
  }

  // The first cell of a row: its checkbox, checked when the case is selected.
  function cell(doc) {
    var td = el("td", null, "select");
    var box = el("input", null, "row-select");
    box.type = "checkbox";
    box.setAttribute("aria-label", ctx ? ctx.labels.select : "select");
    box.dataset.id = doc.id;
    if (selected[doc.id]) { selected[doc.id] = doc; box.checked = true; }
    box.addEventListener("change", function () {
      if (box.checked) selected[doc.id] = doc; else delete selected[doc.id];
      update();
    });
    td.appendChild(box);
    return td;
  }

  function init(root, say) {
    var config = JSON.parse(root.dataset.config);
    if (!config.can_act) return false;
    ctx = { csrf: root.dataset.csrf, labels: config.actions, actor: config.actor, say: say,
            done: clear };
    var L = ctx.labels;
    var head = root.querySelector(".queue-table thead tr");
    if (head) head.insertBefore(el("th", L.select, "select"), head.firstChild);
    bar = el("div", null, "bulk-bar card");
    bar.id = "bulk-bar";
    count = el("strong", "", "bulk-count");
    bar.appendChild(count);
    ["urge", "reassign", "merge"].forEach(function (action) {
      var button = el("button", L["bulk_" + action], "action bulk-" + action);
      button.type = "button";
      button.addEventListener("click", function () {
        var docs = ids().map(function (id) { return selected[id]; });
        window.WhistleActions.bulk(ctx, action, docs);
      });
      bar.appendChild(button);
    });
    var reset = el("button", L.clear, "action bulk-clear");
    reset.type = "button";
    reset.addEventListener("click", clear);
    bar.appendChild(reset);
    var table = root.querySelector(".queue-table");
    var card = table ? table.closest(".card") : null;
    if (card) card.parentNode.insertBefore(bar, card);
    update();
    return true;
  }

  window.WhistleBulk = { init: init, cell: cell, clear: clear };
})();
