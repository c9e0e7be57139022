import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatValue, MetricDesc, MetricSet } from './exposition.js';

describe('formatValue prints floats as Go strconv.FormatFloat(v, g, -1, 64)', () => {
  // Every expected string is copied from node_exporter output (fixtures) or Go's documented behaviour.
  const cases: [number, string][] = [
    [0, '0'],
    [1, '1'],
    [0.21, '0.21'],
    [26442, '26442'],
    [529408, '529408'],
    [1589248, '1.589248e+06'],
    [38014093, '3.8014093e+07'],
    [513713216512, '5.13713216512e+11'],
    [1e6, '1e+06'],
    [-35000000, '-3.5e+07'],
    [9653880 * (1 / 1000), '9653.880000000001'],
    [2077872228 * (1 / 1000), '2.0778722280000001e+06'],
    [14036781 / 1000 / 1000, '14.036781000000001'],
    [0.0001, '0.0001'],
    [0.00001234, '1.234e-05'],
    [1e21, '1e+21'],
    [123456789012345680000, '1.2345678901234568e+20'],
    [NaN, 'NaN'],
    [Infinity, '+Inf'],
    [-Infinity, '-Inf'],
  ];
  for (const [v, want] of cases) it(`${v} -> ${want}`, () => assert.equal(formatValue(v), want));
});

describe('MetricSet.render', () => {
  it('sorts families by name, samples by label values, labels by name, and escapes values', () => {
    const b = new MetricDesc('b_total', 'B help with \\ and\nnewline.', 'counter', ['z', 'a']);
    const a = new MetricDesc('a', 'A.', 'gauge');
    const set = new MetricSet();
    set.add(b, 2, 'z2', 'x"y');
    set.add(b, 1, 'z1', 'x"y');
    set.add(b, 3, 'z0', 'a\\b\nc');
    set.add(a, 7);
    assert.equal(set.render(), [
      '# HELP a A.',
      '# TYPE a gauge',
      'a 7',
      '# HELP b_total B help with \\\\ and\\nnewline.',
      '# TYPE b_total counter',
      'b_total{a="a\\\\b\\nc",z="z0"} 3',
      'b_total{a="x\\"y",z="z1"} 1',
      'b_total{a="x\\"y",z="z2"} 2',
      '',
    ].join('\n'));
  });

  it('drops duplicate series and counts them instead of emitting an invalid exposition', () => {
    const d = new MetricDesc('x', 'X.', 'gauge', ['device']);
    const set = new MetricSet();
    set.add(d, 1, 'sda');
    set.add(d, 2, 'sda');
    const text = set.render();
    assert.equal(text.match(/^x\{/gm)?.length, 1);
    assert.equal(set.duplicates, 1);
  });

  it('orders label values by UTF-8 bytes as Go does, also beyond the BMP', () => {
    const d = new MetricDesc('n', 'N.', 'gauge', ['device']);
    const set = new MetricSet();
    set.add(d, 1, '\uff61'); // U+FF61: one UTF-16 unit, sorts after an emoji in UTF-16 but before it in UTF-8
    set.add(d, 2, '💩0');
    const lines = set.render().split('\n').filter((l) => l.startsWith('n{'));
    assert.deepEqual(lines, ['n{device="\uff61"} 1', 'n{device="💩0"} 2']);
  });
});
