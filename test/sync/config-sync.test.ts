// config-sync against real files, a real node:http config centre, real child processes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeFileSync } from 'node:fs';
import { Registry } from '../../src/sync/common/metrics.js';
import { ConfigSync, SyncFailure } from '../../src/sync/config/config-sync.js';
import { ConfigMapSource, LocalFileSource } from '../../src/sync/config/file-source.js';
import { HttpSource } from '../../src/sync/config/http-source.js';
import { NoNotifier } from '../../src/sync/config/notify.js';
import type { ConfigSource } from '../../src/sync/config/source.js';
import { createValidator } from '../../src/sync/config/validate.js';
import { ConfigCentre, captureLogger, promtoolCheck, tempDir } from './helpers.js';

const READER = fileURLToPath(new URL('./reader.js', import.meta.url));

function metric(registry: Registry, line: string): number {
  const m = new RegExp(`^${line.replace(/[{}"]/g, (c) => `\\${c}`)} (\\S+)$`, 'm').exec(registry.render());
  return m === null ? NaN : Number(m[1]);
}

function makeSync(source: ConfigSource, dest: string, schema?: string): { sync: ConfigSync; registry: Registry; lines: string[] } {
  const registry = new Registry();
  const { log, lines } = captureLogger('config-sync');
  const sync = new ConfigSync({
    source, dest, validate: createValidator('json', schema, false), notifier: new NoNotifier(), log, registry,
    intervalMs: 1000, jitter: 0.1, backoffBaseMs: 10, backoffMaxMs: 100,
  });
  return { sync, registry, lines };
}

/** A document the reader can check for wholeness: `items` all equal `version`. */
function doc(version: number, items: number): string {
  return JSON.stringify({ version, items: new Array(items).fill(version) });
}

test('HTTP source: unchanged config costs a 304, not a download', async () => {
  const centre = new ConfigCentre();
  const url = await centre.start();
  try {
    const dir = await tempDir('cs-304');
    const dest = join(dir, 'out', 'app.json');
    centre.set('{"v":1}');
    const { sync, registry } = makeSync(new HttpSource({ url, timeoutMs: 2000, maxBytes: 1 << 20 }), dest);
    assert.equal(sync.ready, false);
    assert.equal(await sync.syncOnce(), 'updated');
    assert.equal(sync.ready, true);
    for (let i = 0; i < 9; i++) assert.equal(await sync.syncOnce(), 'not_modified');
    assert.equal(centre.full, 1, 'one full download for ten polls of an unchanged config');
    assert.equal(centre.notModified, 9);
    centre.set('{"v":2}');
    assert.equal(await sync.syncOnce(), 'updated');
    assert.equal(await sync.syncOnce(), 'not_modified');
    assert.equal(centre.full, 2);
    assert.equal(await readFile(dest, 'utf8'), '{"v":2}');
    assert.equal(metric(registry, 'pillion_config_sync_downloads_total'), 2);
    assert.equal(metric(registry, 'pillion_config_sync_not_modified_total'), 10);
    assert.equal(metric(registry, 'pillion_config_sync_updates_total'), 2);
    // Someone deletes the file: the 304 path restores it from the last good copy.
    await rm(dest);
    assert.equal(await sync.syncOnce(), 'restored');
    assert.equal(await readFile(dest, 'utf8'), '{"v":2}');
    const lint = promtoolCheck(registry.render());
    if (lint !== null) assert.ok(lint.ok, lint.output);
  } finally {
    await centre.stop();
  }
});

test('HTTP source without ETag: If-Modified-Since alone earns the 304', async () => {
  const centre = new ConfigCentre();
  centre.sendEtag = false;
  const url = await centre.start();
  try {
    const dir = await tempDir('cs-ims');
    centre.set('{"v":1}');
    const { sync } = makeSync(new HttpSource({ url, timeoutMs: 2000, maxBytes: 1 << 20 }), join(dir, 'a.json'));
    assert.equal(await sync.syncOnce(), 'updated');
    assert.equal(await sync.syncOnce(), 'not_modified');
    centre.set('{"v":2}');
    assert.equal(await sync.syncOnce(), 'updated');
    assert.deepEqual([centre.full, centre.notModified], [2, 1]);
  } finally {
    await centre.stop();
  }
});

