// Browser test of the software, deployment and session pages: builds psbridge, runs
// `psbridge serve` and one `psbridge agent` (a temporary C: drive) on 127.0.0.1, creates
// software through the API, then in Chromium deploys it to the tenant on the Deployments page,
// starts a full-maintenance session that applies on connect on the Sessions page, and watches
// the session page's live log until it has installed the software on the agent's drive.
//
// Environment: PSBRIDGE_BIN (a built psbridge; default: go build into a temp dir),
// PSBRIDGE_CHROMIUM (default /usr/bin/chromium), PSBRIDGE_SCREENSHOTS=1 (write
// docs/screenshots/<page>.png).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
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
  tmp = mkdtempSync(path.join(tmpdir(), 'psbridge-e2e-sessions-'));
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

test('deploy software to a tenant and watch a full-maintenance session install it', { timeout: 240000 }, async () => {
  // The tenant, its computer (a real agent) and the software, through the API.
  const tenant = await api('POST', '/api/v1/tenants', { name: 'Contoso' });
  const key = await api('POST', `/api/v1/tenants/${tenant.id}/enrollment-keys`, {});
  const drive = path.join(tmp, 'c-drive');
  mkdirSync(drive);
  const [, computerId] = await start(['agent', '--server', base, '--enroll-key', key.key, '--state-dir', path.join(tmp, 'agent'),
    '--drive', 'C=' + drive, '--inventory', 'computerName=PC-ANN', '--inventory', 'deviceId=e2e-sessions-1'],
  {}, /psbridge agent: computer (\d+)/);
  const marker = 'C:\\ToolX.txt';
  await api('POST', '/api/v1/software', {
    name: 'Tool X', version: '2.0', scriptContext: 'computer',
    detectionScript: `if (Test-Path '${marker}') { Get-Content '${marker}' -TotalCount 1 }`,
    installScript: `Write-Host 'installing Tool X'; Set-Content -Path '${marker}' -Value '2.0'`,
  });

  const context = await browser.newContext({ viewport: { width: 1100, height: 760 } });
  const page = await context.newPage();
  page.setDefaultTimeout(60000);
  const nav = page.getByRole('navigation', { name: 'Main' });
  const visit = async (name) => {
    await page.waitForLoadState('domcontentloaded');
    const html = await page.content();
    assert.ok(!html.includes(token), `the ${name} page contains the API token`);
    if (shots) {
      mkdirSync(shots, { recursive: true });
      await page.screenshot({ path: path.join(shots, name + '.png'), fullPage: true });
    }
  };
  await page.goto(base + '/sign-in');
  await page.getByLabel('API token').fill(token);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(/\/integrations$/);

  await nav.getByRole('link', { name: 'Software' }).click();
  await page.locator('tr[data-software]', { hasText: 'Tool X' }).waitFor();
  await visit('software');

  // A refused deployment names what is missing and keeps the form.
  await nav.getByRole('link', { name: 'Deployments' }).click();
  await page.locator('#softwareId').selectOption({ label: 'Tool X' });
  await page.locator('#new-deployment').evaluate((f) => { f.noValidate = true; });
  await page.getByRole('button', { name: 'Create deployment' }).click();
  await page.locator('#page-error', { hasText: 'Target: choose a tenant or a computer' }).waitFor();
  assert.equal(await page.locator('#softwareId').inputValue(), await page.locator('#softwareId option', { hasText: 'Tool X' }).getAttribute('value'));

  await page.locator('#target').selectOption({ label: 'Tenant Contoso' });
  await page.locator('#desiredSoftwareState').selectOption({ label: '5 NewerOrEqualVersion' });
  await page.getByRole('button', { name: 'Create deployment' }).click();
  await page.getByText(/Deployment \d+ created\./).waitFor();
  await page.locator('#deployments tr[data-deployment]', { hasText: 'tenant Contoso' }).waitFor();
  await visit('deployments');

  // Full maintenance of the computer, applied when it connects.
  await nav.getByRole('link', { name: 'Sessions' }).click();
  await page.locator('#computerId').selectOption(computerId);
  await page.locator('#mode').selectOption('full');
  await page.locator('#offlineBehavior').selectOption({ label: 'Apply on connect' });
  await visit('sessions-form');
  await page.getByRole('button', { name: 'Start session' }).click();
  await page.waitForURL(/\/sessions\/\d+$/);

  // The live log follows the session to its end.
  await page.locator('#state', { hasText: 'succeeded' }).waitFor({ timeout: 120000 });
  const log = await page.locator('#log').textContent();
  for (const want of ['stage resolution', 'wins, desired state 5 (NewerOrEqualVersion)', 'action: install', 'installing Tool X', 'session succeeded']) {
    assert.ok(log.includes(want), `the live log lacks "${want}":\n${log}`);
  }
  await page.locator('#live', { hasText: 'The session has ended.' }).waitFor();
  await visit('session');
  assert.equal(readFileSync(path.join(drive, 'ToolX.txt'), 'utf8').trim(), '2.0');

  // Reloaded, the page shows the kept log and the action.
  await page.reload();
  await page.locator('#actions td', { hasText: 'install' }).first().waitFor();
  assert.ok((await page.locator('#log').textContent()).includes('session succeeded'));
  await nav.getByRole('link', { name: 'Sessions' }).click();
  await page.locator('#sessions tr[data-session] .badge', { hasText: 'succeeded' }).waitFor();
  await context.close();
});
