// Open TCP connections per local port, from the kernel's socket tables. Used at admin scrape time only:
// uWS.js 20.30 gives JavaScript no event for HTTP connections opening or closing.
import { readFileSync } from 'node:fs';

const ESTABLISHED = '01';

export function countEstablished(ports: readonly number[], procRoot = '/proc'): Map<number, number> {
  const wanted = new Set(ports);
  const counts = new Map<number, number>();
  for (const table of ['net/tcp', 'net/tcp6']) {
    let text: string;
    try {
      text = readFileSync(`${procRoot}/${table}`, 'utf8');
    } catch {
      continue; // no IPv6 table (or no /proc): nothing to count there
    }
    const lines = text.split('\n');
    for (let i = 1; i < lines.length; i++) {
      const f = lines[i]!.trim().split(/\s+/);
      if (f.length < 4 || f[3] !== ESTABLISHED) continue;
      const port = parseInt(f[1]!.slice(f[1]!.lastIndexOf(':') + 1), 16);
      if (wanted.has(port)) counts.set(port, (counts.get(port) ?? 0) + 1);
    }
  }
  return counts;
}
