// The contract between the scrape loop and one collector (node_exporter's `Collector` interface).
import { readFileSync } from 'node:fs';
import type { MetricSet } from './exposition.js';

/**
 * One named source of metrics. `update` reads the kernel's files at scrape time (no background
 * polling) and adds samples to `out`. Throwing marks only this collector as failed
 * (`node_scrape_collector_success 0`); the others still answer.
 */
export interface Collector {
  readonly name: string;
  update(out: MetricSet, memo: ScrapeMemo): void | Promise<void>;
}

/**
 * Values computed once per scrape and shared by collectors: /proc/stat feeds both cpu and stat,
 * and on a big host (hundreds of CPUs, thousands of IRQ columns) generating it is the most
 * expensive read of the scrape. A failed computation is not cached: each caller sees the error.
 */
export class ScrapeMemo {
  private readonly values = new Map<string, unknown>();

  get<T>(key: string, compute: () => T): T {
    if (this.values.has(key)) return this.values.get(key) as T;
    const v = compute();
    this.values.set(key, v);
    return v;
  }
}

/**
 * Thrown when a collector has nothing to report on this host (e.g. no PSI on an old kernel).
 * node_exporter logs that at debug level, not error, but still reports success 0.
 */
export class NoDataError extends Error {
  override readonly name = 'NoDataError';
}

/** Where the host's pseudo-filesystems are, after --path.* flags (node_exporter's procPath etc.). */
export interface HostPaths {
  procfs: string;
  sysfs: string;
  rootfs: string;
  udevData: string;
}

// Plain concatenation, not path.join (whose normalisation showed up in profiles): these run for
// every file of every scrape, and the kernel
// does not mind a doubled slash.
export function procPath(paths: HostPaths, ...parts: string[]): string {
  return `${paths.procfs}/${parts.join('/')}`;
}

export function sysPath(paths: HostPaths, ...parts: string[]): string {
  return `${paths.sysfs}/${parts.join('/')}`;
}

/**
 * Reads a small kernel file whole. Synchronous on purpose: /proc and /sys files are generated in
 * memory by the kernel and return at once, and a sync read costs one syscall trip instead of the
 * four thread-pool round trips of fs.promises.readFile (open, fstat, read, close), which is most of
 * the CPU a scrape spends. Calls that can block on a device (statfs of a network mount) are async
 * with a timeout instead (see filesystem.ts).
 */
export function readText(path: string): string {
  return readFileSync(path, 'utf8');
}

/** Like readText, but undefined when the file does not exist (optional kernel features). */
export function readOptional(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

/** Reads a file holding one unsigned integer, as node_exporter's readUintFromFile. */
export function readUint(path: string): number {
  const text = readText(path).trim();
  if (!/^\d+$/.test(text)) throw new Error(`${path}: not an unsigned integer: ${JSON.stringify(text.slice(0, 40))}`);
  return Number(text);
}

export function isNotFound(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}
