// tcp_proxy behaviour on real sockets, once with the native splice pump and once with stream piping
// (splice: false), which must behave the same: half-close, idle timeout, connection limit, no route,
// connect failure, byte counts and the access-log record. Stats are the oracle.
import { strict as assert } from 'node:assert';
import { readdirSync, readlinkSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { spliceAvailable } from '../../src/l4/native.js';
import { waitFor } from '../helpers/util.js';
import { cluster, closeServer, echoServer, exchange, L4Harness, listen, listenerConfig } from './helpers.js';

for (const splice of [true, false]) {
  const mode = splice ? 'splice' : 'stream';
  describe(`tcp_proxy (${mode})`, { skip: splice && !spliceAvailable() ? 'native addon not built: splice path not testable here' : false }, () => {
    const echo = echoServer();
    let echoPort = 0;
    before(async () => { echoPort = await listen(echo); });
    after(() => closeServer(echo));

    test('bytes both ways, counted, one access-log record', async () => {
      const h = new L4Harness();
      const port = await h.start(listenerConfig({ cluster: 'echo', splice }), [cluster('echo', echoPort)]);
      const payload = Buffer.alloc(300_000, 7);
      const r = await exchange(port, (s) => s.end(payload));
      assert.equal(r.how, 'end');
      assert.equal(r.data.length, payload.length);
      await waitFor('the record', () => h.records.length === 1);
      assert.equal(h.stat('tcp.test.downstream_cx_total'), 1);
      assert.equal(h.stat('tcp.test.downstream_cx_rx_bytes_total'), payload.length);
      assert.equal(h.stat('tcp.test.downstream_cx_tx_bytes_total'), payload.length);
      assert.equal(h.stat('tcp.test.downstream_cx_active'), 0);
      assert.equal(h.stat(`pillion.tcp.test.${splice ? 'splice_total' : 'stream_pipe_total'}`), 1);
      assert.equal(h.stat('cluster.echo.upstream_cx_total'), 1);
      const rec = h.records[0]!;
      assert.equal(rec.path, mode);
      assert.equal(rec.upstream_cluster, 'echo');
      assert.equal(rec.upstream_host, `127.0.0.1:${echoPort}`);
      assert.equal(rec.bytes_received, payload.length);
      assert.equal(rec.bytes_sent, payload.length);
      assert.equal(rec.end_reason, 'done');
      h.close();
    });

    test('half-close: the client ends its side and still gets the whole answer', async () => {
      // The upstream answers only after the client's FIN, then closes: the proxy must pass the FIN
      // on without closing the other direction.
      const up = createServer({ allowHalfOpen: true }, (s) => {
        let got = 0;
        s.on('data', (d: Buffer) => { got += d.length; });
        s.on('end', () => setTimeout(() => s.end(`got ${got} bytes after your FIN`), 50));
      });
      const upPort = await listen(up);
      const h = new L4Harness();
      const port = await h.start(listenerConfig({ cluster: 'up', splice }), [cluster('up', upPort)]);
      const r = await exchange(port, (s) => s.end('x'.repeat(1000)));
      assert.equal(r.data.toString(), 'got 1000 bytes after your FIN');
      assert.equal(r.how, 'end');
      await waitFor('the record', () => h.records.length === 1);
      assert.equal(h.records[0]!.end_reason, 'done');
      h.close();
      await closeServer(up);
    });

    test('half-close the other way: the upstream ends first, the client keeps sending', async () => {
      const received: string[] = [];
      const up = createServer({ allowHalfOpen: true }, (s) => {
        s.end('banner\n'); // FIN right after the banner
        s.on('data', (d: Buffer) => received.push(d.toString()));
      });
      const upPort = await listen(up);
      const h = new L4Harness();
      const port = await h.start(listenerConfig({ cluster: 'up', splice }), [cluster('up', upPort)]);
      const r = await exchange(port, (s) => {
        s.once('data', () => setTimeout(() => s.end('late data'), 50));
      }, 5000, false);
      assert.equal(r.data.toString(), 'banner\n');
      await waitFor('late data upstream', () => received.join('') === 'late data');
      h.close();
      await closeServer(up);
    });

    test('upstream_flush: the client closes while its bytes still wait for a slow upstream; all arrive', async () => {
      let got = 0;
      const up = createServer({ allowHalfOpen: true }, (s) => {
        s.pause(); // not reading for a while: the proxy's buffer toward the upstream fills up
        setTimeout(() => s.resume(), 300);
        s.on('data', (d: Buffer) => { got += d.length; });
        s.on('end', () => s.end());
      });
      const upPort = await listen(up);
      const h = new L4Harness();
      const port = await h.start(listenerConfig({ cluster: 'up', splice }), [cluster('up', upPort)]);
      const size = 4 * 1024 * 1024;
      const r = await exchange(port, (s) => s.end(Buffer.alloc(size, 3)), 10_000);
      assert.equal(r.how, 'end');
      await waitFor('the record', () => h.records.length === 1);
      assert.equal(got, size, 'everything reached the upstream');
      // The pump sees the client's FIN (EPOLLRDHUP) while its pipe still holds bytes. Stream piping
      // reads the FIN only after the last byte (backpressure), so it can count a flush only when
      // node's own write buffer is not empty at that moment: not deterministic here.
      if (splice) assert.equal(h.stat('tcp.test.upstream_flush_total'), 1);
      h.close();
      await closeServer(up);
    });

    test('idle timeout closes both sides and counts idle_timeout', async () => {
      const upSockets: Socket[] = [];
      const up = createServer((s) => { upSockets.push(s); s.on('error', () => {}); s.resume(); });
      const upPort = await listen(up);
      const h = new L4Harness();
      const port = await h.start(listenerConfig({ cluster: 'up', splice, idle_timeout_ms: 200 }), [cluster('up', upPort)]);
      const started = Date.now();
      const r = await exchange(port, (s) => s.write('hello'), 5000);
      const took = Date.now() - started;
      assert.ok(took >= 180 && took < 2000, `closed after ${took} ms`);
      assert.equal(r.data.length, 0);
      await waitFor('idle_timeout stat', () => h.stat('tcp.test.idle_timeout') === 1);
      await waitFor('upstream closed', () => upSockets.length === 1 && upSockets[0]!.destroyed);
      assert.equal(h.records[0]!.end_reason, 'idle_timeout');
      h.close();
      await closeServer(up);
    });

    test('max_connections: the connection over the limit is closed at once', async () => {
      const up = createServer((s) => { s.on('error', () => {}); s.resume(); });
      const upPort = await listen(up);
      const h = new L4Harness();
      const port = await h.start(listenerConfig({ cluster: 'up', splice, max_connections: 2 }), [cluster('up', upPort)]);
      const held: Promise<unknown>[] = [];
      const sockets: Socket[] = [];
      for (let i = 0; i < 2; i++) held.push(exchange(port, (s) => { sockets.push(s); s.write('hi'); }, 10_000));
      await waitFor('two active', () => h.stat('tcp.test.downstream_cx_active') === 2);
      const third = await exchange(port, () => {});
      assert.match(third.how, /error: ECONNRESET|end|close/);
      assert.equal(h.stat('tcp.test.downstream_cx_overflow'), 1);
      assert.equal(h.stat('tcp.test.downstream_cx_total'), 3);
      assert.equal(h.records.find((x) => x.end_reason === 'overflow')?.response_flags, 'UO');
      for (const s of sockets) s.destroy();
      await Promise.all(held);
      await waitFor('none active', () => h.stat('tcp.test.downstream_cx_active') === 0);
      h.close();
      await closeServer(up);
    });

    test('upstream refuses: downstream closed, upstream_cx_connect_fail, flag UF', async () => {
      const dead = createServer();
      const deadPort = await listen(dead);
      await closeServer(dead); // nothing listens there now
      const h = new L4Harness();
      const port = await h.start(listenerConfig({ cluster: 'dead', splice }), [cluster('dead', deadPort)]);
      const r = await exchange(port, (s) => s.write('hello'));
      assert.equal(r.data.length, 0);
      await waitFor('the record', () => h.records.length === 1);
      assert.equal(h.stat('cluster.dead.upstream_cx_connect_fail'), 1);
      assert.equal(h.records[0]!.response_flags, 'UF');
      assert.equal(h.stat('tcp.test.downstream_cx_active'), 0);
      h.close();
    });

    test('an upstream reset is passed on to the client as a reset', async () => {
      const up = createServer((s) => {
        s.on('error', () => {});
        s.once('data', () => s.resetAndDestroy());
      });
      const upPort = await listen(up);
      const h = new L4Harness();
      const port = await h.start(listenerConfig({ cluster: 'up', splice }), [cluster('up', upPort)]);
      const r = await exchange(port, (s) => s.write('boom'));
      assert.equal(r.how, 'error: ECONNRESET');
      await waitFor('the record', () => h.records.length === 1);
      assert.equal(h.records[0]!.end_reason, 'error');
      h.close();
      await closeServer(up);
    });
  });
}

test('spliced connections count their bytes while they run, not only at the end', { skip: spliceAvailable() ? false : 'no native addon' }, async () => {
  const echo = echoServer();
  const echoPort = await listen(echo);
  const h = new L4Harness();
  const port = await h.start(listenerConfig({ cluster: 'echo' }), [cluster('echo', echoPort)]);
  let sock: Socket | null = null;
  const pending = exchange(port, (s) => { sock = s; s.write(Buffer.alloc(100_000, 1)); }, 10_000);
  await waitFor('rx counted while open', () => h.stat('tcp.test.downstream_cx_rx_bytes_total') === 100_000, 3000);
  assert.equal(h.stat('tcp.test.downstream_cx_tx_bytes_total'), 100_000);
  assert.equal(h.stat('tcp.test.downstream_cx_active'), 1, 'still open');
  sock!.end(Buffer.alloc(5, 2));
  await pending;
  await waitFor('the record', () => h.records.length === 1);
  assert.equal(h.stat('tcp.test.downstream_cx_rx_bytes_total'), 100_005, 'the rest at the end, nothing twice');
  assert.equal(h.stat('tcp.test.downstream_cx_tx_bytes_total'), 100_005);
  assert.equal(h.records[0]!.bytes_received, 100_005);
  h.close();
  await closeServer(echo);
});

test('close() (end of a drain) resets connections still open, spliced ones included', async () => {
  const up = createServer((s) => { s.on('error', () => {}); });
  const upPort = await listen(up);
  const h = new L4Harness();
  const port = await h.start(listenerConfig({ cluster: 'up' }), [cluster('up', upPort)]);
  const pending = exchange(port, (s) => s.write('hi'));
  await waitFor('active', () => h.stat('tcp.test.downstream_cx_active') === 1);
  await new Promise((r) => setTimeout(r, 50)); // let it reach the pump
  h.listener.close();
  const r = await pending;
  assert.match(r.how, /error: ECONNRESET|end/);
  await waitFor('none active', () => h.stat('tcp.test.downstream_cx_active') === 0);
  assert.equal(h.records[0]!.end_reason, 'cancel');
  h.close();
  await closeServer(up);
});

test('idle spliced connections hold no pipes (pipes are pooled, used only while bytes are in flight)', { skip: spliceAvailable() ? false : 'no native addon' }, async () => {
  const pipes = () => readdirSync('/proc/self/fd').filter((f) => {
    try {
      return readlinkSync(`/proc/self/fd/${f}`).startsWith('pipe:');
    } catch (err) {
      return (err as NodeJS.ErrnoException).code !== 'ENOENT' && false; // an fd closed while we looked
    }
  }).length;
  const echo = echoServer();
  const ep = await listen(echo);
  const h = new L4Harness();
  const port = await h.start(listenerConfig({ cluster: 'echo' }), [cluster('echo', ep)]);
  const before = pipes();
  const open: Socket[] = [];
  const pending: Promise<unknown>[] = [];
  for (let i = 0; i < 100; i++) {
    let echoed!: () => void;
    const seen = new Promise<void>((r) => { echoed = r; });
    pending.push(exchange(port, (s) => { open.push(s); s.write('hi'); s.once('data', () => echoed()); }, 15_000));
    await seen;
  }
  await waitFor('100 spliced', () => h.stat('pillion.tcp.test.splice_total') === 100);
  const during = pipes() - before;
  // Without pooling: 100 connections x 2 directions x 2 fds = 400.
  assert.ok(during <= 2 * 64, `pipe fds held by 100 idle spliced connections: ${during}`);
  for (const s of open) s.end();
  await Promise.all(pending);
  h.close();
  await closeServer(echo);
});
