import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LocalTokenBucket, SharedTokenBucket } from './token-bucket.js';
import { BoundedMap } from './bounded-map.js';

const cfg = { max_tokens: 3, tokens_per_fill: 2, fill_interval_ms: 1000 };

test('a local bucket starts full, empties, and refills by tokens_per_fill per interval up to max', () => {
  const b = new LocalTokenBucket(cfg, 10_000);
  assert.deepEqual([b.take(10_000), b.take(10_000), b.take(10_000), b.take(10_000)], [true, true, true, false]);
  assert.equal(b.resetMs(10_250), 750);
  assert.equal(b.take(10_999), false, 'no fill before the interval ends');
  assert.deepEqual([b.take(11_000), b.take(11_000), b.take(11_000)], [true, true, false], 'one fill adds 2');
  assert.equal(b.take(20_000), true);
  assert.equal(b.remaining(), 2, 'many fills are capped at max_tokens (3 - 1 taken)');
});

test('a shared bucket gives the same answers from two views of the same memory', () => {
  const mem = new Int32Array(new SharedArrayBuffer(64));
  SharedTokenBucket.init(mem, 4, cfg);
  const epoch = 1_000_000;
  const a = new SharedTokenBucket(cfg, mem, 4, epoch);
  const b = new SharedTokenBucket(cfg, mem, 4, epoch);
  assert.deepEqual([a.take(epoch), b.take(epoch), a.take(epoch), b.take(epoch)], [true, true, true, false]);
  assert.deepEqual([b.take(epoch + 1000), a.take(epoch + 1000), b.take(epoch + 1000)], [true, true, false]);
  assert.equal(a.remaining(), 0);
});

test('a bounded map never holds more than its bound and evicts the least recently used', () => {
  const m = new BoundedMap<string, number>(3);
  for (let i = 0; i < 1000; i++) m.set(`k${i}`, i);
  assert.equal(m.size, 3);
  assert.equal(m.evictions, 997);
  m.get('k997'); // now most recent
  m.set('new', 1);
  assert.equal(m.get('k998'), undefined, 'the least recently used went');
  assert.equal(m.get('k997'), 997);
});
