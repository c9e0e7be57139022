// The request path on real sockets: start-up checks (port taken, native binary), method tokens,
// pipelining, streaming both ways, upstream keep-alive pools and their connection limit, client
// disconnects that abort the upstream request, and an upstream that dies mid-body.
import { strict as assert } from 'node:assert';
import { createServer, type Server } from 'node:net';
import { request as httpRequest } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { FRONTS, startFixture, type Fixture } from '../helpers/fixture.js';
import { RawClient, rawExchange } from '../helpers/raw.js';
import { spawnProxy, startProxy } from '../helpers/proxy.js';
import { request, sleep, waitFor } from '../helpers/util.js';

describe('start-up', () => {
  test('the start line names listener, upstream, admin and says the native uWS binary loaded', async () => {
    const p = await startProxy({ args: ['--upstream', 'http://127.0.0.1:9'] });
    try {
      // One line says what listens where (another may say whether the optional native addon loaded).
      const lines = p.stderr().trim().split('\n').filter((l) => l.includes(' listener '));
      assert.equal(lines.length, 1, `one start line, got:\n${p.stderr()}`);
      assert.match(lines[0]!, /listener ingress on http:\/\/127\.0\.0\.1:\d+ -> local_app \(http:\/\/127\.0\.0\.1:9\)/);
      assert.match(lines[0]!, /admin on http:\/\/127\.0\.0\.1:\d+/);
      assert.match(lines[0]!, /uWS native binary/);
    } finally {
      assert.equal(await p.stop(), 0);
    }
  });

  test('refuses to start (exit 1) when the listen port is already taken, instead of sharing it through SO_REUSEPORT', async () => {
    const squatter: Server = createServer();
    await new Promise<void>((r) => squatter.listen(0, '127.0.0.1', r));
    const port = (squatter.address() as { port: number }).port;
    try {
      const p = spawnProxy({ args: ['--listen', `127.0.0.1:${port}`, '--upstream', 'http://127.0.0.1:9'] });
      const t = setTimeout(() => p.signal('SIGKILL'), 10_000);
      const code = await p.exited;
      clearTimeout(t);
      assert.equal(code, 1, p.stderr());
      assert.match(p.stderr(), new RegExp(`127\\.0\\.0\\.1:${port} is already in use`));
      await p.stop();
    } finally {
      await new Promise<void>((r) => squatter.close(() => r()));
    }
  });

  test('a second pillion on the same listen port is refused too (uWS on the first holds it)', async () => {
    const first = await startProxy({ args: ['--upstream', 'http://127.0.0.1:9'] });
    try {
      const second = spawnProxy({ args: ['--listen', `127.0.0.1:${first.port}`, '--upstream', 'http://127.0.0.1:9'] });
      const t = setTimeout(() => second.signal('SIGKILL'), 10_000);
      assert.equal(await second.exited, 1, second.stderr());
      clearTimeout(t);
      assert.match(second.stderr(), /already in use/);
      await second.stop();
    } finally {
      await first.stop();
    }
  });
});

