// containers (pillion only, not in node_exporter): per-container CPU, memory and I/O from the
// cgroup v2 hierarchy, so a cluster gets container usage without also running cAdvisor.
//
// Which cgroup is a container, and whose, is read from its path, the only place the node knows it:
//   systemd driver: kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod<uid>.slice/cri-containerd-<id>.scope
//   cgroupfs driver: kubepods/burstable/pod<uid>/<id>
//   plain Docker/Podman: system.slice/docker-<id>.scope, machine.slice/libpod-<id>.scope
// Pod and container *names* are not on the node's filesystem; join on pod_uid with
// kube_pod_info (kube-state-metrics) for those. Names and units are documented in docs/agent.md.
import { readdirSync, readlinkSync, type Dirent } from 'node:fs';
import { basename } from 'node:path';
import { isNotFound, NoDataError, readOptional, sysPath, type Collector } from '../collector.js';
import { MetricDesc, type MetricSet } from '../exposition.js';
import { isUint } from '../procfs/fields.js';
import type { CollectorContext, CollectorFactory } from './context.js';

// No cgroup-path label: container_id already names the series, and the path (~150 bytes on a
// kubepods slice) repeated on every series made a 100-container scrape five times bigger.
const L = ['container_id', 'pod_uid', 'qos_class'];
const LD = [...L, 'device'];
const d = {
  cpuUsage: new MetricDesc('pillion_container_cpu_usage_seconds_total', 'CPU time consumed by the container (cgroup v2 cpu.stat usage_usec).', 'counter', L),
  cpuUser: new MetricDesc('pillion_container_cpu_user_seconds_total', 'CPU time consumed in user mode (cpu.stat user_usec).', 'counter', L),
  cpuSystem: new MetricDesc('pillion_container_cpu_system_seconds_total', 'CPU time consumed in kernel mode (cpu.stat system_usec).', 'counter', L),
  cpuPeriods: new MetricDesc('pillion_container_cpu_cfs_periods_total', 'Enforcement periods elapsed with a CPU limit set (cpu.stat nr_periods).', 'counter', L),
  cpuThrottledPeriods: new MetricDesc('pillion_container_cpu_cfs_throttled_periods_total', 'Periods in which the container was throttled (cpu.stat nr_throttled).', 'counter', L),
  cpuThrottled: new MetricDesc('pillion_container_cpu_cfs_throttled_seconds_total', 'Time the container was throttled (cpu.stat throttled_usec).', 'counter', L),
  memUsage: new MetricDesc('pillion_container_memory_usage_bytes', 'Memory charged to the container, page cache included (memory.current).', 'gauge', L),
  memWorkingSet: new MetricDesc('pillion_container_memory_working_set_bytes', 'memory.current minus inactive_file: what the kubelet evicts on and the OOM killer sees.', 'gauge', L),
  memAnon: new MetricDesc('pillion_container_memory_rss_bytes', 'Anonymous memory (memory.stat anon).', 'gauge', L),
  memFile: new MetricDesc('pillion_container_memory_cache_bytes', 'Page cache (memory.stat file).', 'gauge', L),
  memLimit: new MetricDesc('pillion_container_memory_limit_bytes', 'Memory limit (memory.max); absent when unlimited.', 'gauge', L),
  oomKills: new MetricDesc('pillion_container_oom_kills_total', 'Processes killed by the OOM killer in this cgroup (memory.events oom_kill).', 'counter', L),
  pids: new MetricDesc('pillion_container_pids', 'Processes and threads in the container (pids.current).', 'gauge', L),
  ioReadBytes: new MetricDesc('pillion_container_io_read_bytes_total', 'Bytes read from the block device (io.stat rbytes).', 'counter', LD),
  ioWrittenBytes: new MetricDesc('pillion_container_io_written_bytes_total', 'Bytes written to the block device (io.stat wbytes).', 'counter', LD),
  ioReads: new MetricDesc('pillion_container_io_reads_total', 'Read operations on the block device (io.stat rios).', 'counter', LD),
  ioWrites: new MetricDesc('pillion_container_io_writes_total', 'Write operations on the block device (io.stat wios).', 'counter', LD),
};

