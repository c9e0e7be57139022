import { test } from 'node:test';
import assert from 'node:assert/strict';
import { quotaFromCpuMax } from './cpus.js';
import { heapFlagsToSet } from './heap-tuning.js';

const DEFAULTS = ['--semi-space-growth-factor=1', '--no-concurrent-array-buffer-sweeping'];

test('heap tuning: the nursery and sweeping flags by default, the old-generation one only when asked for', () => {
  assert.deepEqual(heapFlagsToSet([], {}, 2), DEFAULTS);
  assert.deepEqual(heapFlagsToSet([], { PILLION_HEAP_GROWING_PERCENT: '20' }, 2), [...DEFAULTS, '--heap-growing-percent=20']);
  assert.deepEqual(heapFlagsToSet([], { PILLION_HEAP_GROWING_PERCENT: 'lots' }, 2), DEFAULTS);
});

test('heap tuning: a flag the user gave (command line or NODE_OPTIONS, either spelling) is left alone', () => {
  assert.deepEqual(heapFlagsToSet(['--max-semi-space-size=8', '--concurrent-array-buffer-sweeping'], {}, 2), []);
  assert.deepEqual(heapFlagsToSet([], { NODE_OPTIONS: '--max_semi_space_size=4 --no_concurrent_array_buffer_sweeping --enable-source-maps' }, 2), []);
  assert.deepEqual(heapFlagsToSet(['--heap-growing-percent=50'], { PILLION_HEAP_GROWING_PERCENT: '20' }, 2), DEFAULTS);
});

test('heap tuning: on one CPU, no parallel scavenge (unless the user chose)', () => {
  assert.deepEqual(heapFlagsToSet([], {}, 1), [...DEFAULTS, '--no-parallel-scavenge']);
  assert.deepEqual(heapFlagsToSet(['--parallel-scavenge'], {}, 1), DEFAULTS);
  assert.deepEqual(heapFlagsToSet([], { NODE_OPTIONS: '--no_parallel_scavenge' }, 1), DEFAULTS);
});

test('cpus: a cgroup v2 cpu.max quota in CPUs, none for max', () => {
  assert.equal(quotaFromCpuMax('max 100000\n'), null);
  assert.equal(quotaFromCpuMax('50000 100000\n'), 0.5);
  assert.equal(quotaFromCpuMax('250000 100000'), 2.5);
  assert.equal(quotaFromCpuMax(''), null);
});
