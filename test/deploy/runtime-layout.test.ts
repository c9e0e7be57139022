// Runs deploy/runtime-layout.mjs: the Dockerfile's runtime layout built without Docker (npm ci
// --omit=dev into a temporary directory), started, probed, drained. Needs the npm registry (or a warm
// npm cache) for the production install; about 30 s.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { ROOT } from './helpers.js';

test('the runtime stage, laid out without Docker, serves, probes and drains', { timeout: 120_000 }, () => {
  const r = spawnSync(process.execPath, [join(ROOT, 'deploy/runtime-layout.mjs')], { cwd: ROOT, encoding: 'utf8', timeout: 110_000 });
  process.stdout.write(r.stdout.split('\n').map((l) => (l ? `# ${l}` : l)).join('\n'));
  assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
  for (const step of ['deps: npm ci --omit=dev', 'layout: no dev dependency', 'uWS native binary loaded', 'probe.mjs ready (HEALTHCHECK)',
    '/ready 503 while draining', 'SIGTERM -> exit 0 after the drain', 'agent: /metrics']) {
    assert.match(r.stdout, new RegExp(`^ok +[^\\n]*${step.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`, 'm'), step);
  }
});
