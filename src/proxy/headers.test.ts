import { test } from 'node:test';
import assert from 'node:assert/strict';
import { filterResponseHeaders } from './headers.js';

function raw(...pairs: string[]): Buffer[] {
  return pairs.map((s) => Buffer.from(s, 'latin1'));
}

function names(out: (string | Buffer)[]): string[] {
  return out.filter((_, i) => i % 2 === 0) as string[];
}

test('filterResponseHeaders: names lowercased (well-known and unknown), values kept as the upstream sent them', () => {
  const out: (string | Buffer)[] = [];
  const cl = filterResponseHeaders(raw('Content-Type', 'Text/Plain', 'X-Custom-Thing', 'A', 'SERVER', 'x', 'content-length', '12'), out);
  assert.equal(cl, 12);
  assert.deepEqual(names(out), ['content-type', 'x-custom-thing', 'server']);
  assert.equal((out[1] as Buffer).toString(), 'Text/Plain');
});

test('filterResponseHeaders: hop-by-hop, date and framing headers dropped; Connection-named headers dropped', () => {
  const out: (string | Buffer)[] = [];
  const cl = filterResponseHeaders(raw(
    'Date', 'Thu, 01 Jan 2026 00:00:00 GMT', 'Connection', 'Keep-Alive', 'Keep-Alive', 'timeout=5',
    'Transfer-Encoding', 'chunked', 'Trailer', 'x', 'Upgrade', 'h2c', 'x-a', '1', 'x-b', '2',
  ), out);
  assert.equal(cl, -1);
  assert.deepEqual(names(out), ['x-a', 'x-b']);
  const out2: (string | Buffer)[] = [];
  filterResponseHeaders(raw('Connection', 'X-A, close', 'x-a', '1', 'x-b', '2'), out2);
  assert.deepEqual(names(out2), ['x-b']);
});

test('filterResponseHeaders: content-length values that are not plain digits read as Number() reads them', () => {
  const cases: [string, number][] = [['0', 0], ['65536', 65536], ['', 0], ['1e3', 1000], ['abc', -1], ['12345678901234567890', 12345678901234567000]];
  for (const [v, want] of cases) {
    assert.equal(filterResponseHeaders(raw('Content-Length', v), []), want, v);
  }
});
