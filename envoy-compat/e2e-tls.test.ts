// `pillion proxy --envoy-config` with Envoy's TLS examples, over real sockets: TLS termination with the
// example's inline certificate (tls/envoy-https-http.yaml), and mTLS both ways
// (envoy-demo-tls-client-auth.yaml) with test certificates substituted for its certs/*.pem and
// 127.0.0.1 for www.envoyproxy.io.
import { strict as assert } from 'node:assert';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, copyFileSync, writeFileSync } from 'node:fs';
import { createServer as createHttpsServer, type Server } from 'node:https';
import type { TLSSocket } from 'node:tls';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, test } from 'node:test';
import { Agent, request as undiciRequest } from 'undici';
import { Origin } from '../test/helpers/origin.js';
import { startProxy } from '../test/helpers/proxy.js';
import { TestPki, type CertFiles } from '../test/helpers/certs.js';

const FIXTURES = fileURLToPath(new URL('../../test/fixtures/envoy/', import.meta.url));

async function get(port: number, opts: { ca?: string; cert?: CertFiles; verify?: boolean } = {}): Promise<{ status: number; body: string }> {
  const dispatcher = new Agent({ connect: {
    ca: opts.ca !== undefined ? readFileSync(opts.ca) : undefined,
    rejectUnauthorized: opts.verify ?? true,
    servername: 'localhost',
    cert: opts.cert ? readFileSync(opts.cert.cert) : undefined,
    key: opts.cert ? readFileSync(opts.cert.key) : undefined,
  } });
  try {
    const r = await undiciRequest(`https://127.0.0.1:${port}/`, { dispatcher, headersTimeout: 5000 });
    return { status: r.statusCode, body: await r.body.text() };
  } finally {
    await dispatcher.close();
  }
}

