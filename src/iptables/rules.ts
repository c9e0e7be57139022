// The transparent-interception rules (the istio-init role), as data: `installRules` returns the
// iptables argument lists in order, so that `--dry-run`, the real run and the tests share one source.
//
//   PREROUTING ─▶ PILLION_INBOUND ─▶ (admin port, excluded ports: RETURN) ─▶ PILLION_IN_REDIRECT
//                                                                          └▶ REDIRECT :inbound-port
//   OUTPUT ─────▶ PILLION_OUTPUT ──▶ (proxy uid/gid, loopback, excluded ports/CIDRs: RETURN)
//                                 └▶ PILLION_REDIRECT ─▶ REDIRECT :outbound-port
//
// Everything lives in our own chains in the nat table, plus one jump each from PREROUTING and
// OUTPUT: uninstall removes exactly that, and install uninstalls first, so running it twice leaves
// the same rules. The proxy's own connections (its uid) are never redirected: that is what stops
// the outbound listener's passthrough from looping into itself.
import { isIPv4, isIPv6 } from 'node:net';

export interface InterceptOptions {
  inboundPort: number;
  outboundPort: number;
  /** Connections from these uids/gids (the proxy's) are not redirected. */
  proxyUids: number[];
  proxyGids: number[];
  /** Never redirected inbound (the admin port: probes must reach pillion itself). */
  adminPort: number;
  /** Inbound ports to redirect; `*` is all. */
  inboundPorts: '*' | number[];
  excludeInboundPorts: number[];
  excludeOutboundPorts: number[];
  /** Destinations never redirected outbound (IPv4 and IPv6 CIDRs; each goes to its own table). */
  excludeOutboundCidrs: string[];
}

export const DEFAULT_OPTIONS: InterceptOptions = {
  inboundPort: 15006,
  outboundPort: 15002,
  proxyUids: [1337],
  proxyGids: [],
  adminPort: 15000,
  inboundPorts: '*',
  excludeInboundPorts: [],
  excludeOutboundPorts: [],
  excludeOutboundCidrs: [],
};

export const CHAINS = ['PILLION_INBOUND', 'PILLION_IN_REDIRECT', 'PILLION_OUTPUT', 'PILLION_REDIRECT'] as const;

/** The jumps from the built-in chains into ours: what uninstall deletes before the chains. */
export const JUMPS: readonly (readonly string[])[] = [
  ['-t', 'nat', '-D', 'PREROUTING', '-p', 'tcp', '-j', 'PILLION_INBOUND'],
  ['-t', 'nat', '-D', 'OUTPUT', '-p', 'tcp', '-j', 'PILLION_OUTPUT'],
];

export type Family = 4 | 6;

/** The rules to add, in order, for one family (iptables or ip6tables). */
export function installRules(o: InterceptOptions, family: Family): string[][] {
  const nat = (...a: (string | number)[]) => ['-t', 'nat', ...a.map(String)];
  const rules: string[][] = [];
  for (const c of CHAINS) rules.push(nat('-N', c));
  rules.push(nat('-A', 'PILLION_IN_REDIRECT', '-p', 'tcp', '-j', 'REDIRECT', '--to-ports', o.inboundPort));
  rules.push(nat('-A', 'PILLION_REDIRECT', '-p', 'tcp', '-j', 'REDIRECT', '--to-ports', o.outboundPort));

  for (const p of unique([o.adminPort, ...o.excludeInboundPorts])) rules.push(nat('-A', 'PILLION_INBOUND', '-p', 'tcp', '--dport', p, '-j', 'RETURN'));
  if (o.inboundPorts === '*') rules.push(nat('-A', 'PILLION_INBOUND', '-p', 'tcp', '-j', 'PILLION_IN_REDIRECT'));
  else for (const p of unique(o.inboundPorts)) rules.push(nat('-A', 'PILLION_INBOUND', '-p', 'tcp', '--dport', p, '-j', 'PILLION_IN_REDIRECT'));
  rules.push(nat('-A', 'PREROUTING', '-p', 'tcp', '-j', 'PILLION_INBOUND'));

  for (const u of unique(o.proxyUids)) rules.push(nat('-A', 'PILLION_OUTPUT', '-m', 'owner', '--uid-owner', u, '-j', 'RETURN'));
  for (const g of unique(o.proxyGids)) rules.push(nat('-A', 'PILLION_OUTPUT', '-m', 'owner', '--gid-owner', g, '-j', 'RETURN'));
  rules.push(nat('-A', 'PILLION_OUTPUT', '-d', family === 4 ? '127.0.0.1/32' : '::1/128', '-j', 'RETURN'));
  for (const p of unique(o.excludeOutboundPorts)) rules.push(nat('-A', 'PILLION_OUTPUT', '-p', 'tcp', '--dport', p, '-j', 'RETURN'));
  for (const c of o.excludeOutboundCidrs) {
    if (cidrFamily(c) === family) rules.push(nat('-A', 'PILLION_OUTPUT', '-d', c, '-j', 'RETURN'));
  }
  rules.push(nat('-A', 'PILLION_OUTPUT', '-j', 'PILLION_REDIRECT'));
  rules.push(nat('-A', 'OUTPUT', '-p', 'tcp', '-j', 'PILLION_OUTPUT'));
  return rules;
}

export function cidrFamily(cidr: string): Family | null {
  const [addr, bits, extra] = cidr.split('/');
  if (addr === undefined || extra !== undefined) return null;
  const fam: Family | null = isIPv4(addr) ? 4 : isIPv6(addr) ? 6 : null;
  if (fam === null) return null;
  if (bits !== undefined && (!/^\d+$/.test(bits) || Number(bits) > (fam === 4 ? 32 : 128))) return null;
  return fam;
}

/** How a rule prints: a command line a shell would run as is. */
export function formatRule(bin: string, args: readonly string[]): string {
  return [bin, ...args].join(' ');
}

function unique<T>(xs: readonly T[]): T[] {
  return [...new Set(xs)];
}
