// HTTP semantics a user would check through the proxy, on real sockets, on both fronts: hop-by-hop
// headers both ways, framing (Content-Length kept, chunked when unknown), HEAD/204/304 without a body,
// Expect: 100-continue, Set-Cookie kept apart, Host, x-forwarded-*, x-request-id, traceparent.
import { strict as assert } from 'node:assert';
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { FRONTS, startFixture, type Fixture } from '../helpers/fixture.js';
import { RawClient, header, headers, rawExchange } from '../helpers/raw.js';
import { rawValues, request } from '../helpers/util.js';

interface Echo {
  method: string;
  url: string;
  headers: Record<string, string | string[]>;
  rawHeaders: string[];
  len: number;
  sha256: string;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const hasCurl = spawnSync('curl', ['--version']).status === 0;

/** Runs a command without blocking the event loop (the origin lives in this process). */
function run(cmd: string, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const c = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    c.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    c.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    c.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

for (const front of FRONTS) {
  describe(`http semantics (front: ${front})`, () => {
    let f: Fixture;
    before(async () => {
      f = await startFixture({
        front,
        routes: `
          - name: rewritten
            match: { prefix: /rewrite/ }
            cluster: local_app
            host_rewrite: upstream.internal
            prefix_rewrite: /echo/
          - name: default
            match: { prefix: / }
            cluster: local_app`,
      });
    });
    after(async () => { await f?.stop(); });

    const echo = async (opts: Parameters<typeof request>[1]): Promise<Echo> => {
      const r = await request(f.proxy.port, { path: '/echo', ...opts });
      assert.equal(r.status, 200, r.body.toString());
      return JSON.parse(r.body.toString()) as Echo;
    };

    test('hop-by-hop request headers are removed: Connection and what it names, Keep-Alive, Proxy-*, TE, Upgrade', async () => {
      const e = await echo({
        headers: [
          'Connection', 'keep-alive, X-Secret, x-other',
          'X-Secret', 'hop',
          'X-Other', 'hop too',
          'Keep-Alive', 'timeout=5',
          'Proxy-Connection', 'keep-alive',
          'Proxy-Authorization', 'Basic Zm9vOmJhcg==',
          'Proxy-Authenticate', 'Basic',
          'TE', 'trailers',
          'X-End-To-End', 'kept',
        ],
      });
      const names = e.rawHeaders.filter((_, i) => i % 2 === 0).map((n) => n.toLowerCase());
      for (const h of ['connection', 'x-secret', 'x-other', 'keep-alive', 'proxy-connection', 'proxy-authorization', 'proxy-authenticate', 'te', 'upgrade', 'transfer-encoding']) {
        // undici may add its own `connection: keep-alive` for the upstream hop; that is not the client's.
        if (h === 'connection') {
          assert.ok(rawValues(e.rawHeaders, 'connection').every((v) => v === 'keep-alive'), `connection upstream: ${rawValues(e.rawHeaders, 'connection')}`);
          continue;
        }
        assert.ok(!names.includes(h), `${h} reached the origin: ${JSON.stringify(e.rawHeaders)}`);
      }
      assert.deepEqual(rawValues(e.rawHeaders, 'x-end-to-end'), ['kept']);
    });

    test('a chunked request body reaches the origin whole, without the client Transfer-Encoding header', async () => {
      const c = await RawClient.connect(f.proxy.port);
      try {
        c.write('POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n');
        const r = await c.responses(1);
        assert.equal(r.responses[0]?.status, 200);
        const e = JSON.parse(r.responses[0]!.body.toString()) as Echo;
        assert.equal(e.len, 11);
        assert.equal(e.sha256, createHash('sha256').update('hello world').digest('hex'));
      } finally {
        c.destroy();
      }
    });

    test('hop-by-hop response headers are removed; end-to-end ones kept', async () => {
      const r = await rawExchange(f.proxy.port, 'GET /hop HTTP/1.1\r\nHost: a\r\n\r\n');
      const res = r.responses[0]!;
      assert.equal(res.status, 200);
      assert.equal(res.body.toString(), 'hop\n');
      for (const h of ['x-named-by-connection', 'proxy-connection', 'proxy-authenticate', 'upgrade']) {
        assert.equal(header(res, h), undefined, `${h} reached the client:\n${res.head}`);
      }
      // node:http writes its own Keep-Alive for its own hop; the origin's value must not come through.
      assert.ok(headers(res, 'keep-alive').every((v) => v !== 'timeout=5, max=100'), `the origin's Keep-Alive reached the client:\n${res.head}`);
      assert.equal(header(res, 'x-end-to-end'), 'kept');
      // The client connection stays open: no `connection: close` copied from anywhere.
      assert.notEqual(header(res, 'connection')?.toLowerCase(), 'close');
    });

    test('Content-Length is kept when the origin sends one (exactly one header, no chunking)', async () => {
      const r = await rawExchange(f.proxy.port, 'GET /bytes/1000 HTTP/1.1\r\nHost: a\r\n\r\n');
      const res = r.responses[0]!;
      assert.equal(res.status, 200);
      assert.deepEqual(headers(res, 'content-length'), ['1000']);
      assert.deepEqual(headers(res, 'transfer-encoding'), []);
      assert.ok(headers(res, 'date').length <= 1, `more than one Date header:\n${res.head}`);
      assert.equal(res.body.length, 1000);
    });

    test('chunked encoding when the origin sends no length; the origin\'s connection-named header dropped', async () => {
      const r = await rawExchange(f.proxy.port, 'GET /chunked?n=64 HTTP/1.1\r\nHost: a\r\n\r\n');
      const res = r.responses[0]!;
      assert.equal(res.status, 200);
      assert.equal(res.chunked, true);
      assert.deepEqual(headers(res, 'transfer-encoding').map((v) => v.toLowerCase()), ['chunked']);
      assert.deepEqual(headers(res, 'content-length'), []);
      assert.equal(header(res, 'x-hop'), undefined);
      assert.equal(res.body.length, 64 * 1024);
      assert.equal(res.body[0], 1);
      assert.equal(res.body[64 * 1024 - 1], 64);
    });

    // Each of these sends a second request on the same connection: had the proxy sent body bytes, the
    // second response would not parse.
    for (const [name, req, status] of [
      ['HEAD with a content-length', 'HEAD /bytes/1000 HTTP/1.1\r\nHost: a\r\n\r\n', 200],
      ['HEAD of a chunked resource', 'HEAD /chunked?n=4 HTTP/1.1\r\nHost: a\r\n\r\n', 200],
      ['204', 'GET /status/204 HTTP/1.1\r\nHost: a\r\n\r\n', 204],
      ['304', 'GET /status/304 HTTP/1.1\r\nHost: a\r\nIf-None-Match: "v1"\r\n\r\n', 304],
    ] as const) {
      test(`${name}: no body on the wire, and the connection stays usable`, async () => {
        const c = await RawClient.connect(f.proxy.port);
        try {
          c.write(req);
          const first = await c.responses(1, 3000, (i) => i === 0 && req.startsWith('HEAD'));
          assert.equal(first.responses.length, 1, `no response: ${first.raw.toString('latin1')}`);
          const res = first.responses[0]!;
          assert.equal(res.status, status);
          assert.equal(first.rest.length, 0, `bytes after the head: ${JSON.stringify(first.rest.toString('latin1'))}`);
          if (name === 'HEAD with a content-length') assert.deepEqual(headers(res, 'content-length'), ['1000']);
          if (status === 304) assert.equal(header(res, 'etag'), '"v1"');
          if (status === 204 || status === 304) assert.deepEqual(headers(res, 'transfer-encoding'), []);
          c.write('GET /bytes/3 HTTP/1.1\r\nHost: a\r\n\r\n');
          const both = await c.responses(2, 3000, (i) => i === 0 && req.startsWith('HEAD'));
          assert.equal(both.responses.length, 2, `second response missing: ${JSON.stringify(both.raw.toString('latin1'))}`);
          assert.equal(both.responses[1]!.status, 200);
          assert.equal(both.responses[1]!.body.toString(), 'xxx');
          assert.equal(both.rest.length, 0);
        } finally {
          c.destroy();
        }
      });
    }

    test('Expect: 100-continue on a raw socket: 100 first, then the body goes through', async () => {
      const c = await RawClient.connect(f.proxy.port);
      try {
        c.write('POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n');
        const got100 = await c.waitUntil(() => c.received.toString('latin1').includes('100 Continue'), 3000);
        assert.ok(got100, `no 100 Continue: ${JSON.stringify(c.received.toString('latin1'))}`);
        c.write('hello');
        const r = await c.responses(1);
        const final = r.responses.find((x) => x.status >= 200)!;
        assert.equal(final.status, 200);
        const e = JSON.parse(final.body.toString()) as Echo;
        assert.equal(e.len, 5);
        assert.equal(e.headers.expect, undefined, 'Expect must not go upstream (undici refuses it)');
      } finally {
        c.destroy();
      }
    });

    test('curl upload with Expect: 100-continue (curl\'s default for big bodies), repeated: the pool does not wedge', { skip: hasCurl ? false : 'curl not installed' }, async () => {
      const dir = mkdtempSync(join(tmpdir(), 'pillion-curl-'));
      try {
        const body = Buffer.alloc(2 * 1024 * 1024, 'b');
        writeFileSync(join(dir, 'body'), body);
        const want = createHash('sha256').update(body).digest('hex');
        // More uploads than the pool has connections: each refused Expect once took a connection away for good.
        for (let i = 0; i < 3; i++) {
          const r = await run('curl', ['-sS', '--max-time', '10', '-H', 'Expect: 100-continue', '--data-binary', `@${join(dir, 'body')}`, `${f.proxy.url}/echo`]);
          assert.equal(r.code, 0, r.stderr);
          const e = JSON.parse(r.stdout) as Echo;
          assert.equal(e.len, body.length);
          assert.equal(e.sha256, want);
        }
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });

    test('several Set-Cookie headers stay separate, values intact', async () => {
      const r = await rawExchange(f.proxy.port, 'GET /cookies HTTP/1.1\r\nHost: a\r\n\r\n');
      assert.deepEqual(headers(r.responses[0]!, 'set-cookie'), ['a=1; Path=/', 'b=2, with comma; Path=/', 'c=3; Expires=Wed, 21 Oct 2037 07:28:00 GMT']);
    });

    test('Host is kept by default', async () => {
      const e = await echo({ headers: { host: 'app.example.test:8443' } });
      assert.deepEqual(rawValues(e.rawHeaders, 'host'), ['app.example.test:8443']);
    });

    test('host_rewrite on a route replaces Host (and prefix_rewrite the path)', async () => {
      const r = await request(f.proxy.port, { path: '/rewrite/x?q=1', headers: { host: 'app.example.test' } });
      assert.equal(r.status, 200);
      const e = JSON.parse(r.body.toString()) as Echo;
      assert.deepEqual(rawValues(e.rawHeaders, 'host'), ['upstream.internal']);
      assert.equal(e.url, '/echo/x?q=1');
    });

    test('x-forwarded-for: set to the client address, appended to an existing one', async () => {
      const a = await echo({});
      assert.deepEqual(rawValues(a.rawHeaders, 'x-forwarded-for'), ['127.0.0.1']);
      const b = await echo({ headers: { 'x-forwarded-for': '203.0.113.7' } });
      assert.deepEqual(rawValues(b.rawHeaders, 'x-forwarded-for'), ['203.0.113.7, 127.0.0.1']);
    });

    test('x-forwarded-proto is set to http, replacing what the client claimed', async () => {
      const a = await echo({});
      assert.deepEqual(rawValues(a.rawHeaders, 'x-forwarded-proto'), ['http']);
      const b = await echo({ headers: { 'x-forwarded-proto': 'https' } });
      assert.deepEqual(rawValues(b.rawHeaders, 'x-forwarded-proto'), ['http']);
    });

    test('x-request-id: a fresh UUID when absent, passed on unchanged when present', async () => {
      const a = await echo({});
      const b = await echo({});
      const ia = rawValues(a.rawHeaders, 'x-request-id');
      const ib = rawValues(b.rawHeaders, 'x-request-id');
      assert.equal(ia.length, 1);
      assert.match(ia[0]!, UUID);
      assert.match(ib[0]!, UUID);
      assert.notEqual(ia[0], ib[0]);
      const c = await echo({ headers: { 'x-request-id': 'keep-me-123' } });
      assert.deepEqual(rawValues(c.rawHeaders, 'x-request-id'), ['keep-me-123']);
    });

    test('traceparent and tracestate pass through untouched', async () => {
      const tp = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
      const ts = 'congo=t61rcWkgMzE,rojo=00f067aa0ba902b7';
      const e = await echo({ headers: { traceparent: tp, tracestate: ts } });
      assert.deepEqual(rawValues(e.rawHeaders, 'traceparent'), [tp]);
      assert.deepEqual(rawValues(e.rawHeaders, 'tracestate'), [ts]);
    });

    test('method, path and query reach the origin as sent; standard methods all proxied', async () => {
      for (const method of ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS']) {
        const e = await echo({ method, path: '/echo/a%20b/c?x=1&y=%2F', body: method === 'GET' ? undefined : 'x' });
        assert.equal(e.method, method);
        assert.equal(e.url, '/echo/a%20b/c?x=1&y=%2F');
      }
    });

    test('an upstream error status (503) passes through as it is, not as a proxy error', async () => {
      const r = await request(f.proxy.port, { path: '/status/503' });
      assert.equal(r.status, 503);
      assert.equal(r.body.toString(), 'status 503\n');
      assert.equal(r.headers['x-pillion-error'], undefined);
    });
  });
}
