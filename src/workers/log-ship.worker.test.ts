// The log-ship worker on real files: two sinks of one listener receive the same batch, each its own
// rows, formatted once when they share a format (the worker keeps the last batch's lines).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfigText } from '../config/load.js';
import { validateConfig } from '../config/validate.js';
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

test('two file sinks with the same format and different status filters get their own rows, batch after batch', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pillion-log-ship-'));
  try {
    const all = join(dir, 'all.log');
    const errors = join(dir, 'errors.log');
    const { raw, locate } = parseConfigText(`listeners:
  - name: in
    port: 8000
    access_log:
      - path: ${all}
      - path: ${errors}
        filter: { status_code: { min: 500 } }
    routes:
      - match: { prefix: / }
        cluster: app
clusters:
  - name: app
    endpoints: [http://127.0.0.1:1]
`, 'x.yaml');
    const cfg = validateConfig(raw, locate, 'x.yaml').listeners[0]!.access_log!;
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
