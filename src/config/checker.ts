// Field checks for config validation: each failure names the field and, when the config came from a
// file, its line. Used by validate.ts, the filter config modules and the L4 config.
import { parseDuration } from '../util/duration.js';

export type Path = (string | number)[];

export class ConfigError extends Error {
  readonly code = 'PILLION_CONFIG';
  constructor(
    readonly field: string,
    readonly reason: string,
    readonly file?: string,
    readonly line?: number,
  ) {
    super(`${file !== undefined ? `${file}${line !== undefined ? `:${line}` : ''}: ` : ''}${field}: ${reason}`);
  }
}

/** Finds the line of a field in the source file, when there is one. */
export type Locator = (path: Path) => number | undefined;

export function fieldName(path: Path): string {
  let s = '';
  for (const p of path) s += typeof p === 'number' ? `[${p}]` : s === '' ? p : `.${p}`;
  return s || '(root)';
}


/** Field checks that name the field and its line; filter config modules use it too. */
export class Checker {
  constructor(private readonly locate: Locator, private readonly file?: string) {}

  fail(path: Path, reason: string): never {
    // A missing field has no line of its own: point at its parent.
    let line: number | undefined;
    for (let n = path.length; n >= 0 && line === undefined; n--) line = this.locate(path.slice(0, n));
    throw new ConfigError(fieldName(path), reason, this.file, line);
  }

  object(v: unknown, path: Path, allowed: readonly string[]): Record<string, unknown> {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) this.fail(path, 'must be a mapping');
    const o = v as Record<string, unknown>;
    for (const k of Object.keys(o)) {
      if (!allowed.includes(k)) this.fail([...path, k], `unknown field (expected one of: ${allowed.join(', ')})`);
    }
    return o;
  }

  array(v: unknown, path: Path): unknown[] {
    if (!Array.isArray(v)) this.fail(path, 'must be a list');
    return v;
  }

  string(v: unknown, path: Path, fallback?: string): string {
    if (v === undefined && fallback !== undefined) return fallback;
    if (typeof v !== 'string' || v === '') this.fail(path, v === undefined ? 'is required' : 'must be a non-empty string');
    return v;
  }

  optString(v: unknown, path: Path): string | undefined {
    return v === undefined ? undefined : this.string(v, path);
  }

  int(v: unknown, path: Path, fallback: number, min: number, max: number): number {
    if (v === undefined) return fallback;
    const n = typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : v; // Envoy writes 64-bit ints as strings
    if (typeof n !== 'number' || !Number.isInteger(n) || n < min || n > max) this.fail(path, `must be an integer from ${min} to ${max}`);
    return n;
  }

  duration(v: unknown, path: Path, fallbackMs: number): number {
    if (v === undefined) return fallbackMs;
    const ms = parseDuration(v);
    if (ms === undefined) this.fail(path, `must be a duration such as "250ms", "15s" or a number of seconds (got ${JSON.stringify(v)})`);
    return ms;
  }

  regex(v: unknown, path: Path): string {
    const s = this.string(v, path);
    try {
      new RegExp(s);
    } catch (err) {
      this.fail(path, `is not a valid regular expression: ${(err as Error).message}`);
    }
    return s;
  }

  bool(v: unknown, path: Path, fallback: boolean): boolean {
    if (v === undefined) return fallback;
    if (typeof v !== 'boolean') this.fail(path, 'must be true or false');
    return v;
  }

  number(v: unknown, path: Path, fallback: number, min: number, max: number): number {
    if (v === undefined) return fallback;
    const n = typeof v === 'string' && /^\d+(\.\d+)?$/.test(v) ? Number(v) : v;
    if (typeof n !== 'number' || !Number.isFinite(n) || n < min || n > max) this.fail(path, `must be a number from ${min} to ${max}`);
    return n;
  }

  stringList(v: unknown, path: Path): string[] {
    return this.array(v, path).map((x, i) => this.string(x, [...path, i]));
  }

  port(v: unknown, path: Path, fallback?: number): number {
    if (v === undefined && fallback === undefined) this.fail(path, 'is required');
    return this.int(v, path, fallback ?? 0, 0, 65535);
  }
}
