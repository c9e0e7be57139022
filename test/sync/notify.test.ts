// Telling the app: signals to real child processes (by pid file and by name) and a POST.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { Registry } from '../../src/sync/common/metrics.js';
import { ConfigSync } from '../../src/sync/config/config-sync.js';
import { LocalFileSource } from '../../src/sync/config/file-source.js';
import {
  HttpPostNotifier, PidFileSignalNotifier, ProcessNameSignalNotifier, findProcessesByName, type Notifier,
} from '../../src/sync/config/notify.js';
import { createValidator } from '../../src/sync/config/validate.js';
import { captureLogger, tempDir, waitFor } from './helpers.js';

// The app: writes its pid, appends a line per SIGHUP, exits on SIGTERM.
const APP = `
import { appendFileSync, writeFileSync } from 'node:fs';
const [pidFile, hupFile] = process.argv.slice(2);
process.on('SIGHUP', () => appendFileSync(hupFile, 'HUP\\n'));
process.on('SIGTERM', () => process.exit(0));
writeFileSync(pidFile, String(process.pid));
setInterval(() => {}, 1000);
`;

async function startApp(dir: string): Promise<{ child: ChildProcess; name: string; pidFile: string; hups: () => Promise<number> }> {
  const name = `pillion-app-${randomBytes(4).toString('hex')}.mjs`;
  const script = join(dir, name);
  const pidFile = join(dir, 'app.pid');
  const hupFile = join(dir, 'hups');
  await writeFile(script, APP);
  await writeFile(hupFile, '');
  const child = spawn(process.execPath, [script, pidFile, hupFile], { stdio: 'inherit' });
  await waitFor('app pid file', async () => (await readFile(pidFile, 'utf8').catch(() => '')) !== '');
  const hups = async (): Promise<number> => (await readFile(hupFile, 'utf8')).split('\n').filter((l) => l === 'HUP').length;
  return { child, name, pidFile, hups };
}

function stopApp(child: ChildProcess): Promise<void> {
  return new Promise((r) => {
    child.once('exit', () => r());
    child.kill('SIGTERM');
  });
}

async function syncWith(dir: string, notifier: Notifier, destExists = true): Promise<{ sync: ConfigSync; src: string; registry: Registry; lines: string[] }> {
  const src = join(dir, 'src.json');
  await writeFile(src, '{"v":1}');
  // The app is running on an older config: the first sync replaces it, so the app must be told.
  if (destExists) await writeFile(join(dir, 'dest.json'), '{"v":0}');
  const registry = new Registry();
  const { log, lines } = captureLogger('config-sync');
  const sync = new ConfigSync({
    source: new LocalFileSource(src, 1 << 20), dest: join(dir, 'dest.json'), validate: createValidator('json', undefined, false),
    notifier, log, registry, intervalMs: 1000, jitter: 0, backoffBaseMs: 10, backoffMaxMs: 100,
  });
  return { sync, src, registry, lines };
}

test('signal by pid file: one SIGHUP per change, none when nothing changed', async () => {
  const dir = await tempDir('notify-pid');
  const app = await startApp(dir);
  try {
    const { sync, src } = await syncWith(dir, new PidFileSignalNotifier(app.pidFile, 'SIGHUP'));
    await sync.syncOnce();
    await waitFor('first HUP', async () => (await app.hups()) === 1);
    await sync.syncOnce();
    await sync.syncOnce();
    await writeFile(src, '{"v":2}');
    await sync.syncOnce();
    await waitFor('second HUP', async () => (await app.hups()) === 2);
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(await app.hups(), 2);
  } finally {
    await stopApp(app.child);
  }
});

test('creating the destination does not signal: no app can have loaded a file that did not exist', async () => {
  const dir = await tempDir('notify-create');
  const app = await startApp(dir);
  try {
    const { sync, src } = await syncWith(dir, new PidFileSignalNotifier(app.pidFile, 'SIGHUP'), false);
    assert.equal(await sync.syncOnce(), 'updated');
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(await app.hups(), 0);
    await writeFile(src, '{"v":2}');
    await sync.syncOnce();
    await waitFor('HUP on replace', async () => (await app.hups()) === 1);
  } finally {
    await stopApp(app.child);
  }
});

test('signal by process name (shared process namespace)', async () => {
  const dir = await tempDir('notify-name');
  const app = await startApp(dir);
  try {
    assert.deepEqual(await findProcessesByName(app.name), [app.child.pid]);
    assert.deepEqual(await findProcessesByName(app.name, 'no-such-arg'), []);
    const { sync } = await syncWith(dir, new ProcessNameSignalNotifier(app.name, 'SIGHUP'));
    await sync.syncOnce();
    await waitFor('HUP by name', async () => (await app.hups()) === 1);
  } finally {
    await stopApp(app.child);
  }
});

test('a failed notification is counted, logged at warn, and retried next round', async () => {
  const dir = await tempDir('notify-fail');
  const pidFile = join(dir, 'nobody.pid');
  const { sync, registry, lines } = await syncWith(dir, new PidFileSignalNotifier(pidFile, 'SIGHUP'));
  assert.equal(await sync.syncOnce(), 'updated', 'the config is written even if the app cannot be told');
  assert.match(registry.render(), /pillion_config_sync_failures_total\{reason="notify"\} 1/);
  assert.ok(lines.some((l) => l.includes(' warn config-sync: could not notify the app')), lines.join(''));
  const app = await startApp(dir);
  try {
    await writeFile(pidFile, await readFile(app.pidFile, 'utf8'));
    assert.equal(await sync.syncOnce(), 'not_modified');
    await waitFor('retried HUP', async () => (await app.hups()) === 1);
    assert.match(registry.render(), /pillion_config_sync_notifications_total 1/);
  } finally {
    await stopApp(app.child);
  }
});

test('POST to a reload URL; a non-2xx answer is a notify failure', async () => {
  let posts = 0;
  let status = 204;
  const server = createServer((req, res) => {
    if (req.method === 'POST' && req.url === '/-/reload') posts++;
    res.writeHead(status).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/-/reload`;
  try {
    const dir = await tempDir('notify-post');
    const { sync, src, registry } = await syncWith(dir, new HttpPostNotifier(url, 2000, url));
    await sync.syncOnce();
    assert.equal(posts, 1);
    status = 500;
    await writeFile(src, '{"v":2}');
    await sync.syncOnce();
    assert.equal(posts, 2);
    assert.match(registry.render(), /pillion_config_sync_failures_total\{reason="notify"\} 1/);
  } finally {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  }
});
