/* The campaign wizard: one step shown at a time (audience → actions → control → schedule →
   review), the audience's live count (the segments' preview, for the saved segment's rule or the
   typed one) and, on the review step, the expected cost from the campaigns' preview. Without
   script every step shows at once and the form still submits. Text only through textContent. */
(function () {
  "use strict";
  var form = document.getElementById("campaign-form");
  if (!form) return;
  var words = JSON.parse(document.getElementById("campaign-wizard-words").textContent);
  var steps = form.querySelectorAll(".wizard-step");
  var marks = document.querySelectorAll("#wizard-steps li");
  var nav = document.getElementById("wizard-nav");
  var back = nav.querySelector("[data-wizard=back]");
  var next = nav.querySelector("[data-wizard=next]");
  var count = document.getElementById("campaign-audience-count");
  var segment = document.getElementById("campaign-segment");
  var rule = document.getElementById("campaign-rule");
  var csrf = form.elements.namedItem("csrf").value;
  // A refused form opens on its review step, where the buttons are.
  var current = form.hasAttribute("data-refused") ? steps.length : 1;

  function fill(message, params) {
    return message.replace(/%\((\w+)\)s/g, function (match, name) {
      return String(params[name]);
    });
  }

  function show(step) {
    current = step;
    Array.prototype.forEach.call(steps, function (box) {
      box.hidden = Number(box.getAttribute("data-step")) !== step;
    });
    Array.prototype.forEach.call(marks, function (mark) {
      var n = Number(mark.getAttribute("data-step"));
      mark.className = n === step ? "current" : (n < step ? "done" : "");
      if (n === step) mark.setAttribute("aria-current", "step");
      else mark.removeAttribute("aria-current");
    });
    back.hidden = step === 1;
    next.hidden = step === steps.length;
    if (step === steps.length) review();
  }

  function audience() {
    return form.querySelector("input[name=audience]:checked").value;
  }

  function showAudience() {
    var kind = audience();
    Array.prototype.forEach.call(form.querySelectorAll("[data-audience]"), function (box) {
      box.hidden = box.getAttribute("data-audience") !== kind;
    });
    schedule();
  }

  var timer = null, sent = 0;
  function schedule() {
    if (timer) clearTimeout(timer);
    timer = setTimeout(countAudience, 300);
  }

  function countAudience() {
    var text = "";
    if (audience() === "rule") text = rule.value;
    else if (segment.selectedIndex > 0) text = segment.options[segment.selectedIndex].getAttribute("data-rule");
    var mine = ++sent;
    if (!text || !text.trim()) {
      count.textContent = "";
      return;
    }
    var body = new URLSearchParams();
    body.set("csrf", csrf);
    body.set("rule", text);
    count.textContent = words.counting;
    fetch("/console/segments/preview", { method: "POST", body: body, credentials: "same-origin" })
      .then(function (response) { return response.json(); })
      .then(function (answer) {
        if (mine !== sent) return;
        if (answer.error) count.textContent = answer.error.message || words.failed;
        else count.textContent = answer.count === null ? "" : fill(words.count, { count: answer.count.toLocaleString() });
      })
      .catch(function () {
        if (mine === sent) count.textContent = words.failed;
      });
  }

  function listing(values, labels) {
    var parts = [];
    Object.keys(values).forEach(function (key) {
      if (values[key]) parts.push((labels[key] || key) + " " + Number(values[key]).toLocaleString());
    });
    return parts.join(" · ") || "—";
  }

  function review() {
    var status = document.getElementById("review-status");
    var table = document.getElementById("review-table");
    var over = document.getElementById("review-over-budget");
    status.textContent = words.counting;
    table.hidden = true;
    over.hidden = true;
    fetch("/console/campaigns/preview", { method: "POST", body: new URLSearchParams(new FormData(form)), credentials: "same-origin" })
      .then(function (response) { return response.json(); })
      .then(function (answer) {
        if (answer.error) {
          var fields = answer.fields || {};
          status.textContent = [answer.error].concat(Object.keys(fields).map(function (k) { return (words.fields[k] || k) + ": " + fields[k]; })).join(" ");
          return;
        }
        status.textContent = "";
        function cell(name, value) { table.querySelector("[data-testid=" + name + "]").textContent = value; }
        cell("review-audience", answer.audience.toLocaleString());
        cell("review-control", answer.control.toLocaleString());
        cell("review-treated", answer.treated.toLocaleString());
        cell("review-cost", listing(answer.expected_cost, words.cost));
        cell("review-skipped", listing(answer.skipped, words.skipped));
        table.hidden = false;
        over.hidden = answer.budget_ok;
      })
      .catch(function () { status.textContent = words.failed; });
  }

  back.addEventListener("click", function () { show(Math.max(1, current - 1)); });
  next.addEventListener("click", function () { show(Math.min(steps.length, current + 1)); });
  Array.prototype.forEach.call(form.querySelectorAll("input[name=audience]"), function (radio) {
    radio.addEventListener("change", showAudience);
  });
  segment.addEventListener("change", schedule);
  rule.addEventListener("input", schedule);
  document.getElementById("wizard-steps").hidden = false;
  nav.hidden = false;
  showAudience();
  show(current);
})();
