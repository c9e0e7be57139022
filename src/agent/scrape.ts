// One scrape: run the chosen collectors side by side, then add node_exporter's per-collector
// duration and success gauges. A collector that throws is logged and reported as success 0;
// it never takes the scrape down with it.
import { NoDataError, ScrapeMemo, type Collector } from './collector.js';
import { MetricDesc, MetricSet } from './exposition.js';
import type { Logger } from './logger.js';

const durationDesc = new MetricDesc('node_scrape_collector_duration_seconds', 'node_exporter: Duration of a collector scrape.', 'gauge', ['collector']);
const successDesc = new MetricDesc('node_scrape_collector_success', 'node_exporter: Whether a collector succeeded.', 'gauge', ['collector']);

export async function scrape(collectors: readonly Collector[], logger: Logger): Promise<MetricSet> {
  const out = new MetricSet();
  const memo = new ScrapeMemo();
  await Promise.all(collectors.map((c) => runOne(c, out, memo, logger)));
  return out;
}

async function runOne(c: Collector, out: MetricSet, memo: ScrapeMemo, logger: Logger): Promise<void> {
  const start = performance.now();
  let success = 1;
  try {
    // Await only a real promise: `await` on a sync collector's undefined would yield until every
    // later collector has run, and its duration would include theirs.
    const pending = c.update(out, memo);
    if (pending !== undefined) await pending;
  } catch (err) {
    success = 0;
    const seconds = (performance.now() - start) / 1000;
    if (err instanceof NoDataError) logger.debug('collector returned no data', { name: c.name, duration_seconds: seconds, err });
    else logger.error('collector failed', { name: c.name, duration_seconds: seconds, err });
  }
  out.add(durationDesc, (performance.now() - start) / 1000, c.name);
  out.add(successDesc, success, c.name);
}