test('a bad config is refused and the last good one stays', async () => {
  const centre = new ConfigCentre();
  const url = await centre.start();
  try {
    const dir = await tempDir('cs-bad');
    const dest = join(dir, 'app.json');
    const schema = join(dir, 'schema.json');
    await writeFile(schema, JSON.stringify({ type: 'object', required: ['port'], properties: { port: { type: 'integer', minimum: 1 } } }));
    const { sync, registry, lines } = makeSync(new HttpSource({ url, timeoutMs: 2000, maxBytes: 1 << 20 }), dest, schema);
    centre.set('{"port": 8080}');
    assert.equal(await sync.syncOnce(), 'updated');
    centre.set('{"port": -1}');
    await assert.rejects(sync.syncOnce(), (e: unknown) => e instanceof SyncFailure && e.reason === 'invalid');
    for (const bad of ['{"port": "8080"}', '{"port": 80', '', '{"port": 0}']) {
      centre.set(bad);
      assert.equal((await sync.round()).outcome, null);
      assert.equal(await readFile(dest, 'utf8'), '{"port": 8080}', `after serving ${JSON.stringify(bad)}`);
    }
    // The refused config's ETag was not kept: each poll re-fetches (and re-refuses) rather than
    // hiding the problem behind a 304.
    const before = centre.full;
    const r = await sync.round();
    assert.equal(r.outcome, null);
    assert.equal(centre.full, before + 1);
    // round() counts (syncOnce only throws): 4 in the loop + this one.
    assert.equal(metric(registry, 'pillion_config_sync_failures_total{reason="invalid"}'), 5);
    assert.ok(lines.some((l) => / warn config-sync: sync failed reason=invalid /.test(l)), lines.join(''));
    centre.set('{"port": 9090}');
    assert.equal(await sync.syncOnce(), 'updated');
    assert.equal(await readFile(dest, 'utf8'), '{"port": 9090}');
  } finally {
    await centre.stop();
  }
});

test('auth header from a file: sent, re-read when rotated, never logged', async () => {
  const centre = new ConfigCentre();
  const url = await centre.start();
  try {
    const dir = await tempDir('cs-auth');
    const tokenFile = join(dir, 'token');
    await writeFile(tokenFile, 'Bearer s3cr3t-one\n');
    centre.requiredAuth = 'Bearer s3cr3t-one';
    centre.set('{"a":1}');
    const source = new HttpSource({ url, timeoutMs: 2000, maxBytes: 1 << 20, auth: { header: 'Authorization', value: { file: tokenFile } } });
    const { sync, lines, registry } = makeSync(source, join(dir, 'a.json'));
    assert.equal(await sync.syncOnce(), 'updated');
    centre.requiredAuth = 'Bearer s3cr3t-two';
    assert.equal((await sync.round()).outcome, null, '401 with the old token is a failure');
    await writeFile(tokenFile, 'Bearer s3cr3t-two');
    assert.equal((await sync.round()).outcome, 'not_modified');
    assert.deepEqual(centre.seenAuth, ['Bearer s3cr3t-one', 'Bearer s3cr3t-one', 'Bearer s3cr3t-two']);
    await writeFile(tokenFile, 'Bearer s3cr3t-three\r\nX-Evil: 1');
    assert.equal((await sync.round()).outcome, null);
    const all = lines.join('') + registry.render();
    assert.ok(!all.includes('s3cr3t'), all);
    assert.ok(lines.some((l) => l.includes('answered 401')), lines.join(''));
  } finally {
    await centre.stop();
  }
});

