// deploy/mesh/ run for real on loopback: the certificates from make-certs.sh, the two sidecar configs
// as written (only ports, certificate directory and the peer's address changed for one machine), two
// origins as the apps. Each app's call goes app -> its sidecar's outbound listener -> mTLS -> the
// peer's sidecar -> the peer app; a caller without a certificate, or with the wrong one, is refused.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { k8sErrors, loadYamlDocs, readRepo, ROOT, type Obj } from './helpers.js';

const CLI = join(ROOT, 'dist/src/cli.js');
const SERVICES = [['frontend', 'backend'], ['backend', 'frontend']] as const;
const hasOpenssl = spawnSync('openssl', ['version']).status === 0;

const freePort = (): Promise<number> => new Promise((res) => {
  const s = createServer();
  s.listen(0, '127.0.0.1', () => { const a = s.address() as { port: number }; s.close(() => res(a.port)); });
});
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function get(url: string): Promise<{ status: number; body: string }> {
  try {
    const r = await fetch(url, { signal: AbortSignal.timeout(5000) });
    return { status: r.status, body: await r.text() };
  } catch (err) {
    return { status: 0, body: String((err as Error).cause ?? err) };
  }
}

/** A direct TLS call to a sidecar's inbound port, with or without a client certificate. */
function tlsGet(port: number, servername: string, ca: string, client?: { cert: string; key: string }): Promise<{ status: number; error?: string }> {
  return new Promise((res) => {
    const req = httpsRequest({ host: '127.0.0.1', port, path: '/', servername, ca, ...client, timeout: 5000 }, (r) => {
      r.resume();
      r.on('end', () => res({ status: r.statusCode ?? 0 }));
    });
    req.on('error', (err) => res({ status: 0, error: err.message }));
    req.end();
  });
}

test('mesh: the two sidecars call each other over mTLS with make-certs.sh certificates', { skip: !hasOpenssl && 'no openssl', timeout: 60_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'pillion-mesh-'));
  const procs: ChildProcess[] = [];
  const origins: Server[] = [];
  t.after(() => {
    for (const p of procs) if (p.exitCode === null) p.kill('SIGKILL');
    for (const o of origins) o.close();
    rmSync(dir, { recursive: true, force: true });
  });

  // Secrets as make-certs.sh prints them, written out as the kubelet would mount them
  const made = spawnSync('sh', [join(ROOT, 'deploy/mesh/make-certs.sh'), 'pillion'], { encoding: 'utf8' });
  assert.equal(made.status, 0, made.stderr);
  const secrets = loadYamlDocs(made.stdout);
  assert.deepEqual(secrets.map((s) => s.metadata.name), ['frontend-tls', 'backend-tls']);
  for (const s of secrets) assert.deepEqual(k8sErrors(s), [], `${s.metadata.name as string} validates`);
  const files: Record<string, Record<string, string>> = {};
  for (const s of secrets) {
    const svc = (s.metadata.name as string).replace(/-tls$/, '');
    mkdirSync(join(dir, svc));
    files[svc] = {};
    for (const [k, v] of Object.entries(s.data as Record<string, string>)) {
      files[svc]![k] = Buffer.from(v, 'base64').toString('utf8');
      writeFileSync(join(dir, svc, k), files[svc]![k]!);
    }
  }

  const ports: Record<string, { inbound: number; outbound: number; admin: number; app: number }> = {};
  for (const [me] of SERVICES) ports[me] = { inbound: await freePort(), outbound: await freePort(), admin: await freePort(), app: await freePort() };

  // the apps: say who they are and who called them (the caller's identity from the sidecar)
  for (const [me] of SERVICES) {
    const o = createServer((req, res) => {
      res.setHeader('content-type', 'text/plain');
      res.end(`${me} saw ${req.url} xfcc=${String(req.headers['x-forwarded-client-cert'] ?? '')}\n`);
    });
    await new Promise<void>((r) => o.listen(ports[me]!.app, '127.0.0.1', r));
    origins.push(o);
  }

  for (const [me, peer] of SERVICES) {
    const text = readRepo(`deploy/mesh/${me}-pillion.yaml`);
    const cfg = loadYamlDocs(text)[0]!;
    assert.equal((cfg.listeners as Obj[])[0]!.front, 'node', 'mTLS needs the node front');
    const local = text
      .replaceAll('/etc/pillion/tls/', `${join(dir, me)}/`)
      .replace('port: 15000', `port: ${ports[me]!.admin}`)
      .replace('port: 15001', `port: ${ports[me]!.inbound}`)
      .replace('port: 15002', `port: ${ports[me]!.outbound}`)
      .replace('address: 0.0.0.0', 'address: 127.0.0.1')
      .replace('drain_time: 5s', 'drain_time: 100ms')
      .replace('http://127.0.0.1:8080', `http://127.0.0.1:${ports[me]!.app}`)
      .replace(`https://${peer}:15001`, `https://127.0.0.1:${ports[peer]!.inbound}`);
    const file = join(dir, `${me}.yaml`);
    writeFileSync(file, local);
    const check = spawnSync(process.execPath, [CLI, 'proxy', '--config', file, '--check'], { encoding: 'utf8' });
    assert.equal(check.status, 0, `${me}: ${check.stderr}`);
    const p = spawn(process.execPath, [CLI, 'proxy', '--config', file], { stdio: ['ignore', 'ignore', 'pipe'] });
    let log = '';
    p.stderr!.on('data', (d) => { log += d; });
    procs.push(p);
    let ready = false;
    for (let i = 0; i < 80 && !ready; i++) {
      await sleep(100);
      ready = (await get(`http://127.0.0.1:${ports[me]!.admin}/ready`)).status === 200;
    }
    assert.ok(ready, `${me}'s sidecar ready: ${log}`);
  }

  for (const [me, peer] of SERVICES) {
    // the app calls its own sidecar's outbound listener, in plain HTTP on loopback
    const r = await get(`http://127.0.0.1:${ports[me]!.outbound}/orders?id=7`);
    assert.equal(r.status, 200, `${me} -> ${peer}: ${r.body}`);
    assert.match(r.body, new RegExp(`^${peer} saw /orders\\?id=7 `));
    // the peer app learns the caller's verified identity from its sidecar
    assert.match(r.body, new RegExp(`xfcc=.*DNS=${me}\\b`), r.body);
  }

  const backend = ports.backend!.inbound;
  const ca = files.backend!['ca.crt']!;
  // no client certificate: the handshake fails
  const anon = await tlsGet(backend, 'backend', ca);
  assert.equal(anon.status, 0, 'no certificate, no answer');
  // a mesh certificate, but not the allowed caller's (backend calling backend): 403
  const wrong = await tlsGet(backend, 'backend', ca, { cert: files.backend!['tls.crt']!, key: files.backend!['tls.key']! });
  assert.equal(wrong.status, 403, wrong.error);
  // frontend's certificate: through
  const right = await tlsGet(backend, 'backend', ca, { cert: files.frontend!['tls.crt']!, key: files.frontend!['tls.key']! });
  assert.equal(right.status, 200, right.error);

  for (const p of procs) p.kill('SIGTERM');
  await Promise.all(procs.map((p) => new Promise((r) => (p.exitCode !== null ? r(null) : p.on('exit', r)))));
});
