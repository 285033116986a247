// Browser test of the software, deployment and session pages: builds psbridge, runs
// `psbridge serve` and one `psbridge agent` (a temporary C: drive) on 127.0.0.1, creates
// software through the API, then in Chromium deploys it to the tenant on the Deployments page,
// starts a full-maintenance session that applies on connect on the Sessions page, and watches
// the session page's live log until it has installed the software on the agent's drive.
//
// Set-up, tear-down and environment variables (PSBRIDGE_BIN, PSBRIDGE_CHROMIUM,
// PSBRIDGE_SCREENSHOTS=1 to write docs/screenshots/<page>.png): ../lib/harness.mjs.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { createHarness, saveScreenshot } from '../lib/harness.mjs';

const h = createHarness('sessions');
const api = h.api;

before(() => h.setUp());

after(() => h.tearDown());

test('deploy software to a tenant and watch a full-maintenance session install it', { timeout: 240000 }, async () => {
  const { base, token, tmp } = h;
  // The tenant, its computer (a real agent) and the software, through the API.
  const tenant = await api('POST', '/api/v1/tenants', { name: 'Contoso' });
  const key = await api('POST', `/api/v1/tenants/${tenant.id}/enrollment-keys`, {});
  const drive = path.join(tmp, 'c-drive');
  mkdirSync(drive);
  const [, computerId] = await h.start(['agent', '--server', base, '--enroll-key', key.key, '--state-dir', path.join(tmp, 'agent'),
    '--drive', 'C=' + drive, '--inventory', 'computerName=PC-ANN', '--inventory', 'deviceId=e2e-sessions-1',
    // Never reboot the machine the test runs on: no pending file, and reboots refused.
    '--reboot-pending-file', path.join(tmp, 'no-reboot-required'), '--reboot-command', 'none'],
  {}, /psbridge agent: computer (\d+)/);
  const marker = 'C:\\ToolX.txt';
  await api('POST', '/api/v1/software', {
    name: 'Tool X', version: '2.0', scriptContext: 'computer',
    detectionScript: `if (Test-Path '${marker}') { Get-Content '${marker}' -TotalCount 1 }`,
    installScript: `Write-Host 'installing Tool X'; Set-Content -Path '${marker}' -Value '2.0'`,
  });

  const { context, page } = await h.newPage({ height: 760, timeout: 60000 });
  const nav = page.getByRole('navigation', { name: 'Main' });
  const visit = async (name) => {
    await page.waitForLoadState('domcontentloaded');
    const html = await page.content();
    assert.ok(!html.includes(token), `the ${name} page contains the API token`);
    await saveScreenshot(page, name, { fullPage: true });
  };
  await h.signIn(page);

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
  // The install ran, so the reboot stage asked the agent: nothing pending, no reboot.
  await page.locator('#reboot', { hasText: 'not pending, none' }).waitFor();
  await visit('session');
  assert.equal(readFileSync(path.join(drive, 'ToolX.txt'), 'utf8').trim(), '2.0');

  // Reloaded, the page shows the kept log and the action.
  await page.reload();
  await page.locator('#actions td', { hasText: 'install' }).first().waitFor();
  assert.equal((await page.locator('#reboot').textContent()).trim(), 'not pending, none');
  assert.ok((await page.locator('#log').textContent()).includes('session succeeded'));
  await nav.getByRole('link', { name: 'Sessions' }).click();
  await page.locator('#sessions tr[data-session] .badge', { hasText: 'succeeded' }).waitFor();
  await context.close();
});