test('with an auth header, a redirect is refused instead of followed (the header could leak)', async () => {
  const { createServer } = await import('node:http');
  let reachedOther = 0;
  const other = createServer((_req, res) => { reachedOther++; res.writeHead(200).end('{}'); });
  await new Promise<void>((r) => other.listen(0, '127.0.0.1', r));
  const otherUrl = `http://localhost:${(other.address() as import('node:net').AddressInfo).port}/steal`;
  const redirector = createServer((_req, res) => { res.writeHead(302, { location: otherUrl }).end(); });
  await new Promise<void>((r) => redirector.listen(0, '127.0.0.1', r));
  try {
    const dir = await tempDir('cs-redirect');
    process.env.PILLION_TEST_KEY = 'key-abc123';
    const url = `http://127.0.0.1:${(redirector.address() as import('node:net').AddressInfo).port}/c.json`;
    const source = new HttpSource({ url, timeoutMs: 2000, maxBytes: 1024, auth: { header: 'X-Api-Key', value: { env: 'PILLION_TEST_KEY' } } });
    const { sync, lines } = makeSync(source, join(dir, 'a.json'));
    assert.equal((await sync.round()).outcome, null);
    assert.equal(reachedOther, 0);
    assert.ok(lines.some((l) => l.includes('answered 302 (a redirect)')), lines.join(''));
    assert.ok(!lines.join('').includes('key-abc123'));
    // Without auth, redirects are followed.
    const { sync: plain } = makeSync(new HttpSource({ url, timeoutMs: 2000, maxBytes: 1024 }), join(dir, 'b.json'));
    assert.equal(await plain.syncOnce(), 'updated');
    assert.equal(reachedOther, 1);
  } finally {
    delete process.env.PILLION_TEST_KEY;
    for (const s of [other, redirector]) {
      s.closeAllConnections();
      await new Promise<void>((r) => s.close(() => r()));
    }
  }
});

test('a centre that stalls mid-body hits --timeout: a clean failure, no hang, no crash', async () => {
  const { createServer } = await import('node:http');
  const stalling = createServer((_req, res) => {
    res.writeHead(200, { 'content-length': '1000' });
    res.write('{"partial": ');
  });
  await new Promise<void>((r) => stalling.listen(0, '127.0.0.1', r));
  try {
    const dir = await tempDir('cs-stall');
    const url = `http://127.0.0.1:${(stalling.address() as import('node:net').AddressInfo).port}/c.json`;
    const dest = join(dir, 'a.json');
    await writeFile(dest, '{"good": true}');
    const { sync, lines } = makeSync(new HttpSource({ url, timeoutMs: 300, maxBytes: 1 << 20 }), dest);
    const started = Date.now();
    assert.equal((await sync.round()).outcome, null);
    assert.ok(Date.now() - started < 2000);
    assert.equal(await readFile(dest, 'utf8'), '{"good": true}');
    assert.ok(lines.some((l) => / warn config-sync: sync failed reason=source /.test(l)), lines.join(''));
  } finally {
    stalling.closeAllConnections();
    await new Promise<void>((r) => stalling.close(() => r()));
  }
});

test('an oversized body is refused without being buffered whole', async () => {
  const centre = new ConfigCentre();
  const url = await centre.start();
  try {
    const dir = await tempDir('cs-big');
    centre.set(JSON.stringify({ pad: 'x'.repeat(5000) }));
    const { sync, lines } = makeSync(new HttpSource({ url, timeoutMs: 2000, maxBytes: 1000 }), join(dir, 'a.json'));
    assert.equal((await sync.round()).outcome, null);
    assert.ok(lines.some((l) => l.includes('over --max-bytes 1000')), lines.join(''));
  } finally {
    await centre.stop();
  }
});

