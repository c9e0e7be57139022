// How many CPUs this process can run on at once: the CPUs it may be scheduled on (taskset, cpusets),
// capped by its cgroup's CPU quota (a Kubernetes CPU limit) rounded up. The proxy's heap tuning reads it.
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';

/** The quota in CPUs from cgroup v2's cpu.max ("max 100000" or "50000 100000"), or null for none. */
export function quotaFromCpuMax(text: string): number | null {
  const [quota, period] = text.trim().split(/\s+/);
  if (quota === undefined || quota === 'max' || period === undefined) return null;
  const q = Number(quota);
  const p = Number(period);
  return q > 0 && p > 0 ? q / p : null;
}

/** The own cgroup's CPU quota in CPUs (cgroup v2, then v1), or null when none is set or readable. */
function cgroupQuota(root = '/sys/fs/cgroup'): number | null {
  let lines: string[];
  try {
    lines = readFileSync('/proc/self/cgroup', 'utf8').split('\n');
  } catch {
    return null;
  }
  const v2 = lines.find((l) => l.startsWith('0::'));
  if (v2 !== undefined) {
    try {
      return quotaFromCpuMax(readFileSync(`${root}${v2.slice(3).replace(/\/$/, '')}/cpu.max`, 'utf8'));
    } catch { /* no cpu controller there: a v1 or hybrid host */ }
  }
  // v1: "4:cpu,cpuacct:/kubepods/..."
  const v1 = lines.map((l) => l.split(':')).find((f) => f.length >= 3 && f[1]!.split(',').includes('cpu'));
  if (v1 === undefined) return null;
  const dir = `${root}/${v1[1]}${v1.slice(2).join(':').replace(/\/$/, '')}`;
  try {
    const q = Number(readFileSync(`${dir}/cpu.cfs_quota_us`, 'utf8'));
    const p = Number(readFileSync(`${dir}/cpu.cfs_period_us`, 'utf8'));
    return q > 0 && p > 0 ? q / p : null;
  } catch {
    return null;
  }
}

export function availableCpus(): number {
  const quota = cgroupQuota();
  const n = availableParallelism();
  return quota === null ? n : Math.max(1, Math.min(n, Math.ceil(quota)));
}
