// The metrics pool's merge on known values: two planes' histograms add up; buckets are cumulative and
// exact to the HDR precision; percentiles land on the recorded values.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { exportCounts, newHistogram, type SparseCounts } from '../telemetry/hdr.js';
import merge from './metrics.worker.js';

function encoded(valuesUs: number[]): SparseCounts {
  const h = newHistogram();
  for (const v of valuesUs) h.recordValue(v);
  return exportCounts(h);
}

test('two planes merge: counts, sum, cumulative buckets, percentiles', () => {
  // Plane A: 50 x 20 ms; plane B: 49 x 80 ms and 1 x 400 ms.
  const a = encoded(Array(50).fill(20_000));
  const b = encoded([...Array(49).fill(80_000), 400_000]);
  const [h, ...rest] = merge({
    planes: [{ 'http.l.downstream_rq_time': a }, { 'http.l.downstream_rq_time': b }],
    bucketsMs: [10, 25, 50, 100, 250, 500],
    percentiles: [50, 90, 99, 99.9, 100],
  });
  assert.equal(rest.length, 0);
  assert.equal(h!.name, 'http.l.downstream_rq_time');
  assert.equal(h!.count, 100);
  assert.deepEqual(h!.buckets, [0, 50, 50, 99, 99, 100]);
  // Sum within the HDR precision (3 significant digits: 0.1 %).
  const sum = 50 * 20 + 49 * 80 + 400;
  assert.ok(Math.abs(h!.sumMs - sum) <= sum * 0.001, `sum ${h!.sumMs} vs ${sum}`);
  const [p50, p90, p99, p999, p100] = h!.percentiles as [number, number, number, number, number];
  const near = (v: number, want: number) => assert.ok(Math.abs(v - want) <= want * 0.001, `${v} vs ${want}`);
  near(p50, 20);
  near(p90, 80);
  near(p99, 80);
  near(p999, 400);
  near(p100, 400);
});

test('a histogram only one plane has, and an empty one', () => {
  const out = merge({
    planes: [{ x: encoded([1000]) }, { y: encoded([]) }],
    bucketsMs: [1, 2],
    percentiles: [50],
  });
  assert.deepEqual(out.map((h) => h.name), ['x', 'y']);
  assert.deepEqual(out[0]!.buckets, [1, 1]);
  assert.equal(out[1]!.count, 0);
  assert.deepEqual(out[1]!.buckets, [0, 0]);
  assert.ok(Number.isNaN(out[1]!.percentiles[0]));
});
