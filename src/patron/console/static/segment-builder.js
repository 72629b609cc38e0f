/* The segment builder: menus that insert fields, functions (with their arguments) and
   operators at the cursor, a live count fetched as the rule changes (debounced), and the
   parser's refusal shown where it is: the line with the spot marked, and what was expected.
   No framework; text only through textContent (the console's CSP allows no inline script). */
(function () {
  "use strict";
  var form = document.getElementById("segment-form");
  var area = document.getElementById("segment-rule");
  var count = document.getElementById("segment-live-count");
  var box = document.getElementById("rule-error");
  var echo = document.getElementById("rule-echo");
  if (!form || !area || !count || !box || !echo) return;
  var words = JSON.parse(document.getElementById("segment-builder-words").textContent);
  var initial = JSON.parse(document.getElementById("segment-rule-error").textContent);

  function fill(message, params) {
    return message.replace(/%\((\w+)\)s/g, function (match, name) {
      return String(params[name]);
    });
  }

  function insert(snippet) {
    var start = area.selectionStart, end = area.selectionEnd;
    var text = area.value;
    area.value = text.slice(0, start) + snippet + text.slice(end);
    var at = start + snippet.length;
    area.focus();
    area.setSelectionRange(at, at);
    schedule();
  }

  Array.prototype.forEach.call(form.querySelectorAll("select[data-insert]"), function (menu) {
    menu.addEventListener("change", function () {
      if (menu.value) insert(menu.value);
      menu.value = "";
    });
  });

  function clearError() {
    box.hidden = true;
    echo.hidden = true;
    while (box.firstChild) box.removeChild(box.firstChild);
    while (echo.firstChild) echo.removeChild(echo.firstChild);
    area.removeAttribute("aria-invalid");
  }

  function showError(error) {
    clearError();
    var where = document.createElement("p");
    where.textContent = fill(words.at, { line: error.line, column: error.column }) + ": " + error.message;
    box.appendChild(where);
    if (error.expected && error.expected.length) {
      var expected = document.createElement("p");
      expected.textContent = words.expected + " " + error.expected.join(", ");
      expected.setAttribute("data-testid", "rule-expected");
      box.appendChild(expected);
    }
    box.hidden = false;
    var line = (area.value.split("\n")[error.line - 1] || "");
    var column = Math.max(0, error.column - 1);
    echo.appendChild(document.createTextNode(line.slice(0, column)));
    var mark = document.createElement("mark");
    mark.textContent = line.slice(column, column + 1) || " ";
    echo.appendChild(mark);
    echo.appendChild(document.createTextNode(line.slice(column + 1)));
    echo.hidden = false;
    area.setAttribute("aria-invalid", "true");
  }

  var timer = null, sent = 0;
  function schedule() {
    if (timer) clearTimeout(timer);
    timer = setTimeout(ask, 350);
  }

  function ask() {
    var mine = ++sent;
    var body = new URLSearchParams();
    body.set("csrf", form.elements.namedItem("csrf").value);
    body.set("rule", area.value);
    count.textContent = words.counting;
    fetch("/console/segments/preview", { method: "POST", body: body, credentials: "same-origin" })
      .then(function (response) { return response.json(); })
      .then(function (answer) {
        if (mine !== sent) return;
        if (answer.error) {
          count.textContent = "";
          showError(answer.error);
          return;
        }
        clearError();
        count.textContent = answer.count === null ? "" : fill(words.count, { count: answer.count.toLocaleString() });
      })
      .catch(function () {
        if (mine === sent) count.textContent = words.failed;
      });
  }

  area.addEventListener("input", schedule);
  if (initial) showError(initial);
  else if (area.value.trim()) schedule();
})();
