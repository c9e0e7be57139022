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

const CODE_CLASS = /^(.*)_([1-5])xx$/;

/**
 * Envoy's Prometheus naming: the scope becomes a label (`cluster.backend.upstream_rq_total` ->
 * `envoy_cluster_upstream_rq_total{envoy_cluster_name="backend"}`) and status classes become
 * `envoy_response_code_class`. Counters get a `_total` suffix when they lack one, because
 * `promtool check metrics` requires it (Envoy's own output does not pass that check).
 */
export function promName(name: string, type: 'counter' | 'gauge'): PromName {
  let family: string;
  const labels: string[] = [];
  // The scope is the segment after `http.`/`cluster.`; the rest, dots and all, is the stat.
  const m = /^(http|cluster)\.([^.]+)\.([a-z0-9_.]+)$/.exec(name);
  if (m !== null) {
    const [, kind, scope, stat] = m as unknown as [string, string, string, string];
    labels.push(`${kind === 'http' ? 'envoy_http_conn_manager_prefix' : 'envoy_cluster_name'}="${escapeLabel(scope)}"`);
    let s = stat.replace(/\./g, '_');
    const cls = CODE_CLASS.exec(stat);
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
export function renderPrometheus(registry: StatRegistry, values: Float64Array, extra: readonly ExtraSample[] = []): string {
  const families = new Map<string, { type: string; help: string; samples: string[] }>();
  const add = (family: string, type: string, help: string, sample: string) => {
    let f = families.get(family);
    if (f === undefined) families.set(family, (f = { type, help, samples: [] }));
    f.samples.push(sample);
  };
  registry.stats.forEach((s, i) => {
    const p = promName(s.name, s.type);
    add(p.family, s.type, s.help, `${p.family}${p.labels} ${values[i]}`);
  });
  for (const e of extra) add(e.family, e.type, e.help, `${e.family}${e.labels} ${e.value}`);
  let out = '';
  for (const name of [...families.keys()].sort()) {
    const f = families.get(name)!;
    out += `# HELP ${name} ${f.help}\n# TYPE ${name} ${f.type}\n${f.samples.join('\n')}\n`;
  }
  return out;
}
