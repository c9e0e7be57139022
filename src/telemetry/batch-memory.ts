// The shared memory a data plane formats its access-log batches into, reused from batch to batch.
//
// A batch's bytes and numbers live on SharedArrayBuffers so that handing them to the log-ship pool
// copies nothing. One new pair per batch (about 650 KiB of text and 230 KiB of numbers per 4096 rows)
// was freed only when both threads' collectors had let go of it, and neither hurried: under a steady
// 25k req/s the proxy's RSS grew by 2.5 MB a second over 30 s (116 to 177 MB) with both sinks, and
// each new buffer cost the data plane zeroing and page faults at every flush. Now a listener's buffer
// keeps a few sets and lends one with each batch; the shipper hands it back (Atomics) when every sink
// is done with the batch, and a set still out (a sink down, a post waiting) is simply not reused yet.
import { NUM_COLS } from './record.js';

/** Sets kept per listener buffer: the one being filled, and batches in flight. More are dropped. */
const KEEP = 4;

/** Bytes a text buffer starts with: a 4096-row batch of Envoy's default format is about 650 KiB. */
const TEXT_START = 64 * 1024;

export class BatchMemory {
  /** 0: free, or being filled by the data plane; 1: lent with a batch. */
  readonly lease = new Int32Array(new SharedArrayBuffer(4));
  readonly nums: Float64Array;
  /** One text buffer per format group, replaced by a bigger one when a batch outgrows it. */
  readonly texts: Buffer[];

  constructor(rows: number, groups: number, textBytes: readonly number[]) {
    this.nums = new Float64Array(new SharedArrayBuffer(rows * NUM_COLS * Float64Array.BYTES_PER_ELEMENT));
    this.texts = Array.from({ length: groups }, (_, g) => sharedBuffer(textBytes[g] ?? TEXT_START));
  }

  get free(): boolean {
    return Atomics.load(this.lease, 0) === 0;
  }

  lend(): Int32Array {
    Atomics.store(this.lease, 0, 1);
    return this.lease;
  }
}

/** Hands a batch's memory back to its data plane (the shipper, when every sink is done with it). */
export function giveBack(lease: Int32Array | undefined): void {
  if (lease !== undefined) Atomics.store(lease, 0, 0);
}

/** A Buffer on a SharedArrayBuffer (LineWriter's allocator for access-log text). */
export function sharedBuffer(size: number): Buffer {
  return Buffer.from(new SharedArrayBuffer(size));
}

/** A listener buffer's sets: the next free one, or a new one while fewer than KEEP exist. */
export class BatchMemoryRing {
  private readonly sets: BatchMemory[] = [];

  constructor(
    private readonly rows: number,
    private readonly groups: number,
  ) {}

  /** A free set. `textBytes`: what the last batch needed per group, so that a new set starts there. */
  take(textBytes: readonly number[]): BatchMemory {
    for (const m of this.sets) if (m.free) return m;
    const m = new BatchMemory(this.rows, this.groups, textBytes);
    // Past KEEP (sinks slow to finish), the extra set serves one batch and is left to the collector.
    if (this.sets.length < KEEP) this.sets.push(m);
    return m;
  }
}
