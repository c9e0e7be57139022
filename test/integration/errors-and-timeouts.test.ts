// The proxy's own error responses, each checked for status, short text body, response flag
// (`x-pillion-error`, Envoy's letters) and stat: 503 UF (refused, reset, connect timeout), 503 UH,
// 504 UT, 502 UPE, 404 NR, 413, 431; plus the route's idle timeout and the default route timeout.
import { strict as assert } from 'node:assert';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { FRONTS, startFixture, type Fixture } from '../helpers/fixture.js';
import { rawExchange } from '../helpers/raw.js';
import { freePort, request, waitFor } from '../helpers/util.js';

const hasPython = spawnSync('python3', ['--version']).status === 0;

/**
 * A port whose connects hang: a listening socket with a backlog of 0 that never accepts, its queue
 * filled by connections opened here, so that the kernel drops further SYNs. Node always accepts, hence
 * python.
 */
async function blackhole(): Promise<{ port: number; stop: () => void }> {
  const child: ChildProcess = spawn('python3', ['-c', `
import socket, sys, time
s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(0)
port = s.getsockname()[1]
fill = []
for i in range(4):
    c = socket.socket(); c.setblocking(False)
    try: c.connect(('127.0.0.1', port))
    except BlockingIOError: pass
    fill.append(c)
time.sleep(0.3)
print(port, flush=True)
sys.stdin.read()
`], { stdio: ['pipe', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => { out += d.toString(); if (out.includes('\n')) resolve(Number(out.trim())); });
    child.on('exit', () => reject(new Error('blackhole helper exited')));
  });
  return { port, stop: () => { child.kill('SIGKILL'); } };
}

/** A TCP origin that answers every request with bytes that are not HTTP. */
async function garbageOrigin(): Promise<{ port: number; stop: () => Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('data', () => s.write('SPDY/9 banana\r\n\r\n'));
    s.on('error', () => undefined);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as { port: number }).port,
    stop: async () => { for (const s of sockets) s.destroy(); await new Promise<void>((r) => server.close(() => r())); },
  };
}

