// /proc readers for the bench: CPU time (user+sys) and resident memory of a process and its
// descendants (nginx master + worker). Linux only; elsewhere every reader returns null and the
// table shows "-".
import { readFileSync, readdirSync } from 'node:fs';
import { execFileSync } from 'node:child_process';

let clkTck = 100;
try {
  clkTck = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
} catch {
  // getconf missing: Linux's USER_HZ is 100 on every mainstream architecture.
  clkTck = 100;
}

interface StatLine {
  ppid: number;
  /** user + system time, in clock ticks */
  ticks: number;
}

function readStat(pid: number): StatLine | null {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null; // gone
  }
  // The command name (field 2) may hold spaces and parentheses: parse after the last ')'.
  const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // rest[0] is field 3 (state): ppid is field 4, utime 14, stime 15.
  return { ppid: Number(rest[1]), ticks: Number(rest[11]) + Number(rest[12]) };
}

/** `pid` and every process below it (nginx's master forks its worker). */
export function processTree(pid: number): number[] {
  const children = new Map<number, number[]>();
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return [pid];
  }
  for (const e of entries) {
    const p = Number(e);
    if (!Number.isInteger(p) || p <= 0) continue;
    const s = readStat(p);
    if (s === null) continue;
    let list = children.get(s.ppid);
    if (list === undefined) children.set(s.ppid, (list = []));
    list.push(p);
  }
  const out: number[] = [];
  const todo = [pid];
  while (todo.length > 0 && out.length < 64) {
    const p = todo.pop() as number;
    out.push(p);
    for (const c of children.get(p) ?? []) todo.push(c);
  }
  return out;
}

/** Summed user+sys CPU seconds of `pids` (processes that are gone count 0). */
export function cpuSeconds(pids: readonly number[]): number | null {
  let ticks = 0;
  let any = false;
  for (const p of pids) {
    const s = readStat(p);
    if (s === null) continue;
    any = true;
    ticks += s.ticks;
  }
  return any ? ticks / clkTck : null;
}

/** Summed VmRSS of `pids`, in bytes. */
export function rssBytes(pids: readonly number[]): number | null {
  let total = 0;
  let any = false;
  for (const p of pids) {
    let text: string;
    try {
      text = readFileSync(`/proc/${p}/status`, 'utf8');
    } catch {
      continue;
    }
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(text);
    if (m === null) continue;
    any = true;
    total += Number(m[1]) * 1024;
  }
  return any ? total : null;
}

/** Samples the max RSS of a set of processes every `everyMs` until stopped. */
export class RssSampler {
  max: number | null = null;
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly pids: readonly number[], everyMs = 100) {
    this.sample();
    this.timer = setInterval(() => this.sample(), everyMs);
  }

  private sample(): void {
    const v = rssBytes(this.pids);
    if (v !== null && (this.max === null || v > this.max)) this.max = v;
  }

  stop(): number | null {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    this.sample();
    return this.max;
  }
}

export function cpuModel(): string {
  try {
    const m = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    if (m !== null) return m[1].trim();
  } catch {
    // not Linux: fall through to os.cpus() in the caller
  }
  return '';
}

export function loadAverage(): string {
  try {
    return readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  } catch {
    return '';
  }
}

/** Busy and total seconds of one core since boot, from /proc/stat (null when unreadable). */
export function coreSeconds(core: number): { busy: number; total: number } | null {
  try {
    const line = readFileSync('/proc/stat', 'utf8')
      .split('\n')
      .find((l) => l.startsWith(`cpu${core} `));
    if (line === undefined) return null;
    // user nice system idle iowait irq softirq steal ...
    // busy leaves out irq and softirq: the kernel may account the loopback network work of our own
    // traffic there rather than to the processes, and it would then read as someone else's load.
    // steal (the hypervisor running someone else) counts.
    const f = line.trim().split(/\s+/).slice(1).map(Number);
    const busy = f[0] + f[1] + f[2] + (f[7] ?? 0);
    return { busy: busy / clkTck, total: (busy + f[3] + f[4] + f[5] + f[6]) / clkTck };
  } catch {
    return null;
  }
}
