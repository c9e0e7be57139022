// access_log config of a listener: sinks (stdout, file, HTTP with Loki/Elasticsearch presets), the
// format (Envoy text or JSON), filters, batching, retries and the spool. Formats are compiled here once
// to find errors (and what to capture per request) when the config loads.
import type { Checker, Path } from '../config/validate.js';
import { ENVOY_DEFAULT_FORMAT, FormatError, compileJson, compileText, type Captures } from './format.js';
import { headerError } from './http-post.js';
import { DEFAULT_BUCKETS_MS } from './metrics-pool.js';
import type { PromNaming } from '../stats/render.js';

export type HttpPreset = 'ndjson' | 'loki' | 'elasticsearch';

export interface HttpSink {
  url: string;
  preset: HttpPreset;
  headers: Record<string, string>;
  gzip: boolean;
  /** Loki stream labels. */
  labels: Record<string, string>;
  /** Elasticsearch index. */
  index: string;
  timeout_ms: number;
}

export interface AccessLogConfig {
  /** 'stdout', 'file' or 'http'. */
  kind: 'stdout' | 'file' | 'http';
  path: string | null;
  http: HttpSink | null;
  /** Text format, or null when json_format is used. */
  format: string | null;
  json_format: Record<string, string> | null;
  filter: { status_min: number; status_max: number; response_flags: string[] | null; sample_percent: number };
  batch_max_records: number;
  batch_max_delay_ms: number;
  retry_max_attempts: number;
  /** HTTP sinks: where batches go while the sink is down, and the bounds before records are dropped. */
  spool_dir: string | null;
  max_memory_bytes: number;
  max_disk_bytes: number;
}

export interface ListenerAccessLogs {
  sinks: AccessLogConfig[];
  /** Request and response headers the formats read, captured per request (lowercase). */
  headers: string[];
  respHeaders: string[];
}

const MiB = 1024 * 1024;

function stringMap(c: Checker, v: unknown, path: Path): Record<string, string> {
  if (v === undefined) return {};
  const o = c.object(v, path, Object.keys((v ?? {}) as object));
  const out: Record<string, string> = {};
  for (const [k, x] of Object.entries(o)) out[k] = c.string(x, [...path, k]);
  return out;
}

/** An HTTP sink's extra headers, names lowercased; refused when they would not be one header each. */
function sinkHeaders(c: Checker, v: unknown, path: Path): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, x] of Object.entries(stringMap(c, v, path))) {
    const err = headerError(k, x);
    if (err !== null) c.fail([...path, k], err);
    out[k.toLowerCase()] = x;
  }
  return out;
}

/**
 * A collector on this host (an agent on loopback): gzip is off unless asked for. There its bytes cost
 * nothing on a network, while compressing costs the proxy's host about 0.4 us of CPU a record (gzip
 * level 1), a tenth of the whole access log's cost; log agents (Vector, Fluent Bit) do not compress
 * by default either. To any other host, gzip stays the default.
 */
export function isLoopback(url: string): boolean {
  let host: string;
  try {
    host = new URL(url).hostname;
  } catch {
    return false;
  }
  return host === 'localhost' || host.endsWith('.localhost') || /^127\.\d+\.\d+\.\d+$/.test(host) || host === '[::1]' || host === '[::ffff:7f00:1]';
}

/**
 * Records per batch unless configured. Each batch costs a file open, write and close, a pool task per
 * sink and a POST per HTTP sink (about 0.4 ms of CPU for a POST, sender and receiver, whatever its
 * size): at 1,000 records that was 0.3-0.4 us a record, at 4,096 under 0.1. 4,096 lines of Envoy's
 * default format are about 650 KiB, about what log clients send per push (Promtail: 1 MiB batches);
 * max_delay still bounds how long a record waits.
 */
const DEFAULT_BATCH_RECORDS = 4096;