describe('pillion proxy --envoy-config with Envoy\'s TLS examples', { timeout: 120_000 }, () => {
  const dirs: string[] = [];
  after(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });

  test('tls/envoy-https-http.yaml: TLS terminated with the example\'s inline certificate, plain HTTP upstream', async () => {
    const origin = new Origin();
    await origin.start();
    const inline = mkdtempSync(join(tmpdir(), 'pillion-envoy-inline-test-'));
    dirs.push(inline);
    const p = await startProxy({
      args: ['--envoy-config', join(FIXTURES, 'tls__envoy-https-http.yaml'), '--listen', '127.0.0.1:0', '--upstream', origin.url],
      env: { TMPDIR: inline },
    });
    try {
      assert.match(p.stderr(), /listener ingress_http on https:\/\//);
      const r = await get(p.port, { verify: false });
      assert.equal(r.status, 200);
      assert.equal(origin.requests.length, 1);
      assert.equal(await p.stat('http.ingress_http.downstream_rq_2xx'), 1);
      assert.doesNotMatch(p.stderr(), /not carried over/);
    } finally {
      assert.equal(await p.stop(), 0);
      await origin.stop();
    }
  });

  test('tls-sni/envoy.yaml: each server name gets its certificate, and its chain\'s routes (by Host)', async () => {
    const pki = new TestPki();
    dirs.push(pki.dir);
    const one = new Origin();
    const two = new Origin();
    await one.start();
    await two.start();
    const d1 = pki.issue('domain1.example.com', 'DNS:domain1.example.com', 'd1');
    const d2 = pki.issue('domain2.example.com', 'DNS:domain2.example.com', 'd2');
    const dir = mkdtempSync(join(tmpdir(), 'pillion-envoy-sni-'));
    dirs.push(dir);
    const text = readFileSync(join(FIXTURES, 'tls-sni__envoy.yaml'), 'utf8')
      .replace('certs/domain1.crt.pem', d1.cert).replace('certs/domain1.key.pem', d1.key)
      .replace('certs/domain2.crt.pem', d2.cert).replace('certs/domain2.key.pem', d2.key)
      .replace(/address: service-http0\n(\s+)port_value: 80/, `address: 127.0.0.1\n$1port_value: ${one.port}`)
      .replace(/address: service-http1\n(\s+)port_value: 80/, `address: 127.0.0.1\n$1port_value: ${two.port}`);
    writeFileSync(join(dir, 'envoy.yaml'), text);
    const p = await startProxy({ args: ['--envoy-config', join(dir, 'envoy.yaml'), '--listen', '127.0.0.1:0'] });
    const sniGet = async (name: string, path: string) => {
      const dispatcher = new Agent({ connect: { ca: readFileSync(pki.ca.cert), servername: name } });
      try {
        const r = await undiciRequest(`https://127.0.0.1:${p.port}${path}`, { dispatcher, headers: { host: `${name}:${p.port}` }, headersTimeout: 5000 });
        await r.body.text();
        return r.statusCode;
      } finally {
        await dispatcher.close();
      }
    };
    try {
      // The CA check with servername proves which certificate each name got.
      assert.equal(await sniGet('domain1.example.com', '/sni-1'), 200);
      assert.equal(await sniGet('domain2.example.com', '/sni-2'), 200);
      assert.deepEqual([one.seen('/sni-1').length, two.seen('/sni-2').length, one.seen('/sni-2').length], [1, 1, 0]);
    } finally {
      assert.equal(await p.stop(), 0);
      await one.stop();
      await two.stop();
    }
  });

  test('envoy-demo-tls-client-auth.yaml: client certificates required and SAN-checked; upstream TLS with the proxy\'s client certificate', async () => {
    const pki = new TestPki();
    dirs.push(pki.dir);
    const dir = mkdtempSync(join(tmpdir(), 'pillion-envoy-mtls-'));
    dirs.push(dir);
    mkdirSync(join(dir, 'certs'));
    const put = (name: string, from: string) => copyFileSync(from, join(dir, 'certs', name));
    const server = pki.issue('localhost', 'DNS:localhost,IP:127.0.0.1', 'server');
    const proxyClient = pki.issue('pillion-upstream-client', 'DNS:pillion.test', 'proxyclient');
    put('cacert.pem', pki.ca.cert);
    put('servercert.pem', server.cert);
    put('serverkey.pem', server.key);
    put('clientcert.pem', proxyClient.cert);
    put('clientkey.pem', proxyClient.key);
    const allowed = pki.issue('frontend', 'DNS:proxy-postgres-frontend.example.com', 'frontend');
    const other = pki.issue('other', 'DNS:other.example.com', 'other');

    // The upstream: https, and it requires a client certificate from the test CA. Its certificate
    // names www.envoyproxy.io: undici takes SNI and the name it verifies from the Host header, which
    // the route rewrites to www.envoyproxy.io.
    const upstreamCert = pki.issue('upstream', 'DNS:www.envoyproxy.io,IP:127.0.0.1', 'upstream');
    const seen: { host?: string; clientCn?: string }[] = [];
    const upstream: Server = createHttpsServer({
      cert: readFileSync(upstreamCert.cert), key: readFileSync(upstreamCert.key),
      ca: readFileSync(pki.ca.cert), requestCert: true, rejectUnauthorized: true,
    }, (req, res) => {
      seen.push({ host: req.headers.host, clientCn: String((req.socket as TLSSocket).getPeerCertificate().subject?.CN) });
      res.end('upstream ok\n');
    });
    const tlsErrors: string[] = [];
    upstream.on('tlsClientError', (e) => tlsErrors.push(e.message));
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', () => r()));
    const upstreamPort = (upstream.address() as AddressInfo).port;

    const text = readFileSync(join(FIXTURES, 'docs__quick-start__envoy-demo-tls-client-auth.yaml'), 'utf8')
      .replaceAll('certs/', `${dir}/certs/`)
      .replace('address: www.envoyproxy.io', 'address: 127.0.0.1')
      .replace('port_value: 443', `port_value: ${upstreamPort}`);
    writeFileSync(join(dir, 'envoy.yaml'), text);
    // Envoy would not verify the upstream (no validation_context); pillion does, against the system CAs.
    const p = await startProxy({
      args: ['--envoy-config', join(dir, 'envoy.yaml'), '--listen', '127.0.0.1:0'],
      env: { NODE_EXTRA_CA_CERTS: pki.ca.cert },
    });
    try {
      const ok = await get(p.port, { ca: pki.ca.cert, cert: allowed });
      assert.equal(ok.status, 200, `${ok.body}\nupstream TLS errors: ${tlsErrors.join('; ')}\n${p.stderr()}`);
      assert.equal(ok.body, 'upstream ok\n');
      assert.deepEqual(seen, [{ host: 'www.envoyproxy.io', clientCn: 'pillion-upstream-client' }]);

      const wrongSan = await get(p.port, { ca: pki.ca.cert, cert: other });
      assert.equal(wrongSan.status, 403, 'SAN not allowed: 403 (Envoy fails the handshake)');

      await assert.rejects(get(p.port, { ca: pki.ca.cert }), 'no client certificate: the handshake fails');
      assert.equal(seen.length, 1);
      assert.equal(await p.stat('http.ingress_http.downstream_rq_total'), 2);
    } finally {
      assert.equal(await p.stop(), 0);
      upstream.close();
    }
  });
});
