// Include/exclude globs on paths relative to the source root, with `/` separators.
// gitignore-like: a pattern without `/` matches a name at any depth (`*.log`), a pattern with `/`
// is anchored at the root (`db/*.wal`); `**` spans directories, `*` and `?` stay within one name.
// Hand-written because node 20's path.matchesGlob is experimental and warns on every process start.

function escapeRegExp(c: string): string {
  return /[\\^$.*+?()[\]{}|/]/.test(c) ? `\\${c}` : c;
}

export function globToRegExp(pattern: string): RegExp {
  let p = pattern.replace(/^\.\//, '');
  const anchored = p.includes('/');
  p = p.replace(/^\//, '');
  let re = '';
  for (let i = 0; i < p.length; i++) {
    const c = p[i] as string;
    if (c === '*') {
      if (p[i + 1] === '*') {
        // `**/` = zero or more directories; a trailing `**` = everything below.
        if (p[i + 2] === '/') {
          re += '(?:.*/)?';
          i += 2;
        } else {
          re += '.*';
          i += 1;
        }
      } else {
        re += '[^/]*';
      }
    } else if (c === '?') {
      re += '[^/]';
    } else if (c === '[') {
      const end = p.indexOf(']', i + 2);
      if (end === -1) {
        re += '\\[';
      } else {
        let cls = p.slice(i + 1, end).replace(/\\/g, '\\\\');
        if (cls.startsWith('!')) cls = `^${cls.slice(1)}`;
        re += `[${cls}]`;
        i = end;
      }
    } else {
      re += escapeRegExp(c);
    }
  }
  return new RegExp(anchored ? `^${re}$` : `^(?:.*/)?${re}$`);
}

/** Decides which source paths take part in the sync. */
export class PathFilter {
  private readonly includes: RegExp[];
  private readonly excludes: RegExp[];
  /** Excludes of the form `dir/**` also prune the directory itself, so it is not even walked. */
  private readonly dirExcludes: RegExp[];

  constructor(includes: readonly string[], excludes: readonly string[]) {
    this.includes = includes.map(globToRegExp);
    this.excludes = excludes.map(globToRegExp);
    this.dirExcludes = excludes.filter((e) => e.endsWith('/**')).map((e) => globToRegExp(e.slice(0, -3)));
  }

  wantsFile(rel: string): boolean {
    if (this.includes.length > 0 && !this.includes.some((r) => r.test(rel))) return false;
    return !this.excludes.some((r) => r.test(rel));
  }

  /** True when nothing under `rel` can be wanted. Includes never prune: `**` + a suffix could match deep down. */
  prunesDir(rel: string): boolean {
    return this.excludes.some((r) => r.test(rel)) || this.dirExcludes.some((r) => r.test(rel));
  }
}
