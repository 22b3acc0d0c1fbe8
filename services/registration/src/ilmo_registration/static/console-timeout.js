/* The console's session timeout warning (WCAG 2.1 SC 2.2.1), a progressive
   enhancement: without this script every page works as before.

   The page (console/base.html) says in #session-timeout how many seconds its
   session has left until the idle end and the absolute end, counted from when
   it was rendered; this script counts from when it arrived, so the
   browser's clock does not matter. warn seconds before the earlier end it
   shows the warning and moves focus to it. "Continue session" (or Escape)
   posts to /console/session/continue with the session's CSRF token; a 204
   restarts the idle time and focus goes back where it was. When the absolute
   end comes first there is nothing to continue: the warning says when it is.
   At the end the warning says so, links to sign in again and disables the
   page's buttons, which could no longer save anything. */
(function () {
  "use strict";
  var root = document.getElementById("session-timeout");
  if (!root || !window.fetch) { return; }
  var warning = root.querySelector('[data-state="warning"]');
  var ended = root.querySelector('[data-state="ended"]');
  var countdown = root.querySelector("[data-countdown]");
  var continueButton = root.querySelector('[data-action="continue"]');
  var token = root.querySelector('input[name="csrf_token"]');
  var start = Date.now();
  var seconds = function (name) { return Number(root.getAttribute("data-" + name + "-seconds")); };
  var idleEnd = start + seconds("idle") * 1000;
  var absoluteEnd = start + seconds("absolute") * 1000;
  var idleLength = seconds("idle-length") * 1000;
  var warnBefore = seconds("warn") * 1000;
  var timer = null;
  var ticker = null;
  var returnFocus = null;

  function end() { return Math.min(idleEnd, absoluteEnd); }

  function format(left) {
    var total = Math.max(0, Math.ceil(left / 1000));
    var minutes = Math.floor(total / 60);
    var rest = total % 60;
    if (minutes && rest) { return minutes + " min " + rest + " s"; }
    return minutes ? minutes + " min" : rest + " s";
  }

  function schedule() {
    window.clearTimeout(timer);
    timer = window.setTimeout(warn, Math.max(0, end() - warnBefore - Date.now()));
  }

  function tick() {
    var left = end() - Date.now();
    if (left <= 0) { finish(); return; }
    countdown.textContent = format(left);
  }

  function warn() {
    var absolute = absoluteEnd <= idleEnd;
    root.querySelector('[data-when="idle"]').hidden = absolute;
    root.querySelector('[data-when="absolute"]').hidden = !absolute;
    continueButton.hidden = absolute;
    returnFocus = document.activeElement;
    root.hidden = false;
    tick();
    ticker = window.setInterval(tick, 1000);
    warning.focus();
  }

  function close() {
    window.clearInterval(ticker);
    root.hidden = true;
    if (returnFocus && returnFocus.focus && document.contains(returnFocus)) {
      returnFocus.focus();
    }
    returnFocus = null;
  }

  function finish() {
    window.clearInterval(ticker);
    window.clearTimeout(timer);
    warning.hidden = true;
    ended.hidden = false;
    root.hidden = false;
    var again = ended.querySelector("a");
    again.href = "/console/sign-in?next=" + encodeURIComponent(location.pathname + location.search);
    document.querySelectorAll("main button, main input[type=submit]").forEach(function (button) {
      button.disabled = true;
    });
    ended.focus();
  }

  function keepGoing() {
    if (absoluteEnd <= idleEnd) {
      close();
      window.clearTimeout(timer);
      timer = window.setTimeout(finish, Math.max(0, end() - Date.now()));
      return;
    }
    var body = new URLSearchParams();
    body.set("csrf_token", token ? token.value : "");
    fetch("/console/session/continue", {
      method: "POST", body: body, credentials: "same-origin", redirect: "manual"
    }).then(function (answer) {
      if (answer.status === 204) {
        idleEnd = Date.now() + idleLength;
        close();
        schedule();
      } else {
        finish();
      }
    }, function () { /* No answer (offline): the warning stays, the person may try again. */ });
  }

  continueButton.addEventListener("click", keepGoing);
  warning.addEventListener("keydown", function (event) {
    if (event.key === "Escape") { event.preventDefault(); keepGoing(); }
  });
  schedule();
}());