test('source down: failures counted, backoff grows, not ready until the first good sync', async () => {
  const centre = new ConfigCentre();
  const url = await centre.start();
  try {
    const dir = await tempDir('cs-down');
    const { sync, registry } = makeSync(new HttpSource({ url, timeoutMs: 2000, maxBytes: 1 << 20 }), join(dir, 'a.json'));
    centre.failNext = 4;
    centre.set('{"a":1}');
    const delays: number[] = [];
    for (let i = 0; i < 4; i++) {
      const r = await sync.round();
      assert.equal(r.outcome, null);
      delays.push(r.delayMs);
      assert.equal(sync.ready, false);
    }
    // backoff base 10 ms, cap 100 ms, equal jitter: attempt n is in [step/2, step].
    assert.ok(delays[0]! >= 5 && delays[0]! <= 10 && delays[3]! >= 40 && delays[3]! <= 80, String(delays));
    assert.equal(metric(registry, 'pillion_config_sync_failures_total{reason="source"}'), 4);
    assert.equal(metric(registry, 'pillion_config_sync_consecutive_failures'), 4);
    assert.equal((await sync.round()).outcome, 'updated');
    assert.equal(sync.ready, true);
    assert.equal(metric(registry, 'pillion_config_sync_consecutive_failures'), 0);
    await centre.stop();
    const down = await sync.round();
    assert.equal(down.outcome, null);
    assert.equal(sync.ready, true, 'ready stays true: the last good config is still on disk');
  } finally {
    await centre.stop();
  }
});

async function startReader(dest: string): Promise<() => Promise<{ reads: number; bad: number; missing: number; versions: number; firstBad: string }>> {
  const child = spawn(process.execPath, [READER, dest], { stdio: 'inherit' });
  const exited = new Promise<void>((r) => child.on('exit', () => r()));
  return async () => {
    writeFileSync(`${dest}.stop`, '');
    await exited;
    return JSON.parse(await readFile(`${dest}.result`, 'utf8'));
  };
}

test('a reader in a tight loop never sees a partial file during 300 updates of a ~600 KB config', async (t) => {
  const dir = await tempDir('cs-reader');
  const srcFile = join(dir, 'source.json');
  const dest = join(dir, 'dest.json');
  await writeFile(srcFile, doc(0, 100_000));
  const { sync } = makeSync(new LocalFileSource(srcFile, 1 << 24), dest);
  await sync.syncOnce();
  const stop = await startReader(dest);
  for (let v = 1; v <= 300; v++) {
    await writeFile(srcFile, doc(v, 100_000));
    assert.equal(await sync.syncOnce(), 'updated');
  }
  const result = await stop();
  t.diagnostic(`atomic: ${JSON.stringify(result)}`);
  assert.equal(result.bad, 0, result.firstBad);
  assert.ok(result.versions > 1, 'the reader saw the file change');

  // The same reader against naive in-place writes, to show the test can see torn files. Not
  // asserted (it depends on scheduling), only reported.
  const naive = join(dir, 'naive.json');
  writeFileSync(naive, doc(0, 100_000));
  const stopNaive = await startReader(naive);
  await new Promise((r) => setTimeout(r, 50));
  for (let v = 1; v <= 300; v++) {
    writeFileSync(naive, doc(v, 100_000));
    await new Promise((r) => setImmediate(r));
  }
  t.diagnostic(`naive writeFileSync: ${JSON.stringify(await stopNaive())}`);
});

/** Lays out a directory the way the kubelet mounts a ConfigMap, and swaps versions the same way. */
class FakeConfigMap {
  private n = 0;
  constructor(readonly dir: string) {}

  async publish(files: Record<string, string>): Promise<void> {
    const ts = `..2026_11_26_00_00_00.${String(++this.n).padStart(9, '0')}`;
    await mkdir(join(this.dir, ts));
    for (const [k, v] of Object.entries(files)) await writeFile(join(this.dir, ts, k), v);
    let old: string | null = null;
    try {
      old = await import('node:fs/promises').then((f) => f.readlink(join(this.dir, '..data')));
    } catch {
      old = null;
    }
    await symlink(ts, join(this.dir, '..data_tmp'));
    await rename(join(this.dir, '..data_tmp'), join(this.dir, '..data'));
    for (const k of Object.keys(files)) {
      if (!existsSync(join(this.dir, k))) await symlink(join('..data', k), join(this.dir, k));
    }
    if (old !== null) await rm(join(this.dir, old), { recursive: true });
  }
}

