// The manifest is the record of what file-sync put in the destination: it lets a round skip a
// file on size+mtime alone, gives the hash without re-reading the destination, and limits
// deletion propagation to files we copied (never someone else's files in a shared volume).
import { mkdir, readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { writeFileAtomic } from '../common/atomic-write.js';

export interface ManifestEntry {
  size: number;
  /** The source mtime, which the copy also carries. */
  mtimeMs: number;
  sha256: string;
  /**
   * The destination's mtime as stat reports it after the copy. Kept apart from `mtimeMs` because
   * utimes rounds: comparing it tells whether someone changed the destination behind our back.
   */
  destMtimeMs: number;
  /** ISO time of the copy (or of adoption, when the destination already had the same bytes). */
  syncedAt: string;
}

export interface Manifest {
  version: 1;
  source: string;
  updatedAt: string;
  files: Record<string, ManifestEntry>;
}

export function emptyManifest(source: string): Manifest {
  return { version: 1, source, updatedAt: new Date(0).toISOString(), files: {} };
}

function isEntry(v: unknown): v is ManifestEntry {
  const e = v as ManifestEntry;
  return typeof e === 'object' && e !== null && typeof e.size === 'number' && typeof e.mtimeMs === 'number' && typeof e.destMtimeMs === 'number' && typeof e.sha256 === 'string';
}

/**
 * Loads the manifest. A missing file is a first run; an unreadable or malformed one is reported to
 * the caller (which logs at warn) and replaced by an empty manifest: the cost is re-hashing, not
 * a wrong copy, because every decision falls back to comparing bytes.
 */
export async function loadManifest(path: string, source: string): Promise<{ manifest: Manifest; problem: string | null }> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { manifest: emptyManifest(source), problem: null };
    return { manifest: emptyManifest(source), problem: `cannot read: ${(err as Error).message}` };
  }
  try {
    const m = JSON.parse(text) as Manifest;
    if (m.version !== 1 || typeof m.files !== 'object' || m.files === null) throw new Error('not a version 1 manifest');
    const files: Record<string, ManifestEntry> = {};
    for (const [rel, e] of Object.entries(m.files)) if (isEntry(e)) files[rel] = e;
    return { manifest: { version: 1, source, updatedAt: m.updatedAt, files }, problem: null };
  } catch (err) {
    return { manifest: emptyManifest(source), problem: `malformed: ${(err as Error).message}` };
  }
}

export async function saveManifest(path: string, m: Manifest): Promise<void> {
  const sorted: Record<string, ManifestEntry> = {};
  for (const k of Object.keys(m.files).sort()) sorted[k] = m.files[k] as ManifestEntry;
  // The destination (the manifest's default home) only appears with the first copy.
  await mkdir(dirname(path), { recursive: true });
  await writeFileAtomic(path, Buffer.from(`${JSON.stringify({ ...m, files: sorted }, null, 2)}\n`));
}
