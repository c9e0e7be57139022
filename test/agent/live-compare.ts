// Live comparison with the real node_exporter on this machine (issue 6): start
// `prometheus-node-exporter` and `pillion agent` with the same collectors and flags, scrape
// node_exporter, the agent, node_exporter again, and check per family that
//   - the TYPE is the same,
//   - the label sets are identical,
//   - each agent value lies between node_exporter's two values (the drift of a counter between
//     two scrapes), with a small slack for gauges that move both ways (free memory, load).
//
// usage: node dist/test/agent/live-compare.js [--node-exporter=/usr/bin/prometheus-node-exporter] [--rounds=3]
// exit 0 = every family agrees in every round, 1 = a mismatch, 2 = cannot run.
import { spawn, type ChildProcess } from 'node:child_process';
import { cpus } from 'node:os';
import { pathToFileURL } from 'node:url';
import { httpGet, CLI } from './helpers.js';
import { parseExposition, type Family } from './prom-text.js';

const COLLECTORS = ['cpu', 'meminfo', 'loadavg', 'diskstats', 'netdev', 'filesystem', 'stat', 'vmstat', 'pressure', 'uname'];
/** Flags given to both, so that differing defaults (Debian patches some) do not count as differences. */
const SHARED_FLAGS = [
  '--collector.disable-defaults',
  ...COLLECTORS.map((c) => `--collector.${c}`),
  '--collector.diskstats.device-exclude=^(z?ram|loop|fd|(h|s|v|xv)d[a-z]|nvme\\d+n\\d+p)\\d+$',
  '--collector.filesystem.mount-points-exclude=^/(dev|proc|run/credentials/.+|sys|var/lib/docker/.+|var/lib/containers/storage/.+)($|/)',
  '--collector.netdev.device-exclude=^$',
];
/** node_exporter 1.5's netdev reads netlink by default; the agent reads /proc/net/dev: compare like with like. */
const NODE_EXPORTER_ONLY = ['--no-collector.netdev.netlink'];
/** Labels node_exporter 1.5 does not have (added in later versions). */
const IGNORE_LABELS = new Map([['node_disk_info', ['rotational']]]);
/** Timing, not state. */
const SKIP = new Set(['node_scrape_collector_duration_seconds']);
/** Gauges that move both ways between scrapes get this relative slack beyond the bracket. */
const GAUGE_SLACK = 0.02;
/**
 * Instantaneous process counts include the scraper itself: node_exporter runs several OS threads
 * while it scrapes, the agent one. They get an absolute slack of one per CPU plus two.
 */
const ABS_SLACK = new Map([['node_procs_running', cpus().length + 2], ['node_procs_blocked', cpus().length + 2]]);

function arg(name: string, def: string): string {
  const a = process.argv.find((x) => x.startsWith(`--${name}=`));
  return a === undefined ? def : a.slice(name.length + 3);
}

function start(cmd: string, args: string[]): Promise<{ child: ChildProcess; address: string }> {
  const child = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`${cmd} did not start:\n${err}`)); }, 10_000);
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (c: string) => {
      err += c;
      const m = /msg="Listening on" address=(\S+)/.exec(err);
      if (m) { clearTimeout(timer); resolve({ child, address: m[1]! }); }
    });
    child.once('error', (e) => { clearTimeout(timer); reject(e); });
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`${cmd} exited with ${code}:\n${err}`)); });
  });
}

async function get(address: string): Promise<Map<string, Family>> {
  const res = await httpGet(address, '/metrics');
  if (res.status !== 200) throw new Error(`${address}: HTTP ${res.status}`);
  return parseExposition(res.body, IGNORE_LABELS);
}

interface Verdict {
  family: string;
  samples: number;
  problem: string | undefined;
  /** TYPE or label-set differences: these never drift, unlike values. */
  structural: boolean;
}

