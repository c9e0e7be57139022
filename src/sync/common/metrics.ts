// A minimal Prometheus text registry for the sync sidecars. The proxy has its own stats module;
// these modes deliberately stay free of it (and of uWS/undici) so `pillion config-sync` starts small.
// Handles are created once at startup and then only incremented: no name lookup per event.

export interface Counter { inc(by?: number): void; value(): number }
export interface Gauge { set(v: number): void; value(): number }

interface Series { labels: string; value: number }
interface Family { name: string; help: string; type: 'counter' | 'gauge'; series: Series[] }

function escapeLabel(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

function renderLabels(labels: Readonly<Record<string, string>> | undefined): string {
  if (labels === undefined) return '';
  const parts = Object.entries(labels).map(([k, v]) => `${k}="${escapeLabel(v)}"`);
  return parts.length === 0 ? '' : `{${parts.join(',')}}`;
}

function formatNumber(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}

export class Registry {
  private readonly families = new Map<string, Family>();

  private series(name: string, help: string, type: Family['type'], labels?: Record<string, string>): Series {
    let fam = this.families.get(name);
    if (fam === undefined) {
      fam = { name, help, type, series: [] };
      this.families.set(name, fam);
    } else if (fam.type !== type) {
      throw new Error(`metric ${name} registered as ${fam.type} and ${type}`);
    }
    const key = renderLabels(labels);
    let s = fam.series.find((x) => x.labels === key);
    if (s === undefined) {
      s = { labels: key, value: 0 };
      fam.series.push(s);
    }
    return s;
  }

  /** `name` must end in `_total` (Prometheus convention; promtool warns otherwise). */
  counter(name: string, help: string, labels?: Record<string, string>): Counter {
    const s = this.series(name, help, 'counter', labels);
    return {
      inc: (by = 1) => { s.value += by; },
      value: () => s.value,
    };
  }

  gauge(name: string, help: string, labels?: Record<string, string>): Gauge {
    const s = this.series(name, help, 'gauge', labels);
    return {
      set: (v) => { s.value = v; },
      value: () => s.value,
    };
  }

  /** Prometheus text exposition format 0.0.4. */
  render(): string {
    let out = '';
    for (const fam of this.families.values()) {
      out += `# HELP ${fam.name} ${fam.help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')}\n# TYPE ${fam.name} ${fam.type}\n`;
      for (const s of fam.series) out += `${fam.name}${s.labels} ${formatNumber(s.value)}\n`;
    }
    return out;
  }
}
