// Reading Envoy's config the way Envoy does: a field may be spelt snake_case or lowerCamelCase,
// durations are strings ("0.25s") or {seconds, nanos}, 64-bit integers may be strings, and a
// `@type`d Any carries its type URL inline. Every read marks the field as used, so that whatever a
// translator did not read is reported as "not carried over" with its Envoy path and line: nothing is
// dropped silently, and a translator only has to say what it does understand.
import { readFileSync } from 'node:fs';
import { LineCounter, parseDocument, isMap, isNode, isScalar } from 'yaml';
import { ConfigError, fieldName, type Path } from '../src/config/validate.js';

/** One Envoy field pillion did not carry over, or a remark on how it was carried over. */
export interface Finding {
  /** The Envoy field, e.g. `static_resources.clusters[0].health_checks`. */
  path: string;
  /** The file, when the field came from one (the bootstrap, or an LDS/CDS file). */
  file?: string;
  line?: number;
  reason: string;
  /**
   * Running without this field weakens access control or transport security (an auth filter, RBAC,
   * TLS). `pillion proxy --envoy-config` refuses such a config unless `--allow-unsupported`.
   */
  unsafe?: true;
}

export interface Report {
  /** Fields not carried over: pillion behaves differently from Envoy here. */
  dropped: Finding[];
  /** Carried over with a difference worth knowing (DNS resolution, codec, renamed stat scope...). */
  notes: Finding[];
}

/** A parsed source file: its JS value plus a way to find a field's line. */
export interface Doc {
  file?: string;
  value: unknown;
  line(path: Path): number | undefined;
}

/** The translator's failure: an Envoy field it cannot turn into anything pillion can run. */
export class EnvoyCompatError extends ConfigError {
  constructor(envoyPath: string, reason: string, file?: string, line?: number) {
    super(envoyPath, reason, file, line);
  }
}

export function parseDoc(text: string, file?: string): Doc {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    const e = doc.errors[0]!;
    const line = e.linePos?.[0]?.line ?? lineCounter.linePos(e.pos[0]).line;
    throw new EnvoyCompatError('(syntax)', e.message.split('\n')[0]!, file, line);
  }
  return {
    file,
    value: doc.toJS(),
    line: (path) => {
      // A mapping's key has the line a reader looks for; the value of a block mapping starts below it.
      const last = path[path.length - 1];
      if (typeof last === 'string') {
        const parent = path.length === 1 ? doc.contents : doc.getIn(path.slice(0, -1), true);
        if (isMap(parent)) {
          const pair = parent.items.find((p) => isScalar(p.key) && p.key.value === last);
          if (pair !== undefined && isNode(pair.key) && pair.key.range != null) return lineCounter.linePos(pair.key.range[0]).line;
        }
      }
      const node = path.length === 0 ? doc.contents : doc.getIn(path, true);
      if (!isNode(node) || node.range == null) return undefined;
      return lineCounter.linePos(node.range[0]).line;
    },
  };
}

export function readDoc(file: string, read: (f: string) => string = (f) => readFileSync(f, 'utf8')): Doc {
  let text: string;
  try {
    text = read(file);
  } catch (err) {
    throw new EnvoyCompatError('(file)', `cannot read: ${(err as Error).message}`, file);
  }
  return parseDoc(text, file);
}

const camel = (s: string) => s.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());

/**
 * A field of an Envoy config being read. `get`, `str`, `int`... find a key in either spelling and mark
 * it used; `finish()` reports every key nobody read. Paths use the key as written, so lines resolve.
 */
export class Node {
  private readonly used = new Set<string>();

  constructor(
    readonly report: Report,
    readonly doc: Doc,
    readonly path: Path,
    readonly value: unknown,
  ) {}

  get where(): string {
    return fieldName(this.path);
  }

  line(): number | undefined {
    for (let n = this.path.length; n >= 0; n--) {
      const l = this.doc.line(this.path.slice(0, n));
      if (l !== undefined) return l;
    }
    return undefined;
  }

  isMap(): boolean {
    return this.value !== null && typeof this.value === 'object' && !Array.isArray(this.value);
  }

  private map(): Record<string, unknown> {
    if (!this.isMap()) this.fail('must be a mapping');
    return this.value as Record<string, unknown>;
  }

  /** The key as written in the file (snake_case or lowerCamelCase), or undefined. */
  key(name: string): string | undefined {
    if (!this.isMap()) return undefined;
    const o = this.value as Record<string, unknown>;
    if (o[name] !== undefined) return name;
    const c = camel(name);
    return o[c] !== undefined ? c : undefined;
  }

  has(name: string): boolean {
    return this.key(name) !== undefined;
  }

  /** Reads a field (marking it used); undefined when absent. */
  get(name: string): Node | undefined {
    const k = this.key(name);
    if (k === undefined) return undefined;
    this.used.add(k);
    return new Node(this.report, this.doc, [...this.path, k], this.map()[k]);
  }

  /** Every key present, in file order, in the spelling written. */
  keys(): string[] {
    return Object.keys(this.map());
  }

