import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { gunzipSync } from 'node:zlib';
import type { HttpSink } from '../telemetry/config.js';
import { payload } from '../telemetry/sinks.js';
import { decodeLogBatch, LogBatchBuilder, logLines, ndjsonLine, type LogSource } from './wire.js';

const pod: LogSource = { fields: '"file":"/f.log","namespace":"ns"', labels: { namespace: 'ns', pod: 'p', container: 'c' } };
const plain: LogSource = { fields: '"file":"/x.log"', labels: { filename: '/x.log' } };
const T = '2016-10-06T00:17:09.669794202Z';
const READ_MS = Date.parse('2026-01-02T03:04:05.678Z');

function batch(): LogBatchBuilder {
  const b = new LogBatchBuilder();
  b.add(pod, T, 1, 'stdout', 'a "q"');
  b.add(pod, T, 1, 'stderr', 'b');
  b.add(plain, null, READ_MS, null, 'c\u0001\n\u00e9');
  b.add(pod, T, 1, 'stdout', '');
  return b;
}

function withBytes(): LogBatchBuilder {
  const b = new LogBatchBuilder();
  const read = Buffer.from('xx\u00e9t\u00e9\nyy');
  b.addBytes(plain, READ_MS, read, 2, 7);
  b.add(pod, T, 1, 'stderr', 'z');
  for (let i = 0; i < 3000; i++) b.addBytes(plain, READ_MS, read, 8, 10);
  return b;
}

const http = (preset: HttpSink['preset'], gzip = false): HttpSink => ({
  url: 'http://127.0.0.1:1/', preset, headers: {}, gzip, labels: { job: 'pillion' }, index: 'logs', timeout_ms: 1000,
});

describe('log batches on the wire (through the access-log sinks\' payload())', () => {
  it('round-trips every record through the columns, any character in a message, the read time as ISO 8601', () => {
    const b = batch();
    assert.equal(b.records, 4);
    assert.equal(b.bytes, 5 + 1 + 5 + 0 + 4 * 64, 'UTF-8 bytes of the messages, plus 64 a record');
    const got = decodeLogBatch(structuredClone(b.build()));
    assert.deepEqual(got.map((r) => [r.source.fields, r.time, r.stream, r.message]), [
      [pod.fields, T, 'stdout', 'a "q"'],
      [pod.fields, T, 'stderr', 'b'],
      [plain.fields, '2026-01-02T03:04:05.678Z', null, 'c\u0001\n\u00e9'],
      [pod.fields, T, 'stdout', ''],
    ]);
  });

  it('plain lines go in as bytes, mixed with string records; the buffers grow', () => {
    const got = decodeLogBatch(structuredClone(withBytes().build()));
    assert.equal(got.length, 3002);
    assert.deepEqual(got.slice(0, 3).map((r) => [r.time, r.stream, r.message]), [
      ['2026-01-02T03:04:05.678Z', null, '\u00e9t\u00e9'],
      [T, 'stderr', 'z'],
      ['2026-01-02T03:04:05.678Z', null, 'yy'],
    ]);
    assert.ok(got.slice(2).every((r) => r.message === 'yy' && r.source.fields === plain.fields));
  });

  it('NDJSON as bytes is ndjsonLine() of each record: quotes, backslashes, controls, DEL, non-ASCII, bad UTF-8, odd times', () => {
    const b = new LogBatchBuilder();
    const msgs = ['plain text 123', 'a "q" b', 'back\\slash', 'tab\there', '\u007f del', '\u00e9\u4e2d\ud83d\ude00', '', '\u0000\u001f'];
    for (const m of msgs) b.add(pod, T, 1, 'stdout', m);
    b.add(plain, 'not "a" time', 1, 'weird"stream', 'x');
    const raw = Buffer.from([0x61, 0xff, 0x62, 0x0a, 0x63, 0xc3]);
    b.addBytes(plain, READ_MS, raw, 0, 3);
    b.addBytes(plain, READ_MS, raw, 4, 6);
    const batch = structuredClone(b.build());
    const want = decodeLogBatch(batch).map((r) => ndjsonLine(r.source, r.time, r.stream, r.message) + '\n').join('');
    const got = logLines(batch).text();
    assert.equal(got.toString(), want);
    for (const l of want.trimEnd().split('\n')) JSON.parse(l);
    assert.equal(JSON.parse(want.split('\n')[9]!).message, 'a\ufffdb');
  });

  it('NDJSON: one JSON object per line with the file\'s members', () => {
    const { body, type } = payload(http('ndjson', true), logLines(batch().build()));
    assert.equal(type, 'application/x-ndjson');
    const docs = gunzipSync(body).toString().trimEnd().split('\n').map((l) => JSON.parse(l));
    assert.deepEqual(docs[0], { time: T, file: '/f.log', namespace: 'ns', stream: 'stdout', message: 'a "q"' });
    assert.deepEqual(docs[2], { time: '2026-01-02T03:04:05.678Z', file: '/x.log', message: 'c\u0001\n\u00e9' });
    assert.equal(docs.length, 4);
  });

  it('Loki push: one stream per file label set and stream, the sink\'s labels merged, nanosecond strings', () => {
    const { body, type } = payload(http('loki'), logLines(batch().build()));
    assert.equal(type, 'application/json');
    assert.deepEqual(JSON.parse(body.toString()), {
      streams: [
        { stream: { job: 'pillion', ...pod.labels, stream: 'stdout' }, values: [['1475713029669794202', 'a "q"'], ['1475713029669794202', '']] },
        { stream: { job: 'pillion', ...pod.labels, stream: 'stderr' }, values: [['1475713029669794202', 'b']] },
        { stream: { job: 'pillion', filename: '/x.log' }, values: [[`${READ_MS}000000`, 'c\u0001\n\u00e9']] },
      ],
    });
  });

  it('Elasticsearch bulk: action line, then the NDJSON document (not wrapped again)', () => {
    const lines = payload(http('elasticsearch'), logLines(batch().build())).body.toString().split('\n');
    assert.deepEqual(JSON.parse(lines[0]!), { index: { _index: 'logs' } });
    assert.deepEqual(JSON.parse(lines[1]!), { time: T, file: '/f.log', namespace: 'ns', stream: 'stdout', message: 'a "q"' });
    assert.equal(lines.length, 9);
    assert.equal(lines[8], '');
  });
});
