// Where the collector's batches go: the log-ship pool (src/workers/log-ship.worker.ts), the same pool and
// the same sinks as the proxy's access logs (src/telemetry/sinks.ts). One task per delivery attempt: the
// worker formats, compresses and posts (with its jittered retries) and answers ok / retry / reject; the
// collector owns the retries beyond that, because at-least-once here means "retry until acknowledged"
// (the files are the buffer), not the access logs' "retry, then spool".
import type { Piscina } from 'piscina';
import { newLogShipPool } from '../telemetry/log-ship-pool.js';
import { abortPosts, type SinkTarget } from '../telemetry/sinks.js';
import type { LogsResult, LogsTask } from '../workers/log-ship.worker.js';
import type { LogBatch } from './wire.js';

/** `ok`: acknowledged. `retry`: try again later. `reject`: the sink refuses this batch for good (a 4xx). */
export interface SendResult {
  outcome: 'ok' | 'retry' | 'reject';
  error?: string;
}

export interface Sink {
  /** Resolves once the sink has acknowledged the batch (or failed); never rejects. */
  send(batch: LogBatch): Promise<SendResult>;
  /** Stop deadline: give up on the delivery in flight (it resolves with `retry`). */
  abort(): void;
  close(): Promise<void>;
}

export class PoolSink implements Sink {
  private pool: Piscina | null = null;

  constructor(private readonly target: SinkTarget) {}

  async send(batch: LogBatch): Promise<SendResult> {
    this.pool ??= newLogShipPool();
    const task: LogsTask = { op: 'logs', sink: this.target, batch };
    let r: LogsResult;
    try {
      // Cloned, not transferred: the numbers are a memcpy either way, and a retry sends the batch again.
      r = await this.pool.run(task);
    } catch (err) {
      return { outcome: 'retry', error: `log-ship worker: ${(err as Error).message}` };
    }
    if (r.stdout === undefined) return { outcome: r.outcome, ...(r.error === undefined ? {} : { error: r.error }) };
    // The main thread owns stdout: the batch is acknowledged once it is written.
    const out = r.stdout;
    return new Promise((resolve) => {
      process.stdout.write(out, (err) => resolve(err ? { outcome: 'retry', error: err.message } : { outcome: 'ok' }));
    });
  }

  abort(): void {
    abortPosts();
  }

  async close(): Promise<void> {
    const pool = this.pool;
    this.pool = null;
    await pool?.destroy();
  }
}

export function createSink(target: SinkTarget): Sink {
  return new PoolSink(target);
}
