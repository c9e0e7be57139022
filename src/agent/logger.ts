// A logfmt logger on stderr, shaped like node_exporter's (`ts=... level=info msg="..." key=value`),
// so the same log pipelines parse both. Debug lines cost one comparison when disabled.

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
const RANK: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}

export function isLogLevel(s: string): s is LogLevel {
  return s in RANK;
}

function quote(v: unknown): string {
  const s = v instanceof Error ? v.message : String(v);
  return /^[^\s"=]+$/.test(s) ? s : JSON.stringify(s);
}

/** `write` is injectable so tests can capture lines. */
export function createLogger(level: LogLevel, write: (line: string) => void = (l) => process.stderr.write(l)): Logger {
  const min = RANK[level];
  const log = (lvl: LogLevel, msg: string, fields?: Record<string, unknown>): void => {
    if (RANK[lvl] < min) return;
    let line = `ts=${new Date().toISOString()} level=${lvl} msg=${quote(msg)}`;
    if (fields) for (const [k, v] of Object.entries(fields)) line += ` ${k}=${quote(v)}`;
    write(`${line}\n`);
  };
  return {
    debug: (m, f) => log('debug', m, f),
    info: (m, f) => log('info', m, f),
    warn: (m, f) => log('warn', m, f),
    error: (m, f) => log('error', m, f),
  };
}

/** A logger that drops everything, for unit tests of collectors. */
export const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {} };
