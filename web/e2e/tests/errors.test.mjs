// Browser test of errors that show (issue 14): uploads the SentinelOne example WITHOUT its
// module through the pages, sees the type page warn naming the module, creates the
// integration, and checks that the overview says "Init completed with errors" although the
// health check passes, and that the Calls tab shows Init's badge in amber, not a green "ok".
//
// Set-up, tear-down and environment variables (PSBRIDGE_BIN, PSBRIDGE_CHROMIUM,
// PSBRIDGE_SCREENSHOTS=1 to write docs/screenshots/calls-with-errors.png): ../lib/harness.mjs.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { createHarness, repo, saveScreenshot } from '../lib/harness.mjs';

const h = createHarness('errors');

before(() => h.setUp());

after(() => h.tearDown());

test('a missing module warns at upload; Init that wrote errors shows amber, not green', { timeout: 180000 }, async () => {
  const { base } = h;
  const { context, page } = await h.openSignedIn();

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
  await saveScreenshot(page, 'calls-with-errors');
  await context.close();
});
