// Parser for /proc/stat, shared by the cpu and stat collectors (as prometheus/procfs Stat is).

/** Ticks per second the kernel reports /proc/stat times in (USER_HZ, fixed at 100 on Linux). */
export const USER_HZ = 100;

/** Seconds per mode for one CPU, already divided by USER_HZ. */
export interface CpuTimes {
  user: number;
  nice: number;
  system: number;
  idle: number;
  iowait: number;
  irq: number;
  softirq: number;
  steal: number;
  guest: number;
  guestNice: number;
}

export interface ProcStat {
  /** Per-CPU times keyed by CPU number; the aggregate "cpu" line is left out. */
  cpus: Map<number, CpuTimes>;
  bootTime: number;
  contextSwitches: number;
  interrupts: number;
  forks: number;
  procsRunning: number;
  procsBlocked: number;
  /** The per-vector softirq counts in the kernel's order (see SOFTIRQ_VECTORS), if present. */
  softirqs: number[] | undefined;
}

/** The kernel's softirq vector order in the `softirq` line (kernel/softirq.c softirq_to_name). */
export const SOFTIRQ_VECTORS = ['hi', 'timer', 'net_tx', 'net_rx', 'block', 'block_iopoll', 'tasklet', 'sched', 'hrtimer', 'rcu'] as const;

import { fields, isUint } from './fields.js';

function uint(text: string | undefined, what: string): number {
  if (!isUint(text)) throw new Error(`/proc/stat: bad ${what} value ${JSON.stringify(text)}`);
  return Number(text);
}

export function parseProcStat(text: string): ProcStat {
  const stat: ProcStat = {
    cpus: new Map(),
    bootTime: 0,
    contextSwitches: 0,
    interrupts: 0,
    forks: 0,
    procsRunning: 0,
    procsBlocked: 0,
    softirqs: undefined,
  };
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    // The intr line holds one counter per IRQ (thousands on big hosts) and only its total is
    // used: split just the first fields of it.
    const f = fields(line, line.startsWith('intr ') ? 2 : Infinity);
    const key = f[0];
    if (key === undefined || f.length < 2) continue;
    switch (key) {
      case 'btime': stat.bootTime = uint(f[1], key); break;
      case 'ctxt': stat.contextSwitches = uint(f[1], key); break;
      case 'intr': stat.interrupts = uint(f[1], key); break;
      case 'processes': stat.forks = uint(f[1], key); break;
      case 'procs_running': stat.procsRunning = uint(f[1], key); break;
      case 'procs_blocked': stat.procsBlocked = uint(f[1], key); break;
      case 'softirq': stat.softirqs = f.slice(2).map((v) => uint(v, key)); break;
      default:
        if (key.startsWith('cpu') && key !== 'cpu') {
          const id = uint(key.slice(3), 'cpu number');
          stat.cpus.set(id, parseCpuLine(f));
        }
    }
  }
  return stat;
}

function parseCpuLine(f: string[]): CpuTimes {
  // Older kernels print fewer columns (no steal/guest); missing ones are 0, as procfs does.
  const t = (i: number): number => (f[i] === undefined ? 0 : uint(f[i], f[0]!) / USER_HZ);
  return {
    user: t(1), nice: t(2), system: t(3), idle: t(4), iowait: t(5),
    irq: t(6), softirq: t(7), steal: t(8), guest: t(9), guestNice: t(10),
  };
}
