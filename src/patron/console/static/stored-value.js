// The till's recharge form: the amount input only when no package is chosen, and the
// real-name inputs once the amount paid reaches the prepaid-card threshold. The server applies
// the same threshold; this only shows the inputs before the cashier is refused.
(function () {
  "use strict";
  var form = document.getElementById("recharge-form");
  if (!form) {
    return;
  }
  var threshold = parseInt(form.getAttribute("data-real-name-from"), 10);
  var amount = form.querySelector("input[name=amount]");
  var amountBox = form.querySelector("[data-part=amount]");
  var realName = form.querySelector("[data-testid=sv-real-name]");

  function fen(text) {
    var cleaned = text.replace(/[,¥￥\s]/g, "");
    if (!/^\d+(\.\d{0,2})?$/.test(cleaned)) {
      return 0;
    }
    var parts = cleaned.split(".");
    var cents = ((parts[1] || "") + "00").slice(0, 2);
    return parseInt(parts[0], 10) * 100 + parseInt(cents, 10);
  }

  function update() {
    var chosen = form.querySelector("input[name=package_id]:checked");
    var pay = chosen && chosen.value ? parseInt(chosen.getAttribute("data-pay"), 10) : null;
    amountBox.hidden = pay !== null;
    var paid = pay !== null ? pay : fen(amount.value);
    var needed = paid >= threshold;
    var typed = form.querySelector("input[name=real_name]").value ||
      form.querySelector("input[name=id_number]").value;
    realName.hidden = !(needed || typed || realName.querySelector(".field-error"));
  }

  form.addEventListener("input", update);
  form.addEventListener("change", update);
  update();
})();