for (const front of FRONTS) {
  describe(`request path (front: ${front})`, () => {
    let f: Fixture;
    before(async () => {
      f = await startFixture({
        front,
        routes: `
          - name: limited
            match: { prefix: /limited/ }
            cluster: limited
            prefix_rewrite: /
          - name: default
            match: { prefix: / }
            cluster: local_app`,
        clusters: `
          - name: limited
            endpoints: [ORIGIN]
            max_connections: 2`,
      });
    });
    after(async () => { await f?.stop(); });

    if (front === 'uws') {
      test('extended methods (PROPFIND, PURGE, QUERY): uWS 20.30 closes the connection without an answer (known limitation, use front: node); nothing forwarded', async () => {
        for (const m of ['PROPFIND', 'PURGE', 'QUERY']) {
          const before = f.origin.requests.length;
          const r = await rawExchange(f.proxy.port, `${m} /echo HTTP/1.1\r\nHost: a\r\n\r\n`, { waitClose: true, timeoutMs: 2000 });
          assert.equal(r.responses.length, 0, m);
          assert.equal(r.closed, true, m);
          assert.equal(f.origin.requests.length, before);
        }
      });

      test('pipelining: uWS 20.30 closes the connection and answers none of two pipelined requests (known limitation, use front: node)', async () => {
        const before = f.origin.requests.length;
        const r = await rawExchange(f.proxy.port, 'GET /echo/1 HTTP/1.1\r\nHost: a\r\n\r\nGET /echo/2 HTTP/1.1\r\nHost: a\r\n\r\n', { expect: 2, waitClose: true, timeoutMs: 2000 });
        assert.equal(r.responses.length, 0);
        assert.equal(r.closed, true);
        assert.equal(f.origin.requests.length, before);
      });
    } else {
      test('extended methods (PROPFIND, PURGE, QUERY, MKCOL) are proxied with their method', async () => {
        for (const m of ['PROPFIND', 'PURGE', 'QUERY', 'MKCOL', 'SEARCH']) {
          const r = await rawExchange(f.proxy.port, `${m} /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nhi`);
          assert.equal(r.responses[0]?.status, 200, m);
          const e = JSON.parse(r.responses[0]!.body.toString());
          assert.equal(e.method, m);
          assert.equal(e.len, 2);
        }
      });

      test('a method token the parser does not know gets 501 and is not forwarded', async () => {
        const before = f.origin.requests.length;
        const ni0 = await f.proxy.stat('http.ingress.downstream_rq_not_implemented');
        const r = await rawExchange(f.proxy.port, 'FOOBAR /echo HTTP/1.1\r\nHost: a\r\n\r\n');
        assert.equal(r.responses[0]?.status, 501);
        assert.equal(f.origin.requests.length, before);
        assert.equal(await f.proxy.stat('http.ingress.downstream_rq_not_implemented'), ni0 + 1);
      });

      test('pipelining: three requests in one packet (one with a body, the first slow) are answered in order', async () => {
        const before = f.origin.requests.length;
        const r = await rawExchange(f.proxy.port,
          'GET /sleep/300 HTTP/1.1\r\nHost: a\r\n\r\n' +
          'POST /echo/2 HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello' +
          'GET /bytes/3 HTTP/1.1\r\nHost: a\r\n\r\n', { expect: 3, timeoutMs: 5000 });
        assert.deepEqual(r.responses.map((x) => x.status), [200, 200, 200]);
        assert.equal(r.responses[0]!.body.toString(), 'slept\n');
        const e = JSON.parse(r.responses[1]!.body.toString());
        assert.equal(e.url, '/echo/2');
        assert.equal(e.len, 5);
        assert.equal(r.responses[2]!.body.toString(), 'xxx');
        assert.equal(f.origin.requests.length - before, 3);
      });

      test('pipelining: 20 requests in one packet all answered, in order', async () => {
        let payload = '';
        for (let i = 0; i < 20; i++) payload += `GET /echo/${i} HTTP/1.1\r\nHost: a\r\n\r\n`;
        const r = await rawExchange(f.proxy.port, payload, { expect: 20, timeoutMs: 5000 });
        assert.deepEqual(r.responses.map((x) => JSON.parse(x.body.toString()).url), Array.from({ length: 20 }, (_, i) => `/echo/${i}`));
      });

      test('CONNECT gets 501 (a tunnel is out of scope), not a silent close', async () => {
        const r = await rawExchange(f.proxy.port, 'CONNECT example.test:443 HTTP/1.1\r\nHost: example.test:443\r\n\r\n', { timeoutMs: 2000 });
        assert.equal(r.responses[0]?.status, 501);
      });
    }

    test('the request body streams to the origin as it arrives (origin sees the first part before the client sends the rest)', async () => {
      const path = `/echo/stream-${front}`;
      const done = new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = httpRequest({ host: '127.0.0.1', port: f.proxy.port, method: 'POST', path, agent: false, headers: { 'transfer-encoding': 'chunked' } }, (res) => {
          let body = '';
          res.on('data', (c: Buffer) => { body += c.toString(); });
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        });
        req.on('error', reject);
        req.write(Buffer.alloc(64 * 1024, 'a'));
        waitFor('the first 64 KiB at the origin', () => (f.origin.seen(path)[0]?.bodyBytes ?? 0) >= 64 * 1024, 5000)
          .then(() => req.end(Buffer.alloc(1000, 'b')), (err: Error) => { req.destroy(); reject(err); });
      });
      const r = await done;
      assert.equal(r.status, 200);
      assert.equal(JSON.parse(r.body).len, 64 * 1024 + 1000);
    });

    test('the response body streams to the client as the origin sends it', async () => {
      let release!: () => void;
      const gate = new Promise<void>((r) => { release = r; });
      f.origin.custom = (req, res) => {
        if (req.url !== '/gated') return false;
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.write('first;');
        void gate.then(() => res.end('second'));
        return true;
      };
      try {
        const got = await new Promise<string>((resolve, reject) => {
          const req = httpRequest({ host: '127.0.0.1', port: f.proxy.port, path: '/gated', agent: false }, (res) => {
            let body = '';
            res.on('data', (c: Buffer) => {
              body += c.toString();
              if (body === 'first;') release(); // only once the first part arrived does the origin finish
            });
            res.on('end', () => resolve(body));
          });
          req.on('error', reject);
          setTimeout(() => { req.destroy(new Error('the first part never arrived on its own')); }, 5000).unref();
          req.end();
        });
        assert.equal(got, 'first;second');
      } finally {
        f.origin.custom = null;
      }
    });

    test('upstream keep-alive: 10 sequential requests share one upstream connection', async () => {
      const c0 = f.origin.connectionsTotal;
      const cx0 = await f.proxy.stat('cluster.local_app.upstream_cx_total');
      for (let i = 0; i < 10; i++) assert.equal((await request(f.proxy.port, { path: '/bytes/10' })).status, 200);
      // Idle pool connections from earlier tests may be reused, so at most one new connection.
      assert.ok(f.origin.connectionsTotal - c0 <= 1, `opened ${f.origin.connectionsTotal - c0} connections`);
      assert.ok((await f.proxy.stat('cluster.local_app.upstream_cx_total')) - cx0 <= 1);
    });

    test('max_connections: 8 concurrent requests to a cluster limited to 2 connections never exceed 2 at the origin', async () => {
      f.origin.maxConcurrent = 0;
      const cx0 = await f.proxy.stat('cluster.limited.upstream_cx_total');
      const rs = await Promise.all(Array.from({ length: 8 }, () => request(f.proxy.port, { path: '/limited/sleep/150' })));
      assert.deepEqual(rs.map((r) => r.status), Array(8).fill(200));
      assert.equal(f.origin.maxConcurrent, 2);
      assert.equal((await f.proxy.stat('cluster.limited.upstream_cx_total')) - cx0, 2);
    });

    test('a client that disconnects while waiting aborts the upstream request (origin sees the close, no leaked request)', async () => {
      const path = `/hang?front=${front}&t=1`;
      const rx0 = await f.proxy.stat('http.ingress.downstream_rq_rx_reset');
      const cancelled0 = await f.proxy.stat('cluster.local_app.upstream_rq_cancelled');
      const c = await RawClient.connect(f.proxy.port);
      c.write(`GET ${path} HTTP/1.1\r\nHost: a\r\n\r\n`);
      await waitFor('the request at the origin', () => f.origin.seen(path).length === 1, 5000);
      c.destroy();
      await waitFor('the origin to see the abort', () => f.origin.seen(path)[0]!.aborted, 5000);
      await f.proxy.waitStat('cluster.local_app.upstream_rq_active', 0);
      await f.proxy.waitStat('http.ingress.downstream_rq_active', 0);
      assert.equal(await f.proxy.stat('http.ingress.downstream_rq_rx_reset'), rx0 + 1);
      assert.equal(await f.proxy.stat('cluster.local_app.upstream_rq_cancelled'), cancelled0 + 1);
    });

    test('a client that disconnects mid-download aborts the upstream response', async () => {
      const path = `/huge?bytes=${512 * 1024 * 1024}&front=${front}`;
      const c = await RawClient.connect(f.proxy.port);
      c.write(`GET ${path} HTTP/1.1\r\nHost: a\r\n\r\n`);
      assert.ok(await c.waitUntil(() => c.received.length > 1024 * 1024, 5000), 'the download started');
      c.destroy();
      await waitFor('the origin to see the abort', () => f.origin.seen(path)[0]?.aborted === true, 5000);
      await f.proxy.waitStat('cluster.local_app.upstream_rq_active', 0);
      assert.equal(f.origin.seen(path)[0]!.finished, false);
    });

    test('a client that disconnects mid-upload aborts the upstream request', async () => {
      const path = `/echo/upload-abort-${front}`;
      const c = await RawClient.connect(f.proxy.port);
      c.write(`POST ${path} HTTP/1.1\r\nHost: a\r\nContent-Length: ${100 * 1024 * 1024}\r\n\r\n`);
      c.write(Buffer.alloc(256 * 1024, 'u'));
      await waitFor('part of the body at the origin', () => (f.origin.seen(path)[0]?.bodyBytes ?? 0) > 0, 5000);
      c.destroy();
      await waitFor('the origin to see the abort', () => f.origin.seen(path)[0]!.aborted, 5000);
      await f.proxy.waitStat('cluster.local_app.upstream_rq_active', 0);
      assert.ok(f.origin.seen(path)[0]!.bodyBytes < 100 * 1024 * 1024);
    });

    for (const chunked of [false, true]) {
      test(`an upstream that dies mid-body (${chunked ? 'chunked' : 'content-length'}) ends the client response abruptly, not as a success`, async () => {
        const reset0 = await f.proxy.stat('http.ingress.downstream_rq_upstream_reset');
        const r = await request(f.proxy.port, { path: `/die?bytes=65536${chunked ? '&chunked=1' : ''}` });
        assert.equal(r.status, 200);
        assert.equal(r.complete, false, 'the client saw a complete response');
        assert.ok(r.body.length <= 65536, `got ${r.body.length} bytes`);
        assert.equal(await f.proxy.stat('http.ingress.downstream_rq_upstream_reset'), reset0 + 1);
        await f.proxy.waitStat('cluster.local_app.upstream_rq_active', 0);
      });
    }

    test('the proxy keeps serving after all of the above: no request left active', async () => {
      assert.equal((await request(f.proxy.port, { path: '/bytes/5' })).body.toString(), 'xxxxx');
      await f.proxy.waitStat('http.ingress.downstream_rq_active', 0);
      await f.proxy.waitStat('cluster.local_app.upstream_rq_active', 0);
      await sleep(0);
    });
  });
}
