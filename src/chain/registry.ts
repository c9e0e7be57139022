// Every filter pillion knows, by its config name (Envoy's extension names, shortened). Adding a filter
// is one folder under src/filters/ and one line here.
import type { Checker, Path } from '../config/validate.js';
import type { StatTemplate } from '../stats/names.js';
import type { Filter } from './filter.js';
import { apiKeyAuth } from '../filters/api-key-auth/index.js';
import { localRateLimit } from '../filters/local-ratelimit/index.js';
import { jwtAuthn } from '../filters/jwt-authn/index.js';
import { basicAuth } from '../filters/basic-auth/index.js';

/** What a factory gets besides its config: where it runs and its stat slots. */
export interface FilterEnv {
  readonly listener: string;
  /** null for the listener-level instance, the route name for a route's override. */
  readonly route: string | null;
  readonly stats: Float64Array;
  /** This filter's stat slots (scope `http.<listener>.<statPrefix>.`), by key of its `stats` table. */
  readonly handles: Readonly<Record<string, number>>;
  /** Shared memory for state every worker thread must see (see upstream/shared-policy.ts). */
  readonly shared: Int32Array;
  /** First of this instance's `sharedSlots` slots, or -1. */
  readonly sharedSlot: number;
  /** Time origin of shared-memory clocks (ms since the epoch), the same in every thread. */
  readonly epoch: number;
  readonly now: () => number;
}

export interface FilterModule<C = unknown> {
  readonly name: string;
  /** Stat scope under the listener: `http.<listener>.<statPrefix>.<stat>`. */
  readonly statPrefix: string;
  readonly stats: Readonly<Record<string, StatTemplate>>;
  /** Int32 slots of shared memory each instance needs (0: none). */
  readonly sharedSlots: number;
  /** Validates and normalises the config in the main thread; throws through `c.fail` (field + line). */
  parse(c: Checker, raw: Record<string, unknown>, path: Path): C;
  /** Initialises a shared slot range when it is first assigned (main thread). */
  initShared?(config: C, shared: Int32Array, slot: number): void;
  /** Builds the filter once per listener or route override, in each data plane. */
  create(config: C, env: FilterEnv): Filter;
}

export const FILTERS: readonly FilterModule<any>[] = [apiKeyAuth, localRateLimit, jwtAuthn, basicAuth];
export const FILTER_NAMES: readonly string[] = FILTERS.map((f) => f.name);

export function filterModule(name: string): FilterModule {
  const m = FILTERS.find((f) => f.name === name);
  if (m === undefined) throw new Error(`unknown filter ${name}`);
  return m;
}

export function validateFilterConfig(c: Checker, name: string, raw: Record<string, unknown>, path: Path): unknown {
  return filterModule(name).parse(c, raw, path);
}