  /** The entries of a map-valued field (typed_per_filter_config and the like). */
  entries(name: string): [string, Node][] {
    const n = this.get(name);
    if (n === undefined) return [];
    return n.keys().map((k) => [k, n.get(k)!]);
  }

  /** A repeated field. A single mapping where a list belongs is read as a one-element list (protobuf's JSON parser takes it too). */
  list(name: string): Node[] {
    const n = this.get(name);
    if (n === undefined || n.value === null) return [];
    if (!Array.isArray(n.value)) {
      if (n.isMap()) {
        n.note('a single value where Envoy documents a list: read as a list of one');
        return [n];
      }
      n.fail('must be a list');
    }
    return (n.value as unknown[]).map((v, i) => new Node(this.report, this.doc, [...n.path, i], v));
  }

  /** A repeated string (or number) field as strings. */
  strings(name: string): string[] | undefined {
    const n = this.get(name);
    if (n === undefined) return undefined;
    if (!Array.isArray(n.value)) return n.fail('must be a list');
    return (n.value as unknown[]).map((v) => (typeof v === 'string' || typeof v === 'number' ? String(v) : n.fail('must be a list of strings')));
  }

  str(name: string): string | undefined {
    const n = this.get(name);
    if (n === undefined) return undefined;
    if (typeof n.value !== 'string') return n.fail('must be a string');
    return n.value;
  }

  bool(name: string): boolean | undefined {
    const n = this.get(name);
    if (n === undefined) return undefined;
    // BoolValue wrappers are written as plain booleans in YAML; {value: true} occurs in hand-written files.
    const v = n.isMap() ? (n.value as { value?: unknown }).value : n.value;
    if (typeof v !== 'boolean') return n.fail('must be true or false');
    return v;
  }

  /** Integers, including protojson's 64-bit integers as strings and {value: N} wrappers. */
  int(name: string): number | undefined {
    const n = this.get(name);
    if (n === undefined) return undefined;
    let v = n.isMap() ? (n.value as { value?: unknown }).value : n.value;
    if (typeof v === 'string' && /^-?\d+$/.test(v)) v = Number(v);
    if (typeof v !== 'number' || !Number.isInteger(v)) return n.fail('must be an integer');
    return v;
  }

  /** A google.protobuf.Duration: "0.25s", or {seconds, nanos}. Returns milliseconds. */
  durationMs(name: string): number | undefined {
    const n = this.get(name);
    if (n === undefined) return undefined;
    const v = n.value;
    if (typeof v === 'string') {
      const m = /^(-?\d+(?:\.\d+)?)s$/.exec(v.trim());
      if (m === null) return n.fail(`must be a duration such as "0.25s" (got ${JSON.stringify(v)})`);
      return Math.round(Number(m[1]) * 1e6) / 1e3;
    }
    if (n.isMap()) {
      const seconds = n.int('seconds') ?? 0;
      const nanos = n.int('nanos') ?? 0;
      n.finish();
      return seconds * 1000 + nanos / 1e6;
    }
    return n.fail('must be a duration such as "0.25s"');
  }

  /** The type URL's last segment of a `@type`d Any (`envoy.extensions...v3.Router`). */
  typeName(): string | undefined {
    if (!this.isMap()) return undefined;
    const t = (this.value as Record<string, unknown>)['@type'];
    if (typeof t !== 'string') return undefined;
    this.used.add('@type');
    return t.slice(t.lastIndexOf('/') + 1);
  }

  /** Marks a field as read with nothing to say about it (it has no effect in pillion). */
  skip(...names: string[]): void {
    for (const name of names) this.get(name);
  }

  /** Reports one field as not carried over (when present). */
  drop(name: string, reason: string, unsafe = false): void {
    const n = this.get(name);
    // An empty message (`common_lb_config: {}`) sets nothing: Envoy's defaults, nothing to carry.
    if (n !== undefined && !(n.isMap() && n.keys().length === 0)) n.dropSelf(reason, unsafe);
  }

  dropSelf(reason: string, unsafe = false): void {
    const f = this.finding(reason);
    if (unsafe) f.unsafe = true;
    this.report.dropped.push(f);
  }

  note(reason: string): void {
    this.report.notes.push(this.finding(reason));
  }

  /** Reports every field nobody read as not carried over. */
  finish(reason = 'not carried over (pillion has no equivalent)'): void {
    if (!this.isMap()) return;
    for (const k of Object.keys(this.value as object)) {
      if (!this.used.has(k)) {
        this.used.add(k);
        new Node(this.report, this.doc, [...this.path, k], undefined).dropSelf(reason);
      }
    }
  }

  fail(reason: string): never {
    throw new EnvoyCompatError(this.where, reason, this.doc.file, this.line());
  }

  private finding(reason: string): Finding {
    const f: Finding = { path: this.where, reason };
    if (this.doc.file !== undefined) f.file = this.doc.file;
    const line = this.line();
    if (line !== undefined) f.line = line;
    return f;
  }
}
