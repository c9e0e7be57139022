// pressure: pressure stall information (PSI) totals from /proc/pressure/* (collector/pressure_linux.go).
// The kernel reports microseconds; node_exporter divides by 1000 twice, and so do we, so values
// agree to the last bit (14036781/1000/1000 = 14.036781000000001, not 14.036781).
import { isNotFound, NoDataError, procPath, readText, type Collector } from '../collector.js';
import { MetricDesc, type MetricSet } from '../exposition.js';
import type { CollectorContext, CollectorFactory } from './context.js';

const cpuDesc = new MetricDesc('node_pressure_cpu_waiting_seconds_total', 'Total time in seconds that processes have waited for CPU time', 'counter');
const ioDesc = new MetricDesc('node_pressure_io_waiting_seconds_total', 'Total time in seconds that processes have waited due to IO congestion', 'counter');
const ioFullDesc = new MetricDesc('node_pressure_io_stalled_seconds_total', 'Total time in seconds no process could make progress due to IO congestion', 'counter');
const memDesc = new MetricDesc('node_pressure_memory_waiting_seconds_total', 'Total time in seconds that processes have waited for memory', 'counter');
const memFullDesc = new MetricDesc('node_pressure_memory_stalled_seconds_total', 'Total time in seconds no process could make progress due to memory congestion', 'counter');
const irqFullDesc = new MetricDesc('node_pressure_irq_stalled_seconds_total', 'Total time in seconds no process could make progress due to IRQ congestion', 'counter');

export interface PsiTotals {
  some: number | undefined;
  full: number | undefined;
}

/** Parses a PSI file ("some avg10=0.00 avg60=0.00 avg300=0.00 total=14036781"), totals only. */
export function parsePsi(text: string): PsiTotals {
  const res: PsiTotals = { some: undefined, full: undefined };
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const m = /^(some|full)\s.*\btotal=(\d+)/.exec(line.trim());
    if (m) res[m[1] as 'some' | 'full'] = Number(m[2]);
  }
  return res;
}

const seconds = (us: number | undefined): number => (us ?? 0) / 1000.0 / 1000.0;

export class PressureCollector implements Collector {
  readonly name = 'pressure';
  constructor(private readonly ctx: CollectorContext) {}

  update(out: MetricSet): void {
    for (const res of ['cpu', 'io', 'memory', 'irq'] as const) {
      let psi: PsiTotals;
      try {
        psi = parsePsi(readText(procPath(this.ctx.paths, 'pressure', res)));
      } catch (err) {
        if (!isNotFound(err)) throw err;
        // IRQ pressure only exists since Linux 6.1 (and with CONFIG_IRQ_TIME_ACCOUNTING).
        if (res === 'irq') continue;
        throw new NoDataError('pressure information is unavailable, you need a Linux kernel >= 4.20 and/or CONFIG_PSI enabled for your kernel');
      }
      switch (res) {
        case 'cpu':
          out.add(cpuDesc, seconds(psi.some));
          break;
        case 'io':
          out.add(ioDesc, seconds(psi.some));
          out.add(ioFullDesc, seconds(psi.full));
          break;
        case 'memory':
          out.add(memDesc, seconds(psi.some));
          out.add(memFullDesc, seconds(psi.full));
          break;
        case 'irq':
          out.add(irqFullDesc, seconds(psi.full));
          break;
      }
    }
  }
}

export const pressureFactory: CollectorFactory = { name: 'pressure', defaultEnabled: true, create: (ctx) => new PressureCollector(ctx) };
