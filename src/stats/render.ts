// The admin's two views of the stats: Envoy's `/stats` text and Prometheus text for `/stats/prometheus`.
import type { StatRegistry } from './registry.js';

/** `name: value` lines, sorted by name, as Envoy's `/stats` prints them. */
export function renderStatsText(registry: StatRegistry, values: Float64Array, filter?: RegExp): string {
  const lines: string[] = [];
  registry.stats.forEach((s, i) => {
    if (filter === undefined || filter.test(s.name)) lines.push(`${s.name}: ${values[i]}`);
  });
  return lines.sort().join('\n') + '\n';
}

interface PromName {
  family: string;
  labels: string;
}

const CODE_CLASS = /^((?:up|down)stream_rq)_([1-5])xx$/;

/**
 * Envoy's Prometheus naming: the scope becomes a label (`cluster.backend.upstream_rq_total` ->
 * `envoy_cluster_upstream_rq_total{envoy_cluster_name="backend"}`) and status classes become
 * `envoy_response_code_class`. Counters get a `_total` suffix when they lack one, because
 * `promtool check metrics` requires it (Envoy's own output does not pass that check).
 */
export function promName(name: string, type: 'counter' | 'gauge'): PromName {
  let family: string;
  const labels: string[] = [];
  const route = /^http\.([^.]+)\.route\.([^.]+)\.([a-z0-9_]+)$/.exec(name);
  if (route !== null) {
    family = `envoy_http_route_${route[3]}`;
    if (type === 'counter' && !family.endsWith('_total')) family += '_total';
    return { family, labels: `{envoy_http_conn_manager_prefix="${escapeLabel(route[1]!)}",envoy_route_name="${escapeLabel(route[2]!)}"}` };
  }
  // The scope is the segment after `http.`/`cluster.`; the rest, dots and all, is the stat.
  const m = /^(http|cluster)\.([^.]+)\.([a-z0-9_.]+)$/.exec(name);
  if (m !== null) {
    const [, kind, scope, stat] = m as unknown as [string, string, string, string];
    labels.push(`${kind === 'http' ? 'envoy_http_conn_manager_prefix' : 'envoy_cluster_name'}="${escapeLabel(scope)}"`);
    let s = stat.replace(/\./g, '_');
    const cls = CODE_CLASS.exec(s);
    if (cls !== null) {
      s = `${cls[1]}_xx`;
      labels.unshift(`envoy_response_code_class="${cls[2]}"`);
    }
    family = `envoy_${kind}_${s}`;
  } else {
    family = name.replace(/[^a-zA-Z0-9_]/g, '_');
  }
  if (type === 'counter' && !family.endsWith('_total')) family += '_total';
  return { family, labels: labels.length ? `{${labels.join(',')}}` : '' };
}

/**
 * How `/stats/prometheus` names metrics (`stats.prometheus_names`, chosen when the config loads):
 * `envoy`, Envoy's families and labels (the default, and always so for `--envoy-config`: dashboards
 * built for Envoy work unchanged), or `pillion`, the same metrics under pillion's own prefix and plain
 * label names: `pillion_cluster_upstream_rq_total{cluster="app"}`.
 */
export type PromNaming = 'envoy' | 'pillion';

/** Envoy's label names and pillion's. */
const PILLION_LABELS: Readonly<Record<string, string>> = {
  envoy_cluster_name: 'cluster',
  envoy_http_conn_manager_prefix: 'listener',
  envoy_route_name: 'route',
  envoy_response_code_class: 'code_class',
  envoy_listener_address: 'address',
};

/** An Envoy-style family and label set under the chosen naming. */
export function named(family: string, labels: string, naming: PromNaming): PromName {
  if (naming === 'envoy') return { family, labels };
  return { family: family.startsWith('envoy_') ? `pillion_${family.slice(6)}` : family, labels: renameLabels(labels) };
}

/** `{a="x",b="y"}` with Envoy's label names replaced; values (quoted, with \\ \" \n escapes) are copied
 *  untouched, so a name inside a value is never rewritten. */
function renameLabels(labels: string): string {
  if (labels === '') return labels;
  let out = '{';
  let i = 1;
  while (i < labels.length - 1) {
    const eq = labels.indexOf('=', i);
    const name = labels.slice(i, eq);
    let j = eq + 2; // past `="`
    while (labels[j] !== '"') j += labels[j] === '\\' ? 2 : 1;
    out += `${PILLION_LABELS[name] ?? name}=${labels.slice(eq + 1, j + 1)}`;
    i = j + 1;
    if (labels[i] === ',') { out += ','; i++; }
  }
  return `${out}}`;
}

/** Each registry's stat names under a naming, resolved once per stat (slots only ever append). */
const resolved = new WeakMap<StatRegistry, Record<PromNaming, PromName[]>>();

function promNames(registry: StatRegistry, naming: PromNaming): PromName[] {
  let r = resolved.get(registry);
  if (r === undefined) resolved.set(registry, (r = { envoy: [], pillion: [] }));
  const names = r[naming];
  for (let i = names.length; i < registry.stats.length; i++) {
    const s = registry.stats[i]!;
    const p = promName(s.name, s.type);
    names.push(named(p.family, p.labels, naming));
  }
  return names;
}

