// The proxy tunes V8's heap for a small, steady footprint, because a sidecar's memory is paid once per
// pod. Measured with 64 connections on 2 cores, one worker (docs/proxy.md, "Memory"):
//
// - The young generation stays at its initial size (1 MB semi-spaces) instead of growing to 16 MB
//   semi-spaces under load. Per request the proxy allocates small, short-lived objects; a small nursery
//   holds them as well and stays in the CPU cache. RSS under load: small GETs 127 -> 103 MB, 64 KiB
//   GETs 127 -> 111 MB; CPU per small GET unchanged (25 us), per 64 KiB GET lower (81-92 -> 67-79 us).
// - Array buffers freed by a scavenge are swept on the scavenging thread, not by a concurrent task.
//   Every socket read is an ArrayBuffer, and V8 counts unswept ones against the heap's limits: on a
//   busy core (a sidecar has one, or less) the concurrent sweeper lags, and with 64 KiB responses the
//   backlog started a full GC every 40-100 ms (25-93 Mark-Compacts in 4 s). Swept in the scavenge,
//   it was 1-14 Mark-Compacts; user CPU per 64 KiB GET 24-33 us instead of 27-75 us (the total with
//   the kernel's share, 65-85 us in `npm run bench`, moved within its run-to-run noise).
// - With one CPU to run on (taskset, a cpuset, a CPU limit of 1 or less), a scavenge is done by the
//   main thread alone. V8's parallel scavenge hands parts of it to helper threads, which can only run
//   in turns with the main thread there: the same work, plus switches. Measured with the proxy and its
//   origin pinned to one core, 10 interleaved rounds of `wrk -c64` each: small GETs 24,222 -> 24,841
//   req/s, and the scavengers' helper threads' CPU is gone (a standalone allocation loop on one core:
//   95 -> 20 jiffies on the helpers in 2 s). With more CPUs, V8's default stays.
// - PILLION_HEAP_GROWING_PERCENT=N (opt-in) lets the old generation grow only N % over what survived
//   the last full GC, instead of V8's dynamic factor (up to 4x). With 20: small GETs 103 -> 84 MB for
//   +2 us per request, but 64 KiB GETs pay about twice the CPU (68 -> 131 us) in full GCs, so it is not
//   the default.
//
// V8 reads these flags whenever it sizes a space or sweeps, so setting them at run time works (--max-semi-space-size
// is read only when the heap is created). Every new isolate resets the growth factor, so worker threads set
// the flags again when they start (v8-runtime-flags.ts). They are process-wide, so they cover worker threads too. A
// heap-sizing flag the user passes (node's command line or NODE_OPTIONS) is kept, not overridden.
import { availableCpus } from './cpus.js';
import { givenNodeFlags } from './node-flags.js';
import { setRuntimeFlags } from './v8-runtime-flags.js';

/** The flags to set: those the user did not give; the old-generation one only when asked for. */
export function heapFlagsToSet(execArgv: readonly string[], env: NodeJS.ProcessEnv, cpus: number): string[] {
  const given = givenNodeFlags(execArgv, env.NODE_OPTIONS ?? '');
  const out: string[] = [];
  if (!['--max-semi-space-size', '--min-semi-space-size', '--semi-space-growth-factor'].some((f) => given.has(f))) out.push('--semi-space-growth-factor=1');
  if (!given.has('--concurrent-array-buffer-sweeping') && !given.has('--no-concurrent-array-buffer-sweeping')) out.push('--no-concurrent-array-buffer-sweeping');
  if (cpus <= 1 && !given.has('--parallel-scavenge') && !given.has('--no-parallel-scavenge')) out.push('--no-parallel-scavenge');
  const growing = env.PILLION_HEAP_GROWING_PERCENT;
  if (!given.has('--heap-growing-percent') && growing !== undefined && /^[1-9][0-9]{0,2}$/.test(growing)) out.push(`--heap-growing-percent=${growing}`);
  return out;
}

export function tuneHeapForProxy(execArgv: readonly string[] = process.execArgv, env: NodeJS.ProcessEnv = process.env): string[] {
  const flags = heapFlagsToSet(execArgv, env, availableCpus());
  setRuntimeFlags(flags);
  return flags;
}
