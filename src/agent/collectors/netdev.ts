// netdev: per-interface counters from /proc/net/dev, named node_network_<direction>_<column>_total
// after the file's own header (node_exporter collector/netdev_linux.go, /proc/net/dev mode; its
// netlink mode maps the same kernel counters back to these names).
import { procPath, readText, type Collector } from '../collector.js';
import { deviceFilterFromFlags, type DeviceFilter } from '../device-filter.js';
import { MetricDesc, type MetricSet } from '../exposition.js';
import type { CollectorContext, CollectorFactory } from './context.js';

/** Interface name, then the counters. Greedy: names may contain ':' ("ibr10:30"), counters never do. */
const INTERFACE_RE = /^(.+): *(.+)$/;

/** Per device, counter name ("receive_bytes") to value. */
export type NetDevStats = Map<string, Map<string, number>>;

export function parseNetDev(text: string, filter: DeviceFilter): NetDevStats {
  const lines = text.split('\n');
  const header = (lines[1] ?? '').split('|');
  if (header.length !== 3) throw new Error(`invalid header line in net/dev: ${JSON.stringify(lines[1])}`);
  const receive = header[1]!.trim().split(/\s+/);
  const transmit = header[2]!.trim().split(/\s+/);
  const stats: NetDevStats = new Map();
  for (let i = 2; i < lines.length; i++) {
    const raw = lines[i]!;
    if (raw.trim() === '') continue;
    const m = INTERFACE_RE.exec(raw.trimStart());
    if (!m) throw new Error(`couldn't get interface name, invalid line in net/dev: ${JSON.stringify(raw)}`);
    const device = m[1]!;
    if (filter.ignored(device)) continue;
    const values = m[2]!.trimStart().split(/ +/);
    if (values.length !== receive.length + transmit.length) throw new Error(`couldn't get values, invalid line in net/dev: ${JSON.stringify(m[2])}`);
    const dev = new Map<string, number>();
    receive.forEach((name, i) => addCounter(dev, `receive_${name}`, values[i]!));
    transmit.forEach((name, i) => addCounter(dev, `transmit_${name}`, values[receive.length + i]!));
    stats.set(device, dev);
  }
  return stats;
}

function addCounter(dev: Map<string, number>, key: string, raw: string): void {
  // node_exporter skips (and logs at debug) a value that is not an unsigned integer.
  if (/^\d+$/.test(raw)) dev.set(key, Number(raw));
}

export class NetdevCollector implements Collector {
  readonly name = 'netdev';
  private readonly filter: DeviceFilter;
  private readonly descs = new Map<string, MetricDesc>();

  constructor(private readonly ctx: CollectorContext) {
    this.filter = deviceFilterFromFlags('netdev', ctx.opts.netdevDeviceExclude, ctx.opts.netdevDeviceInclude);
  }

  update(out: MetricSet): void {
    const stats = parseNetDev(readText(procPath(this.ctx.paths, 'net/dev')), this.filter);
    // forEach, not for-of with destructuring: much cheaper on baseline code (lean-v8.ts).
    stats.forEach((counters, device) => {
      counters.forEach((value, key) => {
        let desc = this.descs.get(key);
        if (desc === undefined) {
          desc = new MetricDesc(`node_network_${key}_total`, `Network device statistic ${key}.`, 'counter', ['device']);
          this.descs.set(key, desc);
        }
        out.add(desc, value, device);
      });
    });
  }
}

export const netdevFactory: CollectorFactory = { name: 'netdev', defaultEnabled: true, create: (ctx) => new NetdevCollector(ctx) };
