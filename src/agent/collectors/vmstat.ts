// vmstat: the /proc/vmstat fields matching --collector.vmstat.fields, untyped as node_exporter
// exposes them (collector/vmstat_linux.go).
import { procPath, readText, type Collector } from '../collector.js';
import { compileFlagRegex } from '../device-filter.js';
import { fields } from '../procfs/fields.js';
import { MetricDesc, type MetricSet } from '../exposition.js';
import type { CollectorContext, CollectorFactory } from './context.js';

export class VmstatCollector implements Collector {
  readonly name = 'vmstat';
  private readonly fields: RegExp;
  private readonly descs = new Map<string, MetricDesc>();

  constructor(private readonly ctx: CollectorContext) {
    this.fields = compileFlagRegex('collector.vmstat.fields', ctx.opts.vmstatFields);
  }

  update(out: MetricSet): void {
    const lines = readText(procPath(this.ctx.paths, 'vmstat')).split('\n');
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i]!;
      // Most of the ~170 lines are filtered out: test the key before splitting the rest.
      const sp = line.indexOf(' ');
      if (sp <= 0 || !this.fields.test(line.slice(0, sp))) continue;
      const parts = fields(line);
      if (parts.length !== 2) continue;
      const [key, raw] = parts as [string, string];
      const value = Number(raw);
      if (raw === '' || !Number.isFinite(value)) throw new Error(`invalid value in /proc/vmstat: ${JSON.stringify(line)}`);
      let desc = this.descs.get(key);
      if (desc === undefined) {
        desc = new MetricDesc(`node_vmstat_${key}`, `/proc/vmstat information field ${key}.`, 'untyped');
        this.descs.set(key, desc);
      }
      out.add(desc, value);
    }
  }
}

export const vmstatFactory: CollectorFactory = { name: 'vmstat', defaultEnabled: true, create: (ctx) => new VmstatCollector(ctx) };
