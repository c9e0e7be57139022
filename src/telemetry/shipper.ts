// The main thread's side of the access log: batches from every data plane go to the log-ship pool
// (piscina) per sink, within a memory bound per sink; beyond it they go to the spool, beyond that they
// are dropped and counted, never blocking traffic. A timer ships the spool when a sink is back (and at
// start, so a restart ships what a previous run spooled). On drain, everything in flight is awaited.
//
//   data planes ──batch──▶ submit() ─┬─ file/stdout sink ──────────────────────▶ pool task (sync write)
//                                    └─ HTTP sink ─▶ waiting ─(≤ MAX_POSTS)─────▶ pool task (POST)
//                                         │ held bytes > max_memory_bytes
//                                         └─▶ spool-only task (sync write) or dropped (no spool)
//
// HTTP posts wait on the network inside the pool, so the pool runs tasks concurrently; a sink that
// hangs holds at most MAX_POSTS of them and its other batches wait here (bounded) or spill, so it
// never holds up the other sinks.
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import type { Piscina } from 'piscina';
import type { Config } from '../config/types.js';
import { log } from '../util/log.js';
import type { AccessLogConfig } from './config.js';
import { Num, NUM_COLS, type RecordBatch } from './record.js';
import { giveBack } from './batch-memory.js';
import { newLogShipPool } from './log-ship-pool.js';
import { abortPosts } from './sinks.js';
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

interface Pending {
  task: ShipTask;
  rows: number;
  bytes: number;
  hold: Hold;
}

/** A batch's tasks not finished yet (plus one while submit() runs): at 0 its memory goes back. */
interface Hold {
  n: number;
  lease: Int32Array | undefined;
}

interface SinkState {
  sink: AccessLogConfig;
  spool: string | null;
  draining: boolean;
  /** Bytes of the batches this sink holds in memory: waiting, and being posted or written. */
  held: number;
  /** HTTP: posts in flight, and batches waiting for one. */
  posting: number;
  waiting: Pending[];
}

/**
 * The log-ship thread's nice value (Linux: per thread; the proxy's other threads keep theirs).
 *
 * On a busy core the thread's work per batch (the file write and the POST, about 1 ms per 4096
 * records) preempted the data plane's thread when it woke: the requests in flight waited for all of
 * it. At nice 19 the scheduler runs it when the data plane waits for I/O, or in its small share, and
 * its wake-up no longer cuts in. That share (weight 15 against 1024 per busy nice-0 thread: 1.4 % of
 * a core beside one data-plane thread, 0.7 % with the app on the same core as in the bench) is above
 * what it needs, 0.6 % at 25k req/s: over a 30 s saturated run the records not yet written stayed
 * under one batch or two, and none was dropped. Batches that wait stay within the memory bound like
 * any other. `pillion logs` does not lower it: there the pool's thread is the work.
 *
 * It pays only with the batch memory lent and reused (batch-memory.ts). 16 interleaved rounds each of
 * `npm run bench -- --only pillion,pillion-logs --scenarios small,wrk-small` (autocannon / wrk, both
 * sinks, against logging off in the same run): nice 19 with a new buffer per batch 1.012x / 0.966x
 * req/s, p99 +17 % / +25 %, RSS 141 MB; lent memory at normal priority 0.929x / 0.948x, +18 % / +15 %;
 * both 0.994x / 0.962x, -1 % / +8 % (bench/results/logs16n, logs16m-nonice, logs16m).
 */
export const LOG_SHIP_NICE = 19;

/** Concurrent posts per HTTP sink. More would reorder deliveries without making a slow sink faster. */
const MAX_POSTS = 2;

