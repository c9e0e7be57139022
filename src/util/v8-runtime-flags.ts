// V8 flags set at run time (v8.setFlagsFromString), and why worker threads set them again.
//
// V8's flags are process-wide, and creating an isolate rewrites one of them: a new heap raises
// --semi-space-growth-factor to at least 2, so the first worker thread (a data plane, the log-ship
// pool, the metrics pool on the first scrape) silently undid the proxy's young-generation cap
// (heap-tuning.ts), for the main thread too. Measured with one worker started, 64 connections on
// one core: the main thread's new space grew from 4 to 32 MB, scavenges went from about 290 to about 75
// in 5 s but their median pause from 0.6 to 1.2 ms, and p99 went up by 15-20 % (docs/telemetry.md,
// "Cost"). So each worker thread, once its isolate exists, sets the main thread's flags again.
//
// The flags travel in an environment variable (a worker gets a copy of the parent's environment),
// tagged with the process id so that a child process that inherits it does not take it for its own.
import { setFlagsFromString } from 'node:v8';

const ENV = 'PILLION_RUNTIME_V8_FLAGS';

/** Sets the flags and records them for the worker threads started after this. */
export function setRuntimeFlags(flags: readonly string[]): void {
  for (const f of flags) setFlagsFromString(f);
  if (flags.length === 0) return;
  const mine = ownFlags();
  process.env[ENV] = `${process.pid} ${[...mine, ...flags.filter((f) => !mine.includes(f))].join(' ')}`;
}

/** In a worker thread, at start: the flags this process's main thread set, set again. */
export function restoreRuntimeFlags(): void {
  for (const f of ownFlags()) setFlagsFromString(f);
}

function ownFlags(): string[] {
  const v = process.env[ENV];
  if (v === undefined) return [];
  const [pid, ...flags] = v.split(' ');
  return pid === String(process.pid) ? flags.filter((f) => f !== '') : [];
}
