import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseFlags } from './flags.js';

const withHeader = (h: string) => parseFlags(['--path', '/x/*.log', '--state-dir', '/tmp/s', '--sink', 'http://loki:3100/', '--header', h]);

test('--header: lowercased; a line break, a bad name or a framing header is a usage error', () => {
  assert.deepEqual(withHeader('X-Scope-OrgID: t1').sink.http!.headers, { 'x-scope-orgid': 't1' });
  assert.throws(() => withHeader('x-a: a\rx-evil: 1'), /--header: the value of 'x-a' has a character not allowed/);
  assert.throws(() => withHeader('a b: v'), /--header: 'a b' is not a valid header name/);
  assert.throws(() => withHeader('Content-Type: text/plain'), /--header: 'content-type' is set by pillion/);
});
