// /m/invite: copy the invite link, with a word when it is copied (or the link selected to copy
// by hand where the clipboard is not available).
(function () {
  "use strict";
  var button = document.getElementById("invite-copy");
  var link = document.getElementById("invite-link");
  var status = document.getElementById("invite-status");
  if (!button || !link) return;
  function copied() {
    status.textContent = button.getAttribute("data-copied");
  }
  button.addEventListener("click", function () {
    link.select();
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(link.value).then(copied, function () {
        if (document.execCommand("copy")) copied();
      });
    } else if (document.execCommand("copy")) {
      copied();
    }
  });
})();