for (const front of FRONTS) {
  describe(`errors and timeouts (front: ${front})`, () => {
    let f: Fixture;
    let hole: { port: number; stop: () => void } | null = null;
    let garbage: { port: number; stop: () => Promise<void> };
    let dead = 0;

    before(async () => {
      dead = await freePort();
      if (hasPython) hole = await blackhole();
      garbage = await garbageOrigin();
      f = await startFixture({
        front,
        routes: `
          - name: refused
            match: { prefix: /refused }
            cluster: refused
          - name: nohealthy
            match: { prefix: /nohealthy }
            cluster: empty
          - name: blackhole
            match: { prefix: /blackhole }
            cluster: blackhole
          - name: garbage
            match: { prefix: /garbage }
            cluster: garbage
          - name: slow
            match: { prefix: /timeout/ }
            cluster: local_app
            prefix_rewrite: /
            timeout: 300ms
          - name: idle
            match: { prefix: /idle/ }
            cluster: local_app
            prefix_rewrite: /
            idle_timeout: 300ms
          - name: small
            match: { prefix: /small/ }
            cluster: local_app
            prefix_rewrite: /
            max_request_bytes: 1000
          - name: api
            match: { prefix: /echo }
            cluster: local_app
          - name: others
            match: { prefix: / , headers: [ { name: x-route-me, present: true } ] }
            cluster: local_app
          - name: direct
            match: { path: /direct }
            direct_response: { status: 418, body: "short and stout\\n" }`,
        clusters: `
          - name: refused
            endpoints: [http://127.0.0.1:${dead}]
          - name: empty
            endpoints: []
          - name: blackhole
            endpoints: [http://127.0.0.1:${hole?.port ?? dead}]
            connect_timeout: 300ms
          - name: garbage
            endpoints: [http://127.0.0.1:${garbage.port}]`,
      });
    });
    after(async () => {
      await f?.stop();
      hole?.stop();
      await garbage?.stop();
    });

    const stat = (n: string) => f.proxy.stat(n);

    test('connection refused: 503 UF with a short text body; upstream_cx_connect_fail and downstream_rq_5xx counted', async () => {
      const fail0 = await stat('cluster.refused.upstream_cx_connect_fail');
      const x0 = await stat('http.ingress.downstream_rq_5xx');
      const r = await request(f.proxy.port, { path: '/refused' });
      assert.equal(r.status, 503);
      assert.equal(r.headers['x-pillion-error'], 'UF');
      assert.equal(r.headers['content-type'], 'text/plain');
      assert.equal(r.body.toString(), 'upstream connect error or disconnect/reset before headers\n');
      assert.equal(await stat('cluster.refused.upstream_cx_connect_fail'), fail0 + 1);
      assert.equal(await stat('http.ingress.downstream_rq_5xx'), x0 + 1);
    });

    test('upstream reset before response headers: 503 UF', async () => {
      // No /echo prefix: this one goes through the route matched on a header.
      const r = await request(f.proxy.port, { path: '/reset-before-headers', headers: { 'x-route-me': '1' } });
      assert.equal(r.status, 503);
      assert.equal(r.headers['x-pillion-error'], 'UF');
      await f.proxy.waitStat('cluster.local_app.upstream_rq_active', 0);
    });

    test('a cluster with no endpoint: 503 UH; upstream_cx_none_healthy counted', async () => {
      const n0 = await stat('cluster.empty.upstream_cx_none_healthy');
      const r = await request(f.proxy.port, { path: '/nohealthy' });
      assert.equal(r.status, 503);
      assert.equal(r.headers['x-pillion-error'], 'UH');
      assert.equal(r.body.toString(), 'no healthy upstream\n');
      assert.equal(await stat('cluster.empty.upstream_cx_none_healthy'), n0 + 1);
    });

    test('route timeout: 504 UT after the route\'s 300 ms, the upstream request aborted; upstream_rq_timeout counted', async () => {
      const t0 = await stat('cluster.local_app.upstream_rq_timeout');
      const started = Date.now();
      const r = await request(f.proxy.port, { path: `/timeout/sleep/5000?front=${front}` });
      const took = Date.now() - started;
      assert.equal(r.status, 504);
      assert.equal(r.headers['x-pillion-error'], 'UT');
      assert.equal(r.body.toString(), 'upstream request timeout\n');
      assert.ok(took >= 250 && took < 2500, `took ${took} ms`);
      assert.equal(await stat('cluster.local_app.upstream_rq_timeout'), t0 + 1);
      await waitFor('the origin to see the abort', () => f.origin.seen(`/sleep/5000?front=${front}`)[0]?.aborted === true, 3000);
    });

    test('a route without `timeout` gets Envoy\'s default of 15 s (config_dump)', async () => {
      const dump = JSON.parse((await f.proxy.admin('/config_dump')).body);
      const routes = dump.config.listeners[0].routes as { name: string; timeout_ms: number }[];
      assert.equal(routes.find((r) => r.name === 'api')!.timeout_ms, 15_000);
      assert.equal(routes.find((r) => r.name === 'slow')!.timeout_ms, 300);
    });

    test('route idle_timeout: an upstream that stalls mid-body gets the client response cut, not completed', async () => {
      const started = Date.now();
      const r = await request(f.proxy.port, { path: '/idle/stall?bytes=1000' });
      const took = Date.now() - started;
      assert.equal(r.status, 200);
      assert.equal(r.complete, false);
      assert.equal(r.body.length, 1000);
      assert.ok(took < 3000, `took ${took} ms`);
      await f.proxy.waitStat('cluster.local_app.upstream_rq_active', 0);
    });

    test('route idle_timeout does not cut a slow body that keeps moving', async () => {
      const r = await request(f.proxy.port, { path: '/idle/drip?n=6&ms=50' });
      assert.equal(r.complete, true);
      assert.equal(r.body.toString(), 'xxxxxx');
    });

    test('connect timeout per cluster: 503 UF after the cluster\'s 300 ms', { skip: hasPython ? false : 'python3 not installed (needed for a port whose connects hang)' }, async () => {
      const fail0 = await stat('cluster.blackhole.upstream_cx_connect_fail');
      const started = Date.now();
      const r = await request(f.proxy.port, { path: '/blackhole' });
      const took = Date.now() - started;
      assert.equal(r.status, 503);
      assert.equal(r.headers['x-pillion-error'], 'UF');
      assert.ok(took >= 250 && took < 3000, `took ${took} ms`);
      assert.equal(await stat('cluster.blackhole.upstream_cx_connect_fail'), fail0 + 1);
    });

    test('an upstream that does not speak HTTP: 502 UPE', async () => {
      const r = await request(f.proxy.port, { path: '/garbage' });
      assert.equal(r.status, 502);
      assert.equal(r.headers['x-pillion-error'], 'UPE');
      assert.equal(r.body.toString(), 'upstream protocol error\n');
    });

    test('no route: 404 NR, no_route counted, nothing forwarded', async () => {
      const n0 = await stat('http.ingress.no_route');
      const before = f.origin.requests.length;
      const r = await request(f.proxy.port, { path: '/nowhere' });
      assert.equal(r.status, 404);
      assert.equal(r.headers['x-pillion-error'], 'NR');
      assert.equal(r.body.toString(), 'no route matched\n');
      assert.equal(await stat('http.ingress.no_route'), n0 + 1);
      assert.equal(f.origin.requests.length, before);
    });

    test('direct_response route answers locally', async () => {
      const d0 = await stat('http.ingress.downstream_rq_direct_response');
      const r = await request(f.proxy.port, { path: '/direct' });
      assert.equal(r.status, 418);
      assert.equal(r.body.toString(), 'short and stout\n');
      assert.equal(await stat('http.ingress.downstream_rq_direct_response'), d0 + 1);
    });

    test('413 when the Content-Length is over the route limit; nothing forwarded', async () => {
      const tl0 = await stat('http.ingress.downstream_rq_too_large');
      const before = f.origin.requests.length;
      const r = await rawExchange(f.proxy.port, `POST /small/echo HTTP/1.1\r\nHost: a\r\nContent-Length: 1001\r\n\r\n${'z'.repeat(1001)}`);
      assert.equal(r.responses[0]?.status, 413);
      assert.equal(r.responses[0]!.body.toString(), 'request body too large\n');
      assert.equal(f.origin.requests.length, before);
      assert.equal(await stat('http.ingress.downstream_rq_too_large'), tl0 + 1);
      // A body at the limit passes.
      const ok = await request(f.proxy.port, { method: 'POST', path: '/small/echo', body: 'z'.repeat(1000) });
      assert.equal(ok.status, 200);
      assert.equal(JSON.parse(ok.body.toString()).len, 1000);
    });

    test('413 when a chunked body grows over the route limit; the upstream request is aborted', async () => {
      const tl0 = await stat('http.ingress.downstream_rq_too_large');
      const path = `/small/echo/chunked-${front}`;
      const c = `POST ${path} HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n` + '200\r\n' + 'z'.repeat(512) + '\r\n' + '200\r\n' + 'z'.repeat(512) + '\r\n0\r\n\r\n';
      const r = await rawExchange(f.proxy.port, c);
      assert.equal(r.responses[0]?.status, 413);
      assert.equal(await stat('http.ingress.downstream_rq_too_large'), tl0 + 1);
      const seen = f.origin.seen(path.slice('/small'.length));
      if (seen.length > 0) await waitFor('the origin to see the abort', () => seen[0]!.aborted, 3000);
      await f.proxy.waitStat('cluster.local_app.upstream_rq_active', 0);
    });

    const bigHead = (kib: number) => async () => {
      const r = await request(f.proxy.port, { path: '/echo', headers: { cookie: 'c'.repeat(kib * 1024) } });
      assert.equal(r.status, 200);
      assert.equal((JSON.parse(r.body.toString()).headers.cookie as string).length, kib * 1024);
    };
    if (front === 'node') {
      test('request headers of 50 KiB (a cookie-laden browser) pass', bigHead(50));
    } else {
      // uWS 20.30 resets some heads of 32 KiB and more that arrive on a new connection (measured: 21-40 %
      // of 200 requests at 32 and 50 KiB, none at 16 KiB or on a kept-alive connection); docs/proxy.md.
      test('request headers of 16 KiB pass', bigHead(16));
      test('request headers of 50 KiB (a cookie-laden browser) pass', { todo: 'uWS 20.30 resets some heads >= 32 KiB on a new connection (docs/proxy.md); use front: node' }, bigHead(50));
    }

    if (front === 'node') {
      test('request headers over 60 KiB: 431, nothing forwarded', async () => {
        const before = f.origin.requests.length;
        const r = await rawExchange(f.proxy.port, `GET /echo HTTP/1.1\r\nHost: a\r\nX-Big: ${'a'.repeat(70 * 1024)}\r\n\r\n`);
        assert.equal(r.responses[0]?.status, 431);
        assert.equal(f.origin.requests.length, before);
      });
    } else {
      // uWS 20.30 checks its own head limit when a head spans several reads and then resets the connection
      // before pillion sees the request; how often depends on TCP segmentation (from 1 in 40 to 5 in 5 on a
      // loaded machine). Either answer is accepted here; forwarding is not.
      test('request headers over 60 KiB: 431 or, when uWS catches it first, a reset without an answer (known limitation, use front: node); never forwarded', async () => {
        const before = f.origin.requests.length;
        let answered = 0;
        for (let i = 0; i < 5; i++) {
          const r = await rawExchange(f.proxy.port, `GET /echo HTTP/1.1\r\nHost: a\r\nX-Big: ${'a'.repeat(70 * 1024)}\r\n\r\n`, { waitClose: false });
          if (r.responses.length === 0) {
            assert.equal(r.closed, true, 'neither an answer nor a close');
            continue;
          }
          assert.equal(r.responses[0]!.status, 431);
          assert.equal(r.responses[0]!.body.toString(), 'request headers too large\n');
          answered++;
        }
        assert.equal(f.origin.requests.length, before);
        process.stderr.write(`# uWS: ${answered} of 5 over-size heads got their 431, the others a reset\n`);
      });

      test('request headers of 300 KiB: uWS 20.30 resets the connection without a 431 (known limitation, use front: node); nothing forwarded', async () => {
        const before = f.origin.requests.length;
        const r = await rawExchange(f.proxy.port, `GET /echo HTTP/1.1\r\nHost: a\r\nX-Big: ${'a'.repeat(300 * 1024)}\r\n\r\n`, { waitClose: true, timeoutMs: 2000 });
        assert.equal(r.responses.length, 0);
        assert.equal(r.closed, true);
        assert.equal(f.origin.requests.length, before);
      });
    }

    test('after every error above the proxy still serves, with nothing left in flight', async () => {
      assert.equal((await request(f.proxy.port, { path: '/echo' })).status, 200);
      await f.proxy.waitStat('http.ingress.downstream_rq_active', 0);
      for (const c of ['local_app', 'refused', 'blackhole', 'garbage']) await f.proxy.waitStat(`cluster.${c}.upstream_rq_active`, 0);
    });
  });
}

