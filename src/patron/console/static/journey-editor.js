// The journey editor: show only the trigger settings the chosen event takes, and the entry
// days only when entries repeat. Without the script every setting shows, each with its hint.
(function () {
  "use strict";
  var form = document.getElementById("journey-form");
  if (!form) return;
  var event = form.elements.namedItem("trigger_event");
  var limit = form.elements.namedItem("entry_limit");
  var days = form.elements.namedItem("entry_days");

  function sync() {
    form.querySelectorAll("[data-events]").forEach(function (box) {
      box.hidden = box.getAttribute("data-events").split(" ").indexOf(event.value) < 0;
    });
    days.closest(".field").hidden = limit.value !== "every_n_days";
  }

  event.addEventListener("change", sync);
  limit.addEventListener("change", sync);
  sync();
})();
