// stat: boot time, context switches, forks, interrupts, runnable/blocked processes and (with
// --collector.stat.softirq) softirqs per vector, from /proc/stat (node_exporter collector/stat_linux.go).
import { procPath, readText, ScrapeMemo, type Collector } from '../collector.js';
import { MetricDesc, type MetricSet } from '../exposition.js';
import { parseProcStat, SOFTIRQ_VECTORS } from '../procfs/proc-stat.js';
import type { CollectorContext, CollectorFactory } from './context.js';

const intrDesc = new MetricDesc('node_intr_total', 'Total number of interrupts serviced.', 'counter');
const ctxtDesc = new MetricDesc('node_context_switches_total', 'Total number of context switches.', 'counter');
const forksDesc = new MetricDesc('node_forks_total', 'Total number of forks.', 'counter');
const btimeDesc = new MetricDesc('node_boot_time_seconds', 'Node boot time, in unixtime.', 'gauge');
const runningDesc = new MetricDesc('node_procs_running', 'Number of processes in runnable state.', 'gauge');
const blockedDesc = new MetricDesc('node_procs_blocked', 'Number of processes blocked waiting for I/O to complete.', 'gauge');
const softirqDesc = new MetricDesc('node_softirqs_total', 'Number of softirq calls.', 'counter', ['vector']);

export class StatCollector implements Collector {
  readonly name = 'stat';
  constructor(private readonly ctx: CollectorContext) {}

  update(out: MetricSet, memo: ScrapeMemo = new ScrapeMemo()): void {
    const stat = memo.get('proc/stat', () => parseProcStat(readText(procPath(this.ctx.paths, 'stat'))));
    out.add(intrDesc, stat.interrupts);
    out.add(ctxtDesc, stat.contextSwitches);
    out.add(forksDesc, stat.forks);
    out.add(btimeDesc, stat.bootTime);
    out.add(runningDesc, stat.procsRunning);
    out.add(blockedDesc, stat.procsBlocked);
    if (this.ctx.opts.statSoftirq && stat.softirqs !== undefined) {
      SOFTIRQ_VECTORS.forEach((vector, i) => {
        const n = stat.softirqs![i];
        if (n !== undefined) out.add(softirqDesc, n, vector);
      });
    }
  }
}

export const statFactory: CollectorFactory = { name: 'stat', defaultEnabled: true, create: (ctx) => new StatCollector(ctx) };
