// Browser test of psbridge's management pages: builds psbridge, runs `psbridge fake-s1` and
// `psbridge serve` on 127.0.0.1 with a temporary data directory, and drives Chromium through
// the empty states of a new server, uploading, replacing and deleting a module, replacing a
// type's script (a parse error names the line; the integration then runs the new script),
// deleting a type in use (refused: delete its integration first), the Agents tab's hint that
// only mapped clients' agents sync, the webhook secret (generated once, rotated, cleared; the
// plugin endpoint obeys it) and API tokens (shown once; a read-only session sees no write
// forms; revoking ends its session).
//
// Set-up, tear-down and environment variables (PSBRIDGE_BIN, PSBRIDGE_CHROMIUM,
// PSBRIDGE_SCREENSHOTS=1 to write docs/screenshots/<page>.png): ../lib/harness.mjs.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { createHarness, repo, saveScreenshot } from '../lib/harness.mjs';

const apiKey = 'e2e-s1-key-' + randomBytes(12).toString('hex');
const h = createHarness('manage');
const api = h.api;

before(() => h.setUp({ fakeS1Key: apiKey }));

after(() => h.tearDown());

// visit checks the page for secrets and saves its screenshot.
async function visit(page, name, secrets = []) {
  await page.waitForLoadState('domcontentloaded');
  const html = await page.content();
  for (const s of [apiKey, h.token, ...secrets]) {
    assert.ok(!html.includes(s), `the ${name} page contains a secret`);
  }
  await saveScreenshot(page, name);
  return html;
}

const basicV1 = "New-DynamicIntegration -Init {\n    [OpResult]::Ok()\n} -HealthCheck {\n    New-HealthyResult -Message 'script v1'\n}\n";
const basicV2 = basicV1.replace('script v1', 'script v2');
const broken = "New-DynamicIntegration -Init {\n    [OpResult]::Ok()\n    if ( {\n}\n";

test('empty states, modules, type replace and delete, agents hint, webhook secret, tokens', { timeout: 300000 }, async () => {
  const { base, token, vendor } = h;
  const { context, page } = await h.openSignedIn(token);

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

  const ro = await h.openSignedIn(roToken);
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
