import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PathFilter, globToRegExp } from './glob.js';

test('globs: unanchored names match at any depth, anchored paths from the root', () => {
  const log = globToRegExp('*.log');
  assert.ok(log.test('a.log') && log.test('x/y/a.log') && log.test('.hidden.log'));
  assert.ok(!log.test('a.log.gz'));
  const anchored = globToRegExp('db/*.wal');
  assert.ok(anchored.test('db/1.wal'));
  assert.ok(!anchored.test('x/db/1.wal') && !anchored.test('db/a/1.wal'));
  const deep = globToRegExp('data/**/*.db');
  assert.ok(deep.test('data/a.db') && deep.test('data/x/y/a.db'));
  assert.ok(globToRegExp('file?.[ab]').test('file1.a'));
  assert.ok(!globToRegExp('file?.[!ab]').test('file1.a'));
  assert.ok(globToRegExp('a+b(1).txt').test('a+b(1).txt'));
});

test('filter: includes, excludes, pruned directories', () => {
  const f = new PathFilter(['*.db', 'conf/**'], ['cache/**', '*.tmp']);
  assert.ok(f.wantsFile('x/a.db'));
  assert.ok(f.wantsFile('conf/a/b.yaml'));
  assert.ok(!f.wantsFile('a.txt'));
  assert.ok(!f.wantsFile('cache/a.db'));
  assert.ok(!f.wantsFile('conf/x.tmp'));
  assert.ok(f.prunesDir('cache'));
  assert.ok(!f.prunesDir('conf'));
  const all = new PathFilter([], []);
  assert.ok(all.wantsFile('.git/config'));
});
