// Checkpoints: one JSON file in the state directory, replaced atomically (write a temp file, fdatasync,
// rename), so a crash leaves either the old or the new file, never half of one.
// A file is known by device + inode, and by a fingerprint of its first bytes because inodes are reused.
import { mkdir, open, readFile, rename } from 'node:fs/promises';
import { join } from 'node:path';

export const FINGERPRINT_BYTES = 64;

/** One tailed file's acknowledged position. */
export interface Checkpoint {
  /** Where the file was last seen (a rotated file is looked for beside it). */
  path: string;
  dev: number;
  ino: number;
  /** Hex of the first min(size, FINGERPRINT_BYTES) bytes when the checkpoint was taken. */
  fp: string;
  /** Bytes acknowledged by the sink: reading resumes here. */
  offset: number;
}

interface StateFile {
  version: 1;
  files: Checkpoint[];
}

export class CheckpointStore {
  private readonly file: string;
  private readonly tmp: string;

  constructor(readonly dir: string) {
    this.file = join(dir, 'checkpoints.json');
    this.tmp = join(dir, '.checkpoints.json.tmp');
  }

  /** The saved checkpoints; none when the state directory is new. Throws on a corrupt file. */
  async load(): Promise<Checkpoint[]> {
    await mkdir(this.dir, { recursive: true });
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
    const s = JSON.parse(text) as StateFile;
    if (s.version !== 1 || !Array.isArray(s.files)) throw new Error(`${this.file}: unknown checkpoint format`);
    return s.files;
  }

  async save(files: readonly Checkpoint[]): Promise<void> {
    const body = JSON.stringify({ version: 1, files: [...files] } satisfies StateFile);
    const fh = await open(this.tmp, 'w');
    try {
      await fh.writeFile(body);
      await fh.datasync();
    } finally {
      await fh.close();
    }
    // No fsync of the directory: if a power loss undoes the rename, the previous checkpoint is still
    // whole and valid, it only replays more. That fsync would double the cost of every batch.
    await rename(this.tmp, this.file);
  }
}
