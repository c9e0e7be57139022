// Footprint benchmark (issue 6): node_exporter vs `pillion agent`, same collectors, same machine,
// one run. For each target: CPU time per scrape (utime+stime from /proc/<pid>/stat over N scrapes),
// scrape latency p50/p99 (sequential scrapes on one keep-alive connection, gzip as Prometheus asks),
// and RSS (VmRSS after the run; VmHWM, the peak). Rounds alternate the order and the median
// round is reported, so a neighbour's load spike hits both sides alike.
//
// A paced phase comes first, on the fresh processes (scrapes 1 s apart, both targets): "steady
// RSS" is read after it, as a scraped agent lives; RSS right after the bursts is reported too.
//
// usage: node dist/test/agent/bench-footprint.js [--node-exporter=prometheus-node-exporter] [--rounds=3] [--scrapes=300] [--gzip=true]
//        [--node-flags="<flags for the agent's node>"] [--pace-ms=1000] [--paced=30]
// exit 0 = agent within budget (CPU/scrape and p99 <= node_exporter's, RSS <= 50 MB), 1 = over budget, 2 = cannot run.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { cpus, loadavg } from 'node:os';
import { CLI } from './helpers.js';

const COLLECTORS = ['cpu', 'meminfo', 'loadavg', 'diskstats', 'netdev', 'filesystem', 'stat', 'vmstat', 'pressure', 'uname'];
const FLAGS = ['--collector.disable-defaults', ...COLLECTORS.map((c) => `--collector.${c}`), '--web.listen-address=127.0.0.1:0'];
const CLK_TCK = 100;
/**
 * None: the agent is measured as users and the DaemonSet run it (`pillion agent`), which applies its
 * V8 footprint settings itself (src/agent/lean-v8.ts). --node-flags tries others.
 */
const AGENT_NODE_FLAGS = '';
/** First, on fresh processes: scrapes at a DaemonSet-like pace (Prometheus: every 15-60 s); steady RSS is read after. */
const PACED_SCRAPES_DEFAULT = '30';
const RSS_BUDGET_MB = 50;

function arg(name: string, def: string): string {
  const a = process.argv.find((x) => x.startsWith(`--${name}=`));
  return a === undefined ? def : a.slice(name.length + 3);
}

interface Target { name: string; child: ChildProcess; host: string; port: number; agent: Agent }

function start(name: string, cmd: string, args: string[]): Promise<Target> {
  const child = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`${name} did not start:\n${err}`)); }, 10_000);
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (c: string) => {
      err += c;
      const m = /msg="Listening on" address=(\S+):(\d+)/.exec(err);
      if (m) { clearTimeout(timer); resolve({ name, child, host: m[1]!, port: Number(m[2]), agent: new Agent({ keepAlive: true, maxSockets: 1 }) }); }
    });
    child.once('error', (e) => { clearTimeout(timer); reject(e); });
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`${name} exited with ${code}:\n${err}`)); });
  });
}

function scrapeOnce(t: Target, gzip: boolean): Promise<number> {
  const t0 = process.hrtime.bigint();
  return new Promise((resolve, reject) => {
    const req = request({ host: t.host, port: t.port, path: '/metrics', agent: t.agent, headers: gzip ? { 'accept-encoding': 'gzip' } : {} }, (res) => {
      res.on('data', () => {});
      res.on('end', () => (res.statusCode === 200 ? resolve(Number(process.hrtime.bigint() - t0) / 1e6) : reject(new Error(`${t.name}: HTTP ${res.statusCode}`))));
    });
    req.on('error', reject);
    req.end();
  });
}

function cpuTicks(pid: number): number {
  // Fields after the parenthesised comm: utime is the 14th field overall, stime the 15th.
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(f[11]) + Number(f[12]);
}

function memKb(pid: number, field: 'VmRSS' | 'VmHWM' | 'RssAnon' | 'RssFile'): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : NaN;
}

interface Round { cpuMsPerScrape: number; p50: number; p99: number }

