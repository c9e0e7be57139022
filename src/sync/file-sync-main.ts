import { EXIT_USAGE } from '../util/exit-codes.js';

export async function main(_argv: string[]): Promise<number> {
  process.stderr.write('pillion file-sync: not implemented yet\n');
  return EXIT_USAGE;
}