test('ConfigMap directory: follows the ..data symlink swap, skips reads when the target is unchanged', async (t) => {
  const dir = await tempDir('cs-cm');
  const cmDir = join(dir, 'cm');
  await mkdir(cmDir);
  const cm = new FakeConfigMap(cmDir);
  await cm.publish({ 'app.json': doc(1, 10), 'other.txt': 'x' });
  const dest = join(dir, 'out', 'app.json');
  const { sync, registry } = makeSync(new ConfigMapSource(cmDir, 'app.json', 1 << 24), dest);
  assert.equal(await sync.syncOnce(), 'updated');
  assert.equal(await sync.syncOnce(), 'not_modified');
  await cm.publish({ 'app.json': doc(1, 10), 'other.txt': 'y' });
  assert.equal(await sync.syncOnce(), 'unchanged', 'new version, same bytes for our key: no write');
  assert.equal(metric(registry, 'pillion_config_sync_updates_total'), 1);

  const stop = await startReader(dest);
  for (let v = 2; v <= 150; v++) {
    await cm.publish({ 'app.json': doc(v, 50_000) });
    assert.equal(await sync.syncOnce(), 'updated');
  }
  const result = await stop();
  t.diagnostic(`configmap: ${JSON.stringify(result)}`);
  assert.equal(result.bad, 0, result.firstBad);
  assert.equal(JSON.parse(await readFile(dest, 'utf8')).version, 150);
});

test('ConfigMap source reads one consistent version while swaps race with it', async () => {
  const dir = await tempDir('cs-cm-race');
  const cm = new FakeConfigMap(dir);
  await cm.publish({ 'app.json': doc(0, 20_000) });
  const source = new ConfigMapSource(dir, 'app.json', 1 << 24);
  let swapping = true;
  const swapper = (async () => {
    for (let v = 1; swapping && v < 10_000; v++) await cm.publish({ 'app.json': doc(v, 20_000) });
  })();
  let reads = 0;
  let retriesExhausted = 0;
  const deadline = Date.now() + 1500;
  while (Date.now() < deadline) {
    try {
      const r = await source.fetch();
      if (r.kind === 'content') {
        const d = JSON.parse(r.body.toString()) as { version: number; items: number[] };
        assert.ok(d.items.every((x) => x === d.version));
        reads++;
      }
    } catch (err) {
      // Three swaps within one read is possible under this artificial storm; it is a clean
      // failure (retried next round), never a torn read.
      assert.match((err as Error).message, /kept changing/);
      retriesExhausted++;
    }
  }
  swapping = false;
  await swapper;
  assert.ok(reads > 10, `reads ${reads}, exhausted ${retriesExhausted}`);
});

test('a missing source file is a clean, counted failure', async () => {
  const dir = await tempDir('cs-missing');
  const { sync, registry, lines } = makeSync(new LocalFileSource(join(dir, 'nope.json'), 1024), join(dir, 'a.json'));
  const r = await sync.round();
  assert.equal(r.outcome, null);
  assert.equal(metric(registry, 'pillion_config_sync_failures_total{reason="source"}'), 1);
  assert.ok(lines.some((l) => l.includes('ENOENT')), lines.join(''));
});

test('a destination that cannot be written is a counted write failure, never a crash', async () => {
  const dir = await tempDir('cs-write');
  const src = join(dir, 's.json');
  await writeFile(src, '{}');
  await mkdir(join(dir, 'is-a-dir.json'));
  await writeFile(join(dir, 'a-file'), 'x');
  for (const dest of [join(dir, 'is-a-dir.json'), join(dir, 'a-file', 'below.json')]) {
    const { sync, registry, lines } = makeSync(new LocalFileSource(src, 1024), dest);
    assert.equal((await sync.round()).outcome, null, dest);
    assert.equal(metric(registry, 'pillion_config_sync_failures_total{reason="write"}'), 1, dest);
    assert.ok(lines.some((l) => / warn config-sync: sync failed reason=write /.test(l)), lines.join(''));
    assert.equal(sync.ready, false);
  }
});
