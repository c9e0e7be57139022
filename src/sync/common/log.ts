// Line logs on stderr in the proxy's two formats (src/util/log.ts): text,
// `<iso time> <level> <component>: <message> key=value ...`, or one JSON object per line. Not that
// module itself: it is a process-wide singleton, and the sync tests need a logger per instance
// whose lines they can read (a warn line is part of what a degraded path must do).
// Secrets never reach this module: callers log header *names* and file paths, never values.

export type Level = 'debug' | 'info' | 'warn' | 'error';
const ORDER: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}

function formatValue(v: unknown): string {
  const s = v instanceof Error ? v.message : typeof v === 'string' ? v : JSON.stringify(v);
  return /[\s"=]/.test(s ?? '') ? JSON.stringify(s) : String(s);
}

export type LogFormat = 'text' | 'json';

export interface LoggerOptions {
  level?: Level;
  format?: LogFormat;
  /** Where lines go (stderr by default; tests collect them). */
  write?: (line: string) => void;
}

export function createLogger(component: string, opts: LoggerOptions = {}): Logger {
  const min = ORDER[opts.level ?? 'info'];
  const json = opts.format === 'json';
  const write = opts.write ?? ((line: string) => { process.stderr.write(line); });
  const emit = (level: Level, msg: string, fields?: Record<string, unknown>): void => {
    if (ORDER[level] < min) return;
    const time = new Date().toISOString();
    if (json) {
      const rec: Record<string, unknown> = { time, level, component, msg };
      if (fields !== undefined) for (const [k, v] of Object.entries(fields)) if (v !== undefined) rec[k] = v instanceof Error ? v.message : v;
      write(`${JSON.stringify(rec)}\n`);
      return;
    }
    let line = `${time} ${level} ${component}: ${msg}`;
    if (fields !== undefined) {
      for (const [k, v] of Object.entries(fields)) if (v !== undefined) line += ` ${k}=${formatValue(v)}`;
    }
    write(`${line}\n`);
  };
  return {
    debug: (m, f) => emit('debug', m, f),
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    error: (m, f) => emit('error', m, f),
  };
}

export function parseFormat(text: string | undefined): LogFormat | null {
  if (text === undefined) return 'text';
  return text === 'text' || text === 'json' ? text : null;
}

export function parseLevel(text: string | undefined): Level | null {
  if (text === undefined) return 'info';
  return text in ORDER ? (text as Level) : null;
}

/** The message of anything thrown, with the errno code when there is one (ENOENT is more useful than prose). */
export function errorText(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as NodeJS.ErrnoException).code;
    return code !== undefined && /^E[A-Z]+$/.test(code) && !err.message.includes(code) ? `${code}: ${err.message}` : err.message;
  }
  return String(err);
}
