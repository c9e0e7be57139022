// State every worker thread must agree on, in one SharedArrayBuffer of Int32 slots that the main
// thread allocates: circuit-breaker counters (requests and retries in flight per cluster), endpoint
// health (written by the main thread's active health checks) and ejection flags (written by outlier
// detection, read by /clusters), and the shared token buckets of local_ratelimit. Slots are assigned
// by key in the main thread and never move, so a reload keeps the state of what it keeps.

export const POLICY_SLOTS = 1 << 16;
/** Slot 0: bumped whenever an endpoint's health changes, so data planes know to rebuild their lists. */
export const HEALTH_EPOCH = 0;

export function newPolicyBuffer(): SharedArrayBuffer {
  return new SharedArrayBuffer(POLICY_SLOTS * Int32Array.BYTES_PER_ELEMENT);
}

export class SlotAllocator {
  private next = 1;
  private readonly byKey = new Map<string, number>();

  constructor(private readonly mem: Int32Array) {}

  /** `n` consecutive slots for `key`; `init` runs only when they are new. */
  slot(key: string, n: number, init?: (first: number) => void): number {
    let s = this.byKey.get(key);
    if (s === undefined) {
      s = this.next;
      if (s + n > POLICY_SLOTS) throw new Error('shared policy memory is full');
      this.next += n;
      this.byKey.set(key, s);
      init?.(s);
    }
    return s;
  }

  get memory(): Int32Array {
    return this.mem;
  }
}

/** Per endpoint: [health (1 healthy, 0 failed active checks), ejected (1 while outlier-ejected)]. */
export const ENDPOINT_SLOTS = 2;
/** Per cluster: [requests in flight, retries in flight]. */
export const BREAKER_SLOTS = 2;
