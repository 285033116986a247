// Browser test of dynamic versions on the Software page (issue 12): builds psbridge, runs
// `psbridge serve` on 127.0.0.1, creates software with a dynamic versions script through the
// API, runs the script (POST …/dynamic-versions), and checks in Chromium that the Software page
// marks the software as dynamic and shows the newest fetched version.
//
// Set-up, tear-down and environment variables (PSBRIDGE_BIN, PSBRIDGE_CHROMIUM):
// ../lib/harness.mjs.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHarness } from '../lib/harness.mjs';

const h = createHarness('dynver');
const api = h.api;

before(() => h.setUp());

after(() => h.tearDown());

test('the Software page shows dynamic versions', { timeout: 240000 }, async () => {
  const { token } = h;
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

  const { context, page } = await h.openSignedIn(token, { height: 760, timeout: 60000 });
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
