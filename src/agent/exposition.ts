// Prometheus text exposition (format 0.0.4), written the way node_exporter's client_golang writes it:
// families sorted by name, samples sorted by label values, label names sorted, floats in Go's
// strconv 'g' shortest form. Byte-level sameness is not required by Prometheus, but it lets an
// operator `diff` our /metrics against node_exporter's when something looks off.

/** The Prometheus metric types node_exporter uses. */
export type MetricType = 'counter' | 'gauge' | 'untyped';

/**
 * One metric family, built once when a collector is constructed and reused on every scrape
 * (the Desc of client_golang). `labelNames` fixes the order in which `add` takes label values.
 */
export class MetricDesc {
  readonly name: string;
  readonly help: string;
  readonly type: MetricType;
  readonly labelNames: readonly string[];
  /** Positions of labelNames in sorted order: exposition lists labels sorted by name. */
  readonly sortedOrder: readonly number[];
  /** `# HELP ...\n# TYPE ...\n`, pre-rendered because it never changes. */
  readonly header: string;

  constructor(name: string, help: string, type: MetricType, labelNames: readonly string[] = []) {
    this.name = name;
    this.help = help;
    this.type = type;
    this.labelNames = labelNames;
    this.sortedOrder = labelNames.map((_, i) => i).sort((a, b) => compareStrings(labelNames[a]!, labelNames[b]!));
    this.header = `# HELP ${name} ${escapeHelp(help)}\n# TYPE ${name} ${type}\n`;
  }
}

interface Sample {
  /** Label values in sorted-label-name order: the sort key client_golang uses. */
  sortedValues: string[];
  value: number;
}

interface Family {
  desc: MetricDesc;
  samples: Sample[];
  /** Label-value keys seen, to drop duplicates the way client_golang refuses them. */
  seen: Set<string>;
}

/**
 * The samples of one scrape. Collectors call `add`; the server calls `render` once at the end.
 * Not shared between scrapes, so concurrent scrapes never see each other's samples.
 */
export class MetricSet {
  private readonly families = new Map<string, Family>();
  /** Samples dropped because their name + labels were already present (a collector bug). */
  duplicates = 0;

  /** Adds one sample; `labelValues` follow `desc.labelNames`. */
  add(desc: MetricDesc, value: number, ...labelValues: string[]): void {
    let fam = this.families.get(desc.name);
    if (fam === undefined) {
      fam = { desc, samples: [], seen: new Set() };
      this.families.set(desc.name, fam);
    }
    const sortedValues = desc.sortedOrder.map((i) => labelValues[i] ?? '');
    const key = sortedValues.join('\u0000');
    if (fam.seen.has(key)) {
      this.duplicates++;
      return;
    }
    fam.seen.add(key);
    fam.samples.push({ sortedValues, value });
  }

  /** Names of the families that have at least one sample. */
  familyNames(): string[] {
    return [...this.families.keys()];
  }

  /** Renders every family in name order, samples in label-value order. */
  render(): string {
    const names = [...this.families.keys()].sort(compareStrings);
    const parts: string[] = [];
    for (const name of names) {
      const fam = this.families.get(name)!;
      const { desc } = fam;
      fam.samples.sort(compareSamples);
      parts.push(desc.header);
      const sortedNames = desc.sortedOrder.map((i) => desc.labelNames[i]!);
      for (const s of fam.samples) {
        if (sortedNames.length === 0) {
          parts.push(`${name} ${formatValue(s.value)}\n`);
          continue;
        }
        let labels = '';
        for (let i = 0; i < sortedNames.length; i++) {
          labels += `${i === 0 ? '' : ','}${sortedNames[i]}="${escapeLabelValue(s.sortedValues[i]!)}"`;
        }
        parts.push(`${name}{${labels}} ${formatValue(s.value)}\n`);
      }
    }
    return parts.join('');
  }
}

function compareSamples(a: Sample, b: Sample): number {
  for (let i = 0; i < a.sortedValues.length; i++) {
    const c = compareStrings(a.sortedValues[i]!, b.sortedValues[i]!);
    if (c !== 0) return c;
  }
  return 0;
}

/** Byte order of the UTF-8 encodings, which is Go's string order (JS `<` compares UTF-16 units). */
export function compareStrings(a: string, b: string): number {
  if (a === b) return 0;
  // Fast path: for ASCII, code-unit order is byte order.
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x === y) continue;
    if (x < 0xd800 && y < 0xd800) return x - y;
    return Buffer.compare(Buffer.from(a.slice(i)), Buffer.from(b.slice(i)));
  }
  return a.length - b.length;
}

function escapeHelp(s: string): string {
  return s.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

function escapeLabelValue(s: string): string {
  if (!/[\\"\n]/.test(s)) return s;
  return s.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

/**
 * Formats a float the way Go's strconv.FormatFloat(v, 'g', -1, 64) does: the shortest digits
 * that round-trip (JS uses the same), exponent form when the decimal exponent is < -4 or >= 6
 * (Go's rule for shortest 'g'; JS switches only at 1e21), and at least two exponent digits.
 */
export function formatValue(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  if (v === 0) return Object.is(v, -0) ? '-0' : '0';
  const e = v.toExponential(); // shortest round-trip digits, e.g. "5.13713216512e+11"
  const at = e.indexOf('e');
  const exp = Number(e.slice(at + 1));
  if (exp < -4 || exp >= 6) {
    const sign = exp < 0 ? '-' : '+';
    const digits = String(Math.abs(exp)).padStart(2, '0');
    return `${e.slice(0, at)}e${sign}${digits}`;
  }
  // Within [-4, 6) JS's own decimal form is the shortest plain form, as Go's %f with those digits.
  return String(v);
}
