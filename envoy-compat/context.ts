// What the translators share: the report of dropped fields, the pillion config being built (raw, as
// a user would write it, so that src/config/validate.ts checks it like any file), and where each
// pillion field came from in the Envoy config (so a validation error names the Envoy field and line).
import type { Path } from '../src/config/validate.js';
import { fieldName } from '../src/config/validate.js';
import type { Node, Report } from './source.js';
import type { RawTcpListener } from './tcp-proxy.js';

/** pillion's raw config as translated: the shapes docs/config.md documents. */
export interface RawRoute {
  name?: string;
  match: { prefix?: string; path?: string; regex?: string; headers?: RawHeaderMatcher[] };
  cluster?: string;
  direct_response?: { status: number; body?: string };
  timeout?: string;
  idle_timeout?: string;
  prefix_rewrite?: string;
  host_rewrite?: string;
  /** Per-route filter settings by pillion filter name: false disables, an object overrides fields. */
  filters?: Record<string, false | Record<string, unknown>>;
  retry_policy?: Record<string, unknown>;
  allowed_client_sans?: string[];
}

export interface RawHeaderMatcher {
  name: string;
  exact?: string;
  prefix?: string;
  regex?: string;
  present?: boolean;
}

export interface RawListener {
  name: string;
  address: string;
  port: number;
  /** `node` for mTLS (pillion verifies client certificates on its node front). */
  front?: string;
  tls?: Record<string, unknown>;
  access_log?: Record<string, unknown>[];
  /** pillion's filter chain, in Envoy's http_filters order: `{name, ...config}`. */
  filters?: Record<string, unknown>[];
  routes: RawRoute[];
}

export interface RawCluster {
  name: string;
  endpoints: string[];
  lb_policy?: string;
  connect_timeout?: string;
  idle_timeout?: string;
  tls?: Record<string, unknown>;
  circuit_breakers?: Record<string, unknown>;
  outlier_detection?: Record<string, unknown>;
  health_checks?: Record<string, unknown>;
  retry_budget?: Record<string, unknown>;
}

export interface RawConfig {
  admin?: { address: string; port: number };
  listeners: RawListener[];
  clusters: RawCluster[];
  /** tcp_proxy listeners (src/l4/config.ts). */
  tcp_listeners?: RawTcpListener[];
  /** false when every HCM's router has suppress_envoy_headers. */
  envoy_headers?: boolean;
  /** Always Envoy's Prometheus names: a team moving from Envoy keeps its dashboards. */
  stats: { prometheus_names: 'envoy' };
}

export interface TranslateOptions {
  /** Reads a file the bootstrap names (LDS/CDS paths); tests remap Envoy's absolute paths with it. */
  readFile?: (path: string) => string;
  /** Resource files with clusters only: translate without requiring a listener (`check`). */
  allowNoListener?: boolean;
  /** Where inline certificates and keys (inline_string) are written as files; default: a private temp dir. */
  inlineDir?: string;
}

export class Ctx {
  readonly out: RawConfig = { listeners: [], clusters: [], stats: { prometheus_names: 'envoy' } };
  /** pillion field (as `fieldName` prints it) -> the Envoy field it came from. */
  readonly origins = new Map<string, Node>();
  /** Files the translation read besides the bootstrap (filesystem xDS), to watch for changes. */
  readonly files: string[] = [];
  /** RouteConfiguration resources by name, for an HCM's `rds` (resource files, filesystem RDS). */
  readonly routeConfigs = new Map<string, Node>();
  readonly usedRouteConfigs = new Set<Node>();
  /** Clusters named by routes that came by RDS: Envoy answers 503 for an unknown one rather than refusing. */
  readonly rdsClusters = new Map<string, Node>();
  /** A listener's client-certificate SAN rules (validation_context), set on each of its routes. */
  readonly listenerSans = new Map<RawListener, string[]>();
  /** Each HCM's router: does it set suppress_envoy_headers (pillion's envoy_headers is one switch). */
  readonly routers: { suppress: boolean; at: Node }[] = [];

  constructor(readonly report: Report, readonly options: TranslateOptions) {}

  origin(path: Path, from: Node): void {
    this.origins.set(fieldName(path), from);
  }

  /** Routes were inserted at the front of a listener's list: their followers' origins move down. */
  shiftRoutes(listenerIndex: number, by: number): void {
    const prefix = `listeners[${listenerIndex}].routes[`;
    const moved = [...this.origins].filter(([k]) => k.startsWith(prefix));
    for (const [k] of moved) this.origins.delete(k);
    for (const [k, v] of moved) {
      const j = Number(k.slice(prefix.length, k.indexOf(']', prefix.length)));
      this.origins.set(`${prefix}${j + by}${k.slice(k.indexOf(']', prefix.length))}`, v);
    }
  }

  /** The Envoy field a pillion field came from: the nearest recorded ancestor. */
  originOf(path: Path): Node | undefined {
    for (let n = path.length; n >= 0; n--) {
      const o = this.origins.get(fieldName(path.slice(0, n)));
      if (o !== undefined) return o;
    }
    return undefined;
  }
}

/** Milliseconds as pillion writes a duration. */
export function ms(n: number): string {
  return `${n}ms`;
}
