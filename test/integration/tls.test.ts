// Issue 4 end to end: TLS termination (uWS and node fronts), SNI, mTLS, rotation under load, and TLS
// to an https origin. Certificates are made here with openssl.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { promisify } from 'node:util';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer as createHttpsServer } from 'node:https';
import { connect as tlsConnect, type PeerCertificate } from 'node:tls';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { Agent, request as undiciRequest } from 'undici';
import { Origin } from '../helpers/origin.js';
import { startProxy, type Proxy } from '../helpers/proxy.js';
import { TestPki, type CertFiles } from '../helpers/certs.js';
import { sleep, waitFor } from '../helpers/util.js';

const pki = new TestPki();
const server = pki.issue('localhost', 'DNS:localhost,IP:127.0.0.1', 'server');
const api = pki.issue('api.test', 'DNS:api.test', 'api');
const wild = pki.issue('wild', 'DNS:*.wild.test', 'wild');
const client = pki.issue('client1', 'URI:spiffe://cluster.local/ns/default/sa/client1', 'client1');
const otherClient = pki.issue('client2', 'URI:spiffe://cluster.local/ns/default/sa/client2', 'client2');
const stranger = pki.selfSigned('stranger', 'URI:spiffe://cluster.local/ns/default/sa/client1');
const hasCurl = spawnSync('curl', ['--version']).status === 0;

function listenerConfig(originUrl: string, tls: string, opts: { front?: string; routes?: string } = {}): string {
  return `admin: { address: 127.0.0.1, port: 0 }
listeners:
  - name: ingress
    address: 127.0.0.1
    port: 0
${opts.front !== undefined ? `    front: ${opts.front}\n` : ''}    tls:
${tls}
    routes:
${opts.routes ?? '      - match: { prefix: / }\n        cluster: app'}
clusters:
  - name: app
    endpoints: [${originUrl}]
`;
}

/** Connects with TLS and returns the server certificate and protocol (no HTTP). */
function handshake(port: number, opts: { servername?: string; cert?: CertFiles; maxVersion?: 'TLSv1.2' | 'TLSv1.3'; minVersion?: 'TLSv1.2' | 'TLSv1.3' } = {}): Promise<{ cert: PeerCertificate; protocol: string | null }> {
  return new Promise((resolve, reject) => {
    const s = tlsConnect({
      host: '127.0.0.1', port, servername: opts.servername, ca: readFileSync(pki.ca.cert), rejectUnauthorized: false,
      cert: opts.cert ? readFileSync(opts.cert.cert) : undefined, key: opts.cert ? readFileSync(opts.cert.key) : undefined,
      maxVersion: opts.maxVersion, minVersion: opts.minVersion,
    }, () => {
      resolve({ cert: s.getPeerCertificate(), protocol: s.getProtocol() });
      s.end();
    });
    s.on('error', reject);
  });
}

/** An HTTPS GET with undici, trusting the test CA; optional client certificate. */
async function get(port: number, path: string, opts: { cert?: CertFiles; servername?: string } = {}): Promise<{ status: number; body: string; headers: Record<string, unknown> }> {
  const dispatcher = new Agent({ connect: {
    ca: readFileSync(pki.ca.cert), servername: opts.servername ?? 'localhost',
    cert: opts.cert ? readFileSync(opts.cert.cert) : undefined, key: opts.cert ? readFileSync(opts.cert.key) : undefined,
  } });
  try {
    const r = await undiciRequest(`https://127.0.0.1:${port}${path}`, { dispatcher, headers: opts.servername ? { host: opts.servername } : {} });
    return { status: r.statusCode, body: await r.body.text(), headers: r.headers };
  } finally {
    await dispatcher.close();
  }
}

async function withOrigin(fn: (o: Origin) => Promise<void>): Promise<void> {
  const o = new Origin();
  await o.start();
  try { await fn(o); } finally { await o.stop(); }
}

async function withProxy(cfg: string, fn: (p: Proxy) => Promise<void>): Promise<void> {
  const p = await startProxy({ config: cfg });
  try { await fn(p); } finally { await p.stop(); }
}

const sniTls = `      cert: ${server.cert}
      key: ${server.key}
      sni:
        - { server_names: [api.test], cert: ${api.cert}, key: ${api.key} }
        - { server_names: ["*.wild.test"], cert: ${wild.cert}, key: ${wild.key} }`;

