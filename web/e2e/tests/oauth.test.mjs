// Browser test of OAuth consent fields: builds psbridge, runs `psbridge serve` on 127.0.0.1 with
// a temporary data directory and a fake vendor OAuth server (node http, below), and drives
// Chromium: create an integration whose Init dynamicparam block declares
// New-OAuthConsentParameter, press Connect, approve on the vendor's sign-in page, come back
// connected, enable it and see it healthy (HealthCheck calls the vendor with the access token).
// The client secret and the tokens must never reach the browser or an API response.
//
// Set-up, tear-down and environment variables (PSBRIDGE_BIN, PSBRIDGE_CHROMIUM):
// ../lib/harness.mjs.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { randomBytes, createHash } from 'node:crypto';
import { createHarness } from '../lib/harness.mjs';

const clientId = 'psbridge-e2e';
const clientSecret = 'e2e-client-secret-' + randomBytes(12).toString('hex');

const script = `
$Integration = New-DynamicIntegration -Init {
    [CmdletBinding()]
    param(
        [Parameter(Mandatory)][Uri]$VendorUrl,
        [Parameter(Mandatory)][string]$ClientId,
        [Parameter(Mandatory)][Password(StripValue = $true)][string]$ClientSecret
    )
    dynamicparam {
        New-ParameterCollection @(
            New-HelpText -Name Hint -HelpMessage 'Register psbridge as an OAuth client in the vendor portal first.'
            New-OAuthConsentParameter -Name Consent -AuthorizationEndpoint "$VendorUrl/oauth/authorize" -TokenEndpoint "$VendorUrl/oauth/token" -ClientId $ClientId -ClientSecret $ClientSecret -Scope 'monitoring offline_access' -Mandatory
        )
    }
    end {
        $c = $PSBoundParameters['Consent']
        if ($c -isnot [PSBridge.OAuthConsentResult] -or -not $c.AccessToken) { throw "no consent tokens" }
        $IntegrationContext.Url = "$VendorUrl".TrimEnd('/')
        $IntegrationContext.Token = $c.AccessToken
        [OpResult]::Ok()
    }
} -HealthCheck {
    $me = Invoke-RestMethod -Uri "$($IntegrationContext.Url)/api/me" -Headers @{ Authorization = "Bearer $($IntegrationContext.Token)" }
    if ($me.name -eq 'vendor-user') { New-HealthyResult } else { New-UnhealthyResult -Message 'unexpected answer' }
}
$Integration
`;

const h = createHarness('oauth');
const api = h.api;
const issued = { access: new Set(), refresh: new Set() };
const codes = new Map();
let vendorServer, vendor;

