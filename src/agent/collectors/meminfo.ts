// meminfo: every /proc/meminfo field as node_memory_<Field>[_bytes] (collector/meminfo_linux.go):
// "Active(anon)" becomes Active_anon, fields with a kB unit are multiplied by 1024 and get _bytes.
import { procPath, readText, type Collector } from '../collector.js';
import { fields } from '../procfs/fields.js';
import { MetricDesc, type MetricSet } from '../exposition.js';
import type { CollectorContext, CollectorFactory } from './context.js';

export function parseMeminfo(text: string): Map<string, number> {
  const out = new Map<string, number>();
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const parts = fields(line);
    // Some kernels (CentOS 6) print empty lines.
    if (parts.length < 2) continue;
    let value = Number(parts[1]);
    if (!Number.isFinite(value) || parts[1] === '') throw new Error(`invalid value in meminfo: ${JSON.stringify(line)}`);
    let key = parts[0]!;
    if (key.endsWith(':')) key = key.slice(0, -1);
    if (key.includes('(')) key = key.replace(/\((.*)\)/, '_$1');
    if (parts.length === 3) {
      value *= 1024; // the kernel's unit is always kB
      key += '_bytes';
    } else if (parts.length !== 2) {
      throw new Error(`invalid line in meminfo: ${JSON.stringify(line)}`);
    }
    out.set(key, value);
  }
  return out;
}

export class MeminfoCollector implements Collector {
  readonly name = 'meminfo';
  /** Descs by field, built on first sight: the field set is fixed for a running kernel. */
  private readonly descs = new Map<string, MetricDesc>();
  constructor(private readonly ctx: CollectorContext) {}

  update(out: MetricSet): void {
    // forEach, not for-of with destructuring: much cheaper on baseline code (lean-v8.ts).
    parseMeminfo(readText(procPath(this.ctx.paths, 'meminfo'))).forEach((value, key) => {
      let desc = this.descs.get(key);
      if (desc === undefined) {
        desc = new MetricDesc(`node_memory_${key}`, `Memory information field ${key}.`, 'gauge');
        this.descs.set(key, desc);
      }
      out.add(desc, value);
    });
  }
}

export const meminfoFactory: CollectorFactory = { name: 'meminfo', defaultEnabled: true, create: (ctx) => new MeminfoCollector(ctx) };
