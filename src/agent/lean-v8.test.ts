import assert from 'node:assert/strict';
import { it } from 'node:test';
import { leanFlagsToSet } from './lean-v8.js';

it('sets what the command line and NODE_OPTIONS leave out, and never overrides them', () => {
  assert.deepEqual(leanFlagsToSet([], ''), ['--max-opt=1', '--semi-space-growth-factor=1', '--expose-gc']);
  assert.deepEqual(leanFlagsToSet(['--max-opt=1', '--max-semi-space-size=1', '--expose-gc'], ''), []);
  assert.deepEqual(leanFlagsToSet(['--max-opt=4'], '--max-semi-space-size=16'), ['--expose-gc'], 'explicit choices win');
  assert.deepEqual(leanFlagsToSet(['--expose_gc', '--max_opt=2'], ''), ['--semi-space-growth-factor=1'], 'underscore spelling');
  assert.deepEqual(leanFlagsToSet(['--inspect'], '  --semi-space-growth-factor=2  '), ['--max-opt=1', '--expose-gc']);
});
