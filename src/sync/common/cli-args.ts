// A tiny flag parser for the two sync modes. Both modes take a handful of flags, some repeated
// (--include, --exclude), so a dependency would cost more than these lines. Every error names the
// flag, because the CLI contract says bad usage exits 2 with a message that names the flag.
import { parseDuration as parseUtilDuration, parseHostPort } from '../../util/duration.js';

/** Thrown for bad usage; the mains turn it into exit code 2. */
export class UsageError extends Error {
  readonly code = 'PILLION_SYNC_USAGE';
}

export interface FlagSpec {
  /** `bool` takes no value; `list` may repeat and collects every value. */
  kind: 'string' | 'bool' | 'list';
  help: string;
}

export type ParsedFlags = Map<string, string | boolean | string[]>;

/** Parses `--name value`, `--name=value` and bare `--bool`; unknown flags and positionals are errors. */
export function parseFlags(argv: readonly string[], specs: Readonly<Record<string, FlagSpec>>): ParsedFlags {
  const out: ParsedFlags = new Map();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (!arg.startsWith('--')) throw new UsageError(`unexpected argument '${arg}' (flags start with --)`);
    const eq = arg.indexOf('=');
    const name = eq === -1 ? arg.slice(2) : arg.slice(2, eq);
    const spec = specs[name];
    if (spec === undefined) throw new UsageError(`unknown flag --${name}`);
    if (spec.kind === 'bool') {
      if (eq !== -1) {
        const v = arg.slice(eq + 1);
        if (v !== 'true' && v !== 'false') throw new UsageError(`--${name} takes no value (or =true/=false), got '${v}'`);
        out.set(name, v === 'true');
      } else {
        out.set(name, true);
      }
      continue;
    }
    let value: string;
    if (eq !== -1) value = arg.slice(eq + 1);
    else {
      const next = argv[i + 1];
      if (next === undefined) throw new UsageError(`--${name} needs a value`);
      value = next;
      i++;
    }
    if (spec.kind === 'list') {
      const prev = out.get(name);
      out.set(name, Array.isArray(prev) ? [...prev, value] : [value]);
    } else {
      if (out.has(name)) throw new UsageError(`--${name} given twice`);
      out.set(name, value);
    }
  }
  return out;
}

export function flagString(flags: ParsedFlags, name: string): string | undefined {
  const v = flags.get(name);
  return typeof v === 'string' ? v : undefined;
}

export function flagBool(flags: ParsedFlags, name: string): boolean {
  return flags.get(name) === true;
}

export function flagList(flags: ParsedFlags, name: string): string[] {
  const v = flags.get(name);
  return Array.isArray(v) ? v : [];
}

/** `250ms`, `30s`, `5m`, `1h`; a bare number means seconds (the grammar of src/util/duration.ts). Returns ms. */
export function parseDuration(flag: string, text: string): number {
  const ms = parseUtilDuration(text);
  if (ms === undefined || !Number.isFinite(ms)) throw new UsageError(`--${flag}: '${text}' is not a duration (examples: 500ms, 30s, 5m)`);
  return ms;
}

export function durationFlag(flags: ParsedFlags, name: string, fallbackMs: number): number {
  const v = flagString(flags, name);
  return v === undefined ? fallbackMs : parseDuration(name, v);
}

/** A number in [min, max], for flags like --jitter. */
export function numberFlag(flags: ParsedFlags, name: string, fallback: number, min: number, max: number): number {
  const v = flagString(flags, name);
  if (v === undefined) return fallback;
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n) || n < min || n > max) {
    throw new UsageError(`--${name}: '${v}' must be a number from ${min} to ${max}`);
  }
  return n;
}

/** `host:port`, `:port`, `port` or `off` (src/util/duration.ts's parseHostPort plus `off`). Returns null for `off`. */
export function parseListenAddress(flag: string, text: string): { host: string; port: number } | null {
  if (text === 'off') return null;
  const addr = parseHostPort(text, '0.0.0.0');
  if (addr === undefined) throw new UsageError(`--${flag}: '${text}' must be host:port, :port or off (port 0-65535)`);
  return addr;
}

/** Renders `--help` text from the same specs the parser uses, so the two cannot drift. */
export function helpText(title: string, specs: Readonly<Record<string, FlagSpec>>, footer: string): string {
  const rows = Object.entries(specs).map(([name, s]) => {
    const left = s.kind === 'bool' ? `--${name}` : `--${name} <v>${s.kind === 'list' ? ' (repeatable)' : ''}`;
    return [left, s.help] as const;
  });
  const width = Math.max(...rows.map(([l]) => l.length));
  return `${title}\n\nOptions:\n${rows.map(([l, h]) => `  ${l.padEnd(width)}  ${h}`).join('\n')}\n\n${footer}\n`;
}
