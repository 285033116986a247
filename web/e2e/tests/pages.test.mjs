// Browser test of psbridge's pages: builds psbridge, runs `psbridge fake-s1` and
// `psbridge serve` on 127.0.0.1 with a temporary data directory, and drives Chromium through
// sign-in, creating the SentinelOne integration with the generated form, mapping a client,
// and the console (GetClients in xterm.js over the websocket). The vendor API key must never
// reach the browser: not in any page, not in the terminal, not in any websocket frame.
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
const h = createHarness('pages');
const api = h.api;

before(async () => {
  await h.setUp({ fakeS1Key: apiKey });
  await api('POST', '/api/v1/modules', { name: 'SentinelOne', script: readFileSync(path.join(repo, 'testdata/modules/SentinelOne.psm1'), 'utf8') });
});

after(() => h.tearDown());

test('sign in, create the SentinelOne integration, map a client and use the console', { timeout: 180000 }, async () => {
  const { base, token, vendor } = h;
  const { context, page } = await h.newPage();
  const frames = [];
  page.on('websocket', (ws) => {
    const keep = (f) => frames.push(typeof f.payload === 'string' ? f.payload : Buffer.from(f.payload).toString('utf8'));
    ws.on('framereceived', keep);
    ws.on('framesent', keep);
  });
  const contents = [];
  // visit checks a page for the API key and saves its screenshot.
  const visit = async (name) => {
    await page.waitForLoadState('domcontentloaded');
    const html = await page.content();
    contents.push(html);
    assert.ok(!html.includes(apiKey), `the ${name} page contains the API key`);
    assert.ok(!html.includes(token), `the ${name} page contains the API token`);
    await saveScreenshot(page, name);
  };

  // The type is uploaded through its page.
  await page.goto(base + '/');
  assert.match(page.url(), /\/sign-in/);
  await visit('sign-in');
  await h.submitSignIn(page);

  await page.goto(base + '/types/new');
  await page.locator('#name').fill('SentinelOne');
  await page.getByLabel('Script file name').fill('SentinelOne.ps1');
  await page.getByLabel('Script file', { exact: true }).setInputFiles(path.join(repo, 'testdata/examples/07-sentinelone.ps1'));
  await visit('type-upload');
  await page.getByRole('button', { name: 'Upload' }).click();
  await page.waitForURL(/\/types\/[^/]+\?/);
  await page.getByText('Integration type created.').waitFor();
  await visit('type');

  // The generated form: a URL input and a password input.
  await page.getByRole('link', { name: 'New integration of this type' }).click();
  assert.equal(await page.locator('#f-S1Uri').getAttribute('type'), 'url');
  assert.equal(await page.locator('#f-S1ApiKey').getAttribute('type'), 'password');
  await page.locator('#name').fill('Contoso S1');
  await page.locator('#f-S1Uri').fill(vendor);
  await page.locator('#f-S1ApiKey').fill(apiKey);
  await visit('integration-form');
  await page.getByRole('button', { name: 'Create integration' }).click();
  await page.waitForURL(/\/integrations\/\d+\?notice=/);
  const id = page.url().match(/\/integrations\/(\d+)/)[1];
  await page.locator('h1 .badge', { hasText: 'Healthy' }).waitFor();
  await visit('integration');

  await page.goto(base + '/integrations');
  await page.locator('td .badge', { hasText: 'Healthy' }).waitFor();
  await visit('integrations');

  // Clients: map the first client to a new tenant.
  const clients = (await api('GET', `/api/v1/integrations/${id}/clients`)).items;
  assert.ok(clients.length > 0, 'no clients');
  await page.goto(`${base}/integrations/${id}`);
  await page.getByRole('link', { name: 'Clients' }).click();
  const row = page.locator(`tr[data-client="${clients[0].externalClientId}"]`);
  await row.getByPlaceholder('or new tenant…').fill('Contoso');
  await row.getByRole('button', { name: 'Save' }).click();
  await page.getByText('is mapped.').waitFor();
  assert.match(await page.locator(`tr[data-client="${clients[0].externalClientId}"] td`).nth(2).innerText(), /Contoso/);
  await visit('clients');

  for (const tab of ['Agents', 'Webhook', 'Health', 'Calls']) {
    await page.getByRole('link', { name: tab, exact: true }).click();
    await page.waitForURL(new RegExp(`/integrations/${id}/${tab.toLowerCase()}$`));
    await visit(tab.toLowerCase());
  }

  // Console: GetClients prints the site names; the key never shows.
  await page.getByRole('link', { name: 'Console', exact: true }).click();
  const buffer = () => page.evaluate(() => {
    const b = window.psbridgeTerminal.buffer.active;
    const lines = [];
    for (let i = 0; i < b.length; i++) { lines.push(b.getLine(i).translateToString(true)); }
    return lines.join('\n');
  });
  const waitFor = async (what, pred) => {
    const deadline = Date.now() + 60000;
    let text = '';
    while (Date.now() < deadline) {
      text = await buffer();
      if (pred(text)) { return text; }
      await new Promise((r) => setTimeout(r, 250));
    }
    assert.fail(`terminal never showed ${what}:\n${text}`);
  };
  await page.waitForFunction(() => window.psbridgeTerminal !== undefined);
  await waitFor('the prompt', (t) => /loaded \(instance/.test(t) && /PS .*> ?$/m.test(t));
  await page.locator('#terminal').click();
  await page.keyboard.type('GetClients | Format-Table -AutoSize\r');
  const text = await waitFor('the site names', (t) => clients.every((c) => t.includes(c.externalClientName)));
  await visit('console');
  assert.ok(!text.includes(apiKey), 'the terminal shows the API key');
  assert.ok(frames.length > 0, 'no websocket frames seen');
  for (const f of frames) {
    assert.ok(!f.includes(apiKey), 'a websocket frame carries the API key');
  }
  for (const html of contents) {
    assert.ok(!html.includes(apiKey));
  }

  // Underscores show: "$_" once read "$ " because the glyph fell below its clipped cell. Print
  // a line of underscores and count the lit pixels of its row in a screenshot of the terminal.
  await page.keyboard.type("'_' * 12\r");
  await waitFor('the underscores', (t) => /^_{12}$/m.test(t));
  const underscores = await page.evaluate(() => {
    const term = window.psbridgeTerminal;
    const b = term.buffer.active;
    for (let i = b.length - 1; i >= 0; i--) {
      if (b.getLine(i).translateToString(true) === '_'.repeat(12)) {
        const rowEl = document.querySelectorAll('#terminal .xterm-rows > div')[i - b.viewportY];
        const r = rowEl.getBoundingClientRect();
        const cell = r.width / term.cols;
        return { x: r.x, y: r.y, width: cell * 12, height: r.height };
      }
    }
    return null;
  });
  assert.ok(underscores, "the row of underscores is not on screen");
  const png = await page.screenshot({ clip: underscores });
  const lit = await page.evaluate(async (b64) => {
    const img = new Image();
    img.src = 'data:image/png;base64,' + b64;
    await img.decode();
    const c = document.createElement('canvas');
    c.width = img.width; c.height = img.height;
    const g = c.getContext('2d');
    g.drawImage(img, 0, 0);
    const d = g.getImageData(0, 0, c.width, c.height).data;
    let n = 0;
    for (let i = 0; i < d.length; i += 4) { if (d[i] + d[i + 1] + d[i + 2] > 300) { n++; } }
    return n;
  }, png.toString('base64'));
  assert.ok(lit > 12, `a row of 12 underscores lights ${lit} pixels: the underscores are clipped`);
  await context.close();
});
