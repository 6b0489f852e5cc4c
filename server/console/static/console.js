// Reload a page that asks for it (an unfinished run) so its progress stays current.
(function () {
  "use strict";
  var seconds = Number(document.body.getAttribute("data-refresh"));
  if (seconds > 0) {
    window.setTimeout(function () { window.location.reload(); }, seconds * 1000);
  }
})();