function escapeLabel(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

export interface ExtraSample {
  family: string;
  type: 'counter' | 'gauge';
  help: string;
  labels: string;
  value: number;
  /** Its Envoy-style name for `/stats`, when it has one. */
  statName?: string;
}

/** Prometheus text format 0.0.4: one HELP and TYPE per family, samples grouped under it. */
export function renderPrometheus(registry: StatRegistry, values: Float64Array, extra: readonly ExtraSample[] = [], naming: PromNaming = 'envoy'): string {
  const families = new Map<string, { type: string; help: string; samples: string[] }>();
  const add = (family: string, type: string, help: string, sample: string) => {
    let f = families.get(family);
    if (f === undefined) families.set(family, (f = { type, help, samples: [] }));
    f.samples.push(sample);
  };
  const names = promNames(registry, naming);
  const classHelp = `Responses by status class (${naming === 'envoy' ? 'envoy_response_code_class' : PILLION_LABELS.envoy_response_code_class})`;
  registry.stats.forEach((s, i) => {
    const p = names[i]!;
    // A status-class family gathers five stats with five help texts: say what the family is.
    const help = p.family.endsWith('_rq_xx_total') ? classHelp : s.help;
    add(p.family, s.type, help, `${p.family}${p.labels} ${values[i]}`);
  });
  for (const e of extra) {
    const p = named(e.family, e.labels, naming);
    add(p.family, e.type, e.help, `${p.family}${p.labels} ${e.value}`);
  }
  let out = '';
  for (const name of [...families.keys()].sort()) {
    const f = families.get(name)!;
    out += `# HELP ${name} ${f.help}\n# TYPE ${name} ${f.type}\n${f.samples.join('\n')}\n`;
  }
  return out;
}

/** A merged histogram as the metrics pool returns it (src/workers/metrics.worker.ts). */
export interface HistogramView {
  name: string;
  count: number;
  sumMs: number;
  buckets: number[];
  percentiles: number[];
}

/** Envoy's /stats line for a histogram: `name: P0(v,v) P25(v,v) ...` (interval and cumulative are both
 *  since start here). */
export function renderHistogramsText(hs: readonly HistogramView[], percentiles: readonly number[], filter?: RegExp): string {
  let out = '';
  for (const h of hs) {
    if (filter !== undefined && !filter.test(h.name)) continue;
    const parts = percentiles.map((q, i) => {
      const v = h.percentiles[i]!;
      const t = Number.isNaN(v) ? 'nan' : String(Math.round(v * 1000) / 1000);
      return `P${q}(${t},${t})`;
    });
    out += `${h.name}: ${parts.join(' ')}\n`;
  }
  return out;
}

/** Prometheus histograms (milliseconds, Envoy's unit for rq_time) and a summary beside each. */
export function renderHistogramsPrometheus(hs: readonly HistogramView[], bucketsMs: readonly number[], percentiles: readonly number[], naming: PromNaming = 'envoy'): string {
  const fams = new Map<string, { hist: string[]; summ: string[] }>();
  for (const h of hs) {
    const e = promName(h.name, 'gauge');
    const p = named(e.family, e.labels, naming);
    const inner = p.labels === '' ? '' : p.labels.slice(1, -1);
    const lbl = (extra: string) => `{${inner === '' ? extra : `${inner},${extra}`}}`;
    let f = fams.get(p.family);
    if (f === undefined) fams.set(p.family, (f = { hist: [], summ: [] }));
    bucketsMs.forEach((le, i) => f!.hist.push(`${p.family}_bucket${lbl(`le="${le}"`)} ${h.buckets[i]}`));
    f.hist.push(`${p.family}_bucket${lbl('le="+Inf"')} ${h.count}`, `${p.family}_sum${p.labels} ${h.sumMs}`, `${p.family}_count${p.labels} ${h.count}`);
    percentiles.forEach((q, i) => {
      if (q === 0 || q === 100) return;
      // toFixed: 99.9 / 100 prints as 0.9990000000000001.
      f!.summ.push(`${p.family}_percentiles${lbl(`quantile="${+(q / 100).toFixed(6)}"`)} ${Number.isNaN(h.percentiles[i]!) ? 'NaN' : h.percentiles[i]}`);
    });
    f.summ.push(`${p.family}_percentiles_sum${p.labels} ${h.sumMs}`, `${p.family}_percentiles_count${p.labels} ${h.count}`);
  }
  let out = '';
  for (const [name, f] of [...fams].sort(([a], [b]) => (a < b ? -1 : 1))) {
    out += `# HELP ${name} Request time in milliseconds\n# TYPE ${name} histogram\n${f.hist.join('\n')}\n`;
    out += `# HELP ${name}_percentiles Request time in milliseconds (HDR percentiles)\n# TYPE ${name}_percentiles summary\n${f.summ.join('\n')}\n`;
  }
  return out;
}