function sink(c: Checker, v: unknown, path: Path, caps: Captures): AccessLogConfig {
  const o = c.object(v, path, ['path', 'http', 'format', 'json_format', 'filter', 'batch', 'retry', 'spool']);
  let kind: AccessLogConfig['kind'];
  let file: string | null = null;
  let http: HttpSink | null = null;
  if (o.http !== undefined) {
    if (o.path !== undefined) c.fail(path, 'use path or http, not both');
    kind = 'http';
    const p = [...path, 'http'];
    const h = c.object(o.http, p, ['url', 'preset', 'headers', 'gzip', 'labels', 'index', 'timeout']);
    const url = c.string(h.url, [...p, 'url']);
    if (!/^https?:\/\//.test(url)) c.fail([...p, 'url'], 'must be an http:// or https:// URL');
    const preset = h.preset ?? 'ndjson';
    if (preset !== 'ndjson' && preset !== 'loki' && preset !== 'elasticsearch') c.fail([...p, 'preset'], 'must be ndjson, loki or elasticsearch');
    http = {
      url, preset: preset as HttpPreset,
      headers: sinkHeaders(c, h.headers, [...p, 'headers']),
      gzip: h.gzip === undefined ? !isLoopback(url) : c.bool(h.gzip, [...p, 'gzip'], true),
      labels: h.labels === undefined ? { job: 'pillion' } : stringMap(c, h.labels, [...p, 'labels']),
      index: h.index === undefined ? 'pillion-access' : c.string(h.index, [...p, 'index']),
      timeout_ms: c.duration(h.timeout, [...p, 'timeout'], 10_000),
    };
  } else {
    const pathText = c.string(o.path, [...path, 'path']);
    kind = pathText === 'stdout' || pathText === '/dev/stdout' ? 'stdout' : 'file';
    file = kind === 'file' ? pathText : null;
  }
  if (o.format !== undefined && o.json_format !== undefined) c.fail(path, 'use format or json_format, not both');
  const format = o.json_format === undefined ? (o.format === undefined ? ENVOY_DEFAULT_FORMAT : c.string(o.format, [...path, 'format']).replace(/\n$/, '')) : null;
  const json = o.json_format === undefined ? null : stringMap(c, o.json_format, [...path, 'json_format']);
  try {
    if (format !== null) compileText(format, caps, null);
    else compileJson(json!, caps, null);
  } catch (err) {
    if (err instanceof FormatError) c.fail([...path, format !== null ? 'format' : 'json_format'], err.message);
    throw err;
  }
  const f = o.filter === undefined ? {} : c.object(o.filter, [...path, 'filter'], ['status_code', 'response_flags', 'sample']);
  const sc = f.status_code === undefined ? {} : c.object(f.status_code, [...path, 'filter', 'status_code'], ['min', 'max']);
  const batch = o.batch === undefined ? {} : c.object(o.batch, [...path, 'batch'], ['max_records', 'max_delay']);
  const retry = o.retry === undefined ? {} : c.object(o.retry, [...path, 'retry'], ['max_attempts']);
  const spool = o.spool === undefined ? {} : c.object(o.spool, [...path, 'spool'], ['dir', 'max_memory_bytes', 'max_disk_bytes']);
  return {
    kind, path: file, http, format, json_format: json,
    filter: {
      status_min: c.int(sc.min, [...path, 'filter', 'status_code', 'min'], 0, 0, 999),
      status_max: c.int(sc.max, [...path, 'filter', 'status_code', 'max'], 999, 0, 999),
      response_flags: f.response_flags === undefined ? null : c.stringList(f.response_flags, [...path, 'filter', 'response_flags']),
      sample_percent: c.number(f.sample, [...path, 'filter', 'sample'], 100, 0, 100),
    },
    batch_max_records: c.int(batch.max_records, [...path, 'batch', 'max_records'], DEFAULT_BATCH_RECORDS, 1, 100_000),
    batch_max_delay_ms: c.duration(batch.max_delay, [...path, 'batch', 'max_delay'], 1000),
    retry_max_attempts: c.int(retry.max_attempts, [...path, 'retry', 'max_attempts'], 3, 1, 20),
    spool_dir: spool.dir === undefined ? null : c.string(spool.dir, [...path, 'spool', 'dir']),
    max_memory_bytes: c.int(spool.max_memory_bytes, [...path, 'spool', 'max_memory_bytes'], 16 * MiB, 0, 1 << 30),
    max_disk_bytes: c.int(spool.max_disk_bytes, [...path, 'spool', 'max_disk_bytes'], 256 * MiB, 0, Number.MAX_SAFE_INTEGER),
  };
}

export function parseAccessLogs(c: Checker, v: unknown, path: Path): ListenerAccessLogs | null {
  if (v === undefined) return null;
  const caps: Captures = { headers: new Set(), respHeaders: new Set() };
  const sinks = c.array(v, path).map((s, i) => sink(c, s, [...path, i], caps));
  if (sinks.length === 0) return null;
  if (sinks.length > 30) c.fail(path, 'at most 30 sinks per listener');
  return { sinks, headers: [...caps.headers], respHeaders: [...caps.respHeaders] };
}

/**
 * The root `stats:` block: `histogram_buckets`, the upper bounds (ms) of the Prometheus histograms
 * (Envoy's `stats_config.histogram_bucket_settings`, one list for every histogram), Envoy's defaults
 * when absent; and `prometheus_names`, `envoy` (default) or `pillion` (src/stats/render.ts PromNaming).
 */
export function parseStatsConfig(c: Checker, v: unknown, path: Path): { histogram_buckets_ms: number[]; prometheus_names: PromNaming } {
  const o = v === undefined ? {} : c.object(v, path, ['histogram_buckets', 'prometheus_names']);
  const names = o.prometheus_names ?? 'envoy';
  if (names !== 'envoy' && names !== 'pillion') c.fail([...path, 'prometheus_names'], "must be 'envoy' or 'pillion'");
  if (o.histogram_buckets === undefined) return { histogram_buckets_ms: [...DEFAULT_BUCKETS_MS], prometheus_names: names };
  const p = [...path, 'histogram_buckets'];
  const bounds = c.array(o.histogram_buckets, p).map((x, i) => c.number(x, [...p, i], 0, 0.001, 3_600_000));
  if (bounds.length === 0 || bounds.length > 64) c.fail(p, 'needs 1 to 64 bounds');
  for (let i = 1; i < bounds.length; i++) if (bounds[i]! <= bounds[i - 1]!) c.fail([...p, i], 'bounds must increase');
  return { histogram_buckets_ms: bounds, prometheus_names: names };
}
