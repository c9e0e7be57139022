// The HTTP presets end to end: Loki push and Elasticsearch bulk bodies on the wire, a bulk answer with
// item errors retried, a 400 dropped and counted (not retried forever), and the file sink.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { Collector } from '../../src/logs/collector.js';
import { parseFlags } from '../../src/logs/flags.js';
import { createSink } from '../../src/logs/sink.js';
import { startHttpSink, tempDir, testArgs, waitFor } from './helpers.js';

const tmp = tempDir('sinks');
after(tmp.cleanup);
let n = 0;

async function run(extra: string[], lines: string[], fn: (c: Collector) => Promise<void>): Promise<void> {
  const dir = join(tmp.dir, `c${++n}`);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'app.log'), lines.map((l) => l + '\n').join(''));
  const o = parseFlags(testArgs(join(dir, 'state'), ['--path', join(dir, '*.log'), ...extra]));
  const c = new Collector(o, createSink(o.sink));
  await c.start();
  try {
    await fn(c);
  } finally {
    await c.stop(500);
  }
}

describe('sinks end to end', { timeout: 30_000 }, () => {
  it('Loki push: JSON body, stream labels, nanosecond timestamps', { timeout: 40_000 }, async () => {
    const http = await startHttpSink(true);
    try {
      await run(['--sink', http.url, '--preset', 'loki', '--label', 'cluster=c1'], ['l1', 'l2'], async () => {
        await waitFor('a push', () => http.bodies.length >= 1);
        const b = http.bodies[0]!;
        assert.equal(b.type, 'application/json');
        assert.equal(b.encoding, 'gzip');
        const body = JSON.parse(b.text) as { streams: { stream: Record<string, string>; values: [string, string][] }[] };
        assert.equal(body.streams.length, 1);
        assert.deepEqual(body.streams[0]!.stream, { job: 'pillion', cluster: 'c1', filename: join(tmp.dir, `c${n}`, 'app.log') });
        assert.deepEqual(body.streams[0]!.values.map((v) => v[1]), ['l1', 'l2']);
        assert.match(body.streams[0]!.values[0]![0], /^\d{19}$/);
      });
    } finally {
      await http.close();
    }
  });

  it('Elasticsearch bulk: an answer with item errors is retried; a 400 is dropped and counted', { timeout: 40_000 }, async () => {
    const bodies: string[] = [];
    let answer = '{"took":1,"errors":true,"items":[]}';
    let status = 200;
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (d: Buffer) => chunks.push(d));
      req.on('end', () => {
        bodies.push(gunzipSync(Buffer.concat(chunks)).toString());
        res.writeHead(status, { 'content-type': 'application/json' }).end(answer);
        answer = '{"took":1,"errors":false,"items":[]}';
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/_bulk`;
    try {
      await run(['--sink', url, '--preset', 'elasticsearch', '--index', 'logs-x'], ['e1'], async (c) => {
        await waitFor('retried and acknowledged', () => c.stats.batchesShipped === 1);
        assert.equal(c.stats.batchesFailed, 1);
        assert.equal(bodies.length, 2);
        const lines = bodies[1]!.split('\n');
        assert.deepEqual(JSON.parse(lines[0]!), { index: { _index: 'logs-x' } });
        assert.equal((JSON.parse(lines[1]!) as { message: string }).message, 'e1');
      });
      status = 400;
      answer = '{"error":"mapper_parsing_exception"}';
      await run(['--sink', url, '--preset', 'elasticsearch'], ['bad'], async (c) => {
        await waitFor('rejected', () => c.stats.batchesRejected === 1);
        assert.equal(c.stats.recordsRejected, 1);
        assert.equal(c.gauges().lagBytes, 0); // dropped, so the checkpoint moved past it
      });
    } finally {
      server.close();
    }
  });

  it('file sink: NDJSON appended', { timeout: 40_000 }, async () => {
    const out = join(tmp.dir, 'out', 'logs.ndjson');
    await run(['--sink', `file:${out}`], ['f1', 'f2'], async (c) => {
      await waitFor('2 records', () => c.stats.recordsShipped >= 2);
      const recs = readFileSync(out, 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l) as { message: string });
      assert.deepEqual(recs.map((r) => r.message), ['f1', 'f2']);
    });
  });
});
