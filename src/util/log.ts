// Logs go to stderr, one line each, as text (default) or JSON (`--log-format json`). The request path
// never logs: it counts (see stats/), and telemetry ships access logs off-thread.
export type LogFormat = 'text' | 'json';
type Level = 'debug' | 'info' | 'warn' | 'error';

let format: LogFormat = 'text';
let component = 'pillion';

export function configureLog(opts: { format?: LogFormat; component?: string }): void {
  if (opts.format !== undefined) format = opts.format;
  if (opts.component !== undefined) component = opts.component;
}

function write(level: Level, msg: string, fields?: Record<string, unknown>): void {
  let line: string;
  if (format === 'json') {
    line = JSON.stringify({ time: new Date().toISOString(), level, component, msg, ...fields });
  } else {
    let extra = '';
    if (fields !== undefined) {
      for (const k of Object.keys(fields)) if (fields[k] !== undefined) extra += ` ${k}=${formatValue(fields[k])}`;
    }
    line = `${new Date().toISOString()} ${level} ${component}: ${msg}${extra}`;
  }
  process.stderr.write(line + '\n');
}

function formatValue(v: unknown): string {
  if (typeof v === 'string') return /[\s"=]/.test(v) ? JSON.stringify(v) : v;
  if (v instanceof Error) return JSON.stringify(v.message);
  return JSON.stringify(v);
}

export const log = {
  debug: (msg: string, fields?: Record<string, unknown>) => { if (process.env.PILLION_DEBUG) write('debug', msg, fields); },
  info: (msg: string, fields?: Record<string, unknown>) => write('info', msg, fields),
  warn: (msg: string, fields?: Record<string, unknown>) => write('warn', msg, fields),
  error: (msg: string, fields?: Record<string, unknown>) => write('error', msg, fields),
};
