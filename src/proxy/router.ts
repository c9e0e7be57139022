// Routes compiled once per config: matchers become closures-free fields checked in order, regexes are
// built here, and each route holds its cluster object and stat handles, so matching a request is a loop
// of string compares with no lookups by name.
import type { Filter } from '../chain/filter.js';
import type { HeaderMatcher, RetryPolicy, RouteConfig } from '../config/types.js';
import type { Cluster } from '../upstream/cluster.js';
import { statusLine } from './status-line.js';
import type { Histogram } from 'hdr-histogram-js';

const enum PathKind { Prefix, Exact, Regex }

class HeaderCheck {
  readonly regex: RegExp | null;
  constructor(readonly m: HeaderMatcher) {
    this.regex = m.regex !== undefined ? new RegExp(`^(?:${m.regex})$`) : null;
  }

  /** `headers` is the flat [name, value, ...] list with lowercase names. */
  test(headers: readonly string[]): boolean {
    let value: string | undefined;
    for (let i = 0; i < headers.length; i += 2) {
      if (headers[i] === this.m.name) { value = headers[i + 1]; break; }
    }
    const m = this.m;
    if (m.present !== undefined) return (value !== undefined) === m.present;
    if (value === undefined) return false;
    if (m.exact !== undefined) return value === m.exact;
    if (m.prefix !== undefined) return value.startsWith(m.prefix);
    return this.regex!.test(value);
  }
}

export class Route {
  readonly name: string;
  private readonly kind: PathKind;
  private readonly text: string;
  private readonly regex: RegExp | null;
  private readonly headerChecks: HeaderCheck[] | null;
  /** null for a direct_response route. */
  readonly cluster: Cluster | null;
  readonly directStatus: string;
  readonly directStatusCode: number;
  readonly directBody: string;
  readonly timeoutMs: number;
  readonly idleTimeoutMs: number;
  readonly prefixRewrite: string | null;
  readonly hostRewrite: string | null;
  readonly maxRequestBytes: number;
  /** Request filters in config order, or null when the route runs none. */
  readonly chain: readonly Filter[] | null;
  readonly retryPolicy: RetryPolicy | null;
  readonly allowedClientSans: readonly string[] | null;

  constructor(
    c: RouteConfig,
    cluster: Cluster | null,
    chain: readonly Filter[] | null,
    /** Downstream request time of this route, microseconds. */
    readonly histogram: Histogram,
  ) {
    this.name = c.name;
    const m = c.match;
    this.kind = m.path !== undefined ? PathKind.Exact : m.regex !== undefined ? PathKind.Regex : PathKind.Prefix;
    this.text = m.path ?? m.prefix ?? '';
    this.regex = m.regex !== undefined ? new RegExp(`^(?:${m.regex})$`) : null;
    this.headerChecks = m.headers && m.headers.length > 0 ? m.headers.map((h) => new HeaderCheck(h)) : null;
    this.cluster = cluster;
    this.directStatus = c.direct_response ? statusLine(c.direct_response.status) : '';
    this.directStatusCode = c.direct_response?.status ?? 0;
    this.directBody = c.direct_response?.body ?? '';
    this.timeoutMs = c.timeout_ms;
    this.idleTimeoutMs = c.idle_timeout_ms;
    this.prefixRewrite = c.prefix_rewrite ?? null;
    this.hostRewrite = c.host_rewrite ?? null;
    this.maxRequestBytes = c.max_request_bytes;
    this.chain = chain !== null && chain.length > 0 ? chain : null;
    this.retryPolicy = c.retry_policy;
    this.allowedClientSans = c.allowed_client_sans;
  }

  matches(path: string, headers: readonly string[]): boolean {
    switch (this.kind) {
      case PathKind.Prefix: if (!path.startsWith(this.text)) return false; break;
      case PathKind.Exact: if (path !== this.text) return false; break;
      default: if (!this.regex!.test(path)) return false;
    }
    if (this.headerChecks !== null) {
      for (let i = 0; i < this.headerChecks.length; i++) if (!this.headerChecks[i]!.test(headers)) return false;
    }
    return true;
  }

  /** The upstream path: `prefix_rewrite` swaps the matched prefix. */
  rewritePath(pathAndQuery: string): string {
    if (this.prefixRewrite === null) return pathAndQuery;
    return this.prefixRewrite + pathAndQuery.slice(this.text.length);
  }
}

/** First match wins, as in Envoy. */
export function matchRoute(routes: readonly Route[], path: string, headers: readonly string[]): Route | null {
  for (let i = 0; i < routes.length; i++) if (routes[i]!.matches(path, headers)) return routes[i]!;
  return null;
}
