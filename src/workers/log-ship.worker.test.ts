// The log-ship worker on real files: two sinks of one listener receive the same batch, each its own
// rows, formatted once when they share a format (the worker keeps the last batch's lines).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfigText } from '../config/load.js';
import { validateConfig } from '../config/validate.js';
import type { ListenerAccessLogs } from '../telemetry/config.js';
import { AccessLogBuffer, type LoggedRequest } from '../telemetry/plane-telemetry.js';
import type { RecordBatch } from '../telemetry/record.js';
import task, { type ShipTask } from './log-ship.worker.js';

function request(status: number, path: string): LoggedRequest {
  return {
    startEpochMs: 1_700_000_000_000, durationMs: 1, finalStatus: status, requestBytes: 0, bytesSent: 2, upstreamServiceMs: 1,
    method: 'GET', path, query: '', replyFlag: '-', upstreamHost: '127.0.0.1:1', clusterName: 'app', remoteAddress: '127.0.0.1',
    routeName: 'r', credentialFingerprint: null, headers: ['x-request-id', `id-${path}`], responseHeaders: [],
  };
}

/** The access-log config of a one-listener config whose `access_log:` list is `sinks` (YAML, 6 spaces in). */
function accessLogs(sinks: string): ListenerAccessLogs {
  const { raw, locate } = parseConfigText(`listeners:
  - name: in
    port: 8000
    access_log:
${sinks}
    routes:
      - match: { prefix: / }
        cluster: app
clusters:
  - name: app
    endpoints: [http://127.0.0.1:1]
`, 'x.yaml');
  return validateConfig(raw, locate, 'x.yaml').listeners[0]!.access_log!;
}

test('two file sinks with the same format and different status filters get their own rows, batch after batch', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pillion-log-ship-'));
  try {
    const all = join(dir, 'all.log');
    const errors = join(dir, 'errors.log');
    const cfg = accessLogs(`      - path: ${all}
      - path: ${errors}
        filter: { status_code: { min: 500 } }`);
    const batches: RecordBatch[] = [];
    const buf = new AccessLogBuffer('in', cfg, (b) => batches.push(b));
    for (const [status, path] of [[200, '/a'], [503, '/b'], [200, '/c']] as const) buf.append(request(status, path));
    buf.flush();
    buf.append(request(500, '/d'));
    buf.flush();
    assert.equal(batches.length, 2);
    assert.notEqual(batches[0]!.id, batches[1]!.id);
    for (const batch of batches) {
      for (let bit = 0; bit < cfg.sinks.length; bit++) {
        // Each sink's task carries its own copy of the batch, as postMessage would give it.
        const t: ShipTask = { op: 'ship', sink: cfg.sinks[bit]!, bit, batch: structuredClone(batch), spool: null, spoolOnly: false };
        await task(t);
      }
    }
    const paths = (f: string) => readFileSync(f, 'utf8').trim().split('\n').map((l) => /"GET (\S+) /.exec(l)![1]);
    assert.deepEqual(paths(all), ['/a', '/b', '/c', '/d']);
    assert.deepEqual(paths(errors), ['/b', '/d']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('batches larger than a formatting chunk, partial and full, a query and non-ASCII: the same lines as the string formatter', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pillion-log-ship-'));
  try {
    const text = join(dir, 'text.log');
    const json = join(dir, 'json.log');
    const cfg = accessLogs(`      - path: ${text}
        batch: { max_records: 700 }
      - path: ${json}
        json_format: { path: "%REQ(:PATH)%", status: "%RESPONSE_CODE%", ua: "%REQ(USER-AGENT)%" }
        filter: { status_code: { min: 500 } }`);
    const batches: RecordBatch[] = [];
    const buf = new AccessLogBuffer('in', cfg, (b) => batches.push(b));
    const expected: { path: string; status: number; ua: string }[] = [];
    // 1000 rows: one full batch of 700 (flushed by append), then 300 flushed by hand (max_delay's way),
    // formatted 256 at a time in between.
    for (let i = 0; i < 1000; i++) {
      const r = { ...request(i % 7 === 0 ? 503 : 200, `/p${i}`), query: i % 3 === 0 ? `q=${i}` : '', startEpochMs: 1_700_000_000_000 + i * 7.5,
        headers: ['user-agent', i % 5 === 0 ? `agent-é-${i}-\u{1F600}` : `agent-${i}`, 'x-request-id', `id-${i}`] };
      buf.append(r);
      // Let the queued formatting run now and then, between appends and across the full batch.
      if (i % 97 === 0) await new Promise((res) => setImmediate(res));
      expected.push({ path: r.query === '' ? r.path : `${r.path}?${r.query}`, status: r.finalStatus, ua: r.headers[1]! });
    }
    buf.flush();
    assert.deepEqual(batches.map((b) => b.rows), [700, 300]);
    for (const batch of batches) {
      for (let bit = 0; bit < cfg.sinks.length; bit++) {
        await task({ op: 'ship', sink: cfg.sinks[bit]!, bit, batch: structuredClone(batch), spool: null, spoolOnly: false });
      }
    }
    const lines = readFileSync(text, 'utf8').split('\n');
    assert.equal(lines.pop(), '');
    assert.equal(lines.length, 1000);
    lines.forEach((l, i) => {
      const e = expected[i]!;
      const ms = 1_700_000_000_000 + i * 7.5;
      assert.equal(l, `[${new Date(ms).toISOString()}] "GET ${e.path} HTTP/1.1" ${e.status} - 0 2 1 1 "-" "${e.ua}" "id-${i}" "-" "127.0.0.1:1"`);
    });
    const docs = readFileSync(json, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as unknown);
    assert.deepEqual(docs, expected.filter((e) => e.status >= 500));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
