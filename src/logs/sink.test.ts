import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { elasticsearchBody, lokiBody, ndjson, type LogRecord } from './sink.js';

const labels = { namespace: 'ns', pod: 'p', container: 'c' };
const rec = (message: string, stream: string | null): LogRecord => ({
  fields: '"file":"/f.log","namespace":"ns"', labels, time: '2016-10-06T00:17:09.669794202Z', readMs: 1, stream, message,
});

describe('sink bodies (the access-log wire formats)', () => {
  it('NDJSON: one JSON object per line', () => {
    const text = ndjson([rec('a "q"', 'stdout'), rec('b', null)]);
    assert.deepEqual(text.trimEnd().split('\n').map((l) => JSON.parse(l)), [
      { time: '2016-10-06T00:17:09.669794202Z', file: '/f.log', namespace: 'ns', stream: 'stdout', message: 'a "q"' },
      { time: '2016-10-06T00:17:09.669794202Z', file: '/f.log', namespace: 'ns', message: 'b' },
    ]);
  });

  it('Loki push: one stream per label set and stream, nanosecond strings', () => {
    const body = JSON.parse(lokiBody([rec('a', 'stdout'), rec('b', 'stderr'), rec('c', 'stdout')], { job: 'pillion' }));
    assert.deepEqual(body, {
      streams: [
        { stream: { job: 'pillion', ...labels, stream: 'stdout' }, values: [['1475713029669794202', 'a'], ['1475713029669794202', 'c']] },
        { stream: { job: 'pillion', ...labels, stream: 'stderr' }, values: [['1475713029669794202', 'b']] },
      ],
    });
  });

  it('Elasticsearch bulk: action line, document line', () => {
    const lines = elasticsearchBody([rec('a', 'stdout')], 'logs').split('\n');
    assert.deepEqual(JSON.parse(lines[0]!), { index: { _index: 'logs' } });
    assert.equal(JSON.parse(lines[1]!).message, 'a');
    assert.equal(lines[2], '');
  });
});
