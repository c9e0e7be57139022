// The data planes the main thread drives: one in the main thread itself (`--concurrency 1`, the sidecar
// default: no thread hop, one less heap), or N worker threads, each with its own uWS app on the same
// port (SO_REUSEPORT) and its own undici pools. Both look the same to the supervisor.
import { Worker } from 'node:worker_threads';
import type { Config } from '../config/types.js';
import { DataPlane, type Plan } from './data-plane.js';
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import type { RecordBatch } from '../telemetry/record.js';
import type { SparseCounts } from '../telemetry/hdr.js';

export interface PlaneSnapshot {
  histograms: Record<string, SparseCounts>;
  eventLoopDelayP99Ms: number;
}

/** The event-loop delay of the thread a plane runs on: the sidecar's own health. */
export function eventLoopMonitor(): IntervalHistogram {
  const h = monitorEventLoopDelay({ resolution: 20 });
  h.enable();
  return h;
}

export interface Plane {
  readonly stats: Float64Array;
  /** Encoded HDR histograms of this plane (cumulative), by stat name, and its event-loop delay p99 (ms). */
  telemetry?(): Promise<PlaneSnapshot>;
  apply(config: Config, plan: Plan): Promise<void>;
  startDrain(): Promise<void>;
  stopListening(): Promise<void>;
  waitIdle(timeoutMs: number): Promise<boolean>;
  close(): Promise<void>;
}

export class LocalPlane implements Plane {
  readonly stats: Float64Array;
  private readonly dp: DataPlane;

  private readonly eld = eventLoopMonitor();

  constructor(buffer: SharedArrayBuffer, policy: SharedArrayBuffer, onAccessLog: (b: RecordBatch) => void) {
    this.stats = new Float64Array(buffer);
    this.dp = new DataPlane(this.stats, new Int32Array(policy), onAccessLog);
  }

  async telemetry(): Promise<PlaneSnapshot> {
    return { histograms: this.dp.telemetry.exportHistograms(), eventLoopDelayP99Ms: this.eld.percentile(99) / 1e6 };
  }

  apply(config: Config, plan: Plan): Promise<void> { return this.dp.apply(config, plan); }
  async startDrain(): Promise<void> { this.dp.startDrain(); }
  async stopListening(): Promise<void> { this.dp.stopListening(); }
  waitIdle(timeoutMs: number): Promise<boolean> { return this.dp.waitIdle(timeoutMs); }
  close(): Promise<void> { return this.dp.close(); }
}

/** Messages between the supervisor and a worker: a call with an id, answered with the same id. */
export type WorkerCall =
  | { id: number; op: 'apply'; config: Config; plan: Plan }
  | { id: number; op: 'startDrain' | 'stopListening' | 'close' | 'telemetry' }
  | { id: number; op: 'waitIdle'; timeoutMs: number };
type CallBody = WorkerCall extends infer T ? (T extends unknown ? Omit<T, 'id'> : never) : never;
export type WorkerReply = { id: number; ok: true; value?: unknown } | { id: number; ok: false; error: string };
/** Unasked messages from a worker: access-log batches. */
export type WorkerEvent = { event: 'accessLog'; batch: RecordBatch };

export class WorkerPlane implements Plane {
  readonly stats: Float64Array;
  private worker: Worker;
  private nextId = 1;
  private closing = false;
  private readonly calls = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();

  constructor(
    readonly buffer: SharedArrayBuffer,
    readonly policy: SharedArrayBuffer,
    readonly index: number,
    /** Called when the worker exits without being asked to. */
    private readonly onDeath: (plane: WorkerPlane, code: number) => void,
    private readonly onAccessLog: (b: RecordBatch) => void,
  ) {
    this.stats = new Float64Array(buffer);
    this.worker = this.spawn();
  }

  private spawn(): Worker {
    const w = new Worker(new URL('./worker.js', import.meta.url), { workerData: { buffer: this.buffer, policy: this.policy, index: this.index } });
    w.on('message', (m: WorkerReply | WorkerEvent) => {
      if ('event' in m) {
        this.onAccessLog(m.batch);
        return;
      }
      const call = this.calls.get(m.id);
      if (call === undefined) return;
      this.calls.delete(m.id);
      if (m.ok) call.resolve(m.value);
      else call.reject(new Error(m.error));
    });
    w.on('error', () => { /* reported through 'exit' */ });
    w.on('exit', (code) => {
      for (const c of this.calls.values()) c.reject(new Error(`worker ${this.index} exited (${code})`));
      this.calls.clear();
      if (!this.closing && w === this.worker) this.onDeath(this, code);
    });
    return w;
  }

  /** A new thread in place of a dead one, on the same stat buffer. */
  respawn(): void {
    this.worker = this.spawn();
  }

  private call(msg: CallBody): Promise<unknown> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.calls.set(id, { resolve, reject });
      this.worker.postMessage({ ...msg, id });
    });
  }

  async apply(config: Config, plan: Plan): Promise<void> { await this.call({ op: 'apply', config, plan }); }
  async startDrain(): Promise<void> { await this.call({ op: 'startDrain' }); }
  async telemetry(): Promise<PlaneSnapshot> { return (await this.call({ op: 'telemetry' })) as PlaneSnapshot; }
  async stopListening(): Promise<void> { await this.call({ op: 'stopListening' }); }
  async waitIdle(timeoutMs: number): Promise<boolean> { return (await this.call({ op: 'waitIdle', timeoutMs })) as boolean; }
  async close(): Promise<void> {
    this.closing = true;
    const w = this.worker;
    const exited = new Promise<void>((resolve) => w.once('exit', () => resolve()));
    await this.call({ op: 'close' }).catch(() => undefined); // a dead worker has nothing left to close
    await w.terminate();
    await exited;
  }
}
