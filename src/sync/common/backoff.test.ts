import { test } from 'node:test';
import assert from 'node:assert/strict';
import { backoffDelay, jitteredInterval } from './backoff.js';

test('backoff doubles, is capped, and jitter stays within [half, full]', () => {
  assert.equal(backoffDelay(1, 1000, 60_000, () => 0), 500);
  assert.equal(backoffDelay(1, 1000, 60_000, () => 1), 1000);
  assert.equal(backoffDelay(3, 1000, 60_000, () => 1), 4000);
  assert.equal(backoffDelay(50, 1000, 60_000, () => 1), 60_000);
  assert.equal(backoffDelay(50, 1000, 60_000, () => 0), 30_000);
});

test('poll interval jitter is ± the fraction', () => {
  assert.equal(jitteredInterval(1000, 0.1, () => 0), 900);
  assert.equal(jitteredInterval(1000, 0.1, () => 1), 1100);
  assert.equal(jitteredInterval(1000, 0, () => 0.3), 1000);
});
