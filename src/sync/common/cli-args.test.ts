import { test } from 'node:test';
import assert from 'node:assert/strict';
import { UsageError, parseDuration, parseFlags, parseListenAddress, type FlagSpec } from './cli-args.js';

const SPECS: Record<string, FlagSpec> = {
  dest: { kind: 'string', help: '' },
  once: { kind: 'bool', help: '' },
  include: { kind: 'list', help: '' },
};

test('parses --k v, --k=v, bools and repeated lists', () => {
  const f = parseFlags(['--dest', '/a', '--once', '--include=*.db', '--include', 'x/**'], SPECS);
  assert.equal(f.get('dest'), '/a');
  assert.equal(f.get('once'), true);
  assert.deepEqual(f.get('include'), ['*.db', 'x/**']);
});

test('errors name the flag', () => {
  assert.throws(() => parseFlags(['--nope'], SPECS), (e: Error) => e instanceof UsageError && e.message.includes('--nope'));
  assert.throws(() => parseFlags(['--dest'], SPECS), /--dest needs a value/);
  assert.throws(() => parseFlags(['--dest', 'a', '--dest', 'b'], SPECS), /--dest given twice/);
  assert.throws(() => parseFlags(['stray'], SPECS), /unexpected argument 'stray'/);
  assert.throws(() => parseFlags(['--once=yes'], SPECS), /--once takes no value/);
});

test('durations', () => {
  assert.equal(parseDuration('i', '250ms'), 250);
  assert.equal(parseDuration('i', '30s'), 30_000);
  assert.equal(parseDuration('i', '5m'), 300_000);
  assert.equal(parseDuration('i', '2'), 2000);
  assert.throws(() => parseDuration('interval', '5 minutes'), /--interval: '5 minutes' is not a duration/);
});

test('listen addresses', () => {
  assert.deepEqual(parseListenAddress('s', '127.0.0.1:0'), { host: '127.0.0.1', port: 0 });
  assert.deepEqual(parseListenAddress('s', ':15020'), { host: '0.0.0.0', port: 15020 });
  assert.equal(parseListenAddress('s', 'off'), null);
  assert.throws(() => parseListenAddress('status-addr', 'x:99999'), /--status-addr/);
});
