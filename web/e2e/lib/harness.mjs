// The set-up every browser test in ../tests shares. createHarness(name) returns a harness whose
// functions start, on 127.0.0.1 and in a temporary directory of their own:
//
//   - psbridge itself: `go build ./cmd/psbridge` into the temporary directory, unless
//     PSBRIDGE_BIN names a built binary;
//   - `psbridge fake-s1` (startFakeS1), the fake SentinelOne API, with the test's API key;
//   - `psbridge serve` (startServe) with a fresh data directory, reading the URL it serves on
//     and the admin token it creates from its output;
//   - any other psbridge command (start), e.g. `psbridge agent`;
//   - Chromium through playwright-core (launchBrowser) and pages in it, signed in or not
//     (openSignedIn, newPage, signIn);
//
// and tearDown stops all of them and removes the temporary directory. The test files keep their
// own steps and assertions; only this plumbing lives here.
//
// Environment: PSBRIDGE_BIN (a built psbridge; default: go build into the temporary directory),
// PSBRIDGE_CHROMIUM (default /usr/bin/chromium), PSBRIDGE_SCREENSHOTS=1 (saveScreenshot writes
// docs/screenshots/<name>.png). PSBRIDGE_PWSH and PSBRIDGE_CACHE_DIR pass through to the psbridge
// processes; other PSBRIDGE_* variables of the test's environment do not (serve refuses unknown
// ones).
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, existsSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

/** repo is the root of the psbridge repository. */
export const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

/** screenshots is the directory saveScreenshot writes to, or '' unless PSBRIDGE_SCREENSHOTS=1. */
export const screenshots = process.env.PSBRIDGE_SCREENSHOTS === '1' ? path.join(repo, 'docs/screenshots') : '';

/** chromiumPath is the Chromium binary the tests drive. */
export const chromiumPath = process.env.PSBRIDGE_CHROMIUM || '/usr/bin/chromium';

// The PSBRIDGE_* variables that reach psbridge processes: where pwsh and the module cache are.
const passedThrough = new Set(['PSBRIDGE_PWSH', 'PSBRIDGE_CACHE_DIR']);

// How long a psbridge command may take to print what start waits for, and to exit on SIGTERM.
const startTimeout = 120000;
const stopTimeout = 10000;

/**
 * saveScreenshot writes a screenshot of page to docs/screenshots/<name>.png when
 * PSBRIDGE_SCREENSHOTS=1, and does nothing otherwise or when name is empty.
 */
export async function saveScreenshot(page, name, options = {}) {
  if (!screenshots || !name) { return; }
  mkdirSync(screenshots, { recursive: true });
  await page.screenshot({ ...options, path: path.join(screenshots, name + '.png') });
}

/**
 * createHarness returns a harness for one test file; name goes into its temporary directory's
 * name. Call setUp (or its parts) in before() and tearDown in after(). Its fields tmp, bin,
 * base (the URL serve listens on), token (serve's admin token), vendor (fake-s1's URL),
 * browser and responses (the text of every api() answer) are set as the parts start.
 */