describe('access log response flags', () => {
  let f: Fixture;
  let dir = '';
  let logFile = '';
  let lines: string[] = [];
  /** The flag each reply carried in x-pillion-error: the access log must say the same. */
  const flags = new Map<string, string>();
  before(async () => {
    const dead = await freePort();
    dir = mkdtempSync(join(tmpdir(), 'pillion-alog-'));
    logFile = join(dir, 'access.log');
    f = await startFixture({
      routes: `
        - name: refused
          match: { prefix: /refused }
          cluster: refused
        - name: nohealthy
          match: { prefix: /nohealthy }
          cluster: empty
        - name: slow
          match: { prefix: /timeout/ }
          cluster: local_app
          prefix_rewrite: /
          timeout: 200ms
        - name: small
          match: { prefix: /small/ }
          cluster: local_app
          prefix_rewrite: /
          max_request_bytes: 10
        - name: ok
          match: { prefix: /bytes/ }
          cluster: local_app`,
      clusters: `
        - name: refused
          endpoints: [http://127.0.0.1:${dead}]
        - name: empty
          endpoints: []`,
      listenerExtra: `access_log:\n  - path: ${logFile}\n    format: "%RESPONSE_CODE% %RESPONSE_FLAGS% %REQ(:PATH)%\\n"\n    batch: { max_delay: 50ms }`,
    });
    for (const [path, method, body] of [['/refused', 'GET'], ['/nohealthy', 'GET'], ['/timeout/sleep/3000', 'GET'], ['/nowhere', 'GET'], ['/small/echo', 'POST', 'x'.repeat(11)], ['/bytes/1', 'GET']] as [string, string, string?][]) {
      const r = await request(f.proxy.port, { path, method, body });
      flags.set(path, String(r.headers['x-pillion-error'] ?? '-'));
    }
    // The '-' line of the last request comes last: once it is there, everything before it is too.
    await waitFor('the access log lines', () => {
      try { lines = readFileSync(logFile, 'utf8').trim().split('\n').filter((l) => l !== ''); } catch { lines = []; }
      return lines.includes('200 - /bytes/1');
    }, 8000).catch((e: Error) => { throw new Error(`${e.message}; got ${JSON.stringify(lines)}\n${f.proxy.stderr()}`); });
  });
  after(async () => {
    await f?.stop();
    if (dir !== '') rmSync(dir, { recursive: true, force: true });
  });

  test('upstream failures are logged with their Envoy response flag (UF, UH, UT); a proxied response with -', () => {
    for (const l of ['503 UF /refused', '503 UH /nohealthy', '504 UT /timeout/sleep/3000', '200 - /bytes/1']) assert.ok(lines.includes(l), `${l} not in ${JSON.stringify(lines)}`);
  });

  test('replies made before any upstream is picked are logged too (NR for no route; 413 with the flag its response carried)', () => {
    assert.equal(flags.get('/nowhere'), 'NR');
    assert.notEqual(flags.get('/small/echo'), '-');
    for (const l of ['404 NR /nowhere', `413 ${flags.get('/small/echo')} /small/echo`]) assert.ok(lines.includes(l), `${l} not in ${JSON.stringify(lines)}`);
  });
});

