// The reader the atomicity tests run in a child process: it reads the destination in a tight loop
// and checks every read is a whole document (parses, and its `items` all carry the top-level
// `version`, so a mix of two versions is caught too). Runs until `<dest>.stop` exists.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';

const dest = process.argv[2] as string;
let reads = 0;
let bad = 0;
let missing = 0;
const versions = new Set<number>();
let firstBad = '';
for (;;) {
  if (reads % 64 === 0 && existsSync(`${dest}.stop`)) break;
  let text: string;
  try {
    text = readFileSync(dest, 'utf8');
  } catch {
    missing++; // before the first sync the file may not exist yet; counted, not "bad"
    reads++;
    continue;
  }
  reads++;
  try {
    const doc = JSON.parse(text) as { version: number; items: number[] };
    if (!doc.items.every((v) => v === doc.version)) throw new Error('mixed versions');
    versions.add(doc.version);
  } catch (err) {
    bad++;
    if (firstBad === '') firstBad = `${(err as Error).message} (length ${text.length})`;
  }
}
writeFileSync(`${dest}.result`, JSON.stringify({ reads, bad, missing, versions: versions.size, firstBad }));
