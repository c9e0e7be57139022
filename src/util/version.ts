import { readFileSync } from 'node:fs';

/** pillion's version, from package.json (two levels up from dist/src/util). */
export function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}
