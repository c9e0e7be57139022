// The real `pillion config-sync` process: usage errors, /ready, /metrics (promtool), SIGTERM.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ConfigCentre, httpGet, promtoolCheck, runCli, statusPort, tempDir, waitFor } from './helpers.js';

test('bad usage exits 2 and names the flag', async () => {
  for (const [args, flag] of [
    [['config-sync', '--dest', '/tmp/x.json'], '--url'],
    [['config-sync', '--url', 'http://127.0.0.1:1/', '--dest', '/tmp/x.json', '--interval', 'often'], '--interval'],
    [['config-sync', '--file', '/tmp/a', '--dest', '/tmp/x.json', '--signal', 'NOPE', '--pid-file', '/tmp/p'], '--signal'],
    [['config-sync', '--file', '/tmp/a', '--dest', '/tmp/x.json', '--schema', '/nonexistent.json'], '--schema'],
    [['config-sync', '--configmap-dir', '/tmp', '--dest', '/tmp/x.json'], '--key'],
    [['config-sync', '--file', '/tmp/a', '--dest', '/tmp/x.json', '--bogus'], '--bogus'],
  ] as const) {
    const run = runCli([...args]);
    assert.equal(await run.exited, 2, args.join(' '));
    assert.ok(run.stderr().includes(flag), `${args.join(' ')}: ${run.stderr()}`);
  }
  const help = runCli(['config-sync', '--help']);
  assert.equal(await help.exited, 0);
});

test('not ready until the first good sync, metrics pass promtool, SIGTERM exits 0', async () => {
  const centre = new ConfigCentre();
  const url = await centre.start();
  const dir = await tempDir('cs-cli');
  const dest = join(dir, 'app.json');
  centre.failNext = 1_000_000;
  centre.set('{"a":1}');
  const run = runCli(['config-sync', '--url', url, '--dest', dest, '--interval', '50ms', '--backoff-base', '20ms', '--backoff-max', '50ms', '--status-addr', '127.0.0.1:0']);
  try {
    const port = await statusPort(run);
    await waitFor('a failed poll', () => centre.seenAuth.length >= 2);
    assert.equal((await httpGet(`http://127.0.0.1:${port}/ready`)).status, 503);
    assert.equal((await httpGet(`http://127.0.0.1:${port}/healthz`)).status, 200);
    centre.failNext = 0;
    await waitFor('ready', async () => (await httpGet(`http://127.0.0.1:${port}/ready`)).status === 200);
    assert.equal(await readFile(dest, 'utf8'), '{"a":1}');
    const metrics = (await httpGet(`http://127.0.0.1:${port}/metrics`)).body;
    assert.match(metrics, /^pillion_config_sync_ready 1$/m);
    assert.match(metrics, /^pillion_config_sync_failures_total\{reason="source"\} [1-9]/m);
    const lint = promtoolCheck(metrics);
    if (lint !== null) assert.ok(lint.ok, lint.output);
    await waitFor('a 304', () => centre.notModified > 0);
    run.child.kill('SIGTERM');
    assert.equal(await run.exited, 0, run.stderr());
    assert.match(run.stderr(), /stopping signal=SIGTERM/);
  } finally {
    run.child.kill('SIGKILL');
    await centre.stop();
  }
});

test('SIGTERM during a long poll interval stops at once', async () => {
  const dir = await tempDir('cs-cli-term');
  const src = join(dir, 's.json');
  await import('node:fs/promises').then((f) => f.writeFile(src, '{}'));
  const run = runCli(['config-sync', '--file', src, '--dest', join(dir, 'd.json'), '--interval', '1h', '--status-addr', 'off']);
  try {
    await waitFor('first sync', () => run.stderr().includes('first good sync'));
    const t0 = Date.now();
    run.child.kill('SIGTERM');
    assert.equal(await run.exited, 0, run.stderr());
    assert.ok(Date.now() - t0 < 5000, `took ${Date.now() - t0} ms`);
  } finally {
    run.child.kill('SIGKILL');
  }
});

test('--once exits 0 after a good sync and 1 when the source fails', async () => {
  const dir = await tempDir('cs-once');
  const src = join(dir, 's.json');
  const bad = runCli(['config-sync', '--file', src, '--dest', join(dir, 'd.json'), '--once']);
  assert.equal(await bad.exited, 1);
  await import('node:fs/promises').then((f) => f.writeFile(src, '{}'));
  const good = runCli(['config-sync', '--file', src, '--dest', join(dir, 'd.json'), '--once']);
  assert.equal(await good.exited, 0, good.stderr());
  assert.equal(await readFile(join(dir, 'd.json'), 'utf8'), '{}');
});
