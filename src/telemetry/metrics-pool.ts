// The metrics pool: one piscina thread, started on the first scrape and let go when idle, that merges
// the data planes' histograms (src/workers/metrics.worker.ts).
import type { Piscina } from 'piscina';
import type { HistogramSummary, MergeTask } from '../workers/metrics.worker.js';
import type { SparseCounts } from './hdr.js';

/** Envoy's default histogram buckets, in milliseconds. */
export const DEFAULT_BUCKETS_MS = [0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000, 3600000];
/** What /stats prints per histogram (Envoy's list) and the summary quantiles of /stats/prometheus. */
export const PERCENTILES = [0, 25, 50, 75, 90, 95, 99, 99.5, 99.9, 100];

export class MetricsPool {
  private pool: Piscina | null = null;
  private starting: Promise<Piscina> | null = null;

  get queueSize(): number {
    return this.pool?.queueSize ?? 0;
  }

  async merge(planes: Record<string, SparseCounts>[], bucketsMs: number[] = DEFAULT_BUCKETS_MS): Promise<HistogramSummary[]> {
    const pool = this.pool ?? (await (this.starting ??= this.start()));
    const task: MergeTask = { planes, bucketsMs, percentiles: PERCENTILES };
    return (await pool.run(task)) as HistogramSummary[];
  }

  /** piscina is loaded on the first scrape: a proxy nobody scrapes never pays for it. */
  private async start(): Promise<Piscina> {
    const { Piscina } = await import('piscina');
    return (this.pool = new Piscina({
      filename: new URL('../workers/metrics.worker.js', import.meta.url).href,
      minThreads: 0,
      maxThreads: 1,
      idleTimeout: 30_000,
    }));
  }

  async close(): Promise<void> {
    const pool = this.pool ?? (await this.starting);
    this.pool = null;
    this.starting = null;
    await pool?.destroy();
  }
}
