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
  /** Positions of labelNames in sorted order (exposition lists labels sorted by name); null when already sorted. */
  readonly sortedOrder: readonly number[] | null;
  /** `# HELP ...\n# TYPE ...\n`, pre-rendered because it never changes. */
  readonly header: string;
  /** Per sorted label: the text before its value, e.g. `{device="` then `",fstype="`. */
  readonly labelPrefixes: readonly string[];

  constructor(name: string, help: string, type: MetricType, labelNames: readonly string[] = []) {
    this.name = name;
    this.help = help;
    this.type = type;
    this.labelNames = labelNames;
    const order = labelNames.map((_, i) => i).sort((a, b) => compareStrings(labelNames[a]!, labelNames[b]!));
    this.sortedOrder = order.every((v, i) => v === i) ? null : order;
    this.header = `# HELP ${name} ${escapeHelp(help)}\n# TYPE ${name} ${type}\n`;
    this.labelPrefixes = order.map((li, i) => `${i === 0 ? `${name}{` : '",'}${labelNames[li]}="`);
  }
}

interface Family {
  desc: MetricDesc;
  /** Label values per sample, in sorted-label-name order: the sort key client_golang uses. */
  labels: string[][];
  values: number[];
}

/**
 * The samples of one scrape. Collectors call `add`; the server calls `render` once at the end.
 * Not shared between scrapes, so concurrent scrapes never see each other's samples. Allocation
 * per sample is kept to the label array the caller already built: the scrape's garbage is what
 * decides how far V8 grows its heap, and the agent's memory budget is tight (docs/agent.md).
 */
export class MetricSet {
  private readonly families = new Map<string, Family>();
  /** Samples dropped at render because their name + labels were already present (a collector bug). */
  duplicates = 0;

  /** Adds one sample; `labelValues` follow `desc.labelNames`. */
  add(desc: MetricDesc, value: number, ...labelValues: string[]): void {
    let fam = this.families.get(desc.name);
    if (fam === undefined) {
      fam = { desc, labels: [], values: [] };
      this.families.set(desc.name, fam);
    }
    const order = desc.sortedOrder;
    fam.labels.push(order === null ? labelValues : reorder(labelValues, order));
    fam.values.push(value);
  }

  /** Renders every family in name order, samples in label-value order, duplicates dropped. */
  render(): string {
    // Metric names are ASCII ([a-zA-Z_:][a-zA-Z0-9_:]*), so native order is byte order.
    // Indexed loops, not for-of: the agent runs on baseline code (lean-v8.ts), where each for-of
    // step allocates an iterator result; this loop runs once per sample.
    const names = Array.from(this.families.keys()).sort();
    let out = '';
    for (let n = 0; n < names.length; n++) {
      const name = names[n]!;
      const { desc, labels, values } = this.families.get(name)!;
      out += desc.header;
      const prefixes = desc.labelPrefixes;
      if (prefixes.length === 0) {
        // A family without labels can hold one sample only; later ones would be duplicates.
        out += `${name} ${formatValue(values[0]!)}\n`;
        this.duplicates += values.length - 1;
        continue;
      }
      const cmp = hasHighChars(labels) ? compareLabels : compareLabelsNative;
      // Collectors mostly add samples in order already; sort an index only when they did not.
      let idx: number[] | null = null;
      if (!isSorted(labels, cmp)) {
        idx = labels.map((_, i) => i);
        idx.sort((a, b) => cmp(labels[a]!, labels[b]!));
      }
      let prev: string[] | undefined;
      for (let k = 0; k < labels.length; k++) {
        const i = idx === null ? k : idx[k]!;
        const lv = labels[i]!;
        if (prev !== undefined && cmp(prev, lv) === 0) {
          this.duplicates++;
          continue;
        }
        prev = lv;
        for (let j = 0; j < prefixes.length; j++) out += prefixes[j]! + escapeLabelValue(lv[j] ?? '');
        out += `"} ${formatValue(values[i]!)}\n`;
      }
    }
    return out;
  }
}

function reorder(labelValues: string[], order: readonly number[]): string[] {
  const out = new Array<string>(order.length);
  for (let i = 0; i < order.length; i++) out[i] = labelValues[order[i]!] ?? '';
  return out;
}

function isSorted(labels: string[][], cmp: (a: string[], b: string[]) => number): boolean {
  for (let i = 1; i < labels.length; i++) if (cmp(labels[i - 1]!, labels[i]!) > 0) return false;
  return true;
}

/** Where UTF-16 order and UTF-8 byte order can disagree: surrogates and U+E000..U+FFFF. */
const HIGH_CHARS = /[\uD800-\uFFFF]/;
function hasHighChars(labels: string[][]): boolean {
  for (let i = 0; i < labels.length; i++) {
    const values = labels[i]!;
    for (let j = 0; j < values.length; j++) if (HIGH_CHARS.test(values[j]!)) return true;
  }
  return false;
}

/** Label order when no value has such characters: JS's native order is then byte order. */
function compareLabelsNative(a: string[], b: string[]): number {
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (x !== y) return x < y ? -1 : 1;
  }
  return 0;
}

function compareLabels(a: string[], b: string[]): number {
  for (let i = 0; i < a.length; i++) {
    const c = compareStrings(a[i]!, b[i]!);
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
  // Most values: JS's shortest decimal form is Go's whenever the exponent is in [-4, 6).
  const abs = v < 0 ? -v : v;
  if (abs >= 1e-4 && abs < 1e6) return String(v);
  if (Number.isSafeInteger(v) && abs < 1e21) {
    // Integers (most counters): digits without trailing zeros, e.g. 38014093 -> 3.8014093e+07.
    const digits = String(abs);
    let end = digits.length;
    while (end > 1 && digits.charCodeAt(end - 1) === 48) end--;
    const exp = digits.length - 1;
    const mant = end === 1 ? digits[0]! : `${digits[0]}.${digits.slice(1, end)}`;
    return `${v < 0 ? '-' : ''}${mant}e+${exp < 10 ? '0' : ''}${exp}`;
  }
  const e = v.toExponential(); // shortest round-trip digits, e.g. "5.13713216512e+11"
  const at = e.indexOf('e');
  const exp = Number(e.slice(at + 1));
  if (exp < -4 || exp >= 6) {
    const sign = exp < 0 ? '-' : '+';
    const digits = String(Math.abs(exp)).padStart(2, '0');
    return `${e.slice(0, at)}e${sign}${digits}`;
  }
  return String(v);
}
