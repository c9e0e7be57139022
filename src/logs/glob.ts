// File globs for `--path` and `--exclude`, matched one path segment at a time so that a scan walks only
// the directories a pattern can reach (`/var/log/pods/*/*/*.log` reads three levels, never the whole
// disk). Node 20 has no fs.glob, and the syntax we need is small: `*`, `?`, `[...]`, `{a,b}`, `**`.
import { isAbsolute, resolve, sep } from 'node:path';

/** One compiled glob: the literal directory to start from, then one matcher per remaining segment. */
export interface Glob {
  source: string;
  /** The longest literal prefix (a directory): where scanning and watching start. */
  base: string;
  /** Matchers for the segments below `base`; `null` stands for `**` (any number of directories). */
  segments: (RegExp | null)[];
  /** The whole pattern as one regex over absolute paths (for excludes and rename checks). */
  full: RegExp;
}

const MAGIC = /[*?[{]/;

function segmentSource(seg: string): string {
  let out = '';
  for (let i = 0; i < seg.length; i++) {
    const c = seg[i]!;
    if (c === '*') out += '[^/]*';
    else if (c === '?') out += '[^/]';
    else if (c === '[') {
      const end = seg.indexOf(']', i + 2);
      if (end === -1) { out += '\\['; continue; }
      let body = seg.slice(i + 1, end);
      if (body.startsWith('!')) body = '^' + body.slice(1);
      out += `[${body.replace(/\\/g, '\\\\')}]`;
      i = end;
    } else if (c === '{') {
      const end = seg.indexOf('}', i);
      if (end === -1) { out += '\\{'; continue; }
      out += `(?:${seg.slice(i + 1, end).split(',').map(segmentSource).join('|')})`;
      i = end;
    } else out += c.replace(/[.+^$()|\\\]]/g, '\\$&');
  }
  return out;
}

/** Compiles a glob; relative patterns are resolved against the working directory. */
export function compileGlob(pattern: string): Glob {
  const abs = isAbsolute(pattern) ? pattern : resolve(pattern);
  const parts = abs.split(sep).filter((p, i) => p !== '' || i === 0);
  let i = 1;
  while (i < parts.length - 1 && !MAGIC.test(parts[i]!)) i++;
  // A pattern without magic names one file: its directory is the base.
  const base = parts.slice(0, i).join('/') || '/';
  const rest = parts.slice(i);
  const segments = rest.map((s) => (s === '**' ? null : new RegExp(`^${segmentSource(s)}$`)));
  const fullSrc = rest.map((s) => (s === '**' ? '(?:[^/]+/)*' : segmentSource(s) + '/')).join('').replace(/\/$/, '');
  const prefix = base === '/' ? '/' : base.replace(/[.*+?^${}()|[\]\\]/g, '\\$&') + '/';
  return { source: pattern, base, segments, full: new RegExp(`^${prefix}${fullSrc}$`) };
}

export function matches(globs: readonly Glob[], path: string): boolean {
  for (const g of globs) if (g.full.test(path)) return true;
  return false;
}
