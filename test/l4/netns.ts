// Network namespaces for interception tests: every rule these tests program lives in a namespace
// the test made, and the namespace is deleted at the end (and at process exit), so the host's own
// iptables are never touched. Needs root, iproute2 and iptables; `netnsUnavailable()` says why not.
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';

const made = new Set<string>();
const children = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of children) c.kill('SIGKILL');
  for (const n of made) spawnSync('ip', ['netns', 'del', n]);
});

let reason: string | false | undefined;

/** false when namespaces work here, else the reason the tests skip. */
export function netnsUnavailable(): string | false {
  if (reason !== undefined) return reason;
  if (process.platform !== 'linux') return (reason = 'not Linux');
  if (process.getuid?.() !== 0) return (reason = 'not root: cannot create network namespaces');
  for (const [bin, args] of [['ip', ['-V']], ['iptables', ['-V']]] as const) {
    const r = spawnSync(bin, args);
    if (r.error || r.status !== 0) return (reason = `${bin} not available (apt-get install iproute2 iptables)`);
  }
  const probe = `pl-probe-${randomBytes(3).toString('hex')}`;
  const r = spawnSync('ip', ['netns', 'add', probe], { encoding: 'utf8' });
  if (r.status !== 0) return (reason = `ip netns add failed: ${r.stderr.trim()}`);
  const nat = spawnSync('ip', ['netns', 'exec', probe, 'iptables', '-t', 'nat', '-S'], { encoding: 'utf8' });
  spawnSync('ip', ['netns', 'del', probe]);
  if (nat.status !== 0) return (reason = `iptables nat table not usable in a namespace: ${nat.stderr.trim()}`);
  return (reason = false);
}

export class NetNs {
  readonly name: string;

  constructor(tag: string) {
    this.name = `pl-${tag}-${randomBytes(3).toString('hex')}`;
    execFileSync('ip', ['netns', 'add', this.name]);
    made.add(this.name);
    this.ip('link', 'set', 'lo', 'up');
  }

  /** Runs a command inside; throws with its stderr on failure. */
  exec(bin: string, ...args: string[]): string {
    const r = spawnSync('ip', ['netns', 'exec', this.name, bin, ...args], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`${bin} ${args.join(' ')} in ${this.name}: ${r.stderr || r.stdout}`);
    return r.stdout;
  }

  ip(...args: string[]): string {
    return this.exec('ip', ...args);
  }

  /** A long-running process inside (killed at exit). */
  spawn(bin: string, args: string[], env: NodeJS.ProcessEnv = {}): ChildProcess {
    const c = spawn('ip', ['netns', 'exec', this.name, bin, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
    children.add(c);
    c.on('exit', () => children.delete(c));
    return c;
  }

  destroy(): void {
    spawnSync('ip', ['netns', 'del', this.name]);
    made.delete(this.name);
  }
}

/**
 * Two namespaces joined by a veth pair: `a` at 10.<n>.0.1 and fd00:<n>::1, `b` at 10.<n>.0.2 and
 * fd00:<n>::2 (IPv6 without duplicate address detection, so it is usable at once).
 */
export function pair(n: number): { a: NetNs; b: NetNs; a4: string; b4: string; a6: string; b6: string } {
  const a = new NetNs('a');
  const b = new NetNs('b');
  const va = `va${randomBytes(3).toString('hex')}`;
  const vb = `vb${randomBytes(3).toString('hex')}`;
  execFileSync('ip', ['link', 'add', va, 'netns', a.name, 'type', 'veth', 'peer', 'name', vb, 'netns', b.name]);
  const a4 = `10.${n}.0.1`;
  const b4 = `10.${n}.0.2`;
  const a6 = `fd00:${n}::1`;
  const b6 = `fd00:${n}::2`;
  a.ip('addr', 'add', `${a4}/24`, 'dev', va);
  b.ip('addr', 'add', `${b4}/24`, 'dev', vb);
  a.ip('addr', 'add', `${a6}/64`, 'dev', va, 'nodad');
  b.ip('addr', 'add', `${b6}/64`, 'dev', vb, 'nodad');
  a.ip('link', 'set', va, 'up');
  b.ip('link', 'set', vb, 'up');
  return { a, b, a4, b4, a6, b6 };
}
