// HDR histograms for latencies, and how a data plane hands its counts to the metrics pool.
//
// Only hdr-histogram-js's plain-JS 32-bit histogram is loaded. The package's index also compiles its
// WebAssembly build and loads its base64/deflate encoder: about 8 MB of RSS in every thread that
// imports it (measured: +5 MB of the node binary's pages, +3 MB of heap), none of which we use.
// Counts cross threads as a sparse list instead of the package's compressed encoding: no deflate on
// the data plane, and a typed array that postMessage clones in one copy.
import { createRequire } from 'node:module';
import type { Histogram } from 'hdr-histogram-js';

type HistogramClass = new (lowest: number, highest: number, digits: number) => Histogram;
const Int32Histogram = (createRequire(import.meta.url)('hdr-histogram-js/dist/Int32Histogram.js') as { default: HistogramClass }).default;

/** The parts of hdr-histogram-js's JsHistogram that walk the counts array (not in its typings). */
interface CountsAccess {
  readonly countsArrayLength: number;
  getCountAtIndex(i: number): number;
  valueFromIndex(i: number): number;
  medianEquivalentValue(v: number): number;
}

export function counts(h: Histogram): CountsAccess {
  return h as unknown as CountsAccess;
}

/** Latencies in microseconds, 1 us to 1 h, 3 significant digits (about 0.1 % error). */
export function newHistogram(): Histogram {
  return new Int32Histogram(1, 3_600_000_000, 3);
}

/** A histogram's non-zero counts as [index, count, index, count, ...]. */
export type SparseCounts = Float64Array;

export function exportCounts(h: Histogram): SparseCounts {
  const c = counts(h);
  let n = 0;
  for (let i = 0; i < c.countsArrayLength; i++) if (c.getCountAtIndex(i) !== 0) n++;
  const out = new Float64Array(n * 2);
  let o = 0;
  for (let i = 0; i < c.countsArrayLength && o < out.length; i++) {
    const v = c.getCountAtIndex(i);
    if (v === 0) continue;
    out[o++] = i;
    out[o++] = v;
  }
  return out;
}

/** Adds exported counts into a histogram of the same shape (newHistogram()). */
export function addCounts(into: Histogram, sparse: SparseCounts): void {
  const c = counts(into);
  for (let o = 0; o < sparse.length; o += 2) into.recordValueWithCount(c.valueFromIndex(sparse[o]!), sparse[o + 1]!);
}
