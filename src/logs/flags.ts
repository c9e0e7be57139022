// `pillion logs` command line: `--flag value` or `--flag=value`, repeatable list flags, `--no-gzip`.
// Everything is validated here, once; the collector only reads the resulting options.
import { resolve } from 'node:path';
import { parseDuration, parseHostPort } from '../util/duration.js';
import type { Format } from './formats.js';
import type { HttpPreset } from '../telemetry/config.js';
import type { SinkTarget } from '../telemetry/sinks.js';
import { headerError } from '../telemetry/http-post.js';

/** Bad usage; the message names the flag (exit code 2). */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}


/** The collector's options; TSDoc on each field is what `--help` says. */
export interface LogsOptions {
  paths: string[];
  excludes: string[];
  kubernetes: boolean;
  podsDir: string;
  format: Format;
  /** The access-log sink shape (src/telemetry/sinks.ts): one attempt per delivery, the collector retries. */
  sink: SinkTarget;
  stateDir: string;
  /** Where to start in a file that has no checkpoint and existed when the collector started. */
  readFrom: 'head' | 'tail';
  maxLineBytes: number;
  multilineStart: RegExp | null;
  multilineTimeoutMs: number;
  batchMaxRecords: number;
  batchMaxBytes: number;
  rescanIntervalMs: number;
  /** Size check of the tracked files (cheap: one stat each); the glob walk runs every rescanIntervalMs. */
  pollIntervalMs: number;
  rotateWaitMs: number;
  maxOpenFiles: number;
  idleCloseMs: number;
  /** Null: no metrics endpoint. */
  metrics: { host: string; port: number } | null;
  logFormat: 'text' | 'json';
  help: boolean;
}

export const USAGE = `Usage: pillion logs (--path GLOB... | --kubernetes) --sink SINK --state-dir DIR [options]

Tails log files and ships every line at least once: checkpoints advance only after the sink has
acknowledged a batch, and while the sink is down reading pauses (the files are the buffer).

Inputs:
  --path GLOB              files to tail (repeatable; * ? [..] {a,b} **)
  --exclude GLOB           files to leave out (repeatable)
  --kubernetes             container logs: <pods-dir>/<ns>_<pod>_<uid>/<container>/*.log, CRI or Docker
                           json-file lines, labelled with namespace, pod, pod_uid, container, stream
  --pods-dir DIR           default /var/log/pods
  --format raw|cri|docker|auto
                           line format (default raw; auto with --kubernetes)
  --read-from head|tail    files without a checkpoint found at start (default head; later files: head)
  --max-line-bytes N       longer lines are cut to N bytes and counted (default 32768)
  --multiline-start REGEX  a line matching REGEX starts a record; other lines join the previous one
  --multiline-timeout DUR  flush a pending multiline record after DUR without lines (default 1s)
Sink:
  --sink stdout | file:PATH | http:URL | URL
  --preset ndjson|loki|elasticsearch   HTTP body format (default ndjson)
  --no-gzip                HTTP bodies uncompressed (default gzip)
  --header 'Name: value'   extra HTTP header (repeatable)
  --label k=v              extra Loki stream label (repeatable; default job=pillion)
  --index NAME             Elasticsearch index (default pillion-logs)
  --timeout DUR            HTTP request timeout (default 10s)
  --no-fsync               file sink: acknowledge after write(), without fdatasync
Batching and files:
  --state-dir DIR          checkpoints (required)
  --batch-max-records N    default 10000
  --batch-max-bytes N      default 1048576
  --rescan-interval DUR    full glob walk, the safety net under inotify (default 10s)
  --poll-interval DUR      size check of tracked files, for writes inotify does not see (default 1s)
  --rotate-wait DUR        how long a rotated or deleted file is kept open to read it to its end (default 10s)
  --max-open-files N       open descriptors at most; idle files are closed first (default 256)
  --idle-close DUR         close a file read to its end after DUR without writes (default 30s)
Other:
  --metrics-address ADDR   Prometheus /metrics (default 127.0.0.1:15023; "off" to disable)
  --log-format text|json   stderr log format (default text)
`;