export function createHarness(name) {
  const procs = [];
  const h = {
    tmp: '', bin: '', base: '', token: '', vendor: '', browser: null, responses: [],

    /**
     * setUp checks for Chromium, builds psbridge, starts fake-s1 when fakeS1Key is given (its
     * API token), starts serve and launches Chromium.
     */
    async setUp({ fakeS1Key } = {}) {
      h.build();
      if (fakeS1Key) { await h.startFakeS1(fakeS1Key); }
      await h.startServe();
      await h.launchBrowser();
    },

    /**
     * build checks that Chromium exists (a missing one fails the test before anything starts),
     * makes the temporary directory and builds psbridge into it unless PSBRIDGE_BIN is set.
     */
    build() {
      if (!existsSync(chromiumPath)) {
        throw new Error(`Chromium not found at ${chromiumPath}: install it with 'apt-get install chromium' (or point PSBRIDGE_CHROMIUM at a Chromium binary)`);
      }
      h.tmp = mkdtempSync(path.join(tmpdir(), `psbridge-e2e-${name}-`));
      h.bin = process.env.PSBRIDGE_BIN;
      if (!h.bin) {
        h.bin = path.join(h.tmp, 'psbridge');
        execFileSync('go', ['build', '-o', h.bin, './cmd/psbridge'], { cwd: repo, stdio: 'inherit' });
      }
    },

    /**
     * start runs psbridge with args (and env added to the environment) and resolves with the
     * first match of re in its stdout; it rejects with the output if the process exits first
     * or prints no match in time. tearDown stops the process.
     */
    start(args, env, re) {
      return new Promise((resolve, reject) => {
        const inherited = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('PSBRIDGE_') || passedThrough.has(k)));
        const p = spawn(h.bin, args, { env: { ...inherited, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
        procs.push(p);
        let out = '';
        let err = '';
        const timer = setTimeout(() => reject(new Error(`psbridge ${args[0]} did not start in time:\n${out}\n${err}`)), startTimeout);
        p.stdout.on('data', (b) => {
          out += b;
          const m = out.match(re);
          if (m) { clearTimeout(timer); resolve(m); }
        });
        p.stderr.on('data', (b) => { err += b; if (err.length > 20000) { err = err.slice(-10000); } });
        p.on('exit', (code) => { clearTimeout(timer); reject(new Error(`psbridge ${args[0]} exited with ${code}:\n${out}\n${err}`)); });
      });
    },

    /** startFakeS1 starts `psbridge fake-s1` accepting apiKey and sets vendor to its URL (ending in /). */
    async startFakeS1(apiKey) {
      const [, addr] = await h.start(['fake-s1', '--listen', '127.0.0.1:0', '--token', apiKey], {}, /API on (http:\/\/\S+?)\/? /);
      h.vendor = addr.replace(/\/$/, '') + '/';
      return h.vendor;
    },

    /** startServe starts `psbridge serve` on a fresh data directory and sets base and token. */
    async startServe() {
      const m = await h.start(['serve', '--listen', '127.0.0.1:0', '--data-dir', path.join(h.tmp, 'data')],
        { PSBRIDGE_LOG_LEVEL: 'warn' }, /created one[^\n]*\n\s+(\S+)\n[\s\S]*serving on (http:\/\/[^/\s]+)/);
      h.token = m[1];
      h.base = m[2];
    },

    /** launchBrowser launches Chromium and sets browser. */
    async launchBrowser() {
      h.browser = await chromium.launch({
        executablePath: chromiumPath,
        args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
      });
    },

    /**
     * api calls the REST API with the admin token, asserts a 2xx answer, keeps its text in
     * responses and returns its JSON (null when empty).
     */
    async api(method, p, body) {
      const res = await fetch(h.base + p, {
        method,
        headers: { Authorization: 'Bearer ' + h.token, 'Content-Type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await res.text();
      h.responses.push(text);
      assert.ok(res.ok, `${method} ${p}: ${res.status} ${text}`);
      return text ? JSON.parse(text) : null;
    },

    /** newPage opens a browser context 1100 pixels wide and a page in it, not signed in. */
    async newPage({ height = 720, timeout = 30000 } = {}) {
      const context = await h.browser.newContext({ viewport: { width: 1100, height } });
      const page = await context.newPage();
      page.setDefaultTimeout(timeout);
      return { context, page };
    },

    /** submitSignIn signs in with tok on the sign-in page page shows and waits for /integrations. */
    async submitSignIn(page, tok = h.token) {
      await page.getByLabel('API token').fill(tok);
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.waitForURL(/\/integrations$/);
    },

    /** signIn opens the sign-in page in page and signs in with tok (default: the admin token). */
    async signIn(page, tok = h.token) {
      await page.goto(h.base + '/sign-in');
      await h.submitSignIn(page, tok);
    },

    /**
     * openSignedIn opens a page as newPage does (options) and signs it in with tok (default:
     * the admin token); it returns { context, page }.
     */
    async openSignedIn(tok = h.token, options = {}) {
      const opened = await h.newPage(options);
      await h.signIn(opened.page, tok);
      return opened;
    },

    /** tearDown closes Chromium, stops every psbridge process it started and removes tmp. */
    async tearDown() {
      if (h.browser) { await h.browser.close(); }
      await Promise.all(procs.map(stop));
      if (h.tmp) { rmSync(h.tmp, { recursive: true, force: true }); }
    },
  };
  return h;
}

// stop sends p SIGTERM and resolves when it has exited, sending SIGKILL if it has not within
// stopTimeout.
function stop(p) {
  if (p.exitCode !== null || p.signalCode !== null) { return Promise.resolve(); }
  return new Promise((resolve) => {
    const timer = setTimeout(() => p.kill('SIGKILL'), stopTimeout);
    p.once('exit', () => { clearTimeout(timer); resolve(); });
    p.kill('SIGTERM');
  });
}