for (const front of ['uws', 'node'] as const) {
  test(`TLS termination (front: ${front}): TLS 1.2 and 1.3, SNI exact, wildcard and default, x-forwarded-proto https`, async () => {
    await withOrigin(async (origin) => {
      await withProxy(listenerConfig(origin.url, sniTls, { front }), async (p) => {
        const r = await get(p.port, '/echo');
        assert.equal(r.status, 200);
        assert.equal(JSON.parse(r.body).headers['x-forwarded-proto'], 'https');
        assert.equal((await handshake(p.port, { maxVersion: 'TLSv1.2' })).protocol, 'TLSv1.2');
        assert.equal((await handshake(p.port, { minVersion: 'TLSv1.3' })).protocol, 'TLSv1.3');
        assert.equal((await handshake(p.port, { servername: 'api.test' })).cert.subject.CN, 'api.test');
        assert.equal((await handshake(p.port, { servername: 'x.wild.test' })).cert.subject.CN, 'wild');
        assert.equal((await handshake(p.port, { servername: 'other.test' })).cert.subject.CN, 'localhost', 'unknown names get the default');
        assert.equal((await handshake(p.port)).cert.subject.CN, 'localhost', 'no SNI gets the default');
        assert.equal((await get(p.port, '/', { servername: 'api.test' })).status, 200, 'requests on an SNI name are served');
        if (hasCurl) {
          for (const v of [['--tlsv1.2', '--tls-max', '1.2'], ['--tlsv1.3']]) {
            // Not execFileSync: the origin lives in this process and must keep answering.
            const { stdout: out } = await promisify(execFile)('curl', ['-s', '--cacert', pki.ca.cert, ...v, '-o', '/dev/null', '-w', '%{http_code}', `https://localhost:${p.port}/`]);
            assert.equal(out, '200', `curl ${v.join(' ')}`);
          }
        }
        // Plain HTTP on the TLS port: a clean failure, and the proxy goes on.
        await fetch(`http://127.0.0.1:${p.port}/`).then(() => assert.fail('plain HTTP must not get a response'), () => undefined);
        assert.equal((await get(p.port, '/')).status, 200);
      });
    });
  });
}

test('mTLS (front: node): required refuses clients without a trusted certificate; the identity is forwarded and allowed per route by SAN', async () => {
  await withOrigin(async (origin) => {
    const tls = `      cert: ${server.cert}
      key: ${server.key}
      ca: ${pki.ca.cert}
      require_client_certificate: true
      forward_client_cert: sanitize_set`;
    const routes = `      - match: { prefix: /client1-only }
        cluster: app
        allowed_client_sans: [spiffe://cluster.local/ns/default/sa/client1]
      - match: { prefix: / }
        cluster: app`;
    await withProxy(listenerConfig(origin.url, tls, { front: 'node', routes }), async (p) => {
      const ok = await get(p.port, '/echo', { cert: client });
      assert.equal(ok.status, 200);
      const xfcc = JSON.parse(ok.body).headers['x-forwarded-client-cert'] as string;
      assert.match(xfcc, /^Hash=[0-9a-f]{64};Subject="CN=client1";URI=spiffe:\/\/cluster\.local\/ns\/default\/sa\/client1$/);
      await assert.rejects(get(p.port, '/', {}), 'no client certificate: refused');
      await assert.rejects(get(p.port, '/', { cert: stranger }), 'untrusted client certificate: refused');
      assert.equal((await get(p.port, '/client1-only', { cert: client })).status, 200);
      assert.equal((await get(p.port, '/client1-only', { cert: otherClient })).status, 403);
      const forged = await get(p.port, '/echo', { cert: otherClient });
      assert.match(JSON.parse(forged.body).headers['x-forwarded-client-cert'], /client2$/);
      const s = await p.stats();
      assert.ok(s.get('http.ingress.ssl.connection_error')! >= 2);
      assert.equal(s.get('http.ingress.downstream_rq_client_cert_forbidden'), 1);
    });
    // Optional: no certificate passes (no identity, no XFCC); a client's own XFCC is dropped.
    const optional = `      cert: ${server.cert}\n      key: ${server.key}\n      ca: ${pki.ca.cert}\n      require_client_certificate: false`;
    await withProxy(listenerConfig(origin.url, optional, { front: 'node' }), async (p) => {
      const r = await get(p.port, '/echo');
      assert.equal(r.status, 200);
      assert.equal(JSON.parse(r.body).headers['x-forwarded-client-cert'], undefined);
      assert.equal(await p.stat('http.ingress.ssl.no_certificate'), 1);
    });
  });
});

