// `pillion iptables`: the dry-run text exactly, usage errors, and the real thing inside a network
// namespace made here: install twice leaves the same rules, uninstall leaves none.
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { CLI } from '../helpers/proxy.js';
import { NetNs, netnsUnavailable } from './netns.js';

function cli(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, 'iptables', ...args], { encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('dry-run prints exactly the rules install adds, and changes nothing', () => {
  const r = cli('install', '--dry-run', '--inbound-port', '15006', '--outbound-port', '15002', '--proxy-uid', '1337', '--proxy-gid', '1337',
    '--admin-port', '15000', '--exclude-inbound-ports', '22,15090', '--exclude-outbound-ports', '5432', '--exclude-outbound-cidrs', '169.254.169.254/32,fd00::/8', '--ipv6');
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, `# iptables: remove any previous pillion chains and jumps, then:
iptables -t nat -N PILLION_INBOUND
iptables -t nat -N PILLION_IN_REDIRECT
iptables -t nat -N PILLION_OUTPUT
iptables -t nat -N PILLION_REDIRECT
iptables -t nat -A PILLION_IN_REDIRECT -p tcp -j REDIRECT --to-ports 15006
iptables -t nat -A PILLION_REDIRECT -p tcp -j REDIRECT --to-ports 15002
iptables -t nat -A PILLION_INBOUND -p tcp --dport 15000 -j RETURN
iptables -t nat -A PILLION_INBOUND -p tcp --dport 22 -j RETURN
iptables -t nat -A PILLION_INBOUND -p tcp --dport 15090 -j RETURN
iptables -t nat -A PILLION_INBOUND -p tcp -j PILLION_IN_REDIRECT
iptables -t nat -A PREROUTING -p tcp -j PILLION_INBOUND
iptables -t nat -A PILLION_OUTPUT -m owner --uid-owner 1337 -j RETURN
iptables -t nat -A PILLION_OUTPUT -m owner --gid-owner 1337 -j RETURN
iptables -t nat -A PILLION_OUTPUT -d 127.0.0.1/32 -j RETURN
iptables -t nat -A PILLION_OUTPUT -p tcp --dport 5432 -j RETURN
iptables -t nat -A PILLION_OUTPUT -d 169.254.169.254/32 -j RETURN
iptables -t nat -A PILLION_OUTPUT -j PILLION_REDIRECT
iptables -t nat -A OUTPUT -p tcp -j PILLION_OUTPUT
# ip6tables: remove any previous pillion chains and jumps, then:
ip6tables -t nat -N PILLION_INBOUND
ip6tables -t nat -N PILLION_IN_REDIRECT
ip6tables -t nat -N PILLION_OUTPUT
ip6tables -t nat -N PILLION_REDIRECT
ip6tables -t nat -A PILLION_IN_REDIRECT -p tcp -j REDIRECT --to-ports 15006
ip6tables -t nat -A PILLION_REDIRECT -p tcp -j REDIRECT --to-ports 15002
ip6tables -t nat -A PILLION_INBOUND -p tcp --dport 15000 -j RETURN
ip6tables -t nat -A PILLION_INBOUND -p tcp --dport 22 -j RETURN
ip6tables -t nat -A PILLION_INBOUND -p tcp --dport 15090 -j RETURN
ip6tables -t nat -A PILLION_INBOUND -p tcp -j PILLION_IN_REDIRECT
ip6tables -t nat -A PREROUTING -p tcp -j PILLION_INBOUND
ip6tables -t nat -A PILLION_OUTPUT -m owner --uid-owner 1337 -j RETURN
ip6tables -t nat -A PILLION_OUTPUT -m owner --gid-owner 1337 -j RETURN
ip6tables -t nat -A PILLION_OUTPUT -d ::1/128 -j RETURN
ip6tables -t nat -A PILLION_OUTPUT -p tcp --dport 5432 -j RETURN
ip6tables -t nat -A PILLION_OUTPUT -d fd00::/8 -j RETURN
ip6tables -t nat -A PILLION_OUTPUT -j PILLION_REDIRECT
ip6tables -t nat -A OUTPUT -p tcp -j PILLION_OUTPUT
`);
});

