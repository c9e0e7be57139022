// `pillion uninject`: the same as `pillion inject --uninject`, with a mode of its own in cli.ts
// (issue 9 names both commands).
import { main as injectMain } from './main.js';

export async function main(argv: string[]): Promise<number> {
  return injectMain(['--uninject', ...argv]);
}