export class Shipper {
  private pool: Piscina | null = null;
  private sinks = new Map<string, SinkState[]>();
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
        // One spool directory per sink, named after what it ships to and how (a spooled batch is a
        // ready payload), so a restart finds it again and never sends it to the wrong place.
        spool: sink.kind === 'http' && sink.spool_dir !== null
          ? join(sink.spool_dir, `${l.name}-${i}-${createHash('sha256').update(`${sink.http!.url} ${sink.http!.preset} ${sink.http!.gzip}`).digest('hex').slice(0, 8)}`)
          : null,
        draining: false,
        held: 0,
        posting: 0,
        waiting: [],
      })));
    }
    this.sinks = next;
    if (next.size > 0 && this.pool === null) {
      this.pool = newLogShipPool({ nice: LOG_SHIP_NICE });
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
    const hold: Hold = { n: 1, lease: batch.lease };
    if (sinks !== undefined && this.pool !== null) this.submitTo(sinks, batch, hold);
    release(hold);
  }

  private submitTo(sinks: SinkState[], batch: RecordBatch, hold: Hold): void {
    for (let i = 0; i < sinks.length; i++) {
      const st = sinks[i]!;
      const rows = countRows(batch, i);
      if (rows === 0) continue;
      const bytes = sinkBytes(batch, i, rows);
      const task: ShipTask = { op: 'ship', sink: st.sink, bit: i, batch, spool: st.spool, spoolOnly: false };
      if (st.held + bytes > st.sink.max_memory_bytes) {
        if (st.spool === null) {
          this.s.stats[this.s.dropped] += rows;
          continue;
        }
        // Past the memory bound: straight to disk (a synchronous write in the pool, no waiting).
        task.spoolOnly = true;
        hold.n++;
        this.run(st, { task, rows, bytes: 0, hold });
        continue;
      }
      st.held += bytes;
      hold.n++;
      if (st.sink.kind !== 'http') this.run(st, { task, rows, bytes, hold });
      else {
        st.waiting.push({ task, rows, bytes, hold });
        this.pump(st);
      }
    }
  }

  /** Starts waiting posts of an HTTP sink, up to MAX_POSTS at a time. */
  private pump(st: SinkState): void {
    while (st.posting < MAX_POSTS && st.waiting.length > 0) {
      st.posting++;
      this.run(st, st.waiting.shift()!, true);
    }
  }

  private run(st: SinkState, p: Pending, post = false): void {
    this.track(this.pool!.run(p.task).then(
      (r: ShipResult) => this.account(r),
      (err: unknown) => {
        this.s.stats[this.s.dropped] += p.rows;
        this.s.stats[this.s.batchesFailed]++;
        log.warn('access log batch lost', { err });
      },
    ).finally(() => {
      release(p.hold);
      st.held -= p.bytes;
      if (post) {
        st.posting--;
        if (this.pool !== null) this.pump(st);
      }
    }));
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
          (r: ShipResult) => {
            this.s.stats[this.s.shipped] += r.shipped;
            if (r.dropped > 0) {
              this.s.stats[this.s.dropped] += r.dropped;
              this.s.stats[this.s.batchesFailed]++;
              log.warn('access log sink refused spooled records', { error: r.error, dropped: r.dropped });
            }
          },
          (err: unknown) => log.warn('access log spool drain failed', { err }),
        ).finally(() => { st.draining = false; }));
      }
    }
  }

  /** Exit is near: abort the pool's posts (their batches go to the spool) and spool what waits. */
  private spill(): void {
    abortPosts();
    for (const sinks of this.sinks.values()) {
      for (const st of sinks) {
        if (st.spool === null || st.waiting.length === 0) continue;
        const waiting = st.waiting;
        st.waiting = [];
        for (const p of waiting) {
          p.task.spoolOnly = true;
          this.run(st, p);
        }
      }
    }
  }

  /**
   * Drain: waits for every batch in flight and every batch waiting for a post (bounded), then stops.
   * What a sink has not taken by then is lost with a warning (the process is exiting: no stat to read).
   */
  async close(timeoutMs: number): Promise<void> {
    if (this.timer !== null) clearInterval(this.timer);
    const deadline = Date.now() + timeoutMs;
    // A healthy sink takes the last batches within the grace time. Past it, posts still waiting on a
    // sink are aborted and batches still queued are written straight to the spool, so that a sink that
    // hangs at exit costs neither the records (when there is a spool) nor the whole timeout.
    const grace = Date.now() + Math.min(2000, timeoutMs / 2);
    let spilled = false;
    while (this.inFlight.size > 0 && Date.now() < deadline) {
      const until = spilled ? deadline : grace;
      await Promise.race([Promise.allSettled([...this.inFlight]), new Promise((r) => setTimeout(r, Math.max(1, until - Date.now())))]);
      if (!spilled && Date.now() >= grace && this.inFlight.size > 0) {
        spilled = true;
        this.spill();
      }
    }
    let waiting = 0;
    for (const sinks of this.sinks.values()) for (const st of sinks) for (const p of st.waiting) waiting += p.rows;
    if (this.inFlight.size > 0 || waiting > 0) {
      log.warn('access log: batches not delivered at exit', { batches_in_flight: this.inFlight.size, records_waiting: waiting });
    }
    const pool = this.pool;
    this.pool = null;
    await pool?.destroy();
  }
}

function release(h: Hold): void {
  if (--h.n === 0) giveBack(h.lease);
}

/**
 * What a sink's share of a batch holds in memory: its rows' numbers and formatted bytes. Sinks of one
 * format share the bytes; each is counted as if it held its own, so that a sink's bound never depends
 * on another sink.
 */
function sinkBytes(b: RecordBatch, sink: number, rows: number): number {
  const t = b.texts[b.sinkText[sink]!]!;
  return Math.ceil((rows / b.rows) * (b.rows * NUM_COLS * Float64Array.BYTES_PER_ELEMENT + t.bytes.byteLength));
}

function countRows(b: RecordBatch, bit: number): number {
  const m = 1 << bit;
  let n = 0;
  for (let r = 0; r < b.rows; r++) if ((b.nums[r * NUM_COLS + Num.SinkMask]! & m) !== 0) n++;
  return n;
}
