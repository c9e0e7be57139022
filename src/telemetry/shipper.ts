// The main thread's side of the access log: batches from every data plane go to the log-ship pool
// (piscina) per sink, within a memory bound; beyond it they go to the spool, beyond that they are
// dropped and counted, never blocking traffic. A timer ships the spool when a sink is back (and at
// start, so a restart ships what a previous run spooled). On drain, everything in flight is awaited.
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { Piscina } from 'piscina';
import type { Config } from '../config/types.js';
import { log } from '../util/log.js';
import type { AccessLogConfig } from './config.js';
import { Num, NUM_COLS, type RecordBatch } from './record.js';
import type { DrainTask, ShipResult, ShipTask } from '../workers/log-ship.worker.js';

/** Stat slots the shipper counts into (main thread). */
export interface ShipperStats {
  stats: Float64Array;
  written: number;
  shipped: number;
  spooled: number;
  dropped: number;
  batchesFailed: number;
  retries: number;
}

interface SinkState {
  sink: AccessLogConfig;
  spool: string | null;
  draining: boolean;
}

/** Rough bytes a queued row holds (strings and numbers), for the memory bound. */
const ROW_BYTES = 300;

export class Shipper {
  private pool: Piscina | null = null;
  private sinks = new Map<string, SinkState[]>();
  private queuedBytes = 0;
  private readonly inFlight = new Set<Promise<void>>();
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly s: ShipperStats) {}

  /** The sinks of a (new) config. The pool starts when the first sink appears. */
  configure(config: Config): void {
    const next = new Map<string, SinkState[]>();
    for (const l of config.listeners) {
      if (l.access_log === null) continue;
      next.set(l.name, l.access_log.sinks.map((sink, i) => ({
        sink,
        // One spool directory per sink, named after what it ships to, so a restart finds it again.
        spool: sink.kind === 'http' && sink.spool_dir !== null
          ? join(sink.spool_dir, `${l.name}-${i}-${createHash('sha256').update(sink.http!.url).digest('hex').slice(0, 8)}`)
          : null,
        draining: false,
      })));
    }
    this.sinks = next;
    if (next.size > 0 && this.pool === null) {
      this.pool = new Piscina({
        filename: new URL('../workers/log-ship.worker.js', import.meta.url).href,
        // One thread: formatting a batch takes well under a millisecond per thousand rows, and one
        // writer keeps file appends and the spool in order.
        minThreads: 1,
        maxThreads: 1,
        idleTimeout: 60_000,
      });
      this.timer = setInterval(() => this.drainSpools(), 2000);
      this.timer.unref();
      this.drainSpools();
    }
  }

  get queueSize(): number {
    return this.pool?.queueSize ?? 0;
  }

  /** A batch from a data plane. Never waits: the request path must not. */
  submit(batch: RecordBatch): void {
    const sinks = this.sinks.get(batch.listener);
    if (sinks === undefined || this.pool === null) return;
    for (let i = 0; i < sinks.length; i++) {
      const st = sinks[i]!;
      const rows = countRows(batch, i);
      if (rows === 0) continue;
      const bytes = rows * ROW_BYTES;
      const overMemory = this.queuedBytes + bytes > st.sink.max_memory_bytes;
      if (overMemory && st.spool === null) {
        this.s.stats[this.s.dropped] += rows;
        continue;
      }
      const task: ShipTask = { op: 'ship', sink: st.sink, bit: i, batch, spool: st.spool, spoolOnly: overMemory };
      this.queuedBytes += bytes;
      this.track(this.pool.run(task).then(
        (r: ShipResult) => this.account(r),
        (err: unknown) => {
          this.s.stats[this.s.dropped] += rows;
          this.s.stats[this.s.batchesFailed]++;
          log.warn('access log batch lost', { err });
        },
      ).finally(() => { this.queuedBytes -= bytes; }));
    }
  }

  private account(r: ShipResult): void {
    const s = this.s;
    if (r.stdout !== undefined) process.stdout.write(r.stdout);
    s.stats[s.written] += r.written;
    s.stats[s.shipped] += r.shipped;
    s.stats[s.spooled] += r.spooled;
    s.stats[s.dropped] += r.dropped;
    s.stats[s.retries] += r.failedAttempts;
    if (r.error !== undefined) {
      s.stats[s.batchesFailed]++;
      log.warn('access log sink failed', { error: r.error, spooled: r.spooled, dropped: r.dropped });
    }
  }

  private track(p: Promise<void>): void {
    this.inFlight.add(p);
    void p.finally(() => this.inFlight.delete(p));
  }

  /** Ships spooled batches of every HTTP sink (one drain at a time per sink). */
  private drainSpools(): void {
    if (this.pool === null) return;
    for (const sinks of this.sinks.values()) {
      for (const st of sinks) {
        if (st.spool === null || st.draining) continue;
        st.draining = true;
        const task: DrainTask = { op: 'drain', sink: st.sink, spool: st.spool };
        this.track(this.pool.run(task).then(
          (r: ShipResult) => { this.s.stats[this.s.shipped] += r.shipped; },
          (err: unknown) => log.warn('access log spool drain failed', { err }),
        ).finally(() => { st.draining = false; }));
      }
    }
  }

  /** Drain: waits for every batch in flight (bounded), then one last spool drain, then stops. */
  async close(timeoutMs: number): Promise<void> {
    if (this.timer !== null) clearInterval(this.timer);
    const deadline = Date.now() + timeoutMs;
    while (this.inFlight.size > 0 && Date.now() < deadline) {
      await Promise.race([Promise.allSettled([...this.inFlight]), new Promise((r) => setTimeout(r, Math.max(1, deadline - Date.now())))]);
    }
    if (this.inFlight.size > 0) log.warn('access log: batches still in flight at exit', { batches: this.inFlight.size });
    await this.pool?.destroy();
    this.pool = null;
  }
}

function countRows(b: RecordBatch, bit: number): number {
  const m = 1 << bit;
  let n = 0;
  for (let r = 0; r < b.rows; r++) if ((b.nums[r * NUM_COLS + Num.SinkMask]! & m) !== 0) n++;
  return n;
}
