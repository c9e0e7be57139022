import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from './metrics.js';

test('renders HELP/TYPE once per family and escapes label values', () => {
  const r = new Registry();
  r.counter('x_failures_total', 'Failures.', { reason: 'source' }).inc();
  r.counter('x_failures_total', 'Failures.', { reason: 'a"b\\c' }).inc(2);
  r.gauge('x_ready', 'Ready.').set(1);
  assert.equal(r.render(), [
    '# HELP x_failures_total Failures.',
    '# TYPE x_failures_total counter',
    'x_failures_total{reason="source"} 1',
    'x_failures_total{reason="a\\"b\\\\c"} 2',
    '# HELP x_ready Ready.',
    '# TYPE x_ready gauge',
    'x_ready 1',
    '',
  ].join('\n'));
});

test('the same series asked twice is one series', () => {
  const r = new Registry();
  r.counter('y_total', 'Y.').inc();
  r.counter('y_total', 'Y.').inc();
  assert.match(r.render(), /^y_total 2$/m);
});