function int(flag: string, v: string, min: number, max: number): number {
  if (!/^\d+$/.test(v)) throw new UsageError(`${flag}: expected an integer, got '${v}'`);
  const n = Number(v);
  if (n < min || n > max) throw new UsageError(`${flag}: must be between ${min} and ${max}`);
  return n;
}

function duration(flag: string, v: string): number {
  const ms = parseDuration(v);
  if (ms === undefined) throw new UsageError(`${flag}: expected a duration such as 500ms or 10s, got '${v}'`);
  return ms;
}

function oneOf<T extends string>(flag: string, v: string, values: readonly T[]): T {
  if (!(values as readonly string[]).includes(v)) throw new UsageError(`${flag}: must be one of ${values.join(', ')}`);
  return v as T;
}

const VALUE_FLAGS = new Set([
  '--path', '--exclude', '--pods-dir', '--format', '--read-from', '--max-line-bytes', '--multiline-start', '--multiline-timeout',
  '--sink', '--preset', '--header', '--label', '--index', '--timeout', '--state-dir', '--batch-max-records', '--batch-max-bytes',
  '--rescan-interval', '--poll-interval', '--rotate-wait', '--max-open-files', '--idle-close', '--metrics-address', '--log-format',
]);
const BOOL_FLAGS = new Set(['--kubernetes', '--no-gzip', '--gzip', '--no-fsync', '--help', '-h']);

export function parseFlags(argv: readonly string[]): LogsOptions {
  const vals = new Map<string, string[]>();
  const bools = new Set<string>();
  for (let i = 0; i < argv.length; i++) {
    let a = argv[i]!;
    let v: string | undefined;
    const eq = a.indexOf('=');
    if (a.startsWith('--') && eq !== -1) {
      v = a.slice(eq + 1);
      a = a.slice(0, eq);
    }
    if (BOOL_FLAGS.has(a)) {
      if (v !== undefined) throw new UsageError(`${a} takes no value`);
      bools.add(a);
      continue;
    }
    if (!VALUE_FLAGS.has(a)) throw new UsageError(`unknown flag '${a}'`);
    if (v === undefined) {
      v = argv[++i];
      if (v === undefined) throw new UsageError(`${a} needs a value`);
    }
    const list = vals.get(a) ?? [];
    list.push(v);
    vals.set(a, list);
  }
  const one = (f: string): string | undefined => {
    const l = vals.get(f);
    if (l !== undefined && l.length > 1 && f !== '--path' && f !== '--exclude') throw new UsageError(`${f} given more than once`);
    return l?.[0];
  };
  const help = bools.has('--help') || bools.has('-h');
  const kubernetes = bools.has('--kubernetes');
  const podsDir = resolve(one('--pods-dir') ?? '/var/log/pods');
  const paths = (vals.get('--path') ?? []).map((p) => resolve(p));
  if (kubernetes) paths.push(`${podsDir}/*/*/*.log`);
  const opts: LogsOptions = {
    paths,
    excludes: (vals.get('--exclude') ?? []).map((p) => resolve(p)),
    kubernetes,
    podsDir,
    format: oneOf('--format', one('--format') ?? (kubernetes ? 'auto' : 'raw'), ['raw', 'cri', 'docker', 'auto'] as const),
    sink: STDOUT,
    stateDir: '',
    readFrom: oneOf('--read-from', one('--read-from') ?? 'head', ['head', 'tail'] as const),
    maxLineBytes: int('--max-line-bytes', one('--max-line-bytes') ?? '32768', 64, 16 * 1024 * 1024),
    multilineStart: null,
    multilineTimeoutMs: duration('--multiline-timeout', one('--multiline-timeout') ?? '1s'),
    batchMaxRecords: int('--batch-max-records', one('--batch-max-records') ?? '10000', 1, 1_000_000),
    batchMaxBytes: int('--batch-max-bytes', one('--batch-max-bytes') ?? '1048576', 1024, 256 * 1024 * 1024),
    rescanIntervalMs: Math.max(10, duration('--rescan-interval', one('--rescan-interval') ?? '10s')),
    pollIntervalMs: Math.max(10, duration('--poll-interval', one('--poll-interval') ?? '1s')),
    rotateWaitMs: duration('--rotate-wait', one('--rotate-wait') ?? '10s'),
    maxOpenFiles: int('--max-open-files', one('--max-open-files') ?? '256', 4, 1_000_000),
    idleCloseMs: duration('--idle-close', one('--idle-close') ?? '30s'),
    metrics: null,
    logFormat: oneOf('--log-format', one('--log-format') ?? 'text', ['text', 'json'] as const),
    help,
  };
  if (help) return opts;
  if (paths.length === 0) throw new UsageError('give --path GLOB (repeatable) or --kubernetes');
  const ml = one('--multiline-start');
  if (ml !== undefined) {
    try {
      opts.multilineStart = new RegExp(ml);
    } catch (err) {
      throw new UsageError(`--multiline-start: ${(err as Error).message}`);
    }
  }
  const state = one('--state-dir');
  if (state === undefined) throw new UsageError('--state-dir DIR is required (checkpoints live there)');
  opts.stateDir = resolve(state);
  const m = one('--metrics-address') ?? '127.0.0.1:15023';
  if (m !== 'off') {
    const hp = parseHostPort(m, '127.0.0.1');
    if (hp === undefined) throw new UsageError(`--metrics-address: expected host:port or "off", got '${m}'`);
    opts.metrics = hp;
  }
  opts.sink = parseSink(one('--sink'), one, vals, bools);
  return opts;
}

