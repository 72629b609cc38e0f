/* The coupon designer's live preview: the card as the member will see it, drawn from the form
   as it changes, with the words and rules of coupon_view.py (the page hands the words over in
   #coupon-words). Also shows only the value inputs of the chosen type and the inputs of the
   chosen kind of validity. No framework, no network. */
(function () {
  "use strict";
  var form = document.getElementById("coupon-form");
  var source = document.getElementById("coupon-words");
  var card = document.querySelector("[data-testid=coupon-preview]");
  if (!form || !source || !card) return;
  var data = JSON.parse(source.textContent);
  var words = data.words;

  function fill(message, params) {
    return message.replace(/%\((\w+)\)s|%%/g, function (match, name) {
      return name ? String(params[name]) : "%";
    });
  }

  function value(name) {
    var input = form.elements.namedItem(name);
    if (!input) return "";
    if (input instanceof RadioNodeList) return input.value;
    return input.value.trim();
  }

  function ticked(name) {
    return Array.prototype.filter
      .call(form.querySelectorAll("input[name='" + name + "']"), function (box) {
        return box.checked;
      })
      .map(function (box) { return box.value; });
  }

  function codes(name) {
    var seen = [];
    value(name).split(/[\s,，、;；]+/).forEach(function (code) {
      if (code && seen.indexOf(code) < 0) seen.push(code);
    });
    return seen;
  }

  /* Yuan as typed ("100", "19.5", "¥1,000") in fen; null when it is not an amount. */
  function fen(name) {
    var raw = value(name).replace(/^[¥￥]/, "").replace(/,/g, "");
    if (!/^\d+(\.\d{1,2})?$/.test(raw)) return null;
    var parts = raw.split(".");
    return Number(parts[0]) * 100 + Number(((parts[1] || "") + "00").slice(0, 2));
  }

  function whole(name) {
    var raw = value(name);
    return /^\d{1,9}$/.test(raw) ? Number(raw) : null;
  }

  var grouping = new Intl.NumberFormat("en-US");
  function shortYuan(amount) {
    var text = grouping.format(Math.floor(amount / 100));
    return amount % 100 === 0 ? text : text + "." + String(amount % 100).padStart(2, "0");
  }

  function percentRate(off) {
    if (data.lang !== "zh") return String(off);
    var paid = 100 - off;
    return paid % 10 === 0 ? String(paid / 10) : (paid / 10).toFixed(1).replace(/0$/, "");
  }

  var dayFormat = new Intl.DateTimeFormat(data.locale, { dateStyle: "medium", timeZone: "UTC" });
  function day(iso) {
    var parts = iso.split("-").map(Number);
    if (parts.length !== 3 || parts.some(isNaN)) return null;
    return dayFormat.format(new Date(Date.UTC(parts[0], parts[1] - 1, parts[2])));
  }

  function valueText(type) {
    if (type === "percent_off") {
      var off = whole("percent_off");
      return off === null || off < 1 || off > 99 ? "—" : fill(words["coupon.value.percent_off"], { rate: percentRate(off) });
    }
    if (type === "gift") return words["coupon.value.gift"];
    var amount = fen("amount");
    return amount === null ? "—" : "¥" + shortYuan(amount);
  }

  function conditions(type) {
    var parts = [];
    var threshold = fen("threshold") || 0;
    if (type === "gift" && value("gift_sku")) parts.push(fill(words["coupon.cond.gift"], { sku: value("gift_sku") }));
    if (type === "shipping") parts.push(words["coupon.cond.shipping"]);
    if (threshold > 0) parts.push(fill(words["coupon.cond.threshold"], { amount: shortYuan(threshold) }));
    else if (type !== "gift") parts.push(words["coupon.cond.no_threshold"]);
    var cap = fen("max_discount");
    if (type === "percent_off" && cap) parts.push(fill(words["coupon.cond.max_discount"], { amount: shortYuan(cap) }));
    return parts;
  }

  function validity() {
    if (value("validity") !== "dates") {
      var days = whole("valid_days");
      if (days === null) return words["coupon.valid.unset"];
      return fill(words["coupon.valid.days"][days === 1 ? 0 : 1], { days: days });
    }
    var start = value("valid_from") && day(value("valid_from"));
    var end = value("valid_until") && day(value("valid_until"));
    if (start && end) return fill(words["coupon.valid.dates"], { start: start, end: end });
    if (end) return fill(words["coupon.valid.until"], { end: end });
    return words["coupon.valid.unset"];
  }

  var SCOPE = [
    ["store_ids", "store_codes", "coupon.scope.stores"],
    ["channels", "channels", "coupon.scope.channels"],
    ["category_codes", "category_codes", "coupon.scope.categories"],
    ["skus", "skus", "coupon.scope.skus"],
  ];
  function scope() {
    var sep = words["list.sep"];
    var parts = [];
    SCOPE.forEach(function (entry) {
      var kind = entry[0], input = entry[1], key = entry[2];
      [input, "exclude_" + input].forEach(function (name, excluded) {
        var listed = kind === "channels" ? ticked(name) : codes(name);
        if (kind === "channels") listed = listed.map(function (c) { return words["order_channel." + c]; });
        if (!listed.length) return;
        parts.push(excluded
          ? fill(words["coupon.scope.except"], { what: words[key + ".name"], list: listed.join(sep) })
          : fill(words[key], { list: listed.join(sep) }));
      });
    });
    return parts.length ? parts : [words["coupon.scope.all"]];
  }

  function spans(target, texts) {
    target.textContent = "";
    texts.forEach(function (text) {
      var span = document.createElement("span");
      span.textContent = text;
      target.appendChild(span);
    });
  }

  function part(name) { return card.querySelector("[data-part=" + name + "]"); }

  function showInputs(type, mode) {
    form.querySelectorAll("[data-types]").forEach(function (field) {
      field.hidden = field.getAttribute("data-types").split(" ").indexOf(type) < 0;
    });
    form.querySelectorAll("[data-validity]").forEach(function (input) {
      var field = input.closest(".field") || input;
      field.hidden = input.getAttribute("data-validity") !== mode;
    });
  }

  function draw() {
    var type = value("type") || "cash_off";
    showInputs(type, value("validity") || "days");
    Array.prototype.slice.call(card.classList).forEach(function (name) {
      if (name.indexOf("coupon-") === 0 && name !== "coupon-card") card.classList.remove(name);
    });
    card.classList.add("coupon-" + type);
    part("value").textContent = valueText(type);
    part("kind").textContent = words["coupon_type." + type] || type;
    part("name").textContent = value("name") || words["coupons.card.unnamed"];
    spans(part("conditions"), conditions(type));
    part("validity").textContent = validity();
    spans(part("scope"), scope());
  }

  form.addEventListener("input", draw);
  form.addEventListener("change", draw);
  draw();
})();
