import { test } from 'node:test';
import assert from 'node:assert/strict';
import { heapFlagsToSet } from './heap-tuning.js';

test('heap tuning: the nursery flag by default, the old-generation one only when asked for', () => {
  assert.deepEqual(heapFlagsToSet([], {}), ['--semi-space-growth-factor=1']);
  assert.deepEqual(heapFlagsToSet([], { PILLION_HEAP_GROWING_PERCENT: '20' }), ['--semi-space-growth-factor=1', '--heap-growing-percent=20']);
  assert.deepEqual(heapFlagsToSet([], { PILLION_HEAP_GROWING_PERCENT: 'lots' }), ['--semi-space-growth-factor=1']);
});

test('heap tuning: a flag the user gave (command line or NODE_OPTIONS, either spelling) is left alone', () => {
  assert.deepEqual(heapFlagsToSet(['--max-semi-space-size=8'], {}), []);
  assert.deepEqual(heapFlagsToSet([], { NODE_OPTIONS: '--max_semi_space_size=4 --enable-source-maps' }), []);
  assert.deepEqual(heapFlagsToSet(['--heap-growing-percent=50'], { PILLION_HEAP_GROWING_PERCENT: '20' }), ['--semi-space-growth-factor=1']);
});