/** A container runtime's cgroup leaf name: optional runtime prefix, a 64-hex ID, optional .scope. */
const CONTAINER_RE = /^(?:(?:docker|cri-containerd|crio|containerd|libpod|cri-o)-)?([0-9a-f]{64})(?:\.scope)?$/;
/** A pod's cgroup: "pod<uid>" (cgroupfs) or "...-pod<uid_with_underscores>.slice" (systemd). */
const POD_RE = /(?:^|-)pod([0-9a-f]{8}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{12})(?:\.slice)?$/;
/** Deep enough for kubepods.slice/<qos>.slice/<pod>.slice/<container>.scope under nested slices. */
const MAX_DEPTH = 8;

export interface ContainerCgroup {
  /** Path relative to the cgroup root, e.g. "kubepods.slice/.../cri-containerd-<id>.scope". */
  path: string;
  containerId: string;
  podUid: string;
  qosClass: string;
}

/** Derives container identity from a cgroup path, or undefined when it is not a container. */
export function identifyContainer(relPath: string): ContainerCgroup | undefined {
  const segs = relPath.split('/');
  const m = CONTAINER_RE.exec(segs[segs.length - 1] ?? '');
  if (!m) return undefined;
  let podUid = '';
  let qosClass = '';
  for (const s of segs.slice(0, -1)) {
    const p = POD_RE.exec(s);
    if (p) podUid = p[1]!.replace(/_/g, '-');
    if (/^kubepods/.test(s)) qosClass ||= 'guaranteed';
    if (/(^|-)burstable(\.slice)?$/.test(s)) qosClass = 'burstable';
    if (/(^|-)besteffort(\.slice)?$/.test(s)) qosClass = 'besteffort';
  }
  return { path: relPath, containerId: m[1]!, podUid, qosClass };
}

/** Parses "key value" lines (cpu.stat, memory.stat, memory.events). */
export function parseFlatKeyed(text: string | undefined): Map<string, number> {
  const out = new Map<string, number>();
  if (text === undefined) return out;
  for (const line of text.split('\n')) {
    const sp = line.indexOf(' ');
    if (sp <= 0) continue;
    const v = line.slice(sp + 1).trim();
    if (isUint(v)) out.set(line.slice(0, sp), Number(v));
  }
  return out;
}

/** Parses io.stat: "8:0 rbytes=1 wbytes=2 rios=3 wios=4 dbytes=0 dios=0" per device. */
export function parseIoStat(text: string | undefined): Map<string, Map<string, number>> {
  const out = new Map<string, Map<string, number>>();
  if (text === undefined) return out;
  for (const line of text.split('\n')) {
    const [dev, ...pairs] = line.trim().split(/\s+/);
    if (!dev || !/^\d+:\d+$/.test(dev)) continue;
    const kv = new Map<string, number>();
    for (const p of pairs) {
      const eq = p.indexOf('=');
      const v = p.slice(eq + 1);
      if (eq > 0 && /^\d+$/.test(v)) kv.set(p.slice(0, eq), Number(v));
    }
    out.set(dev, kv);
  }
  return out;
}

export class ContainersCollector implements Collector {
  readonly name = 'containers';
  private readonly root: string;

  constructor(private readonly ctx: CollectorContext) {
    this.root = sysPath(ctx.paths, ctx.opts.containersCgroupPath);
  }

  update(out: MetricSet): void {
    if (readOptional(`${this.root}/cgroup.controllers`) === undefined) {
      throw new NoDataError(`no cgroup v2 hierarchy at ${this.root} (cgroup v1 hosts are not supported)`);
    }
    const deviceNames = new Map<string, string>();
    for (const c of this.findContainers()) this.emit(out, c, deviceNames);
  }