const STDOUT: SinkTarget = { kind: 'stdout', path: null, http: null, retry_max_attempts: 1 };

function parseSink(
  spec: string | undefined,
  one: (f: string) => string | undefined,
  vals: Map<string, string[]>,
  bools: Set<string>,
): SinkTarget {
  if (spec === undefined) throw new UsageError('--sink is required: stdout, file:PATH or http:URL');
  if (spec === 'stdout') return STDOUT;
  if (spec.startsWith('file:')) {
    if (spec.length === 5) throw new UsageError('--sink file:PATH needs a path');
    return { kind: 'file', path: resolve(spec.slice(5)), http: null, retry_max_attempts: 1, fsync: !bools.has('--no-fsync') };
  }
  let url = spec.startsWith('http:') && !spec.startsWith('http://') ? spec.slice(5) : spec;
  if (!/^https?:\/\/[^/]/.test(url)) throw new UsageError(`--sink: expected stdout, file:PATH or http:URL, got '${spec}'`);
  try {
    url = new URL(url).href;
  } catch {
    throw new UsageError(`--sink: not a URL: '${url}'`);
  }
  const headers: Record<string, string> = {};
  for (const h of vals.get('--header') ?? []) {
    const i = h.indexOf(':');
    if (i <= 0) throw new UsageError(`--header: expected 'Name: value', got '${h}'`);
    const [name, value] = [h.slice(0, i).trim().toLowerCase(), h.slice(i + 1).trim()];
    const err = headerError(name, value);
    if (err !== null) throw new UsageError(`--header: ${err}`);
    headers[name] = value;
  }
  const labels: Record<string, string> = { job: 'pillion' };
  for (const l of vals.get('--label') ?? []) {
    const i = l.indexOf('=');
    if (i <= 0 || !/^[a-zA-Z_][a-zA-Z0-9_]*$/.test(l.slice(0, i))) throw new UsageError(`--label: expected name=value, got '${l}'`);
    labels[l.slice(0, i)] = l.slice(i + 1);
  }
  return {
    kind: 'http',
    path: null,
    http: {
      url,
      preset: oneOf<HttpPreset>('--preset', one('--preset') ?? 'ndjson', ['ndjson', 'loki', 'elasticsearch'] as const),
      gzip: !bools.has('--no-gzip'),
      headers,
      labels,
      index: one('--index') ?? 'pillion-logs',
      timeout_ms: duration('--timeout', one('--timeout') ?? '10s'),
    },
    retry_max_attempts: 1,
  };
}
