// `pillion uninject`: the same as `pillion inject --uninject`, for a MODES line of its own in cli.ts
// (issue 9 names both commands): `uninject: { summary: 'remove what pillion inject added',
// load: () => import('./inject/uninject-main.js') },`.
import { main as injectMain } from './main.js';

export async function main(argv: string[]): Promise<number> {
  return injectMain(['--uninject', ...argv]);
}