async function round(t: Target, scrapes: number, gzip: boolean): Promise<Round> {
  const pid = t.child.pid!;
  const before = cpuTicks(pid);
  const lat: number[] = [];
  for (let i = 0; i < scrapes; i++) lat.push(await scrapeOnce(t, gzip));
  const ticks = cpuTicks(pid) - before;
  lat.sort((a, b) => a - b);
  const q = (p: number): number => lat[Math.min(lat.length - 1, Math.floor(p * lat.length))]!;
  return { cpuMsPerScrape: (ticks * 1000 / CLK_TCK) / scrapes, p50: q(0.5), p99: q(0.99) };
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main(): Promise<number> {
  const loadBefore = loadavg().map((x) => x.toFixed(2)).join(' ');
  const rounds = Number(arg('rounds', '3'));
  const scrapes = Number(arg('scrapes', '300'));
  const gzip = arg('gzip', 'true') === 'true';
  let ne: Target;
  try {
    ne = await start('node_exporter', arg('node-exporter', 'prometheus-node-exporter'), [...FLAGS, '--no-collector.netdev.netlink']);
  } catch (err) {
    console.error(`cannot start node_exporter: ${(err as Error).message}\ninstall it with: apt-get install -y prometheus-node-exporter`);
    return 2;
  }
  const nodeFlags = arg('node-flags', AGENT_NODE_FLAGS).split(' ').filter(Boolean);
  const agent = await start('pillion agent', process.execPath, [...nodeFlags, CLI, 'agent', ...FLAGS]);
  console.log(`agent node flags: ${nodeFlags.join(' ') || '(none)'}`);
  try {
    const results = new Map<string, Round[]>([[ne.name, []], [agent.name, []]]);
    const paceMs = Number(arg('pace-ms', '1000'));
    const PACED_SCRAPES = Number(arg('paced', PACED_SCRAPES_DEFAULT));
    const pacedCpu = new Map([ne, agent].map((t) => [t.name, cpuTicks(t.child.pid!)]));
    for (let i = 0; i < PACED_SCRAPES; i++) {
      for (const t of [ne, agent]) await scrapeOnce(t, gzip);
      await new Promise((r) => setTimeout(r, paceMs));
    }
    for (const t of [ne, agent]) pacedCpu.set(t.name, ((cpuTicks(t.child.pid!) - pacedCpu.get(t.name)!) * 1000 / CLK_TCK) / PACED_SCRAPES);
    const steady = new Map([ne, agent].map((t) => [t.name, { rss: memKb(t.child.pid!, 'VmRSS') / 1024, anon: memKb(t.child.pid!, 'RssAnon') / 1024, file: memKb(t.child.pid!, 'RssFile') / 1024 }]));
    for (const t of [ne, agent]) for (let i = 0; i < 30; i++) await scrapeOnce(t, gzip); // warm-up (JIT, page cache)
    for (let r = 0; r < rounds; r++) {
      const order = r % 2 === 0 ? [ne, agent] : [agent, ne];
      for (const t of order) results.get(t.name)!.push(await round(t, scrapes, gzip));
    }
    const burstRss = new Map([ne, agent].map((t) => [t.name, memKb(t.child.pid!, 'VmRSS') / 1024]));
    const row = (t: Target): { cpu: number; p50: number; p99: number; rss: number; hwm: number; anon: number; file: number } => {
      const rs = results.get(t.name)!;
      return {
        cpu: median(rs.map((x) => x.cpuMsPerScrape)),
        p50: median(rs.map((x) => x.p50)),
        p99: median(rs.map((x) => x.p99)),
        rss: steady.get(t.name)!.rss,
        hwm: memKb(t.child.pid!, 'VmHWM') / 1024,
        anon: steady.get(t.name)!.anon,
        file: steady.get(t.name)!.file,
      };
    };
    const a = row(ne);
    const b = row(agent);
    console.log(`node ${process.version}, ${cpus().length} x ${cpus()[0]?.model ?? '?'}; ${rounds} rounds x ${scrapes} sequential scrapes, 1 keep-alive connection, gzip=${gzip}; medians of rounds`);
    console.log(`collectors: ${COLLECTORS.join(',')}; load average before/after: ${loadBefore} / ${loadavg().map((x) => x.toFixed(2)).join(' ')} (other work on the machine skews latency)`);
    console.log(`paced phase: ${Number(arg('paced', PACED_SCRAPES_DEFAULT))} scrapes ${paceMs} ms apart; before the bursts, on fresh processes; its CPU includes idle work between scrapes (GC)`);
    console.log('| target | CPU ms/scrape (burst) | CPU ms/scrape (paced) | p50 ms | p99 ms | RSS MB steady (paced) | anon / file-backed | RSS MB after bursts | RSS MB peak |');
    console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- |');
    for (const [name, x] of [[ne.name, a], [agent.name, b]] as const) {
      console.log(`| ${name} | ${x.cpu.toFixed(2)} | ${pacedCpu.get(name)!.toFixed(2)} | ${x.p50.toFixed(2)} | ${x.p99.toFixed(2)} | ${x.rss.toFixed(1)} | ${x.anon.toFixed(1)} / ${x.file.toFixed(1)} | ${burstRss.get(name)!.toFixed(1)} | ${x.hwm.toFixed(1)} |`);
    }
    const verdicts = [
      [`CPU/scrape ${b.cpu.toFixed(2)} <= ${a.cpu.toFixed(2)} ms`, b.cpu <= a.cpu],
      [`p99 ${b.p99.toFixed(2)} <= ${a.p99.toFixed(2)} ms`, b.p99 <= a.p99],
      [`steady RSS ${b.rss.toFixed(1)} <= ${RSS_BUDGET_MB} MB`, b.rss <= RSS_BUDGET_MB],
    ] as const;
    for (const [text, ok] of verdicts) console.log(`${ok ? 'PASS' : 'FAIL'} ${text}`);
    return verdicts.every(([, ok]) => ok) ? 0 : 1;
  } finally {
    ne.child.kill('SIGTERM');
    agent.child.kill('SIGTERM');
    ne.agent.destroy();
    agent.agent.destroy();
  }
}

main().then((code) => { process.exitCode = code; }, (err: unknown) => { console.error(err); process.exitCode = 2; });
