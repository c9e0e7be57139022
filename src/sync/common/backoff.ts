// Poll and retry delays. Both are jittered so that a fleet of sidecars started by one rollout does
// not hit the config centre in lockstep, and a recovering centre is not stampeded by every pod's
// retry at the same instant. `random` is injectable so tests can pin the jitter.

export type Random = () => number;

/** Interval ± `jitter` (a fraction, 0.1 = ±10 %). */
export function jitteredInterval(intervalMs: number, jitter: number, random: Random = Math.random): number {
  return Math.max(0, intervalMs * (1 + jitter * (2 * random() - 1)));
}

/**
 * Exponential backoff with "equal jitter": half the capped exponential step is fixed, half random.
 * Full jitter could retry immediately; equal jitter keeps a floor while still spreading retries.
 * `failures` counts consecutive failures, starting at 1.
 */
export function backoffDelay(failures: number, baseMs: number, maxMs: number, random: Random = Math.random): number {
  const exp = Math.min(maxMs, baseMs * 2 ** Math.min(failures - 1, 30));
  return exp / 2 + random() * (exp / 2);
}
