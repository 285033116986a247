// Test of the browser tests' harness itself (../lib/harness.mjs), without a browser: start
// reports a psbridge command that exits before printing what it waits for, with the command's
// own message, and tearDown stops the psbridge serve it started and removes its temporary
// directory.
//
// Environment: as ../lib/harness.mjs (PSBRIDGE_BIN, PSBRIDGE_CHROMIUM).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { createHarness } from '../lib/harness.mjs';

const h = createHarness('harness');

before(() => h.build());

after(() => h.tearDown());

test('start rejects with the output of a psbridge command that exits before it prints the match', { timeout: 60000 }, async () => {
  const cases = [
    { args: ['serve', '--no-such-flag'], want: /psbridge serve exited with 2:[\s\S]*unknown flag: --no-such-flag/ },
    { args: ['no-such-command'], want: /psbridge no-such-command exited with 2:[\s\S]*unknown command "no-such-command"/ },
  ];
  for (const c of cases) {
    await assert.rejects(h.start(c.args, {}, /never printed/), c.want, c.args.join(' '));
  }
});

test('tearDown stops psbridge serve and removes the temporary directory', { timeout: 180000 }, async () => {
  await h.startServe();
  await h.api('GET', '/api/v1/integrations');
  await h.tearDown();
  await assert.rejects(fetch(h.base + '/'), 'psbridge serve still answers after tearDown');
  assert.ok(!existsSync(h.tmp), `${h.tmp} is still there after tearDown`);
});
