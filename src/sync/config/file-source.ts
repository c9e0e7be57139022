// Config from a local file or from one key of a Kubernetes-mounted ConfigMap directory.
//
// A ConfigMap volume looks like this; the kubelet updates it by writing a new timestamped directory
// and renaming a fresh symlink over `..data` (one atomic rename):
//
//   /etc/config/app.yaml -> ..data/app.yaml
//   /etc/config/..data   -> ..2026_11_26_17_00_00.123456789
//   /etc/config/..2026_11_26_17_00_00.123456789/app.yaml
//
// So the `..data` target is the version: if it did not change, nothing did, and we read the key
// through the target we saw (not through `..data` again), then check the link once more, so the
// bytes belong to one version even if a swap happens mid-read.
import { readFile, readlink, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { SourceError, type ConfigSource, type FetchResult } from './source.js';

function code(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException).code;
}

async function readCapped(path: string, maxBytes: number): Promise<Buffer> {
  const st = await stat(path);
  if (!st.isFile()) throw new SourceError(`${path} is not a regular file`);
  if (st.size > maxBytes) throw new SourceError(`${path} is ${st.size} bytes, over --max-bytes ${maxBytes}`);
  return readFile(path);
}

export class LocalFileSource implements ConfigSource {
  readonly description: string;
  private version: string | null = null;
  private candidate: string | null = null;

  constructor(private readonly path: string, private readonly maxBytes: number) {
    this.description = `file ${path}`;
  }

  private async versionOf(): Promise<string> {
    const st = await stat(this.path);
    return `${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}`;
  }

  async fetch(): Promise<FetchResult> {
    // A writer editing the file in place could hand us a torn read: retry when the version moves.
    for (let attempt = 0; attempt < 3; attempt++) {
      let before: string;
      try {
        before = await this.versionOf();
        if (before === this.version) return { kind: 'not_modified' };
        const body = await readCapped(this.path, this.maxBytes);
        if ((await this.versionOf()) !== before) continue;
        this.candidate = before;
        return { kind: 'content', body };
      } catch (err) {
        if (err instanceof SourceError) throw err;
        throw new SourceError(`cannot read ${this.path}: ${code(err) ?? (err as Error).message}`);
      }
    }
    throw new SourceError(`${this.path} kept changing while being read (3 attempts)`);
  }

  accept(): void {
    if (this.candidate !== null) this.version = this.candidate;
    this.candidate = null;
  }
}

export class ConfigMapSource implements ConfigSource {
  readonly description: string;
  private version: string | null = null;
  private candidate: string | null = null;

  constructor(private readonly dir: string, private readonly key: string, private readonly maxBytes: number) {
    this.description = `configmap ${dir} key ${key}`;
  }

  /** The `..data` target, or null when the directory is not a kubelet-managed volume. */
  private async dataTarget(): Promise<string | null> {
    try {
      return await readlink(join(this.dir, '..data'));
    } catch (err) {
      const c = code(err);
      if (c === 'ENOENT' || c === 'EINVAL') return null; // no ..data, or not a link: a plain directory
      throw err;
    }
  }

  async fetch(): Promise<FetchResult> {
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        const target = await this.dataTarget();
        if (target === null) {
          // A plain directory (tests, a hostPath): no version to compare, read the key and let the
          // syncer compare content.
          const body = await readCapped(join(this.dir, this.key), this.maxBytes);
          this.candidate = null;
          return { kind: 'content', body };
        }
        if (target === this.version) return { kind: 'not_modified' };
        let body: Buffer;
        try {
          body = await readCapped(join(this.dir, target, this.key), this.maxBytes);
        } catch (err) {
          // The kubelet deletes the old version right after the swap: ENOENT here means "moved on".
          if (code(err) === 'ENOENT' && (await this.dataTarget()) !== target) continue;
          throw err;
        }
        if ((await this.dataTarget()) !== target) continue;
        this.candidate = target;
        return { kind: 'content', body };
      } catch (err) {
        if (err instanceof SourceError) throw err;
        throw new SourceError(`cannot read key ${this.key} in ${this.dir}: ${code(err) ?? (err as Error).message}`);
      }
    }
    throw new SourceError(`${this.dir}/..data kept changing while being read (3 attempts)`);
  }

  accept(): void {
    if (this.candidate !== null) this.version = this.candidate;
    this.candidate = null;
  }
}
