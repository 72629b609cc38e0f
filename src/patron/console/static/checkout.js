/* The cashier's screen and its receipt. The screen posts its form to the till endpoint on
   every change and swaps in the answer (the member, the lines, a fresh quote), so that the
   page never reloads mid-sale; and the keyboard shortcuts shown on the screen. Without this
   script the form still works, a page load per Enter. A scanner types faster than the
   screen answers: what is typed while a request runs is kept, and each item entered
   meanwhile is sent in turn. The receipt prints by a button or Alt+P. No framework. */
(function () {
  "use strict";
  var print = document.querySelector("[data-print]");
  if (print) {
    // The receipt: a button and Alt+P print it (the page prints as a slip).
    print.addEventListener("click", function () { window.print(); });
    document.addEventListener("keydown", function (event) {
      if (event.altKey && event.code === "KeyP") {
        event.preventDefault();
        window.print();
      }
    });
  }
  var form = document.getElementById("till-form");
  if (!form || !window.fetch) return;
  var url = form.getAttribute("data-till");
  // Where Enter hands the cursor to the screen's choice (the entry inputs and buttons).
  var ENTERED = ["scan", "new_sku", "new_qty", "new_price", "action", "remove"];
  // Inputs whose change prices the sale again.
  var PRICED = ["line_qty", "coupon", "coupon_auto", "points", "stored_value", "store_id"];
  // The member's payment password: the server never writes it back, the page keeps it.
  var KEPT = ["sv_verify"];
  var SHORTCUTS = {
    KeyM: "scan", KeyS: "new_sku", KeyC: "coupon_auto", KeyP: "points",
    KeyV: "stored_value", KeyY: "method",
  };
  // What an Enter sends and the screen then uses up: the member box and the item inputs.
  var ENTRY = ["scan", "new_sku", "new_qty", "new_price"];
  var busy = false;
  var queued = null;
  // Items (or a member code) entered while a request ran, each sent in turn.
  var backlog = [];

  function field(name) {
    var found = form.elements.namedItem(name);
    if (found && !found.focus && found.length) found = found[0];
    return found && found.focus ? found : null;
  }

  // The cursor to an input; a shortcut also selects what it holds, to type over it.
  function focus(name, select) {
    var input = field(name);
    if (!input || input.disabled) return false;
    input.focus();
    if (select && input.select && input.type !== "checkbox") input.select();
    return true;
  }

  // Where the cursor is, as name and position among inputs of that name, to put it back.
  function place() {
    var active = document.activeElement;
    if (!active || !active.name || active.form !== form) return null;
    var same = form.querySelectorAll("[name='" + active.name + "']");
    return { name: active.name, index: Array.prototype.indexOf.call(same, active) };
  }

  function restore(spot) {
    var same = form.querySelectorAll("[name='" + spot.name + "']");
    var input = same[Math.min(spot.index, same.length - 1)];
    if (input && !input.disabled) input.focus();
    else focus(serverFocus());
  }

  function serverFocus() {
    var grid = form.querySelector("[data-focus]");
    return grid ? grid.getAttribute("data-focus") : "new_sku";
  }

  // Every input's value by name and position: what was sent, to tell what was typed since.
  function snapshot() {
    var seen = {};
    var values = {};
    Array.prototype.forEach.call(form.elements, function (input) {
      if (!input.name || input.type === "hidden" || input.type === "submit") return;
      var key = input.name + "#" + (seen[input.name] = (seen[input.name] || 0) + 1);
      values[key] = input.type === "checkbox" ? input.checked : input.value;
    });
    return values;
  }

  // Put what was typed while the request ran into the new form; true if any of it prices.
  function carry(sent, typed) {
    var seen = {};
    var priced = false;
    Array.prototype.forEach.call(form.elements, function (input) {
      if (!input.name || input.type === "hidden" || input.type === "submit") return;
      var key = input.name + "#" + (seen[input.name] = (seen[input.name] || 0) + 1);
      if (!(key in typed) || typed[key] === sent[key]) return;
      if (input.type === "checkbox") input.checked = typed[key];
      else input.value = typed[key];
      if (PRICED.indexOf(input.name) >= 0) priced = true;
    });
    return priced;
  }

  // The entry inputs' values, emptied for what the cashier types next.
  function takeEntry() {
    var entry = {};
    ENTRY.forEach(function (name) {
      var input = field(name);
      entry[name] = input ? input.value : "";
      if (input) input.value = "";
    });
    return entry;
  }

  function send(submitter, byEnter, entry) {
    if (busy) {
      // A commit waiting stays the next thing sent (the screen prices again what it no
      // longer matches instead of committing it).
      if (!(queued && queued.submitter && queued.submitter.value === "commit")) {
        queued = { submitter: submitter && submitter.name ? submitter : null, byEnter: byEnter };
      }
      return;
    }
    busy = true;
    form.classList.add("till-busy");
    form.setAttribute("aria-busy", "true");
    var body = new URLSearchParams(new FormData(form));
    if (submitter && submitter.name) body.append(submitter.name, submitter.value);
    if (entry) {
      Object.keys(entry).forEach(function (name) { body.set(name, entry[name]); });
    } else if (byEnter) {
      takeEntry();
    }
    var sent = snapshot();
    var from = place();
    fetch(url, { method: "POST", body: body, credentials: "same-origin" })
      .then(function (response) {
        if (response.redirected) {
          window.location.href = response.url;
          return null;
        }
        if (response.status !== 200 && response.status !== 409 && response.status !== 422) {
          throw new Error(String(response.status));
        }
        return response.text();
      })
      .then(function (html) {
        if (html === null) return;
        var spot = place();
        var typed = snapshot();
        var kept = KEPT.map(function (name) { return field(name) ? field(name).value : ""; });
        form.innerHTML = html;
        KEPT.forEach(function (name, index) {
          if (field(name) && kept[index]) field(name).value = kept[index];
        });
        if (carry(sent, typed) && !queued) queued = { submitter: null, byEnter: false };
        // After Enter in an entry input, the cursor goes where the screen says (the next
        // item, or the input a refusal is about); else it stays where the cashier has it.
        if (!spot || byEnter && from && spot.name === from.name && spot.index === from.index &&
            ENTERED.indexOf(from.name) >= 0) {
          focus(serverFocus());
        } else {
          restore(spot);
        }
        done();
      })
      .catch(function () {
        // Anything unexpected (a lost session, a server error): the plain form post shows it.
        busy = false;
        form.submit();
      });
  }

  function done() {
    busy = false;
    form.classList.remove("till-busy");
    form.removeAttribute("aria-busy");
    if (backlog.length) {
      send(null, true, backlog.shift());
      return;
    }
    if (queued) {
      var next = queued;
      queued = null;
      if (next.submitter && next.submitter.value === "commit") {
        commit();
      } else {
        send(null, next.byEnter);
      }
    }
  }

  function commit() {
    var button = form.querySelector("button[value=commit]");
    if (!button || button.disabled) return;
    if (busy) {
      queued = { submitter: button, byEnter: true };
      return;
    }
    form.requestSubmit(button);
  }

  form.addEventListener("submit", function (event) {
    var submitter = event.submitter;
    if (submitter && submitter.value === "commit") {
      if (busy) {
        event.preventDefault();
        queued = { submitter: submitter, byEnter: true };
      }
      return; // the commit is a plain post: the receipt page follows
    }
    event.preventDefault();
    if (changed) {
      clearTimeout(changed);
      changed = null;
    }
    var active = document.activeElement;
    if (busy && active && (active.name === "new_sku" || active.name === "scan") && active.value) {
      backlog.push(takeEntry());
      return;
    }
    send(submitter, true);
  });

  // Enter in a changed input fires its change, then the submit: one request for both.
  var changed = null;
  form.addEventListener("change", function (event) {
    if (PRICED.indexOf(event.target.name) < 0) return;
    clearTimeout(changed);
    changed = setTimeout(function () {
      changed = null;
      send(null, false);
    }, 0);
  });

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey && event.key === "Enter") {
      event.preventDefault();
      commit();
      return;
    }
    if (event.key === "Escape" && document.activeElement === field("new_sku")) {
      field("new_sku").value = "";
      return;
    }
    if (!event.altKey || event.ctrlKey || event.metaKey) return;
    if (event.code === "KeyN") {
      event.preventDefault();
      window.location.href = form.getAttribute("action");
      return;
    }
    var target = SHORTCUTS[event.code];
    if (target && focus(target, true)) event.preventDefault();
  });
})();
