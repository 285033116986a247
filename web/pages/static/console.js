// The Console page: xterm.js attached to psbridge's console websocket. Binary frames carry
// terminal bytes both ways; text frames carry JSON control messages (hello, resize, ping,
// exit, error). A dropped connection re-attaches to the same session (the server replays the
// scrollback) until the session ends.
(function () {
  'use strict';
  var el = document.getElementById('terminal');
  var status = document.getElementById('console-status');
  if (!el || !window.Terminal) { return; }
  // lineHeight above 1: at 1.0 a row is exactly the font's height and the DOM renderer clips glyphs
  // drawn at its bottom edge, so '$_' read '$ ' (pages.test.mjs checks the pixels).
  var term = new window.Terminal({ cursorBlink: true, convertEol: false, scrollback: 5000, fontSize: 14, lineHeight: 1.2 });
  var fit = new window.FitAddon.FitAddon();
  term.loadAddon(fit);
  term.open(el);
  fit.fit();
  window.psbridgeTerminal = term; // lets tests read the buffer

  var session = '';
  var ws = null;
  var ended = false;
  var retries = 0;
  var encoder = new TextEncoder();

  function say(text) { status.textContent = text; }

  function url() {
    var u = new URL(el.dataset.ws, window.location.href);
    u.protocol = u.protocol === 'https:' ? 'wss:' : 'ws:';
    if (session) { u.searchParams.set('session', session); }
    else { u.searchParams.set('instance', el.dataset.instance); }
    u.searchParams.set('cols', String(term.cols));
    u.searchParams.set('rows', String(term.rows));
    return u.toString();
  }

  function sendResize() {
    if (ws && ws.readyState === WebSocket.OPEN) {
      ws.send(JSON.stringify({ type: 'resize', cols: term.cols, rows: term.rows }));
    }
  }

  function connect() {
    ws = new WebSocket(url());
    ws.binaryType = 'arraybuffer';
    ws.onopen = function () { retries = 0; say('Connected.'); sendResize(); };
    ws.onmessage = function (ev) {
      if (typeof ev.data !== 'string') { term.write(new Uint8Array(ev.data)); return; }
      var msg;
      try { msg = JSON.parse(ev.data); } catch (e) { return; }
      if (msg.type === 'hello') { session = msg.session; }
      else if (msg.type === 'exit') { ended = true; say('The session ended (exit code ' + msg.code + '). Reload the page for a new one.'); }
      else if (msg.type === 'error') { say(msg.message); if (!session) { ended = true; } }
    };
    ws.onclose = function () {
      if (ended) { return; }
      retries++;
      if (retries > 10) { say('Disconnected. Reload the page to try again.'); return; }
      say('Disconnected; reconnecting…');
      setTimeout(connect, Math.min(5000, 300 * retries));
    };
  }

  term.onData(function (data) {
    if (ws && ws.readyState === WebSocket.OPEN) { ws.send(encoder.encode(data)); }
  });
  term.onResize(sendResize);
  window.addEventListener('resize', function () { fit.fit(); });
  setInterval(function () {
    if (ws && ws.readyState === WebSocket.OPEN) { ws.send(JSON.stringify({ type: 'ping' })); }
  }, 25000);
  connect();
  term.focus();
})();