test('mTLS on a listener that names the uWS front is refused at config time with the reason', async () => {
  const { spawnProxy } = await import('../helpers/proxy.js');
  const p = spawnProxy({ config: listenerConfig('http://127.0.0.1:1', `      cert: ${server.cert}\n      key: ${server.key}\n      ca: ${pki.ca.cert}`, { front: 'uws' }) });
  assert.equal(await p.exited, 2);
  assert.match(p.stderr(), /listeners\[0\]\.tls\.ca: mTLS needs `front: node`/);
  await p.stop();
});

test('mTLS on a listener that names no front runs on the node front, says so, and enforces client certificates', async () => {
  await withOrigin(async (origin) => {
    await withProxy(listenerConfig(origin.url, `      cert: ${server.cert}\n      key: ${server.key}\n      ca: ${pki.ca.cert}`), async (p) => {
      assert.match(p.stderr(), /listener ingress on https:\/\/127\.0\.0\.1:\d+ \(node front: mTLS\)/);
      const withCert = await get(p.port, '/echo', { cert: client });
      assert.equal(withCert.status, 200);
      await assert.rejects(get(p.port, '/echo'));
      const dump = JSON.parse((await p.admin('/config_dump')).body);
      assert.equal(dump.config.listeners[0].front, 'node');
    });
  });
});

for (const front of ['uws', 'node'] as const) {
  test(`certificate rotation under load (front: ${front}): no failed request, the new certificate is served, a broken pair is refused`, async () => {
    await withOrigin(async (origin) => {
      const live: CertFiles = { cert: join(pki.dir, `live-${front}.crt`), key: join(pki.dir, `live-${front}.key`) };
      copyFileSync(server.cert, live.cert);
      copyFileSync(server.key, live.key);
      await withProxy(listenerConfig(origin.url, `      cert: ${live.cert}\n      key: ${live.key}`, { front }), async (p) => {
        const before = (await handshake(p.port)).cert.serialNumber;
        const next = pki.issue('localhost', 'DNS:localhost,IP:127.0.0.1', `server-next-${front}`);
        const load = autocannon as unknown as (o: object) => Promise<{ requests: { total: number }; errors: number; non2xx: number }>;
        const run = load({ url: `https://127.0.0.1:${p.port}/`, connections: 8, duration: 3, tlsOptions: { rejectUnauthorized: false } });
        await sleep(800);
        copyFileSync(next.key, live.key);
        copyFileSync(next.cert, live.cert);
        const result = await run;
        assert.ok(result.requests.total > 100, `load ran (${result.requests.total})`);
        assert.equal(result.errors, 0, 'no failed request');
        assert.equal(result.non2xx, 0);
        await waitFor('the new certificate served', async () => (await handshake(p.port)).cert.serialNumber !== before, 5000);
        assert.equal(await p.stat('pillion.tls.rotation_success'), 1);
        // A key that does not belong to the certificate: refused, the current one keeps serving.
        writeFileSync(live.key, readFileSync(api.key));
        await p.waitStat('pillion.tls.rotation_rejected', 1, 5000);
        assert.equal((await get(p.port, '/')).status, 200);
        assert.match(p.stderr(), /TLS rotation refused/);
      });
    });
  });
}

test('TLS to an https origin: verified with its CA, refused when unverified, allowed with reject_unauthorized: false', async () => {
  const httpsOrigin = createHttpsServer({ cert: readFileSync(server.cert), key: readFileSync(server.key) }, (req, res) => {
    res.end(`tls origin saw ${req.headers.host}\n`);
  });
  await new Promise<void>((r) => httpsOrigin.listen(0, '127.0.0.1', () => r()));
  const port = (httpsOrigin.address() as AddressInfo).port;
  const cfg = (tls: string) => `admin: { address: 127.0.0.1, port: 0 }
listeners:
  - name: ingress
    address: 127.0.0.1
    port: 0
    routes:
      - match: { prefix: / }
        cluster: secure
clusters:
  - name: secure
    endpoints: [https://127.0.0.1:${port}]
${tls}
`;
  try {
    await withProxy(cfg(`    tls: { ca: ${pki.ca.cert}, servername: localhost }`), async (p) => {
      const r = await fetch(`http://127.0.0.1:${p.port}/`);
      assert.equal(r.status, 200);
      assert.match(await r.text(), /^tls origin saw/);
    });
    await withProxy(cfg(''), async (p) => {
      const r = await fetch(`http://127.0.0.1:${p.port}/`);
      assert.equal(r.status, 503, 'an origin certificate nobody trusts is refused');
      await r.text();
    });
    await withProxy(cfg('    tls: { reject_unauthorized: false }'), async (p) => {
      assert.equal((await fetch(`http://127.0.0.1:${p.port}/`)).status, 200);
    });
  } finally {
    httpsOrigin.close();
  }
});
