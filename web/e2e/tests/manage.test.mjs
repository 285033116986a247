// Browser test of psbridge's management pages: builds psbridge, runs `psbridge fake-s1` and
// `psbridge serve` on 127.0.0.1 with a temporary data directory, and drives Chromium through
// the empty states of a new server, uploading, replacing and deleting a module, replacing a
// type's script (a parse error names the line; the integration then runs the new script),
// deleting a type in use (refused: delete its integration first), the Agents tab's hint that
// only mapped clients' agents sync, the webhook secret (generated once, rotated, cleared; the
// plugin endpoint obeys it) and API tokens (shown once; a read-only session sees no write
// forms; revoking ends its session).
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
import { randomBytes } from 'node:crypto';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '../../..');
const shots = process.env.PSBRIDGE_SCREENSHOTS === '1' ? path.join(repo, 'docs/screenshots') : '';
const chromiumPath = process.env.PSBRIDGE_CHROMIUM || '/usr/bin/chromium';
const apiKey = 'e2e-s1-key-' + randomBytes(12).toString('hex');

const procs = [];
let tmp, bin, base, vendor, token, browser;

// start runs psbridge with args and resolves with the first match of re in its stdout.
function start(args, env, re) {
  return new Promise((resolve, reject) => {
    // serve refuses unknown PSBRIDGE_* variables: pass on only the ones it knows.
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
  tmp = mkdtempSync(path.join(tmpdir(), 'psbridge-e2e-manage-'));
  bin = process.env.PSBRIDGE_BIN;
  if (!bin) {
    bin = path.join(tmp, 'psbridge');
    execFileSync('go', ['build', '-o', bin, './cmd/psbridge'], { cwd: repo, stdio: 'inherit' });
  }
  const [, vendorAddr] = await start(['fake-s1', '--listen', '127.0.0.1:0', '--token', apiKey], {}, /API on (http:\/\/\S+?)\/? /);
  vendor = vendorAddr.replace(/\/$/, '') + '/';
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

// signIn opens a browser context signed in with tok.
async function signIn(tok) {
  const context = await browser.newContext({ viewport: { width: 1100, height: 720 } });
  const page = await context.newPage();
  page.setDefaultTimeout(30000);
  await page.goto(base + '/sign-in');
  await page.getByLabel('API token').fill(tok);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(/\/integrations$/);
  return { context, page };
}

// visit checks the page for secrets and saves its screenshot.
async function visit(page, name, secrets = []) {
  await page.waitForLoadState('domcontentloaded');
  const html = await page.content();
  for (const s of [apiKey, token, ...secrets]) {
    assert.ok(!html.includes(s), `the ${name} page contains a secret`);
  }
  if (shots && name) {
    mkdirSync(shots, { recursive: true });
    await page.screenshot({ path: path.join(shots, name + '.png') });
  }
  return html;
}

const basicV1 = "New-DynamicIntegration -Init {\n    [OpResult]::Ok()\n} -HealthCheck {\n    New-HealthyResult -Message 'script v1'\n}\n";
const basicV2 = basicV1.replace('script v1', 'script v2');
const broken = "New-DynamicIntegration -Init {\n    [OpResult]::Ok()\n    if ( {\n}\n";

test('empty states, modules, type replace and delete, agents hint, webhook secret, tokens', { timeout: 300000 }, async () => {
  const { context, page } = await signIn(token);

  // Empty states say what to do next.
  await page.getByText('No integrations yet.').waitFor();
  await page.getByRole('link', { name: 'create one' }).waitFor();
  for (const [p, text] of [['/types', 'No integration types yet. Upload a script'], ['/modules', 'No modules yet.'], ['/tenants', 'No tenants yet.']]) {
    await page.goto(base + p);
    await page.getByText(text).waitFor();
  }
  await visit(page, 'empty-types');

  // Modules: upload the SentinelOne module as a file, replace it, delete a second one.
  await page.goto(base + '/modules');
  await page.getByLabel('Module file').setInputFiles(path.join(repo, 'testdata/modules/SentinelOne.psm1'));
  await page.getByRole('button', { name: 'Upload module' }).click();
  await page.waitForURL(/\/modules\/SentinelOne\?notice=/);
  await page.getByText('Module SentinelOne uploaded.').waitFor();
  await page.goto(base + '/modules');
  await page.getByLabel('Module name').fill('Scratch');
  await page.getByLabel('or paste the module').fill("function Get-Scratch { 'v1' }");
  await page.getByRole('button', { name: 'Upload module' }).click();
  await page.waitForURL(/\/modules\/Scratch\?notice=/);
  await page.goto(base + '/modules');
  await page.getByLabel('Module name').fill('scratch');
  await page.getByLabel('or paste the module').fill("function Get-Scratch { 'dup' }");
  await page.getByRole('button', { name: 'Upload module' }).click();
  await page.getByText('A module named scratch exists already.').waitFor();
  await visit(page, 'modules');
  await page.getByRole('link', { name: 'Scratch', exact: true }).click();
  await page.getByText('Replace the script').click();
  await page.getByLabel('or paste the new module').fill("function Get-Scratch { 'v2' }");
  await page.getByRole('button', { name: 'Replace module' }).click();
  await page.getByText('Module Scratch replaced').waitFor();
  assert.match(await page.locator('pre.script').innerText(), /'v2'/);
  await page.getByRole('link', { name: 'Delete module' }).click();
  await page.getByRole('button', { name: 'Delete module' }).click();
  await page.waitForURL(/\/modules\?notice=/);
  await page.getByText('Module Scratch deleted.').waitFor();
  assert.equal(await page.locator('tr[data-module="Scratch"]').count(), 0);
  assert.equal(await page.locator('tr[data-module="SentinelOne"]').count(), 1);

  // A type and an integration whose health message comes from the script.
  await page.goto(base + '/types/new');
  await page.locator('#name').fill('Basic');
  await page.getByLabel('Script file name').fill('basic.ps1');
  await page.getByLabel('or paste the script').fill(basicV1);
  await page.getByRole('button', { name: 'Upload' }).click();
  await page.waitForURL(/\/types\/[^/]+\?/);
  const typeURL = page.url().split('?')[0];
  await page.getByRole('link', { name: 'New integration of this type' }).click();
  await page.locator('#name').fill('Basic one');
  await page.getByRole('button', { name: 'Create integration' }).click();
  await page.waitForURL(/\/integrations\/\d+\?notice=/);
  const basicURL = page.url().split('?')[0];
  await page.getByText('script v1').waitFor();

  // Replace the script: a file that does not parse names the line and changes nothing.
  await page.goto(typeURL);
  await page.getByRole('link', { name: 'Replace script' }).click();
  await page.getByLabel('Script file', { exact: true }).setInputFiles({ name: 'broken.ps1', mimeType: 'text/plain', buffer: Buffer.from(broken) });
  await page.getByRole('button', { name: 'Replace script' }).click();
  await page.getByText('The script does not parse.').waitFor();
  assert.match(await page.locator('.issues').innerText(), /basic.ps1:5:2 line 5, column 2: Missing closing '\)'/);
  await visit(page, 'type-replace-error');
  await page.goto(typeURL);
  assert.match(await page.locator('pre.script').innerText(), /script v1/);
  await page.getByRole('link', { name: 'Replace script' }).click();
  await page.getByLabel('Script file', { exact: true }).setInputFiles({ name: 'basic-v2.ps1', mimeType: 'text/plain', buffer: Buffer.from(basicV2) });
  await page.getByRole('button', { name: 'Replace script' }).click();
  await page.getByText('Script replaced. Its 1 integration(s) run Init with the new script').waitFor();
  assert.match(await page.locator('pre.script').innerText(), /script v2/);
  await page.goto(basicURL);
  await page.getByRole('button', { name: 'Run health check' }).click();
  await page.waitForURL(basicURL);
  await page.getByText('script v2').waitFor();

  // Deleting a type in use is refused with the integration to delete first.
  await page.goto(typeURL);
  await page.getByRole('link', { name: 'Delete type' }).click();
  await page.getByText('Basic cannot be deleted while 1 integration(s) use it. Delete these integrations first:').waitFor();
  assert.equal(await page.getByRole('button', { name: 'Delete integration type' }).count(), 0);
  await visit(page, 'type-delete-blocked');
  await page.locator('#blockers').getByRole('link', { name: 'Basic one' }).click();
  await page.getByRole('button', { name: 'Delete integration' }).click();
  await page.waitForURL(/\/integrations\?notice=/);
  await page.getByText('Integration Basic one deleted.').waitFor();
  await page.goto(typeURL + '/delete');
  await page.getByRole('button', { name: 'Delete integration type' }).click();
  await page.waitForURL(/\/types\?notice=/);
  await page.getByText('Integration type Basic deleted.').waitFor();

  // SentinelOne: the Agents tab says only mapped clients' agents sync and links to Clients.
  await page.goto(base + '/types/new');
  await page.locator('#name').fill('SentinelOne');
  await page.getByLabel('Script file name').fill('SentinelOne.ps1');
  await page.getByLabel('Script file', { exact: true }).setInputFiles(path.join(repo, 'testdata/examples/07-sentinelone.ps1'));
  await page.getByRole('button', { name: 'Upload' }).click();
  await page.waitForURL(/\/types\/[^/]+\?/);
  await page.getByRole('link', { name: 'New integration of this type' }).click();
  await page.locator('#name').fill('Contoso S1');
  await page.locator('#f-S1Uri').fill(vendor);
  await page.locator('#f-S1ApiKey').fill(apiKey);
  await page.getByRole('button', { name: 'Create integration' }).click();
  await page.waitForURL(/\/integrations\/\d+\?notice=/);
  const s1 = page.url().match(/\/integrations\/(\d+)/)[1];
  await page.getByRole('link', { name: 'Agents', exact: true }).click();
  await page.getByRole('button', { name: 'Sync agents now' }).click();
  await page.getByText('No client is mapped to a tenant, so no agents were synced').waitFor();
  assert.match(await page.locator('#agents-mapped').innerText(), /Only agents of clients mapped to a tenant are synced: no client is mapped yet/);
  await visit(page, 'agents-unmapped');
  await page.locator('#agents-mapped').getByRole('link', { name: 'Clients tab' }).click();
  await page.waitForURL(new RegExp(`/integrations/${s1}/clients$`));
  const clients = (await api('GET', `/api/v1/integrations/${s1}/clients`)).items;
  assert.ok(clients.length > 0, 'no clients');
  const row = page.locator(`tr[data-client="${clients[0].externalClientId}"]`);
  await row.getByPlaceholder('or new tenant…').fill('Contoso');
  await row.getByRole('button', { name: 'Save' }).click();
  await page.getByText('is mapped.').waitFor();
  await page.getByRole('link', { name: 'Agents', exact: true }).click();
  await page.getByRole('button', { name: 'Sync agents now' }).click();
  await page.getByText(/Synced \d+ agents of 1 clients\./).waitFor();
  assert.match(await page.locator('#agents-mapped').innerText(), /1 client\(s\) are mapped/);

  // Webhook secret: generated and shown once, enforced, rotated, cleared.
  const hookType = await api('POST', '/api/v1/integration-types', { name: 'Hook', scriptName: 'hook.ps1', script: readFileSync(path.join(repo, 'testdata/examples/08-webhook.ps1'), 'utf8') });
  const hook = await api('POST', '/api/v1/integrations', { name: 'Hook one', typeId: hookType.id });
  const hookURL = `${base}/plugins/api/v1/${hook.id}/event`;
  const call = async (secret) => (await fetch(hookURL, { method: 'POST', headers: secret ? { 'X-Psbridge-Secret': secret } : {}, body: '{}' })).status;
  await page.goto(`${base}/integrations/${hook.id}/webhook`);
  await page.locator('#secret-state', { hasText: 'not set' }).waitFor();
  assert.equal(await call(''), 200);
  await page.getByRole('button', { name: 'Generate a secret' }).click();
  const first = (await page.locator('[data-secret]').innerText()).trim();
  assert.ok(first.length >= 16, 'no secret shown');
  await visit(page, 'webhook-secret');
  assert.notEqual(await call(''), 200);
  assert.equal(await call(first), 200);
  // Shown once: the tab itself says only "set".
  await page.goto(`${base}/integrations/${hook.id}/webhook`);
  await page.locator('#secret-state .badge.ok', { hasText: 'set' }).waitFor();
  await visit(page, '', [first]);
  await page.getByRole('button', { name: 'Rotate: generate a new secret' }).click();
  const second = (await page.locator('[data-secret]').innerText()).trim();
  assert.notEqual(second, first);
  assert.notEqual(await call(first), 200);
  assert.equal(await call(second), 200);
  await page.goto(`${base}/integrations/${hook.id}/webhook`);
  await page.getByLabel('Or set your own secret').fill('short');
  await page.getByRole('button', { name: 'Set secret' }).click();
  await page.getByText('The secret must be at least 16 characters; nothing was changed.').waitFor();
  const own = 'own-secret-' + randomBytes(8).toString('hex');
  await page.getByLabel('Or set your own secret').fill(own);
  await page.getByRole('button', { name: 'Set secret' }).click();
  await page.getByText('Webhook secret set.').waitFor();
  await visit(page, '', [own, second]);
  assert.equal(await call(own), 200);
  await page.getByRole('link', { name: 'Clear the secret' }).click();
  await page.getByRole('button', { name: 'Clear webhook secret' }).click();
  await page.getByText('Webhook secret cleared').waitFor();
  await page.locator('#secret-state', { hasText: 'not set' }).waitFor();
  assert.equal(await call(''), 200);

  // Tokens: create a read-only token (shown once), sign in with it, revoke it.
  await page.getByRole('link', { name: 'Tokens', exact: true }).click();
  await page.getByLabel('Name').fill('viewer');
  await page.getByLabel('Role').selectOption('read-only');
  await page.getByRole('button', { name: 'Create token' }).click();
  const roToken = (await page.locator('[data-token]').innerText()).trim();
  assert.match(roToken, /^psb_/);
  await page.goto(base + '/tokens');
  const tokRow = page.locator('tr', { hasText: 'viewer' });
  await tokRow.waitFor();
  assert.match(await tokRow.innerText(), /read-only/);
  assert.match(await page.locator('tr', { hasText: 'you are signed in with it' }).innerText(), /admin/);
  await visit(page, 'tokens', [roToken]);

  const ro = await signIn(roToken);
  for (const p of ['/integrations', '/types', '/modules', `/integrations/${s1}`, `/integrations/${s1}/clients`, `/integrations/${s1}/agents`, `/integrations/${hook.id}/webhook`]) {
    await ro.page.goto(base + p);
    const forms = await ro.page.locator('form:not(.signout)').count();
    assert.equal(forms, 0, `${p} shows ${forms} write form(s) to a read-only session`);
    for (const name of ['Tokens', 'Upload a script', 'New integration', 'Delete integration', 'Edit']) {
      assert.equal(await ro.page.getByRole('link', { name, exact: true }).count(), 0, `${p} shows ${name} to a read-only session`);
    }
  }
  await ro.page.goto(base + '/tokens');
  await ro.page.getByText('API tokens are managed with admin tokens').waitFor();

  await tokRow.getByRole('link', { name: 'Revoke' }).click();
  await page.getByRole('button', { name: 'Revoke token' }).click();
  await page.getByText('Token viewer revoked.').waitFor();
  await ro.page.goto(base + '/integrations');
  await ro.page.waitForURL(/\/sign-in/);
  await ro.context.close();
  await context.close();
});