export function compareRound(ne1: Map<string, Family>, ours: Map<string, Family>, ne2: Map<string, Family>): Verdict[] {
  const out: Verdict[] = [];
  for (const [name, mine] of ours) {
    if (SKIP.has(name) || !ne1.has(name)) continue;
    const a = ne1.get(name)!;
    const b = ne2.get(name) ?? a;
    const problems: string[] = [];
    if (a.type !== mine.type) problems.push(`TYPE ${mine.type} != ${a.type}`);
    const keys = new Set([...a.samples.keys(), ...b.samples.keys()]);
    for (const k of mine.samples.keys()) if (!keys.has(k)) problems.push(`unexpected ${k}`);
    for (const k of a.samples.keys()) if (!mine.samples.has(k) && b.samples.has(k)) problems.push(`missing ${k}`);
    const structural = problems.length > 0;
    for (const [k, v] of mine.samples) {
      const x = a.samples.get(k);
      const y = b.samples.get(k) ?? x;
      if (x === undefined || y === undefined) continue;
      let lo = Math.min(x, y);
      let hi = Math.max(x, y);
      const abs = ABS_SLACK.get(name);
      if (abs !== undefined) {
        lo -= abs;
        hi += abs;
      } else if (mine.type !== 'counter') {
        const slack = Math.max(Math.abs(lo), Math.abs(hi)) * GAUGE_SLACK;
        lo -= slack;
        hi += slack;
      }
      const eps = 1e-9 * Math.max(Math.abs(lo), Math.abs(hi), 1);
      if (v < lo - eps || v > hi + eps) problems.push(`${k}: ${v} not within [${x}, ${y}]`);
    }
    out.push({ family: name, samples: mine.samples.size, structural, problem: problems.length ? problems.slice(0, 3).join('; ') + (problems.length > 3 ? ` (+${problems.length - 3})` : '') : undefined });
  }
  return out;
}

export interface LiveResult {
  /** 0 = every round agreed, 1 = some round disagreed, 2 = node_exporter could not start. */
  code: number;
  rounds: number;
  cleanRounds: number;
  structuralFailures: string[];
  families: number;
  samples: number;
}

export async function liveCompare(bin: string, rounds: number, log: (line: string) => void = (l) => console.log(l)): Promise<LiveResult> {
  const result: LiveResult = { code: 2, rounds, cleanRounds: 0, structuralFailures: [], families: 0, samples: 0 };
  let ne: { child: ChildProcess; address: string } | undefined;
  let agent: { child: ChildProcess; address: string } | undefined;
  try {
    ne = await start(bin, [...SHARED_FLAGS, ...NODE_EXPORTER_ONLY, '--web.listen-address=127.0.0.1:0']);
  } catch (err) {
    log(`cannot start node_exporter (${bin}): ${(err as Error).message}\ninstall it with: apt-get install -y prometheus-node-exporter`);
    return result;
  }
  try {
    agent = await start(process.execPath, [CLI, 'agent', ...SHARED_FLAGS, '--web.listen-address=127.0.0.1:0']);
    let bad = 0;
    let last: Verdict[] = [];
    for (let r = 0; r < rounds; r++) {
      const ne1 = await get(ne.address);
      const ours = await get(agent.address);
      const ne2 = await get(ne.address);
      last = compareRound(ne1, ours, ne2);
      let roundBad = 0;
      for (const v of last) {
        if (!v.problem) continue;
        roundBad++;
        log(`round ${r + 1} FAIL ${v.family}: ${v.problem}`);
        if (v.structural) result.structuralFailures.push(`${v.family}: ${v.problem}`);
      }
      bad += roundBad;
      if (roundBad === 0) result.cleanRounds++;
      const ourOnly = [...ours.keys()].filter((f) => !ne1.has(f));
      const neOnly = [...ne1.keys()].filter((f) => !ours.has(f) && f.startsWith('node_') && f !== 'node_exporter_build_info');
      if (r === 0) {
        log(`agent-only families: ${ourOnly.join(', ') || '(none)'}`);
        log(`node_exporter-only node_* families: ${neOnly.join(', ') || '(none)'}`);
      }
    }
    const samples = last.reduce((n, v) => n + v.samples, 0);
    const byCollector = new Map<string, number>();
    for (const v of last) {
      const prefix = /^node_(cpu|memory|load|disk|network|filesystem|vmstat|pressure|uname|scrape)/.exec(v.family)?.[1] ?? 'stat';
      byCollector.set(prefix, (byCollector.get(prefix) ?? 0) + 1);
    }
    log(`families per area: ${[...byCollector].map(([k, n]) => `${k}=${n}`).join(' ')}`);
    log(`rounds=${rounds} families-compared=${last.length} samples=${samples} failures=${bad}`);
    result.code = bad ? 1 : 0;
    result.families = last.length;
    result.samples = samples;
    return result;
  } finally {
    ne.child.kill('SIGTERM');
    agent?.child.kill('SIGTERM');
  }
}

// Run as a script (not when a test imports liveCompare).
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  liveCompare(arg('node-exporter', 'prometheus-node-exporter'), Number(arg('rounds', '3'))).then(
    (r) => { process.exitCode = r.code; },
    (err: unknown) => { console.error(err); process.exitCode = 2; },
  );
}
