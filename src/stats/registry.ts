// Stat storage. Each data plane (the main thread, or each worker thread) owns one Float64Array over a
// SharedArrayBuffer; the request path does `stats[handle]++` on a slot number resolved when the config
// loaded, and the admin server in the main thread sums the arrays when scraped. No messages, no locks:
// a slot has one writer, and a torn read of a float that only grows is off by one update at worst.
import {
  CLUSTER_STATS, LISTENER_STATS, SERVER_STATS,
  type ClusterStats, type ListenerStats, type ServerStats, type StatTemplate, type StatType,
} from './names.js';

export const STAT_CAPACITY = 1 << 16;

export function newStatBuffer(): SharedArrayBuffer {
  return new SharedArrayBuffer(STAT_CAPACITY * Float64Array.BYTES_PER_ELEMENT);
}

export interface StatInfo {
  name: string;
  type: StatType;
  help: string;
}

/**
 * Names to slots. Lives in the main thread; slots never move or get reused, so a reload that adds a
 * cluster only appends, and handles held by in-flight requests of the old config stay valid.
 */
export class StatRegistry {
  readonly stats: StatInfo[] = [];
  private readonly index = new Map<string, number>();

  slot(name: string, type: StatType, help: string): number {
    let i = this.index.get(name);
    if (i === undefined) {
      i = this.stats.length;
      if (i >= STAT_CAPACITY) throw new Error(`too many stats (more than ${STAT_CAPACITY})`);
      this.stats.push({ name, type, help });
      this.index.set(name, i);
    }
    return i;
  }

  lookup(name: string): number | undefined {
    return this.index.get(name);
  }

  listener(scope: string): ListenerStats {
    return classesInOrder(this.scoped(`http.${scope}.`, LISTENER_STATS) as ListenerStats);
  }

  cluster(scope: string): ClusterStats {
    return classesInOrder(this.scoped(`cluster.${scope}.`, CLUSTER_STATS) as ClusterStats);
  }

  server(): ServerStats {
    return this.scoped('', SERVER_STATS) as ServerStats;
  }

  /** Slots for a table of stat templates under a prefix (`http.ingress.api_key_auth.`). */
  scoped(prefix: string, templates: Readonly<Record<string, StatTemplate>>): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [key, t] of Object.entries(templates)) out[key] = this.slot(prefix + t.stat, t.type, t.help);
    return out;
  }
}

/** Sums every data plane's slots (the admin view). */
export function sumStats(registry: StatRegistry, buffers: readonly Float64Array[]): Float64Array {
  const n = registry.stats.length;
  const out = new Float64Array(n);
  for (const b of buffers) for (let i = 0; i < n; i++) out[i]! += b[i]!;
  return out;
}

/** The request path finds a status class's slot as `rq1xx + class - 1`: the five must be adjacent. */
function classesInOrder<T extends { rq1xx: number; rq5xx: number }>(h: T): T {
  if (h.rq5xx !== h.rq1xx + 4) throw new Error('status class stats are not adjacent');
  return h;
}
