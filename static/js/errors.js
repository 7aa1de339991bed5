/*
 * Page errors are visible, never only in the console: any uncaught error or
 * rejected promise is shown in the #js-error banner of base.html. Loaded first
 * (in <head>, not deferred), so it also catches errors of the scripts after it;
 * the banner is looked up when an error happens, since the body may not exist yet.
 * Pages can report handled problems the same way: window.AutoSkillErrors.show(msg).
 */
(function () {
  "use strict";

  function show(message) {
    var banner = document.getElementById("js-error");
    if (!banner) { return; }
    banner.textContent = "Something went wrong in this page: " + message + " (reload to recover).";
    banner.hidden = false;
  }

  window.onerror = function (message, source, line) {
    show(String(message) + (line ? " (line " + line + ")" : ""));
    return false;
  };
  window.addEventListener("unhandledrejection", function (event) {
    show(String(event.reason && event.reason.message || event.reason));
  });

  window.AutoSkillErrors = { show: show };
})();
