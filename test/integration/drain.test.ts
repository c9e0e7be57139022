// Drain on SIGTERM and /quitquitquit: /ready turns 503 at once; for --drain-time responses carry
// `Connection: close` (new connections still accepted); then the listeners close; requests in flight
// finish up to --drain-timeout; then exit 0. Under steady keep-alive load, a SIGTERM loses no request
// that reached the proxy: no resets, no 5xx. One race is outside the proxy's hands and is reported
// rather than failed: a client that connects in the instant the listener closes may be in the kernel's
// accept queue, which the kernel resets (Envoy has the same); a load balancer that honoured /ready
// would have stopped sending long before.
import { strict as assert } from 'node:assert';
import { after, before, describe, test } from 'node:test';
import { FRONTS } from '../helpers/fixture.js';
import { Origin } from '../helpers/origin.js';
import { startProxy, yamlConfig, type Proxy } from '../helpers/proxy.js';
import { RawClient, header } from '../helpers/raw.js';
import { request, sleep, waitFor } from '../helpers/util.js';

const config = (origin: Origin, front: string) => yamlConfig({
  front,
  routes: '- name: r\n  match: { prefix: / }\n  cluster: app',
  clusters: `- name: app\n  endpoints: [${origin.url}]`,
});

async function exitWithin(p: Proxy, ms: number): Promise<number | null> {
  const t = setTimeout(() => p.signal('SIGKILL'), ms);
  const code = await p.exited;
  clearTimeout(t);
  return code;
}

