// A listener's access-log buffer lends its shared memory with each batch and reuses it once the
// shipper gives it back: a batch in flight is never written over, and a steady run allocates no new
// memory per batch. Real files and a real log-ship pool for the shipper's side.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfigText } from '../config/load.js';
import { validateConfig } from '../config/validate.js';
import { yamlConfig } from '../../test/helpers/proxy.js';
import type { Config } from '../config/types.js';
import { giveBack } from './batch-memory.js';
import { AccessLogBuffer, type LoggedRequest } from './plane-telemetry.js';
import { NUM_COLS, type RecordBatch } from './record.js';
import { Shipper } from './shipper.js';

function request(path: string): LoggedRequest {
  return {
    startEpochMs: 1_700_000_000_000, durationMs: 1, finalStatus: 200, requestBytes: 0, bytesSent: 2, upstreamServiceMs: 1,
    method: 'GET', path, query: '', replyFlag: '-', upstreamHost: '127.0.0.1:1', clusterName: 'app', remoteAddress: '127.0.0.1',
    routeName: 'r', credentialFingerprint: null, headers: [], responseHeaders: [],
  };
}

function config(file: string, maxRecords: number): Config {
  const yaml = yamlConfig({
    listenerName: 'in',
    listenerExtra: `access_log:\n  - path: ${file}\n    format: "%REQ(:PATH)%"\n    batch: { max_records: ${maxRecords} }`,
    routes: '- match: { prefix: / }\n  cluster: app',
    clusters: '- name: app\n  endpoints: [http://127.0.0.1:1]',
  });
  const { raw, locate } = parseConfigText(yaml, 'x.yaml');
  return validateConfig(raw, locate, 'x.yaml');
}

const text = (b: RecordBatch) => Buffer.from(b.texts[0]!.bytes).toString();

test('a lent batch keeps its bytes while the next ones are written; given back, its memory is reused', () => {
  const batches: RecordBatch[] = [];
  const buf = new AccessLogBuffer('in', config('/dev/null', 2).listeners[0]!.access_log!, (b) => batches.push(b));
  buf.append(request('/a'));
  buf.append(request('/b'));
  buf.append(request('/c'));
  buf.append(request('/d'));
  assert.equal(batches.length, 2);
  const [one, two] = batches as [RecordBatch, RecordBatch];
  assert.equal(text(one), '/a\n/b\n');
  assert.equal(text(two), '/c\n/d\n');
  assert.ok(one.texts[0]!.bytes.buffer !== two.texts[0]!.bytes.buffer, 'a lent set is not written again');
  assert.ok(one.nums.buffer !== two.nums.buffer);
  assert.equal(Atomics.load(one.lease!, 0), 1);

  giveBack(one.lease);
  buf.append(request('/e'));
  buf.flush(); // a partial batch (max_delay), in the set taken when `two` was lent
  buf.append(request('/f'));
  buf.flush();
  const [three, four] = batches.slice(2) as [RecordBatch, RecordBatch];
  // (assert.ok on identity: a failing deepEqual would print the whole buffer)
  assert.ok(four.texts[0]!.bytes.buffer === one.texts[0]!.bytes.buffer, 'the given-back set is used again');
  assert.ok(four.nums.buffer === one.nums.buffer);
  assert.ok(three.texts[0]!.bytes.buffer !== two.texts[0]!.bytes.buffer);
  assert.equal(three.rows, 1);
  assert.equal(three.nums.length, NUM_COLS, 'a partial batch shows its rows only');
  assert.equal(text(three), '/e\n');
  assert.equal(text(four), '/f\n');
  assert.equal(text(two), '/c\n/d\n', 'the batches still out are untouched');
});

test('the shipper gives a batch\'s memory back once its sink has written it', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pillion-batch-memory-'));
  const file = join(dir, 'access.log');
  const stats = new Float64Array(8);
  const shipper = new Shipper({ stats, written: 0, shipped: 1, spooled: 2, dropped: 3, batchesFailed: 4, retries: 5 });
  try {
    const cfg = config(file, 3);
    shipper.configure(cfg);
    const lent: Int32Array[] = [];
    const capture = (b: RecordBatch) => {
      lent.push(b.lease!);
      shipper.submit(b);
    };
    const buf = new AccessLogBuffer('in', cfg.listeners[0]!.access_log!, capture);
    for (let i = 0; i < 9; i++) buf.append(request(`/${i}`));
    assert.equal(lent.length, 3);
    await shipper.close(5000);
    assert.equal(stats[0], 9);
    assert.deepEqual(lent.map((l) => Atomics.load(l, 0)), [0, 0, 0], 'every batch given back');
    assert.equal(readFileSync(file, 'utf8'), Array.from({ length: 9 }, (_, i) => `/${i}\n`).join(''));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