// The fake vendor: a sign-in page with an Allow button, a token endpoint that checks the
// client secret and the PKCE verifier, and an API that wants the access token.
function startVendor() {
  const esc = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
  vendorServer = http.createServer(async (req, res) => {
    const u = new URL(req.url, 'http://vendor');
    if (req.method === 'GET' && u.pathname === '/oauth/authorize') {
      const q = u.searchParams;
      if (q.get('client_id') !== clientId || q.get('code_challenge_method') !== 'S256' || !q.get('state')) {
        res.writeHead(400).end('bad authorization request');
        return;
      }
      const hidden = ['redirect_uri', 'state', 'code_challenge'].map((k) => `<input type="hidden" name="${k}" value="${esc(q.get(k))}">`).join('');
      res.writeHead(200, { 'Content-Type': 'text/html' }).end(`<!doctype html><title>Vendor sign-in</title>
<h1>Allow psbridge to read your monitoring data?</h1><form method="get" action="/oauth/approve">${hidden}<button>Allow</button></form>`);
      return;
    }
    if (req.method === 'GET' && u.pathname === '/oauth/approve') {
      const code = 'code-' + randomBytes(8).toString('hex');
      codes.set(code, { challenge: u.searchParams.get('code_challenge'), redirect: u.searchParams.get('redirect_uri') });
      const back = new URL(u.searchParams.get('redirect_uri'));
      back.searchParams.set('code', code);
      back.searchParams.set('state', u.searchParams.get('state'));
      res.writeHead(302, { Location: back.toString() }).end();
      return;
    }
    if (req.method === 'POST' && u.pathname === '/oauth/token') {
      let body = '';
      for await (const chunk of req) { body += chunk; }
      const f = new URLSearchParams(body);
      const fail = (status, error, description) => res.writeHead(status, { 'Content-Type': 'application/json' }).end(JSON.stringify({ error, error_description: description }));
      if (f.get('client_id') !== clientId || f.get('client_secret') !== clientSecret) { fail(401, 'invalid_client', 'client authentication failed'); return; }
      const c = codes.get(f.get('code'));
      codes.delete(f.get('code'));
      if (f.get('grant_type') !== 'authorization_code' || !c) { fail(400, 'invalid_grant', 'unknown code'); return; }
      const challenge = createHash('sha256').update(f.get('code_verifier') || '').digest('base64url');
      if (challenge !== c.challenge || f.get('redirect_uri') !== c.redirect) { fail(400, 'invalid_grant', 'code_verifier or redirect_uri does not match'); return; }
      const at = 'vendor-at-' + randomBytes(12).toString('hex');
      const rt = 'vendor-rt-' + randomBytes(12).toString('hex');
      issued.access.add(at);
      issued.refresh.add(rt);
      res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ access_token: at, refresh_token: rt, token_type: 'Bearer', expires_in: 3600 }));
      return;
    }
    if (req.method === 'GET' && u.pathname === '/api/me') {
      const ok = issued.access.has((req.headers.authorization || '').replace(/^Bearer /, ''));
      res.writeHead(ok ? 200 : 401, { 'Content-Type': 'application/json' }).end(ok ? '{"name":"vendor-user"}' : '{"error":"invalid_token"}');
      return;
    }
    res.writeHead(404).end();
  });
  return new Promise((resolve) => vendorServer.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${vendorServer.address().port}`)));
}

before(async () => {
  h.build();
  vendor = await startVendor();
  await h.startServe();
  await h.launchBrowser();
});

after(async () => {
  if (vendorServer) { vendorServer.close(); }
  await h.tearDown();
});

test('connect an OAuth consent field through the vendor and come back connected', { timeout: 180000 }, async () => {
  const { base, responses } = h;
  const typ = await api('POST', '/api/v1/integration-types', { name: 'Consent', script, scriptName: 'Consent.ps1' });
  const consent = typ.initParameters.find((p) => p.name === 'Consent');
  assert.equal(consent?.type, 'oauthconsent', 'the dynamicparam field is in the schema');
  assert.equal(typ.initParameters.find((p) => p.name === 'Hint')?.type, 'helptext');

  const { context, page } = await h.newPage();
  const contents = [];
  const visit = async () => {
    await page.waitForLoadState('domcontentloaded');
    if (page.url().startsWith(base)) { contents.push(await page.content()); }
  };

  await h.signIn(page);

  // The form shows the dynamic fields: the help text and the consent field (not connected).
  await page.goto(`${base}/integrations/new?type=${typ.id}`);
  await visit();
  await page.getByText('Register psbridge as an OAuth client').waitFor();
  await page.locator('[data-field="Consent"] .badge', { hasText: 'not connected' }).waitFor();
  await page.locator('#name').fill('Vendor');
  await page.locator('#f-VendorUrl').fill(vendor);
  await page.locator('#f-ClientId').fill(clientId);
  await page.locator('#f-ClientSecret').fill(clientSecret);
  await page.getByRole('button', { name: 'Create integration' }).click();
  await page.waitForURL(/\/integrations\/\d+\/edit\?notice=/);
  await visit();
  const id = page.url().match(/\/integrations\/(\d+)/)[1];

  // Connect: the vendor's sign-in page, Allow, and back on psbridge, connected.
  await page.locator('[data-field="Consent"]').getByRole('button', { name: 'Connect' }).click();
  await page.waitForURL((u) => u.toString().startsWith(vendor + '/oauth/authorize'));
  const authURL = new URL(page.url());
  assert.equal(authURL.searchParams.get('redirect_uri'), `${base}/integrations/${id}/oauth/callback`);
  assert.ok(authURL.searchParams.get('code_challenge'), 'no PKCE challenge');
  assert.ok(!page.url().includes(clientSecret), 'the client secret went to the browser');
  await page.getByRole('button', { name: 'Allow' }).click();
  await page.waitForURL(new RegExp(`/integrations/${id}/edit\\?notice=Connected`));
  await visit();
  await page.locator('[data-field="Consent"] .badge', { hasText: /^connected$/ }).waitFor();

  // Enable it: Init gets the tokens, HealthCheck calls the vendor with the access token.
  await page.getByLabel('Disabled (no health checks or calls)').uncheck();
  await page.getByRole('button', { name: 'Save changes' }).click();
  await page.waitForURL(new RegExp(`/integrations/${id}\\?notice=`));
  await page.locator('h1 .badge', { hasText: 'Healthy' }).waitFor();
  await visit();
  await page.goto(`${base}/integrations/${id}/calls`);
  await visit();

  await api('GET', `/api/v1/integrations/${id}`);
  await api('GET', `/api/v1/integration-types/${typ.id}`);
  await api('GET', `/api/v1/integrations/${id}/calls`);
  assert.ok(issued.refresh.size > 0, 'the vendor issued no refresh token');
  const secrets = [clientSecret, ...issued.refresh, ...issued.access];
  for (const text of [...contents, ...responses]) {
    for (const s of secrets) {
      assert.ok(!text.includes(s), `a page or API response contains a secret (${s.slice(0, 12)}…)`);
    }
  }
  await context.close();
});
