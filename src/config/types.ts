import type { FrontKind } from '../front/types.js';

// pillion's own config, after validation: every default filled in, every duration in milliseconds.
// The file format is documented in docs/config.md and published as JSON Schema in
// docs/config.schema.json (for editors); src/config/validate.ts is the authority.

export interface HeaderMatcher {
  name: string;
  exact?: string;
  prefix?: string;
  regex?: string;
  /** true: the header must be present; false: it must be absent. */
  present?: boolean;
}

export interface RouteMatch {
  prefix?: string;
  path?: string;
  regex?: string;
  headers?: HeaderMatcher[];
}

export interface RouteConfig {
  name: string;
  match: RouteMatch;
  /** Forward to this cluster ... */
  cluster?: string;
  /** ... or answer locally. */
  direct_response?: { status: number; body: string };
  /** Time allowed for the upstream's response headers (Envoy's route timeout, default 15 s). 0 disables. */
  timeout_ms: number;
  /** Longest silence allowed between two chunks of the response body. 0 disables. */
  idle_timeout_ms: number;
  prefix_rewrite?: string;
  host_rewrite?: string;
  /** Largest request body accepted (413 beyond it). */
  max_request_bytes: number;
}

export interface ListenerConfig {
  name: string;
  address: string;
  port: number;
  /** `uws` (default, fastest) or `node` (node:http: pipelining, any method, 400 on malformed input). */
  front: FrontKind;
  routes: RouteConfig[];
}

export type LbPolicy = 'round_robin' | 'least_request' | 'random';

export interface ClusterConfig {
  name: string;
  /** Endpoint URLs, `http://host:port`. */
  endpoints: string[];
  lb_policy: LbPolicy;
  connect_timeout_ms: number;
  /** Keep-alive connections per endpoint. */
  max_connections: number;
  /** How long an unused upstream connection is kept open. */
  idle_timeout_ms: number;
}

export interface AdminConfig {
  address: string;
  port: number;
}

export interface Config {
  admin: AdminConfig;
  listeners: ListenerConfig[];
  clusters: ClusterConfig[];
  /** Worker threads, each a uWS app on the same ports. */
  concurrency: number;
  /** How long listeners stay open after drain starts (responses carry `Connection: close`). */
  drain_time_ms: number;
  /** How long in-flight requests may take after the listeners close. */
  drain_timeout_ms: number;
}
