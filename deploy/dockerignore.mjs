// The build context that `docker build .` sends, computed from .dockerignore without Docker: used by
// deploy/runtime-layout.mjs (to build from exactly those files) and test/deploy/dockerfile.test.ts.
// The rules are moby/patternmatcher's, as far as this repository's .dockerignore needs them: patterns
// apply in order and the last match wins, `!` re-includes, `*` stays within a path segment, `**`
// spans segments, and a pattern that matches a directory matches everything under it.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

function globToRegExp(pattern) {
  let re = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === '*') {
      if (pattern[i + 1] === '*') {
        i++;
        if (pattern[i + 1] === '/') { i++; re += '(?:.*/)?'; } else re += '.*';
      } else re += '[^/]*';
    } else if (c === '?') re += '[^/]';
    else re += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

/** The compiled rules of a .dockerignore text. */
export function rules(text) {
  return text.split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#')).map((l) => {
    const negate = l.startsWith('!');
    const p = (negate ? l.slice(1) : l).replace(/^\/+/, '').replace(/\/+$/, '');
    return { negate, re: globToRegExp(p) };
  });
}

/** Whether the context holds `path` (relative, with forward slashes). */
export function includes(compiled, path) {
  const parts = path.split('/');
  const prefixes = parts.map((_, i) => parts.slice(0, i + 1).join('/'));
  let excluded = false;
  for (const r of compiled) if (prefixes.some((p) => r.re.test(p))) excluded = !r.negate;
  return !excluded;
}

/** Every file of the context of `root`, sorted (node_modules and .git are never walked). */
export function contextFiles(root) {
  const compiled = rules(readFileSync(join(root, '.dockerignore'), 'utf8'));
  const out = [];
  const walk = (dir) => {
    for (const n of readdirSync(dir)) {
      if (n === 'node_modules' || n === '.git') continue;
      const p = join(dir, n);
      if (statSync(p).isDirectory()) walk(p);
      else {
        const rel = relative(root, p).split('\\').join('/');
        if (includes(compiled, rel)) out.push(rel);
      }
    }
  };
  walk(root);
  return out.sort();
}
