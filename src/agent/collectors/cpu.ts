// cpu: per-CPU time per mode from /proc/stat, guest time, thermal throttle counts and isolated
// CPUs from /sys (node_exporter collector/cpu_linux.go; same names, labels and help texts).
import { existsSync, readdirSync } from 'node:fs';
import { isNotFound, procPath, readOptional, readText, readUint, sysPath, ScrapeMemo, type Collector } from '../collector.js';
import { MetricDesc, type MetricSet } from '../exposition.js';
import type { Logger } from '../logger.js';
import { compileFlagRegex } from '../device-filter.js';
import { parseProcStat, type CpuTimes } from '../procfs/proc-stat.js';
import { addCpuInfo, parseCpuinfo } from './cpu-info.js';
import type { CollectorContext, CollectorFactory } from './context.js';

const secondsDesc = new MetricDesc('node_cpu_seconds_total', 'Seconds the CPUs spent in each mode.', 'counter', ['cpu', 'mode']);
const guestDesc = new MetricDesc('node_cpu_guest_seconds_total', 'Seconds the CPUs spent in guests (VMs) for each mode.', 'counter', ['cpu', 'mode']);
const coreThrottleDesc = new MetricDesc('node_cpu_core_throttles_total', 'Number of times this CPU core has been throttled.', 'counter', ['package', 'core']);
const packageThrottleDesc = new MetricDesc('node_cpu_package_throttles_total', 'Number of times this CPU package has been throttled.', 'counter', ['package']);
const isolatedDesc = new MetricDesc('node_cpu_isolated', 'Whether each core is isolated, information from /sys/devices/system/cpu/isolated.', 'gauge', ['cpu']);

/** An idle counter that drops by this much means a CPU was hot-unplugged and came back. */
const JUMP_BACK_SECONDS = 3.0;
const MODES = ['user', 'nice', 'system', 'idle', 'iowait', 'irq', 'softirq', 'steal', 'guest', 'guestNice'] as const;

/** Parses a kernel CPU list such as "1,3-5,9" (sysfs `isolated`, `online`). */
export function parseCpuList(text: string): number[] {
  const out: number[] = [];
  for (const part of text.trim().split(',')) {
    if (part === '') continue;
    const m = /^(\d+)(?:-(\d+))?$/.exec(part);
    if (!m) throw new Error(`bad CPU list entry ${JSON.stringify(part)}`);
    const lo = Number(m[1]);
    const hi = m[2] === undefined ? lo : Number(m[2]);
    for (let c = lo; c <= hi; c++) out.push(c);
  }
  return out;
}

export class CpuCollector implements Collector {
  readonly name = 'cpu';
  /**
   * Last values handed out per CPU. Kernel counters can step backwards by a tick (per-CPU
   * accounting races), which Prometheus would read as a counter reset; node_exporter keeps the
   * previous value instead, and resets only on a hotplug-sized jump. We do the same.
   */
  private readonly last = new Map<number, CpuTimes>();
  private readonly flagsInclude: RegExp | undefined;
  private readonly bugsInclude: RegExp | undefined;

  constructor(private readonly ctx: CollectorContext) {
    const { cpuFlagsInclude, cpuBugsInclude } = ctx.opts;
    this.flagsInclude = cpuFlagsInclude ? compileFlagRegex('collector.cpu.info.flags-include', cpuFlagsInclude) : undefined;
    this.bugsInclude = cpuBugsInclude ? compileFlagRegex('collector.cpu.info.bugs-include', cpuBugsInclude) : undefined;
  }

