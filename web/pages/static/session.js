// Follows a maintenance session's log on its page: the stream replays every entry so far,
// then new ones as they are written, then an "end" event with the session.
(function () {
  "use strict";
  var box = document.getElementById("session");
  if (!box || box.dataset.live !== "true") {
    return;
  }
  var log = document.getElementById("log");
  var cleared = false;
  var es = new EventSource("/sessions/" + encodeURIComponent(box.dataset.id) + "/log");
  es.addEventListener("log", function (ev) {
    var e = JSON.parse(ev.data);
    if (!cleared) { // the stream starts over from the first entry
      log.textContent = "";
      cleared = true;
    }
    var line = document.createElement("span");
    line.className = "s-" + e.level;
    line.textContent = e.stage + ": " + e.message;
    log.appendChild(line);
    log.appendChild(document.createTextNode("\n"));
    document.getElementById("stage").textContent = e.stage;
  });
  es.addEventListener("end", function (ev) {
    es.close();
    var s = JSON.parse(ev.data);
    var state = document.getElementById("state");
    state.textContent = s.state;
    state.className = "badge " + (s.state === "succeeded" ? "ok" : s.state === "failed" ? "bad" : s.state === "completed with errors" ? "warn" : "muted");
    document.getElementById("stage").textContent = s.stage;
    if (s.rebootAction) {
      document.getElementById("reboot").textContent = (s.rebootPending ? "pending, " : "not pending, ") + s.rebootAction;
    }
    var live = document.getElementById("live");
    if (live) {
      live.textContent = "The session has ended.";
    }
    box.dataset.live = "false";
    box.dataset.ended = "true";
  });
})();
