// Browser test of dynamic versions on the Software page (issue 12): builds psbridge, runs
// `psbridge serve` on 127.0.0.1, creates software with a dynamic versions script through the
// API, runs the script (POST …/dynamic-versions), and checks in Chromium that the Software page
// marks the software as dynamic and shows the newest fetched version.
//
// Environment: PSBRIDGE_BIN (a built psbridge; default: go build into a temp dir) and
// PSBRIDGE_CHROMIUM (default /usr/bin/chromium).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '../../..');
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

async function api(method, p, body) {
  const res = await fetch(base + p, {
    method,
    headers: { Authorization: 'Bearer ' + token, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  assert.ok(res.ok, `${method} ${p}: ${res.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

before(async () => {
  if (!existsSync(chromiumPath)) {
    throw new Error(`Chromium not found at ${chromiumPath}: install it with 'apt-get install chromium' (or point PSBRIDGE_CHROMIUM at a Chromium binary)`);
  }
  tmp = mkdtempSync(path.join(tmpdir(), 'psbridge-e2e-dynver-'));
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
  await new Promise((r) => setTimeout(r, 300));
  for (const p of procs) { if (p.exitCode === null) { p.kill('SIGKILL'); } }
  if (tmp) { rmSync(tmp, { recursive: true, force: true }); }
});

test('the Software page shows dynamic versions', { timeout: 240000 }, async () => {
  const script = [
    "New-DynamicVersion -Version '1.9.0' -Uri 'https://downloads.example/tool-1.9.0.msi'",
    "New-DynamicVersion -Version '1.10.2' -Uri 'https://downloads.example/tool-1.10.2.msi'",
    "New-DynamicVersion -Version '1.2' -Uri 'https://downloads.example/tool-1.2.msi'",
  ].join('\n');
  const sw = await api('POST', '/api/v1/software', {
    name: 'Dyn Tool', scope: 'global', detectionScript: '$null', installScript: 'Write-Host $URL', dynamicVersionsScript: script,
  });
  await api('POST', '/api/v1/software', { name: 'Fixed Tool', version: '4.0', detectionScript: '$null' });
  const got = await api('POST', `/api/v1/software/global/${sw.id}/dynamic-versions`);
  assert.deepEqual(got.versions.map((v) => v.version), ['1.10.2', '1.9.0', '1.2']);

  const context = await browser.newContext({ viewport: { width: 1100, height: 760 } });
  const page = await context.newPage();
  page.setDefaultTimeout(60000);
  await page.goto(base + '/sign-in');
  await page.getByLabel('API token').fill(token);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(/\/integrations$/);
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Software' }).click();

  const dyn = page.locator(`tr[data-software="${sw.id}"]`);
  await dyn.waitFor();
  assert.match(await dyn.locator('[data-dynamic-newest]').textContent(), /newest 1\.10\.2 \(3 fetched \d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC\)/);
  await dyn.locator('.chip', { hasText: 'dynamic versions' }).waitFor();
  const fixed = page.locator('tr[data-software]', { hasText: 'Fixed Tool' });
  assert.equal(await fixed.locator('[data-dynamic-newest]').count(), 0);
  assert.equal(await fixed.locator('.chip', { hasText: 'dynamic versions' }).count(), 0);
  assert.ok((await fixed.textContent()).includes('4.0'));
  assert.ok(!(await page.content()).includes(token), 'the Software page contains the API token');
  await context.close();
});