  update(out: MetricSet, memo: ScrapeMemo = new ScrapeMemo()): void {
    if (this.ctx.opts.cpuInfo) addCpuInfo(out, parseCpuinfo(readText(procPath(this.ctx.paths, 'cpuinfo'))), this.flagsInclude, this.bugsInclude);
    const stat = memo.get('proc/stat', () => parseProcStat(readText(procPath(this.ctx.paths, 'stat'))));
    stat.cpus.forEach((now, id) => {
      const t = this.monotonic(id, now);
      const cpu = String(id);
      // In the exposition's (mode-sorted) order, so that render need not sort them.
      out.add(secondsDesc, t.idle, cpu, 'idle');
      out.add(secondsDesc, t.iowait, cpu, 'iowait');
      out.add(secondsDesc, t.irq, cpu, 'irq');
      out.add(secondsDesc, t.nice, cpu, 'nice');
      out.add(secondsDesc, t.softirq, cpu, 'softirq');
      out.add(secondsDesc, t.steal, cpu, 'steal');
      out.add(secondsDesc, t.system, cpu, 'system');
      out.add(secondsDesc, t.user, cpu, 'user');
      if (this.ctx.opts.cpuGuest) {
        // Guest time is also counted in user and nice; exposed separately, as node_exporter does.
        out.add(guestDesc, t.guestNice, cpu, 'nice');
        out.add(guestDesc, t.guest, cpu, 'user');
      }
    });
    this.updateIsolated(out);
    this.updateThermalThrottle(out);
  }

  private monotonic(id: number, now: CpuTimes): CpuTimes {
    let prev = this.last.get(id);
    if (prev !== undefined && prev.idle - now.idle >= JUMP_BACK_SECONDS) {
      this.ctx.logger.debug('CPU Idle counter jumped backwards, possible hotplug event, resetting CPU stats', { cpu: id });
      prev = undefined;
    }
    if (prev === undefined) {
      this.last.set(id, now);
      return now;
    }
    const next = { ...prev };
    for (const m of MODES) if (now[m] >= prev[m]) next[m] = now[m];
    this.last.set(id, next);
    return next;
  }

  private updateIsolated(out: MetricSet): void {
    const text = readOptional(sysPath(this.ctx.paths, 'devices/system/cpu/isolated'));
    if (text === undefined) return;
    for (const cpu of parseCpuList(text)) out.add(isolatedDesc, 1, String(cpu));
  }

  private updateThermalThrottle(out: MetricSet): void {
    const base = sysPath(this.ctx.paths, 'devices/system/cpu');
    let entries: string[];
    try {
      entries = readdirSync(base).filter((n) => /^cpu\d/.test(n));
    } catch (err) {
      if (isNotFound(err)) return;
      throw err;
    }
    const packageThrottles = new Map<string, number>();
    const coreThrottles = new Map<string, Map<string, number>>();
    for (let i = 0; i < entries.length; i++) {
      const dir = `${base}/${entries[i]}`;
      // VMs have no thermal_throttle: one existence check instead of four reads, two of them
      // failing (a thrown ENOENT costs several times a read).
      if (!existsSync(`${dir}/thermal_throttle`)) continue;
      const pkg = optionalUint(`${dir}/topology/physical_package_id`, this.ctx.logger);
      const core = optionalUint(`${dir}/topology/core_id`, this.ctx.logger);
      if (pkg === undefined || core === undefined) continue;
      const pkgId = String(pkg);
      let cores = coreThrottles.get(pkgId);
      if (cores === undefined) coreThrottles.set(pkgId, (cores = new Map()));
      // Sibling hyperthreads share a core: read each core's and each package's count once.
      if (!cores.has(String(core))) {
        const n = optionalUint(`${dir}/thermal_throttle/core_throttle_count`, this.ctx.logger);
        if (n !== undefined) cores.set(String(core), n);
      }
      if (!packageThrottles.has(pkgId)) {
        const n = optionalUint(`${dir}/thermal_throttle/package_throttle_count`, this.ctx.logger);
        if (n !== undefined) packageThrottles.set(pkgId, n);
      }
    }
    for (const [pkg, n] of packageThrottles) out.add(packageThrottleDesc, n, pkg);
    for (const [pkg, cores] of coreThrottles) for (const [core, n] of cores) out.add(coreThrottleDesc, n, pkg, core);
  }
}

/** A sysfs attribute that many machines lack (VMs have no thermal_throttle): absent is not an error. */
function optionalUint(path: string, logger: Logger): number | undefined {
  try {
    return readUint(path);
  } catch (err) {
    logger.debug('skipping unreadable CPU attribute', { path, err });
    return undefined;
  }
}

export const cpuFactory: CollectorFactory = { name: 'cpu', defaultEnabled: true, create: (ctx) => new CpuCollector(ctx) };
