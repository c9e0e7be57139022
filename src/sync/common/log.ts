// Line logs on stderr: `<iso time> <level> <component>: <message> key=value ...`. Sidecar logs are
// read by `kubectl logs` and shipped by the node's collector, so plain lines are enough here.
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

export function createLogger(
  component: string,
  minLevel: Level = 'info',
  write: (line: string) => void = (line) => { process.stderr.write(line); },
): Logger {
  const min = ORDER[minLevel];
  const emit = (level: Level, msg: string, fields?: Record<string, unknown>): void => {
    if (ORDER[level] < min) return;
    let line = `${new Date().toISOString()} ${level} ${component}: ${msg}`;
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
