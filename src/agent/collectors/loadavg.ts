// loadavg: the 1, 5 and 15 minute load averages from /proc/loadavg (collector/loadavg_linux.go).
import { procPath, readText, type Collector } from '../collector.js';
import { MetricDesc, type MetricSet } from '../exposition.js';
import { fields } from '../procfs/fields.js';
import type { CollectorContext, CollectorFactory } from './context.js';

const descs = [
  new MetricDesc('node_load1', '1m load average.', 'gauge'),
  new MetricDesc('node_load5', '5m load average.', 'gauge'),
  new MetricDesc('node_load15', '15m load average.', 'gauge'),
];

export function parseLoadavg(text: string): [number, number, number] {
  const f = fields(text, 3);
  const loads = f.slice(0, 3).map(Number);
  if (loads.length < 3 || loads.some((n) => !Number.isFinite(n))) throw new Error(`unexpected /proc/loadavg content: ${JSON.stringify(text.slice(0, 80))}`);
  return loads as [number, number, number];
}

export class LoadavgCollector implements Collector {
  readonly name = 'loadavg';
  constructor(private readonly ctx: CollectorContext) {}

  update(out: MetricSet): void {
    const loads = parseLoadavg(readText(procPath(this.ctx.paths, 'loadavg')));
    loads.forEach((v, i) => out.add(descs[i]!, v));
  }
}

export const loadavgFactory: CollectorFactory = { name: 'loadavg', defaultEnabled: true, create: (ctx) => new LoadavgCollector(ctx) };
