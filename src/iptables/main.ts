// `pillion iptables install|uninstall`: the istio-init role, for an init container with NET_ADMIN.
// Prints every rule it applies (or, with --dry-run, would apply). Exit codes: 0 done, 1 an iptables
// command failed (its stderr is printed), 2 bad usage.
import { spawnSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import { EXIT_FAILURE, EXIT_OK, EXIT_USAGE } from '../util/exit-codes.js';
import { CHAINS, DEFAULT_OPTIONS, JUMPS, cidrFamily, formatRule, installRules, type Family, type InterceptOptions } from './rules.js';

export const IPTABLES_HELP = `Usage: pillion iptables install|uninstall [options]

Redirects the pod's TCP traffic into pillion: inbound to the inbound listener, outbound to the
outbound (transparent, original_dst) listener. Rules live in the nat table in chains PILLION_INBOUND,
PILLION_IN_REDIRECT, PILLION_OUTPUT and PILLION_REDIRECT, plus one jump each from PREROUTING and
OUTPUT. install removes any previous pillion rules first (idempotent); uninstall removes them all.

  --inbound-port N              where inbound TCP goes (default ${DEFAULT_OPTIONS.inboundPort})
  --outbound-port N             where outbound TCP goes (default ${DEFAULT_OPTIONS.outboundPort})
  --proxy-uid UID[,UID...]      the proxy's uid(s): their connections are never redirected (default ${DEFAULT_OPTIONS.proxyUids.join(',')})
  --proxy-gid GID[,GID...]      the same by gid (default none)
  --admin-port N                never redirected inbound (default ${DEFAULT_OPTIONS.adminPort})
  --inbound-ports P,P|*         inbound ports to redirect (default *: all)
  --exclude-inbound-ports P,P   inbound ports left alone (ssh, health probes to the app)
  --exclude-outbound-ports P,P  outbound destination ports left alone
  --exclude-outbound-cidrs C,C  outbound destinations left alone (IPv4 and IPv6)
  --ipv6                        also program ip6tables (default: IPv4 only)
  --iptables PATH               the iptables binary (default iptables); ip6tables: --ip6tables
  --dry-run                     print the rules, change nothing
  --help                        this text

Run it as root (or with NET_ADMIN) in the pod's network namespace, before the app starts; run
pillion itself as --proxy-uid.
`;

class UsageError extends Error {}

interface Args {
  action: 'install' | 'uninstall';
  options: InterceptOptions;
  ipv6: boolean;
  dryRun: boolean;
  iptables: string;
  ip6tables: string;
}

function port(v: string, flag: string): number {
  if (!/^\d+$/.test(v) || Number(v) < 1 || Number(v) > 65535) throw new UsageError(`${flag}: '${v}' is not a port (1-65535)`);
  return Number(v);
}

function ints(v: string, flag: string): number[] {
  return v.split(',').filter((x) => x !== '').map((x) => {
    if (!/^\d+$/.test(x)) throw new UsageError(`${flag}: '${x}' is not a number`);
    return Number(x);
  });
}

function ports(v: string, flag: string): number[] {
  return v.split(',').filter((x) => x !== '').map((x) => port(x, flag));
}

export function parseIptablesArgs(argv: string[]): Args | 'help' {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        'inbound-port': { type: 'string' }, 'outbound-port': { type: 'string' },
        'proxy-uid': { type: 'string' }, 'proxy-gid': { type: 'string' }, 'admin-port': { type: 'string' },
        'inbound-ports': { type: 'string' }, 'exclude-inbound-ports': { type: 'string' },
        'exclude-outbound-ports': { type: 'string' }, 'exclude-outbound-cidrs': { type: 'string' },
        ipv6: { type: 'boolean' }, iptables: { type: 'string' }, ip6tables: { type: 'string' },
        'dry-run': { type: 'boolean' }, help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const v = parsed.values;
  if (v.help) return 'help';
  const [action, extra] = parsed.positionals;
  if (action !== 'install' && action !== 'uninstall') throw new UsageError(action === undefined ? 'install or uninstall?' : `unknown action '${action}' (install or uninstall)`);
  if (extra !== undefined) throw new UsageError(`unexpected argument '${extra}'`);
  const o: InterceptOptions = { ...DEFAULT_OPTIONS };
  if (v['inbound-port'] !== undefined) o.inboundPort = port(v['inbound-port'], '--inbound-port');
  if (v['outbound-port'] !== undefined) o.outboundPort = port(v['outbound-port'], '--outbound-port');
  if (v['proxy-uid'] !== undefined) o.proxyUids = ints(v['proxy-uid'], '--proxy-uid');
  if (v['proxy-gid'] !== undefined) o.proxyGids = ints(v['proxy-gid'], '--proxy-gid');
  if (v['admin-port'] !== undefined) o.adminPort = port(v['admin-port'], '--admin-port');
  if (v['inbound-ports'] !== undefined) o.inboundPorts = v['inbound-ports'] === '*' ? '*' : ports(v['inbound-ports'], '--inbound-ports');
  if (v['exclude-inbound-ports'] !== undefined) o.excludeInboundPorts = ports(v['exclude-inbound-ports'], '--exclude-inbound-ports');
  if (v['exclude-outbound-ports'] !== undefined) o.excludeOutboundPorts = ports(v['exclude-outbound-ports'], '--exclude-outbound-ports');
  if (v['exclude-outbound-cidrs'] !== undefined) {
    o.excludeOutboundCidrs = v['exclude-outbound-cidrs'].split(',').filter((x) => x !== '');
    for (const c of o.excludeOutboundCidrs) if (cidrFamily(c) === null) throw new UsageError(`--exclude-outbound-cidrs: '${c}' is not an IPv4 or IPv6 CIDR`);
  }
  if (o.proxyUids.length === 0 && o.proxyGids.length === 0) {
    throw new UsageError('--proxy-uid/--proxy-gid: at least one is needed, or the proxy\'s own connections would loop back into it');
  }
  if (o.inboundPort === o.outboundPort) throw new UsageError('--inbound-port and --outbound-port must differ');
  return { action, options: o, ipv6: v.ipv6 ?? false, dryRun: v['dry-run'] ?? false, iptables: v.iptables ?? 'iptables', ip6tables: v.ip6tables ?? 'ip6tables' };
}

/** Runs one iptables command; tests substitute their own. */
export type Exec = (bin: string, args: string[]) => { status: number; stderr: string };

const realExec: Exec = (bin, args) => {
  const r = spawnSync(bin, args, { encoding: 'utf8' });
  if (r.error) return { status: 127, stderr: r.error.message };
  return { status: r.status ?? 1, stderr: r.stderr };
};

/** Removes every pillion rule and chain; returns the commands that changed something. */
export function uninstall(bin: string, exec: Exec): string[] {
  const done: string[] = [];
  for (const jump of JUMPS) {
    const check = jump.map((a) => (a === '-D' ? '-C' : a));
    // A jump added twice (by hand, or an old version) is removed as many times as it is there.
    for (let i = 0; i < 100 && exec(bin, check).status === 0; i++) {
      const r = exec(bin, [...jump]);
      if (r.status !== 0) throw new IptablesError(formatRule(bin, jump), r.stderr);
      done.push(formatRule(bin, jump));
    }
  }
  // Flush all before deleting any: chains refer to each other.
  const present = CHAINS.filter((c) => exec(bin, ['-t', 'nat', '-S', c]).status === 0);
  for (const op of ['-F', '-X']) {
    for (const c of present) {
      const args = ['-t', 'nat', op, c];
      const r = exec(bin, args);
      if (r.status !== 0) throw new IptablesError(formatRule(bin, args), r.stderr);
      done.push(formatRule(bin, args));
    }
  }
  return done;
}

export function install(bin: string, o: InterceptOptions, family: Family, exec: Exec): string[] {
  const done = uninstall(bin, exec);
  for (const args of installRules(o, family)) {
    const r = exec(bin, args);
    if (r.status !== 0) throw new IptablesError(formatRule(bin, args), r.stderr);
    done.push(formatRule(bin, args));
  }
  return done;
}

export class IptablesError extends Error {
  constructor(readonly command: string, readonly stderr: string) {
    super(`${command}: ${stderr.trim() || 'failed'}`);
  }
}

/** The dry-run text: exactly the commands install would add (after removing old pillion rules). */
export function dryRun(a: Args): string {
  let out = '';
  for (const [bin, family] of families(a)) {
    out += a.action === 'install'
      ? `# ${bin}: remove any previous pillion chains and jumps, then:\n${installRules(a.options, family).map((r) => formatRule(bin, r)).join('\n')}\n`
      : `# ${bin}: remove the jumps if present, then flush and delete if present:\n` +
        `${JUMPS.map((j) => formatRule(bin, j)).join('\n')}\n` +
        `${['-F', '-X'].flatMap((op) => CHAINS.map((c) => formatRule(bin, ['-t', 'nat', op, c]))).join('\n')}\n`;
  }
  return out;
}

function families(a: Args): [string, Family][] {
  return a.ipv6 ? [[a.iptables, 4], [a.ip6tables, 6]] : [[a.iptables, 4]];
}

export async function main(argv: string[], exec: Exec = realExec): Promise<number> {
  let a;
  try {
    a = parseIptablesArgs(argv);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`pillion iptables: ${err.message}\n\n${IPTABLES_HELP}`);
    return EXIT_USAGE;
  }
  if (a === 'help') {
    process.stdout.write(IPTABLES_HELP);
    return EXIT_OK;
  }
  if (a.dryRun) {
    process.stdout.write(dryRun(a));
    return EXIT_OK;
  }
  try {
    for (const [bin, family] of families(a)) {
      const done = a.action === 'install' ? install(bin, a.options, family, exec) : uninstall(bin, exec);
      process.stdout.write(done.length > 0 ? `${done.join('\n')}\n` : `# ${bin}: no pillion rules were present\n`);
    }
  } catch (err) {
    if (!(err instanceof IptablesError)) throw err;
    process.stderr.write(`pillion iptables: ${err.message}\n`);
    return EXIT_FAILURE;
  }
  return EXIT_OK;
}
