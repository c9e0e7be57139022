// Large transfers through the real `pillion proxy` process: 1 GiB with the splice pump, 256 MiB with
// the JavaScript fallback (PILLION_NO_NATIVE=1). The bytes must arrive intact (sha256 on both ends),
// and the proxy's peak RSS (VmHWM) must stay bounded: splice never brings the bytes into JavaScript,
// and stream piping respects backpressure.
import { strict as assert } from 'node:assert';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { test, type TestContext } from 'node:test';
import { spliceAvailable } from '../../src/l4/native.js';
import { startProxy } from '../helpers/proxy.js';
import { closeServer, l4Config, listen, tcpPorts } from './helpers.js';

const MiB = 1024 * 1024;

function peakRss(pid: number): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m![1]) * 1024;
}

async function transfer(t: TestContext, totalMiB: number, env: NodeJS.ProcessEnv, expectPath: string): Promise<void> {
  const sink = createServer((s) => {
    const h = createHash('sha256');
    let n = 0;
    s.on('data', (d: Buffer) => { h.update(d); n += d.length; });
    s.on('end', () => s.end(`${n} ${h.digest('hex')}`));
  });
  const sinkPort = await listen(sink);
  const p = await startProxy({
    config: l4Config(`  - { name: bulk, address: 127.0.0.1, port: 0, cluster: sink }`, `  - { name: sink, endpoints: ["127.0.0.1:${sinkPort}"] }`),
    env,
  });
  try {
    const port = tcpPorts(p).get('bulk');
    assert.ok(port, `no tcp listener port in:\n${p.stderr()}`);
    if (expectPath === 'stream') assert.match(p.stderr(), /native addon disabled by PILLION_NO_NATIVE: L4 uses stream piping/);
    else assert.match(p.stderr(), /native addon loaded: splice\(2\) fast path on/);
    const rssBefore = peakRss(p.pid);
    const block = randomBytes(MiB);
    const expected = createHash('sha256');
    const started = process.hrtime.bigint();
    const answer = await new Promise<string>((resolve, reject) => {
      const c = connect({ port, host: '127.0.0.1', allowHalfOpen: true });
      let out = '';
      let sent = 0;
      const pump = () => {
        while (sent < totalMiB) {
          expected.update(block);
          sent++;
          if (!c.write(block)) return void c.once('drain', pump);
        }
        c.end();
      };
      c.on('connect', pump);
      c.on('data', (d: Buffer) => { out += d.toString(); });
      c.on('end', () => resolve(out));
      c.on('error', reject);
    });
    const secs = Number(process.hrtime.bigint() - started) / 1e9;
    const [n, digest] = answer.split(' ');
    assert.equal(Number(n), totalMiB * MiB);
    assert.equal(digest, expected.digest('hex'));
    const rssPeak = peakRss(p.pid);
    t.diagnostic(`${expectPath}: ${totalMiB} MiB in ${secs.toFixed(2)} s (${(totalMiB / secs).toFixed(0)} MiB/s incl. hashing); proxy peak RSS ${(rssBefore / MiB).toFixed(0)} -> ${(rssPeak / MiB).toFixed(0)} MiB`);
    // Splice: the bytes never enter the process's memory. Stream piping: bounded by backpressure, plus
    // garbage chunks the GC has not collected yet (measured 35-60 MiB for 256 MiB on this machine).
    const bound = expectPath === 'splice' ? 16 * MiB : 100 * MiB;
    assert.ok(rssPeak - rssBefore < bound, `proxy peak RSS grew by ${((rssPeak - rssBefore) / MiB).toFixed(0)} MiB (bound ${bound / MiB} MiB)`);
    await p.waitStat('tcp.bulk.downstream_cx_rx_bytes_total', totalMiB * MiB);
    assert.equal(await p.stat(`pillion.tcp.bulk.${expectPath === 'splice' ? 'splice_total' : 'stream_pipe_total'}`), 1);
  } catch (err) {
    throw new Error(`${(err as Error).message}\nproxy exit: ${p.exitCode ?? 'running'}; stderr:\n${p.stderr()}`);
  } finally {
    await p.stop();
    await closeServer(sink);
  }
}

test('1 GiB through the splice pump: intact, bounded RSS', { skip: spliceAvailable() ? false : 'native addon not built', timeout: 60_000 }, async (t) => {
  await transfer(t, 1024, {}, 'splice');
});

test('256 MiB through the JavaScript fallback (PILLION_NO_NATIVE=1): intact, bounded RSS, says so at start', { timeout: 60_000 }, async (t) => {
  await transfer(t, 256, { PILLION_NO_NATIVE: '1' }, 'stream');
});
