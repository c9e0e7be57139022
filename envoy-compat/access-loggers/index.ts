// Access loggers (HCM `access_log`) -> the listener's `access_log` sinks (src/telemetry/config.ts).
// file -> {path}, stdout -> {path: stdout}, stderr -> {path: /dev/stderr}; log_format
// text_format_source / text_format -> format (Envoy's default format when absent, as in Envoy),
// json_format -> json_format (flat string values); filters: status_code_filter -> status_code
// min/max, response_flag_filter -> response_flags, runtime_filter's percent -> sample. A format
// using an operator pillion does not have is reported and that log is not carried over. gRPC ALS
// and OpenTelemetry loggers have no pillion equivalent.
import type { AccessLoggerTranslator } from '../extensions.js';
import type { Node } from '../source.js';
import { FormatError, compileJson, compileText } from '../../src/telemetry/format.js';

const FILE = 'envoy.extensions.access_loggers.file.v3.FileAccessLog';
const STDOUT = 'envoy.extensions.access_loggers.stream.v3.StdoutAccessLog';
const STDERR = 'envoy.extensions.access_loggers.stream.v3.StderrAccessLog';

/** log_format (SubstitutionFormatString) or the deprecated format / json_format fields. */
function format(cfg: Node, out: Record<string, unknown>): boolean {
  const lf = cfg.get('log_format');
  let text: string | undefined;
  let json: Node | undefined;
  if (lf !== undefined) {
    const src = lf.get('text_format_source');
    if (src !== undefined) {
      text = src.str('inline_string');
      if (text === undefined) {
        src.dropSelf('a format from a file or variable: pillion takes it inline');
        return false;
      }
      src.finish();
    }
    text ??= lf.str('text_format');
    json = lf.get('json_format');
    lf.drop('formatters', 'formatter extensions: pillion has Envoy\'s built-in operators only');
    lf.drop('content_type', 'pillion writes access logs to files and stdout only');
    lf.skip('omit_empty_values');
    lf.finish();
  } else {
    text = cfg.str('format');
    json = cfg.get('json_format');
  }
  if (text !== undefined) {
    try {
      compileText(text.replace(/\n$/, ''), null, null);
    } catch (err) {
      if (!(err instanceof FormatError)) throw err;
      (lf ?? cfg).dropSelf(`access log format: ${err.message}`);
      return false;
    }
    out.format = text;
  } else if (json !== undefined) {
    const fields: Record<string, string> = {};
    for (const k of json.keys()) {
      const v = (json.value as Record<string, unknown>)[k];
      if (typeof v !== 'string') {
        json.dropSelf(`json_format with a non-string value (${k}): pillion's JSON fields are strings of operators`);
        return false;
      }
      fields[k] = v;
    }
    try {
      compileJson(fields, null, null);
    } catch (err) {
      if (!(err instanceof FormatError)) throw err;
      json.dropSelf(`json_format: ${err.message}`);
      return false;
    }
    out.json_format = fields;
  }
  return true;
}

/** An AccessLogFilter -> pillion's filter; false when it cannot be expressed. */
function filter(f: Node, out: Record<string, unknown>): boolean {
  const pf: Record<string, unknown> = {};
  const sc = f.get('status_code_filter');
  const rf = f.get('response_flag_filter');
  const rt = f.get('runtime_filter');
  if (sc !== undefined) {
    const cmp = sc.get('comparison');
    const op = cmp?.str('op') ?? 'EQ';
    const value = cmp?.get('value');
    const v = value?.int('default_value');
    value?.skip('runtime_key');
    value?.finish();
    cmp?.finish();
    sc.finish();
    if (v === undefined) return false;
    pf.status_code = op === 'GE' ? { min: v } : op === 'LE' ? { max: v } : { min: v, max: v };
  } else if (rf !== undefined) {
    pf.response_flags = rf.strings('flags') ?? [];
    rf.finish();
  } else if (rt !== undefined) {
    const pct = rt.get('percent_sampled');
    const num = pct?.int('numerator') ?? 0;
    const den = pct?.str('denominator') ?? 'HUNDRED';
    pct?.finish();
    rt.skip('runtime_key', 'use_independent_randomness');
    rt.finish();
    pf.sample = num / (den === 'TEN_THOUSAND' ? 100 : den === 'MILLION' ? 10_000 : 1);
  } else {
    f.dropSelf('access log filter: pillion has status_code, response_flag and runtime (sampling) filters, one per log');
    return false;
  }
  f.finish();
  out.filter = pf;
  return true;
}

const streamOrFile = (name: string, types: string[], path: (cfg: Node | undefined, entry: Node) => string | undefined): AccessLoggerTranslator => ({
  name,
  types,
  translate(entry, config, scope) {
    const out: Record<string, unknown> = {};
    const p = path(config, entry);
    if (p === undefined) return entry.dropSelf(`access log ${name} without a path`);
    out.path = p;
    if (config !== undefined && !format(config, out)) return;
    const f = entry.get('filter');
    if (f !== undefined && !filter(f, out)) return;
    config?.finish();
    entry.skip('name');
    entry.finish();
    (scope.listener.access_log ??= []).push(out);
  },
});

const notSupported = (name: string, types: string[], why: string): AccessLoggerTranslator => ({
  name,
  types,
  translate(entry) {
    entry.dropSelf(`access log ${name}: ${why}`);
  },
});

export const accessLoggers: readonly AccessLoggerTranslator[] = [
  streamOrFile('envoy.access_loggers.file', [FILE], (c) => c?.str('path')),
  streamOrFile('envoy.access_loggers.stdout', [STDOUT], () => 'stdout'),
  streamOrFile('envoy.access_loggers.stderr', [STDERR], (_c, entry) => {
    entry.note('stderr access log: written to /dev/stderr, where pillion also writes its own log lines');
    return '/dev/stderr';
  }),
  notSupported('envoy.access_loggers.http_grpc', ['envoy.extensions.access_loggers.grpc.v3.HttpGrpcAccessLogConfig'], 'pillion has no gRPC access log service client (its http sinks post NDJSON, Loki or Elasticsearch batches)'),
  notSupported('envoy.access_loggers.open_telemetry', ['envoy.extensions.access_loggers.open_telemetry.v3.OpenTelemetryAccessLogConfig'], 'pillion has no OpenTelemetry log exporter'),
];
