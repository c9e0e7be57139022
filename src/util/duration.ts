/**
 * Durations as Envoy writes them ("0.25s", "15s") plus the usual "250ms", "2m", "1h"; a bare number means
 * seconds. Returns milliseconds, or undefined when the text is not a duration.
 */
export function parseDuration(v: unknown): number | undefined {
  if (typeof v === 'number') return Number.isFinite(v) && v >= 0 ? v * 1000 : undefined;
  if (typeof v !== 'string') return undefined;
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(v.trim());
  if (m === null) return undefined;
  const n = Number(m[1]);
  switch (m[2]) {
    case 'ms': return n;
    case 'm': return n * 60_000;
    case 'h': return n * 3_600_000;
    default: return n * 1000;
  }
}

/** "host:port", ":port" or "port" (the CLI's listen and admin flags). */
export function parseHostPort(v: string, defaultHost: string): { host: string; port: number } | undefined {
  let host = defaultHost;
  let portText = v;
  const i = v.lastIndexOf(':');
  if (i >= 0) {
    host = v.slice(0, i) || defaultHost;
    portText = v.slice(i + 1);
    if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
  }
  if (!/^\d+$/.test(portText)) return undefined;
  const port = Number(portText);
  return port <= 65535 ? { host, port } : undefined;
}