describe('drain', () => {
  const origin = new Origin();
  before(async () => { await origin.start(); });
  after(async () => { await origin.stop(); });

  test('SIGTERM: /ready 503 at once; responses carry Connection: close during drain_time; then the listener closes; exit 0', async () => {
    const p = await startProxy({ config: config(origin, 'uws'), drainTime: '1500ms' });
    try {
      // A keep-alive connection opened before the drain.
      const early = await RawClient.connect(p.port);
      early.write('GET /bytes/1 HTTP/1.1\r\nHost: a\r\n\r\n');
      const first = (await early.responses(1)).responses[0]!;
      assert.notEqual(header(first, 'connection')?.toLowerCase(), 'close');

      const t0 = Date.now();
      p.signal('SIGTERM');
      await waitFor('/ready 503', async () => (await p.admin('/ready')).status === 503, 1000);
      assert.ok(Date.now() - t0 < 1000, `/ready took ${Date.now() - t0} ms to turn 503`);
      assert.equal((await p.admin('/ready')).body, 'DRAINING\n');

      // The open connection: its next response says close (closing it is checked below, per front).
      const dc0 = await p.stat('http.ingress.downstream_cx_drain_close');
      early.write('GET /bytes/2 HTTP/1.1\r\nHost: a\r\n\r\n');
      const r = await early.responses(2, 3000);
      early.destroy();
      assert.equal(r.responses.length, 2);
      assert.equal(r.responses[1]!.status, 200);
      assert.equal(header(r.responses[1]!, 'connection')?.toLowerCase(), 'close');
      assert.equal(await p.stat('http.ingress.downstream_cx_drain_close'), dc0 + 1);

      // A new connection during drain_time is still served, with close.
      const during = await request(p.port, { path: '/bytes/3' });
      assert.equal(during.status, 200);
      assert.equal(during.headers.connection, 'close');

      // After drain_time the listener is closed.
      await waitFor('the listener to close', async () => {
        try {
          const c = await RawClient.connect(p.port);
          c.destroy();
          return false;
        } catch (err) {
          return (err as NodeJS.ErrnoException).code === 'ECONNREFUSED';
        }
      }, 5000);
      const closedAt = Date.now() - t0;
      assert.ok(closedAt >= 1400, `listener closed after ${closedAt} ms, before drain_time`);
      assert.equal(await exitWithin(p, 10_000), 0, p.stderr());
      assert.match(p.stderr(), /draining \(SIGTERM\)/);
    } finally {
      await p.stop();
    }
  });

  test('requests in flight when the listener closes finish (within drain_timeout), then exit 0', async () => {
    const p = await startProxy({ config: config(origin, 'uws'), drainTime: '200ms', args: ['--drain-timeout', '10s'] });
    try {
      const slow = request(p.port, { path: '/sleep/1500?drain=inflight', timeoutMs: 10_000 });
      await waitFor('the request at the origin', () => origin.seen('/sleep/1500?drain=inflight').length === 1);
      const t0 = Date.now();
      p.signal('SIGTERM');
      const r = await slow;
      assert.equal(r.status, 200);
      assert.equal(r.complete, true);
      assert.equal(r.body.toString(), 'slept\n');
      assert.equal(r.headers.connection, 'close');
      assert.equal(await exitWithin(p, 10_000), 0);
      assert.ok(Date.now() - t0 >= 1000, 'exited before the request in flight finished');
    } finally {
      await p.stop();
    }
  });

  test('drain_timeout: a request still running after it is cut, and the proxy exits 0 on time', async () => {
    const p = await startProxy({ config: config(origin, 'uws'), drainTime: '100ms', args: ['--drain-timeout', '500ms'] });
    try {
      const hung = request(p.port, { path: '/hang?drain=timeout', timeoutMs: 10_000 }).then((r) => r, (e: Error) => e);
      await waitFor('the request at the origin', () => origin.seen('/hang?drain=timeout').length === 1);
      const t0 = Date.now();
      p.signal('SIGTERM');
      assert.equal(await exitWithin(p, 10_000), 0);
      const took = Date.now() - t0;
      assert.ok(took >= 550 && took < 4000, `exit after ${took} ms (drain_time 100 ms + drain_timeout 500 ms)`);
      const r = await hung;
      assert.ok(r instanceof Error || r.complete === false, 'the hung request looked complete');
      assert.match(p.stderr(), /drain timeout/);
      await waitFor('the origin to see the abort', () => origin.seen('/hang?drain=timeout')[0]!.aborted, 3000);
    } finally {
      await p.stop();
    }
  });

  for (const front of FRONTS) {
    test(`during drain_time the proxy closes a keep-alive connection after the response it marked close (front: ${front})`, async () => {
      const p = await startProxy({ config: config(origin, front), drainTime: '3s' });
      try {
        const c = await RawClient.connect(p.port);
        try {
          c.write('GET /bytes/1 HTTP/1.1\r\nHost: a\r\n\r\n');
          await c.responses(1);
          p.signal('SIGTERM');
          await waitFor('/ready 503', async () => (await p.admin('/ready')).status === 503, 1000);
          c.write('GET /bytes/2 HTTP/1.1\r\nHost: a\r\n\r\n');
          const r = await c.waitClosed(1500);
          assert.equal(r.responses.length, 2);
          assert.equal(header(r.responses[1]!, 'connection')?.toLowerCase(), 'close');
          assert.equal(r.closed, true, 'the connection stayed open after Connection: close');
        } finally {
          c.destroy();
        }
      } finally {
        await p.stop();
      }
    });
  }

  for (const front of FRONTS) {
    test(`steady keep-alive load and SIGTERM (front: ${front}): no request lost, no reset, no 5xx`, { timeout: 30_000 }, async () => {
      const p = await startProxy({ config: config(origin, front), drainTime: '1s', args: ['--drain-timeout', '10s'] });
      // `lost`: a request on a connection the proxy had already answered on, or closed without an answer
      // that was not a reset. `backlog`: a reset of a fresh connection before any byte came back: a
      // connection still in the kernel's accept queue when the listener closed, which the proxy never
      // accepted (reported, not counted as lost; see the file's header).
      const tally = { ok: 0, closeHeaders: 0, non2xx: 0, lost: 0, backlog: 0, refused: 0, connections: 0 };
      const lostDetail: string[] = [];
      let stop = false;
      const loop = async (id: number) => {
        let n = 0;
        const deadline = Date.now() + 20_000;
        while (!stop && Date.now() < deadline) {
          let c: RawClient;
          try {
            c = await RawClient.connect(p.port);
          } catch (err) {
            const code = (err as NodeJS.ErrnoException).code;
            if (code === 'ECONNREFUSED') { tally.refused++; return; }
            // The backlog case (see above) caught before the connect completed: no request was sent.
            if (code === 'ECONNRESET') { tally.backlog++; continue; }
            throw err;
          }
          tally.connections++;
          try {
            for (let i = 0; ; i++) {
              const path = (n++ % 5 === 4) ? `/sleep/30?l=${id}` : `/bytes/100?l=${id}`;
              c.write(`GET ${path} HTTP/1.1\r\nHost: a\r\n\r\n`);
              const r = await c.responses(i + 1, 5000);
              const res = r.responses[i];
              if (res === undefined) {
                if (i === 0 && r.reset && r.raw.length === 0) { tally.backlog++; break; }
                tally.lost++;
                lostDetail.push(`${path} on connection request ${i}: closed=${r.closed} reset=${r.reset}`);
                break;
              }
              if (res.status >= 200 && res.status < 300) tally.ok++;
              else tally.non2xx++;
              if (header(res, 'connection')?.toLowerCase() === 'close') { tally.closeHeaders++; break; }
            }
          } finally {
            c.destroy();
          }
        }
      };
      try {
        const loops = Array.from({ length: 8 }, (_, i) => loop(i));
        await sleep(1500);
        const okBefore = tally.ok;
        assert.ok(okBefore > 50, `only ${okBefore} requests before SIGTERM`);
        p.signal('SIGTERM');
        await waitFor('/ready 503', async () => (await p.admin('/ready').catch(() => ({ status: 503 }))).status === 503, 1000);
        await Promise.race([Promise.all(loops), sleep(15_000)]);
        stop = true;
        await Promise.all(loops);
        assert.equal(await exitWithin(p, 10_000), 0, p.stderr());
        assert.deepEqual(lostDetail, [], `lost requests: ${JSON.stringify(tally)}`);
        assert.equal(tally.non2xx, 0, JSON.stringify(tally));
        assert.ok(tally.ok > okBefore, 'nothing was served during drain_time');
        assert.ok(tally.closeHeaders >= 8, `responses with Connection: close: ${tally.closeHeaders}`);
        assert.equal(tally.refused, 8, 'every loop ended on a refused connect after the listener closed');
        if (tally.backlog > 0) process.stderr.write(`# ${front}: ${tally.backlog} connection(s) reset from the accept queue when the listener closed\n`);
      } finally {
        stop = true;
        await p.stop();
      }
    });
  }

  for (const front of FRONTS) {
    test(`steady autocannon load (16 connections) and SIGTERM (front: ${front}): every request the proxy received is answered 2xx; no 5xx`, { timeout: 30_000 }, async () => {
      const { default: autocannon } = await import('autocannon');
      const p = await startProxy({ config: config(origin, front), drainTime: '1s', args: ['--drain-timeout', '10s'] });
      // One request held open keeps the proxy (and its admin) up after the listener closes, so that the
      // stats can be read once autocannon is done.
      const holder = await RawClient.connect(p.port);
      try {
        holder.write(`GET /hang?autocannon=${front} HTTP/1.1\r\nHost: a\r\n\r\n`);
        await waitFor('the held request', () => origin.seen(`/hang?autocannon=${front}`).length === 1);
        const codes: Record<string, number> = {};
        // (Types: bench/autocannon.d.ts.)
        const r = await new Promise<{ '2xx': number; non2xx: number; timeouts: number }>((resolve, reject) => {
          const inst = autocannon({ url: `${p.url}/bytes/100`, connections: 16, duration: 4 }, (err, res) => (err ? reject(err) : resolve(res)));
          inst.on('reqError', (e: NodeJS.ErrnoException) => { const k = e.code ?? e.message; codes[k] = (codes[k] ?? 0) + 1; });
          setTimeout(() => p.signal('SIGTERM'), 1500);
        });
        const s = await p.stats();
        assert.ok(r['2xx'] > 100, `only ${r['2xx']} 2xx`);
        assert.equal(r.non2xx, 0);
        assert.equal(r.timeouts, 0);
        assert.equal(s.get('http.ingress.downstream_rq_5xx'), 0);
        // The proxy answered every request it read (the held one is the +1): whatever autocannon saw
        // reset (a few per run: a request written as the proxy's FIN for a `Connection: close`
        // response, or a connect caught in the accept queue as the listener closed) never reached it.
        assert.equal(s.get('http.ingress.downstream_rq_total'), r['2xx'] + 1, `autocannon errors: ${JSON.stringify(codes)}`);
        assert.equal(s.get('http.ingress.downstream_rq_2xx'), r['2xx']);
        assert.deepEqual(Object.keys(codes).filter((k) => k !== 'ECONNREFUSED' && k !== 'ECONNRESET' && k !== 'EPIPE'), [], JSON.stringify(codes));
        holder.destroy();
        assert.equal(await exitWithin(p, 10_000), 0);
      } finally {
        holder.destroy();
        await p.stop();
      }
    });
  }
});
