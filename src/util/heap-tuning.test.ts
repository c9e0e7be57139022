import { test } from 'node:test';
import assert from 'node:assert/strict';
import { heapFlagsToSet } from './heap-tuning.js';

const DEFAULTS = ['--semi-space-growth-factor=1', '--no-concurrent-array-buffer-sweeping'];

test('heap tuning: the nursery and sweeping flags by default, the old-generation one only when asked for', () => {
  assert.deepEqual(heapFlagsToSet([], {}), DEFAULTS);
  assert.deepEqual(heapFlagsToSet([], { PILLION_HEAP_GROWING_PERCENT: '20' }), [...DEFAULTS, '--heap-growing-percent=20']);
  assert.deepEqual(heapFlagsToSet([], { PILLION_HEAP_GROWING_PERCENT: 'lots' }), DEFAULTS);
});

test('heap tuning: a flag the user gave (command line or NODE_OPTIONS, either spelling) is left alone', () => {
  assert.deepEqual(heapFlagsToSet(['--max-semi-space-size=8', '--concurrent-array-buffer-sweeping'], {}), []);
  assert.deepEqual(heapFlagsToSet([], { NODE_OPTIONS: '--max_semi_space_size=4 --no_concurrent_array_buffer_sweeping --enable-source-maps' }), []);
  assert.deepEqual(heapFlagsToSet(['--heap-growing-percent=50'], { PILLION_HEAP_GROWING_PERCENT: '20' }), DEFAULTS);
});
