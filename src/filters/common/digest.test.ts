import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { digestsEqual, sha256Latin1 } from './digest.js';

test('sha256Latin1 is the SHA-256 of the UTF-8 key, one char per byte', () => {
  for (const key of ['alice-key-0001', 'clé-ünïcode', '']) {
    assert.equal(Buffer.from(sha256Latin1(key), 'latin1').toString('hex'), createHash('sha256').update(key).digest('hex'));
  }
});

test('digestsEqual: equal, one bit off, another length', () => {
  const d = sha256Latin1('k');
  assert.equal(digestsEqual(d, sha256Latin1('k')), true);
  const flipped = String.fromCharCode(d.charCodeAt(31) ^ 1);
  assert.equal(digestsEqual(d, d.slice(0, 31) + flipped), false);
  assert.equal(digestsEqual(d, d.slice(0, 31)), false);
  assert.equal(digestsEqual('', ''), true);
});