  private findContainers(): ContainerCgroup[] {
    const found: ContainerCgroup[] = [];
    const walk = (rel: string, depth: number): void => {
      let entries: Dirent[];
      try {
        entries = readdirSync(rel === '' ? this.root : `${this.root}/${rel}`, { withFileTypes: true });
      } catch (err) {
        // A cgroup removed while we walk (container exited) is normal churn, not a failure.
        if (isNotFound(err)) return;
        throw err;
      }
      for (const e of entries) {
        if (!e.isDirectory()) continue;
        const child = rel === '' ? e.name : `${rel}/${e.name}`;
        const c = identifyContainer(child);
        if (c !== undefined) found.push(c); // a container's own sub-cgroups are its business
        else if (depth < MAX_DEPTH) walk(child, depth + 1);
      }
    };
    walk('', 0);
    return found;
  }

  private emit(out: MetricSet, c: ContainerCgroup, deviceNames: Map<string, string>): void {
    const dir = `${this.root}/${c.path}`;
    const read = (f: string): string | undefined => {
      try {
        return readOptional(`${dir}/${f}`);
      } catch (err) {
        this.ctx.logger.debug('unreadable cgroup file', { path: `${dir}/${f}`, err });
        return undefined;
      }
    };
    const lv = [c.containerId, c.podUid, c.qosClass];
    const cpu = parseFlatKeyed(read('cpu.stat'));
    const us = (k: string, desc: MetricDesc): void => {
      const v = cpu.get(k);
      if (v !== undefined) out.add(desc, v / 1e6, ...lv);
    };
    us('usage_usec', d.cpuUsage);
    us('user_usec', d.cpuUser);
    us('system_usec', d.cpuSystem);
    us('throttled_usec', d.cpuThrottled);
    if (cpu.has('nr_periods')) out.add(d.cpuPeriods, cpu.get('nr_periods')!, ...lv);
    if (cpu.has('nr_throttled')) out.add(d.cpuThrottledPeriods, cpu.get('nr_throttled')!, ...lv);

    const current = read('memory.current')?.trim();
    const mem = parseFlatKeyed(read('memory.stat'));
    if (current !== undefined && /^\d+$/.test(current)) {
      const usage = Number(current);
      out.add(d.memUsage, usage, ...lv);
      out.add(d.memWorkingSet, Math.max(0, usage - (mem.get('inactive_file') ?? 0)), ...lv);
    }
    if (mem.has('anon')) out.add(d.memAnon, mem.get('anon')!, ...lv);
    if (mem.has('file')) out.add(d.memFile, mem.get('file')!, ...lv);
    const max = read('memory.max')?.trim();
    if (max !== undefined && /^\d+$/.test(max)) out.add(d.memLimit, Number(max), ...lv);
    const events = parseFlatKeyed(read('memory.events'));
    if (events.has('oom_kill')) out.add(d.oomKills, events.get('oom_kill')!, ...lv);
    const pids = read('pids.current')?.trim();
    if (pids !== undefined && /^\d+$/.test(pids)) out.add(d.pids, Number(pids), ...lv);

    for (const [dev, kv] of parseIoStat(read('io.stat'))) {
      const name = this.deviceName(dev, deviceNames);
      const add = (k: string, desc: MetricDesc): void => {
        const v = kv.get(k);
        if (v !== undefined) out.add(desc, v, ...lv, name);
      };
      add('rbytes', d.ioReadBytes);
      add('wbytes', d.ioWrittenBytes);
      add('rios', d.ioReads);
      add('wios', d.ioWrites);
    }
  }

  /** "8:0" to "sda" via /sys/dev/block, so the label joins with node_disk_*{device}; else "8:0". */
  private deviceName(majMin: string, cache: Map<string, string>): string {
    let name = cache.get(majMin);
    if (name === undefined) {
      try {
        name = basename(readlinkSync(sysPath(this.ctx.paths, 'dev/block', majMin)));
      } catch (err) {
        this.ctx.logger.debug('no /sys/dev/block entry for device', { device: majMin, err });
        name = majMin;
      }
      cache.set(majMin, name);
    }
    return name;
  }
}

export const containersFactory: CollectorFactory = { name: 'containers', defaultEnabled: true, create: (ctx) => new ContainersCollector(ctx) };
