// The metrics pool's worker (piscina): merges the HDR histograms of every data plane and turns them into
// what /stats and /stats/prometheus print: cumulative bucket counts, the sum, and percentiles exact to
// the HDR precision (3 significant digits). The main thread and the data planes never do this work.
import '../util/worker-v8-flags.js'; // first: see the module
import { addCounts, counts, newHistogram, type SparseCounts } from '../telemetry/hdr.js';

export interface MergeTask {
  /** One record per data plane: histogram name -> its counts (microseconds). */
  planes: Record<string, SparseCounts>[];
  /** Bucket upper bounds, in milliseconds. */
  bucketsMs: number[];
  /** Percentiles to report, 0-100. */
  percentiles: number[];
}

export interface HistogramSummary {
  name: string;
  count: number;
  sumMs: number;
  /** Cumulative counts, one per bucket bound. */
  buckets: number[];
  /** Values in milliseconds, one per requested percentile (NaN when empty). */
  percentiles: number[];
}

export default function merge(t: MergeTask): HistogramSummary[] {
  const names = new Set<string>();
  for (const p of t.planes) for (const n of Object.keys(p)) names.add(n);
  const out: HistogramSummary[] = [];
  for (const name of [...names].sort()) {
    const h = newHistogram();
    for (const p of t.planes) {
      const e = p[name];
      if (e !== undefined) addCounts(h, e);
    }
    const count = h.totalCount;
    const perBucket = t.bucketsMs.map(() => 0);
    let sumUs = 0;
    // One walk over the counts: each equivalent-value range adds to the sum and to its bucket.
    const internal = counts(h);
    for (let i = 0; i < internal.countsArrayLength; i++) {
      const n = internal.getCountAtIndex(i);
      if (n === 0) continue;
      const v = internal.valueFromIndex(i);
      sumUs += n * internal.medianEquivalentValue(v);
      const ms = v / 1000;
      const b = t.bucketsMs.findIndex((le) => ms <= le);
      if (b >= 0) perBucket[b]! += n;
    }
    let running = 0;
    const buckets = perBucket.map((n) => (running += n));
    out.push({
      name,
      count,
      sumMs: sumUs / 1000,
      buckets,
      percentiles: t.percentiles.map((q) => (count === 0 ? NaN : h.getValueAtPercentile(q) / 1000)),
    });
  }
  return out;
}