// These wait for real timeouts (10 s, 15 s): they run side by side.
describe('idle timeouts and the default route timeout', { concurrency: true }, () => {
  test('a route without `timeout` answers 504 UT after Envoy\'s default 15 s', { timeout: 40_000 }, async () => {
    const f = await startFixture();
    try {
      const started = Date.now();
      const r = await request(f.proxy.port, { path: '/sleep/30000?default-timeout', timeoutMs: 35_000 });
      const took = Date.now() - started;
      assert.equal(r.status, 504);
      assert.equal(r.headers['x-pillion-error'], 'UT');
      assert.ok(took >= 14_500 && took < 20_000, `took ${took} ms`);
    } finally {
      await f.stop();
    }
  });

  test('cluster idle_timeout: an unused upstream keep-alive connection is closed after it', async () => {
    const f = await startFixture({
      routes: '- name: r\n  match: { prefix: / }\n  cluster: short_idle',
      clusters: '- name: short_idle\n  endpoints: [ORIGIN]\n  idle_timeout: 300ms',
    });
    try {
      assert.equal((await request(f.proxy.port, { path: '/bytes/1' })).status, 200);
      assert.equal(f.origin.connectionsOpen, 1);
      const t0 = Date.now();
      await waitFor('the upstream connection to close', () => f.origin.connectionsOpen === 0, 5000);
      const took = Date.now() - t0;
      assert.ok(took >= 150, `closed after ${took} ms`);
      await f.proxy.waitStat('cluster.short_idle.upstream_cx_destroy', 1);
      // The next request opens a new connection and works.
      assert.equal((await request(f.proxy.port, { path: '/bytes/1' })).status, 200);
      assert.equal(f.origin.connectionsTotal, 2);
    } finally {
      await f.stop();
    }
  });

  test('downstream idle connection: the uWS front closes a silent client connection after about 10 s (uWS\'s fixed idle timeout)', { timeout: 30_000 }, async () => {
    const f = await startFixture();
    try {
      const { RawClient } = await import('../helpers/raw.js');
      const c = await RawClient.connect(f.proxy.port);
      c.write('GET /bytes/1 HTTP/1.1\r\nHost: a\r\n\r\n');
      assert.equal((await c.responses(1)).responses[0]?.status, 200);
      const t0 = Date.now();
      const r = await c.waitClosed(20_000);
      const took = Date.now() - t0;
      assert.equal(r.closed, true, 'an idle client connection stayed open for 20 s');
      assert.ok(took >= 5000 && took <= 16_000, `closed after ${took} ms`);
    } finally {
      await f.stop();
    }
  });
});