test('dry-run of uninstall, and an explicit inbound port list', () => {
  const u = cli('uninstall', '--dry-run');
  assert.equal(u.status, 0);
  assert.equal(u.stdout, `# iptables: remove the jumps if present, then flush and delete if present:
iptables -t nat -D PREROUTING -p tcp -j PILLION_INBOUND
iptables -t nat -D OUTPUT -p tcp -j PILLION_OUTPUT
iptables -t nat -F PILLION_INBOUND
iptables -t nat -F PILLION_IN_REDIRECT
iptables -t nat -F PILLION_OUTPUT
iptables -t nat -F PILLION_REDIRECT
iptables -t nat -X PILLION_INBOUND
iptables -t nat -X PILLION_IN_REDIRECT
iptables -t nat -X PILLION_OUTPUT
iptables -t nat -X PILLION_REDIRECT
`);
  const i = cli('install', '--dry-run', '--inbound-ports', '8080,9090');
  assert.match(i.stdout, /iptables -t nat -A PILLION_INBOUND -p tcp --dport 8080 -j PILLION_IN_REDIRECT\niptables -t nat -A PILLION_INBOUND -p tcp --dport 9090 -j PILLION_IN_REDIRECT\n/);
  assert.doesNotMatch(i.stdout, /-A PILLION_INBOUND -p tcp -j PILLION_IN_REDIRECT/);
});

test('usage errors exit 2 and name the flag', () => {
  for (const [args, msg] of [
    [['install', '--inbound-port', '99999'], /--inbound-port: '99999' is not a port/],
    [['install', '--exclude-outbound-cidrs', '10.0.0.0/33'], /--exclude-outbound-cidrs: '10.0.0.0\/33' is not an IPv4 or IPv6 CIDR/],
    [['install', '--proxy-uid', ''], /at least one is needed/],
    [['frobnicate'], /unknown action 'frobnicate'/],
    [[], /install or uninstall\?/],
  ] as const) {
    const r = cli(...args);
    assert.equal(r.status, 2, args.join(' '));
    assert.match(r.stderr, msg);
  }
});

test('install is idempotent and uninstall leaves nothing (real iptables, in a network namespace)', { skip: netnsUnavailable() }, () => {
  const ns = new NetNs('ipt');
  try {
    const save = (bin: string) => ns.exec(`${bin}-save`, '-t', 'nat').split('\n').filter((l) => !l.startsWith('#') && l !== '').map((l) => l.replace(/\[\d+:\d+\]/, '')).join('\n');
    const before4 = save('iptables');
    const before6 = save('ip6tables');
    const run = (...args: string[]) => ns.exec(process.execPath, CLI, 'iptables', ...args);
    const first = run('install', '--ipv6', '--proxy-uid', '1337', '--exclude-outbound-cidrs', '10.0.0.0/8,fd00::/8');
    assert.match(first, /^iptables -t nat -N PILLION_INBOUND$/m, 'prints the rules it applied');
    const once4 = save('iptables');
    const once6 = save('ip6tables');
    assert.match(once4, /-A PILLION_OUTPUT -m owner --uid-owner 1337 -j RETURN/);
    assert.match(once6, /-A PILLION_OUTPUT -d fd00::\/8 -j RETURN/);
    const second = run('install', '--ipv6', '--proxy-uid', '1337', '--exclude-outbound-cidrs', '10.0.0.0/8,fd00::/8');
    assert.match(second, /^iptables -t nat -D PREROUTING -p tcp -j PILLION_INBOUND$/m, 'the second install removes the first');
    assert.equal(save('iptables'), once4);
    assert.equal(save('ip6tables'), once6);
    assert.equal((once4.match(/-A PREROUTING/g) ?? []).length, 1, 'one jump, not two');
    run('uninstall', '--ipv6');
    assert.equal(save('iptables'), before4);
    assert.equal(save('ip6tables'), before6);
    assert.doesNotMatch(save('iptables') + save('ip6tables'), /PILLION/);
    assert.match(run('uninstall'), /# iptables: no pillion rules were present/);
  } finally {
    ns.destroy();
  }
});
