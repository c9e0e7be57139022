// V8 settings that keep `pillion agent` inside its memory budget (issue 6: steady RSS at most 50 MB;
// measurements in docs/agent.md, Footprint), applied by the agent itself so that the plain command
// (`pillion agent`, the image's entrypoint, the DaemonSet) gets them without node flags.
//
// Each is what a node flag would do, set with v8.setFlagsFromString before the scrape code runs:
//   --max-opt=1                  stop at Sparkplug: TurboFan's code and the compiler itself cost
//                                about 4 MB of RSS; the scrape's time is syscalls, gzip and socket I/O.
//                                NODE_OPTIONS refuses --max-opt, so this is the only way to get it
//                                without changing the node command line.
//   --semi-space-growth-factor=1 the young generation stays at its initial size instead of growing
//                                to 32 MB under a burst of scrapes (--max-semi-space-size=1 needs to
//                                be on the command line: V8 sizes the heap once, at start; the
//                                growth factor is read at each scavenge, so it works from here).
//   --expose-gc                  only to get a gc() for HeapKeeper (heap-keeper.ts): the flag
//                                installs gc() in contexts created after it, so one is taken from a
//                                new vm context; the agent's own global stays as it is.
// A setting given on the command line or in NODE_OPTIONS wins: nothing here overrides it.
import { runInNewContext } from 'node:vm';
import { givenNodeFlags } from '../util/node-flags.js';
import { setRuntimeFlags } from '../util/v8-runtime-flags.js';

export interface LeanV8 {
  /** A full GC for HeapKeeper: node's own gc() under --expose-gc, else one taken from a vm context. */
  gc: () => void;
  /** The flags set here, for the startup log; empty when the command line had them all. */
  applied: string[];
}

/**
 * The settings still to apply: those the command line (`execArgv`) and NODE_OPTIONS do not already
 * set, either way (`--max-opt=4` keeps TurboFan; `--max-semi-space-size` replaces the growth factor).
 */
export function leanFlagsToSet(execArgv: readonly string[], nodeOptions: string): string[] {
  const given = givenNodeFlags(execArgv, nodeOptions);
  const has = (...names: string[]): boolean => names.some((n) => given.has(n));
  const out: string[] = [];
  if (!has('--max-opt')) out.push('--max-opt=1');
  if (!has('--max-semi-space-size', '--semi-space-growth-factor')) out.push('--semi-space-growth-factor=1');
  if (!has('--expose-gc')) out.push('--expose-gc');
  return out;
}

let done: LeanV8 | undefined;

/**
 * Applies the settings once per process (later calls return the first result). cli.ts calls it
 * before it loads the agent's modules: loading them is enough work for V8 to send node's own
 * module-resolution functions to TurboFan, and that alone pages in the compiler (measured: 3.7 MB
 * more file-backed RSS when this ran in main.ts instead).
 */
export function applyLeanV8(execArgv: readonly string[] = process.execArgv, nodeOptions: string = process.env['NODE_OPTIONS'] ?? ''): LeanV8 {
  if (done !== undefined) return done;
  const applied = leanFlagsToSet(execArgv, nodeOptions);
  setRuntimeFlags(applied);
  // Under --expose-gc on the command line node's gc() is there; else the flag was just set, and a
  // new context gets one.
  const own = (globalThis as { gc?: () => void }).gc;
  const gc = typeof own === 'function' ? own : runInNewContext('gc') as () => void;
  done = { gc, applied };
  return done;
}
