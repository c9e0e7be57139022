import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createLogger } from './log.js';

test('text lines: level filter, quoted values, errors by message', () => {
  const lines: string[] = [];
  const log = createLogger('config-sync', { level: 'info', write: (l) => { lines.push(l); } });
  log.debug('hidden');
  log.warn('sync failed', { reason: 'source', error: new Error('ECONNREFUSED x'), n: 3, skip: undefined });
  assert.equal(lines.length, 1);
  assert.match(lines[0]!, /^\S+ warn config-sync: sync failed reason=source error="ECONNREFUSED x" n=3\n$/);
});

test('json lines', () => {
  const lines: string[] = [];
  createLogger('file-sync', { format: 'json', write: (l) => { lines.push(l); } }).info('round done', { copied: 2 });
  const rec = JSON.parse(lines[0]!) as Record<string, unknown>;
  assert.deepEqual([rec.level, rec.component, rec.msg, rec.copied], ['info', 'file-sync', 'round done', 2]);
});
