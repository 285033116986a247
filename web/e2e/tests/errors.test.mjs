// Browser test of errors that show (issue 14): uploads the SentinelOne example WITHOUT its
// module through the pages, sees the type page warn naming the module, creates the
// integration, and checks that the overview says "Init completed with errors" although the
// health check passes, and that the Calls tab shows Init's badge in amber, not a green "ok".
//
// Environment: PSBRIDGE_BIN (a built psbridge; default: go build into a temp dir),
// PSBRIDGE_CHROMIUM (default /usr/bin/chromium), PSBRIDGE_SCREENSHOTS=1 (write
// docs/screenshots/calls-with-errors.png).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, existsSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '../../..');
const shots = process.env.PSBRIDGE_SCREENSHOTS === '1' ? path.join(repo, 'docs/screenshots') : '';
const chromiumPath = process.env.PSBRIDGE_CHROMIUM || '/usr/bin/chromium';

const procs = [];
let tmp, bin, base, token, browser;

// start runs psbridge with args and resolves with the first match of re in its stdout.
function start(args, env, re) {
  return new Promise((resolve, reject) => {
    const keep = new Set(['PSBRIDGE_PWSH', 'PSBRIDGE_CACHE_DIR']);
    const inherited = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('PSBRIDGE_') || keep.has(k)));
    const p = spawn(bin, args, { env: { ...inherited, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    procs.push(p);
    let out = '';
    let err = '';
    const timer = setTimeout(() => reject(new Error(`psbridge ${args[0]} did not start in time:\n${out}\n${err}`)), 120000);
    p.stdout.on('data', (b) => {
      out += b;
      const m = out.match(re);
      if (m) { clearTimeout(timer); resolve(m); }
    });
    p.stderr.on('data', (b) => { err += b; if (err.length > 20000) { err = err.slice(-10000); } });
    p.on('exit', (code) => { clearTimeout(timer); reject(new Error(`psbridge ${args[0]} exited with ${code}:\n${out}\n${err}`)); });
  });
}

before(async () => {
  if (!existsSync(chromiumPath)) {
    throw new Error(`Chromium not found at ${chromiumPath}: install it with 'apt-get install chromium' (or point PSBRIDGE_CHROMIUM at a Chromium binary)`);
  }
  tmp = mkdtempSync(path.join(tmpdir(), 'psbridge-e2e-errors-'));
  bin = process.env.PSBRIDGE_BIN;
  if (!bin) {
    bin = path.join(tmp, 'psbridge');
    execFileSync('go', ['build', '-o', bin, './cmd/psbridge'], { cwd: repo, stdio: 'inherit' });
  }
  const m = await start(['serve', '--listen', '127.0.0.1:0', '--data-dir', path.join(tmp, 'data')],
    { PSBRIDGE_LOG_LEVEL: 'warn' }, /created one[^\n]*\n\s+(\S+)\n[\s\S]*serving on (http:\/\/[^/\s]+)/);
  token = m[1];
  base = m[2];
  browser = await chromium.launch({
    executablePath: chromiumPath,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
});

after(async () => {
  if (browser) { await browser.close(); }
  for (const p of procs) { if (p.exitCode === null) { p.kill('SIGTERM'); } }
  await Promise.all(procs.map((p) => (p.exitCode === null ? new Promise((r) => p.on('exit', r)) : null)));
  if (tmp) { rmSync(tmp, { recursive: true, force: true }); }
});

test('a missing module warns at upload; Init that wrote errors shows amber, not green', { timeout: 180000 }, async () => {
  const context = await browser.newContext({ viewport: { width: 1100, height: 720 } });
  const page = await context.newPage();
  page.setDefaultTimeout(30000);

  await page.goto(base + '/sign-in');
  await page.getByLabel('API token').fill(token);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(/\/integrations$/);

  // Upload the example; psbridge has no SentinelOne module.
  await page.goto(base + '/types/new');
  await page.locator('#name').fill('SentinelOne');
  await page.getByLabel('Script file name').fill('SentinelOne.ps1');
  await page.getByLabel('Script file', { exact: true }).setInputFiles(path.join(repo, 'testdata/examples/07-sentinelone.ps1'));
  await page.getByRole('button', { name: 'Upload' }).click();
  await page.waitForURL(/\/types\/[^/]+\?/);
  const warning = page.locator('#type-warnings');
  await warning.waitFor();
  assert.match(await warning.innerText(), /module "SentinelOne" \(line 97, Import-Module\)/);

  // Create the integration: Init imports the missing module and calls one of its commands.
  await page.getByRole('link', { name: 'New integration of this type' }).click();
  await page.locator('#name').fill('S1 without module');
  await page.locator('#f-S1Uri').fill('http://127.0.0.1:9/');
  await page.locator('#f-S1ApiKey').fill('not-a-real-key');
  await page.getByRole('button', { name: 'Create integration' }).click();
  await page.waitForURL(/\/integrations\/\d+\?notice=/);
  const id = page.url().match(/\/integrations\/(\d+)/)[1];

  // The health check passes, but the overview does not look all-green.
  await page.locator('h1 .badge', { hasText: 'Healthy' }).waitFor();
  const initErrors = page.locator('#init-errors');
  await initErrors.waitFor();
  assert.match(await initErrors.innerText(), /Init completed with errors/);
  assert.match(await initErrors.innerText(), /Connect-S1API/);
  const initBadge = page.locator('#last-init .badge');
  assert.equal(await initBadge.innerText(), 'completed with errors');

  // The Calls tab: Init's badge is amber (the --warn colour), the health check's green.
  await page.getByRole('link', { name: 'Calls', exact: true }).click();
  await page.waitForURL(new RegExp(`/integrations/${id}/calls$`));
  // (The health loop may have logged more HealthChecks by now: the newest is first.)
  const colour = async (method) => page.locator('ol.calls summary', { hasText: method }).first().locator('.badge')
    .evaluate((el) => ({ text: el.textContent, color: getComputedStyle(el).color }));
  const init = await colour('Init');
  assert.equal(init.text, 'completed with errors');
  assert.equal(init.color, 'rgb(154, 103, 0)', 'Init badge is not amber');
  const health = await colour('HealthCheck');
  assert.equal(health.text, 'ok');
  assert.equal(health.color, 'rgb(26, 127, 55)', 'HealthCheck badge is not green');
  if (shots) {
    mkdirSync(shots, { recursive: true });
    await page.screenshot({ path: path.join(shots, 'calls-with-errors.png') });
  }
  await context.close();
});
