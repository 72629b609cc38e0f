// The member code refreshes itself each minute without reloading the page: it asks
// /m/code.json (with the member cookie) and swaps the QR symbol and the digits.
(function () {
  "use strict";
  var box = document.querySelector("[data-member-code]");
  if (!box) { return; }
  var seconds = parseInt(box.getAttribute("data-refresh"), 10) || 60;
  function refresh() {
    fetch("/m/code.json", { credentials: "same-origin", cache: "no-store" })
      .then(function (response) {
        if (response.status !== 200) { throw new Error("code " + response.status); }
        return response.json();
      })
      .then(function (body) {
        box.querySelector("[data-testid=member-qr]").innerHTML = body.qr;
        box.querySelector("[data-testid=member-code]").textContent = body.code;
      })
      .catch(function () { /* keep the code shown; the next minute tries again */ });
  }
  setInterval(refresh, seconds * 1000);
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "visible") { refresh(); }
  });
}());
