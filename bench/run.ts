// `npm run bench`: pillion against direct-to-origin, nginx and HAProxy, with autocannon (driven
// from code) and wrk (when installed) as load generators. See bench/README.md for how to read it.
//
// Layout on a machine with 2+ cores and taskset: this process (autocannon) and wrk on core 0, the
// origin and the proxy under test on core 1. Every proxy case gets a fresh proxy process, a
// warm-up, then the measured window; rounds are interleaved (A B C D A B C D) and the median of
// the rounds is reported.
import { execFileSync } from 'node:child_process';
import { copyFileSync, cpSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import { availableCandidates, versionOf, type Candidate, type Running } from './candidates.js';
import { runAutocannon, runWrk, writeWrkScript, type GenResult, type Scenario } from './generators.js';
import { Child, TASKSET, sleep, waitHttp200, which } from './procs.js';
import { coreSeconds, cpuModel, cpuSeconds, loadAverage, RssSampler } from './procstat.js';
import { headerLines, LEGEND, markdown, summarize, variantLines, textTable, type Header, type RunRecord } from './report.js';

const HERE = path.dirname(fileURLToPath(import.meta.url)); // dist/bench
const ROOT = path.resolve(HERE, '../..');
const CONNECTIONS = 64;

/**
 * The warm-up's short runs (wrk rounds them up to 1 s). A generator that stops leaves requests in
 * flight: the proxy aborts them upstream, and the first time that happens V8 deoptimizes the hot
 * stream and timer code it meets on the way (about 20 functions), then re-optimizes about 170 in the
 * next seconds. Measured with --trace-deopt --trace-opt, 6 consecutive 3 s wrk windows per fresh
 * proxy: each window with that storm had p99 about twice the others (8.9-11 ms against 3.8-4.3), and
 * it came once per process, after the first or second stop. With one continuous 1 s warm-up, 2-5
 * measured windows in 10 had it; after 4 stopped runs and 1.5 s more, 0 in 10. A sidecar pays it
 * once in its life; the bench measures the steady state after it.
 */
const WARMUP_STOP_S = 0.5;

// The TLS candidates use a certificate made for the run; the load generator in this process must not
// refuse it (wrk does not verify).
process.env.NODE_TLS_REJECT_UNAUTHORIZED = '0';

const SCENARIOS: Scenario[] = [
  { id: 'small', label: 'small GET', generator: 'autocannon', method: 'GET', path: '/small', pipelining: 1, bodyBytes: 0 },
  { id: '64k', label: '64 KiB GET', generator: 'autocannon', method: 'GET', path: '/64k', pipelining: 1, bodyBytes: 0 },
  { id: 'post', label: '1 MiB POST', generator: 'autocannon', method: 'POST', path: '/upload', pipelining: 1, bodyBytes: 1024 * 1024 },
  { id: 'pipe', label: 'small GET, pipelining 10', generator: 'autocannon', method: 'GET', path: '/small', pipelining: 10, bodyBytes: 0 },
  { id: 'wrk-small', label: 'small GET', generator: 'wrk', method: 'GET', path: '/small', pipelining: 1, bodyBytes: 0 },
  { id: 'wrk-64k', label: '64 KiB GET', generator: 'wrk', method: 'GET', path: '/64k', pipelining: 1, bodyBytes: 0 },
  { id: 'wrk-pipe', label: 'small GET, pipelining 10', generator: 'wrk', method: 'GET', path: '/small', pipelining: 10, bodyBytes: 0 },
];

interface Options {
  durationS: number;
  warmupS: number;
  /** Short generator runs, each stopped, before the continuous warm-up (see WARMUP_STOP_S). */
  warmupStops: number;
  rounds: number;
  only: string[] | null;
  scenarios: string[] | null;
  outName: string;
  /** Write a V8 CPU profile of every pillion run into bench/results/profiles/. */
  cpuProf: boolean;
  /** Build pillion from this git ref (git archive + tsc in a temp dir) instead of using dist/. */
  ref: string | null;
}

const USAGE = `Usage: npm run bench -- [options]   (or: node dist/bench/run.js [options] after npm run build)

  --duration S      measured seconds per run (default 3)
  --warmup S        continuous warm-up seconds on each fresh proxy before measuring (default 1.5)
  --warmup-stops N  short runs of the generator, each stopped, before that warm-up (default 4):
                    the JIT's one-time reaction to the first aborted requests happens there, not in
                    the measured window (bench/README.md, "Warm-up")
  --rounds N        interleaved rounds, median reported (default 2, at least 2)
  --quick           short runs for development: --duration 1 --warmup 0.5 --warmup-stops 0,
                    results in quick.{json,md}
  --only LIST       candidates, comma-separated: direct,pillion,pillion-node,nginx,haproxy
  --scenarios LIST  ${SCENARIOS.map((s) => s.id).join(',')}
  --out NAME        results file name under bench/results/ (default latest, or quick with --quick)
  --ref REF         benchmark pillion built from git REF (git archive + tsc in a temp dir) instead of
                    the working tree's dist/ (which others may be rebuilding)
  --cpu-prof        run pillion under node --cpu-prof: one .cpuprofile per run in bench/results/profiles/
                    (profiling slows it down: numbers from such a run are not comparable);
                    summarize one with: node dist/bench/profile-summary.js FILE
  --help
`;

function parseArgs(argv: string[]): Options {
  const o: Options = { durationS: 3, warmupS: 1.5, warmupStops: 4, rounds: 2, only: null, scenarios: null, outName: 'latest', cpuProf: false, ref: null };
  let quick = false;
  let outSet = false;
  const num = (name: string, v: string | undefined, min: number): number => {
    const n = Number(v);
    if (v === undefined || !Number.isFinite(n) || n < min) {
      process.stderr.write(`bench: ${name} needs a number >= ${min}\n${USAGE}`);
      process.exit(2);
    }
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--duration') o.durationS = num(a, argv[++i], 0.5);
    else if (a === '--warmup') o.warmupS = num(a, argv[++i], 0);
    else if (a === '--warmup-stops') o.warmupStops = Math.floor(num(a, argv[++i], 0));
    else if (a === '--rounds') o.rounds = Math.floor(num(a, argv[++i], 1));
    else if (a === '--quick') quick = true;
    else if (a === '--cpu-prof') o.cpuProf = true;
    else if (a === '--ref') o.ref = argv[++i] ?? 'HEAD';
    else if (a === '--only') o.only = (argv[++i] ?? '').split(',').filter((x) => x !== '');
    else if (a === '--scenarios') o.scenarios = (argv[++i] ?? '').split(',').filter((x) => x !== '');
    else if (a === '--out') {
      o.outName = argv[++i] ?? 'latest';
      outSet = true;
    } else if (a === '--help' || a === '-h') {
      process.stdout.write(USAGE);
      process.exit(0);
    } else {
      process.stderr.write(`bench: unknown option ${a}\n${USAGE}`);
      process.exit(2);
    }
  }
  if (quick) {
    if (!argv.includes('--duration')) o.durationS = 1;
    if (!argv.includes('--warmup')) o.warmupS = 0.5;
    if (!argv.includes('--warmup-stops')) o.warmupStops = 0;
    if (!outSet) o.outName = 'quick';
  }
  if (o.scenarios !== null) {
    const unknown = o.scenarios.filter((s) => !SCENARIOS.some((x) => x.id === s));
    if (unknown.length > 0) {
      process.stderr.write(`bench: unknown scenario ${unknown.join(', ')}\n${USAGE}`);
      process.exit(2);
    }
  }
  return o;
}

// ---------------------------------------------------------------------------------------------
// Progress: one live line on a terminal, one line per finished case otherwise.

const TTY = process.stderr.isTTY === true;

function bar(frac: number, width = 20): string {
  const n = Math.max(0, Math.min(width, Math.round(frac * width)));
  return '#'.repeat(n) + '-'.repeat(width - n);
}

function progressLine(text: string): void {
  if (TTY) process.stderr.write(`\r\x1b[2K${text.slice(0, (process.stderr.columns || 120) - 1)}`);
}

function progressDone(text: string): void {
  if (TTY) process.stderr.write('\r\x1b[2K');
  process.stderr.write(text + '\n');
}

function kfmt(n: number): string {
  return n >= 1000 ? `${(n / 1000).toFixed(1)}k` : n.toFixed(0);
}

// ---------------------------------------------------------------------------------------------

interface Env {
  opts: Options;
  originPort: number;
  originPid: number;
  collectorPort: number;
  tmp: string;
  proxyCore: number | null;
  genCore: number | null;
  wrk: string | null;
  wrkScript: string | null;
  pillionRoot: string | null;
}

/**
 * Runs one generator while a progress line is redrawn every 250 ms (autocannon reports its rate
 * once a second; wrk reports nothing until it ends, so the bar follows the clock).
 */
async function generate(env: Env, s: Scenario, url: string, durationS: number, render: (elapsedS: number, rps: number | null) => void): Promise<GenResult> {
  const t0 = Date.now();
  let last: number | null = null;
  const onTick = (rps: number | null): void => {
    // autocannon's final tick reports the empty second after the stop: keep the last real one.
    if (rps !== null && (rps > 0 || last === null)) last = rps;
  };
  const timer = TTY ? setInterval(() => render((Date.now() - t0) / 1000, last), 250) : null;
  try {
    if (s.generator === 'autocannon') return await runAutocannon(s, { url, connections: CONNECTIONS, durationS, onTick });
    if (env.wrk === null || env.wrkScript === null) throw new Error('wrk is not installed');
    return await runWrk(s, { url, connections: CONNECTIONS, durationS, onTick, wrk: env.wrk, script: env.wrkScript, core: env.genCore });
  } finally {
    if (timer !== null) clearInterval(timer);
  }
}

async function runCase(env: Env, s: Scenario, c: Candidate, round: number, label: string): Promise<RunRecord> {
  const rec: RunRecord = { scenario: s.id, candidate: c.id, round, gen: null, error: null, cpuUsPerReq: null, rssMaxBytes: null, originCpuUsPerReq: null, otherCpuPct: null, proxyExitedEarly: false, notes: [] };
  let running: Running | null = null;
  try {
    progressLine(`${label}  starting`);
    const nodeArgs = env.opts.cpuProf ? ['--cpu-prof', `--cpu-prof-dir=${path.join(ROOT, 'bench/results/profiles')}`, `--cpu-prof-name=${c.id}-${s.id}-r${round}.cpuprofile`] : [];
    running = await c.start({ originPort: env.originPort, collectorPort: env.collectorPort, core: env.proxyCore, tmp: env.tmp, root: env.pillionRoot ?? ROOT, nodeArgs });
    for (let i = 1; i <= env.opts.warmupStops; i++) {
      await generate(env, s, running.url, WARMUP_STOP_S, () => progressLine(`${label}  warm-up stop ${i}/${env.opts.warmupStops}`));
    }
    if (env.opts.warmupS > 0) {
      await generate(env, s, running.url, env.opts.warmupS, (el) => progressLine(`${label}  warm-up ${el.toFixed(1)} s`));
    }
    if (env.opts.warmupS > 0 || env.opts.warmupStops > 0) {
      if (running.child !== null && running.child.exited) {
        rec.proxyExitedEarly = true;
        throw new Error(`${c.id} exited during warm-up (${running.child.describeExit()}): ${running.child.output().trim().slice(-1000)}`);
      }
    }
    const pids = running.pids;
    const cpu0 = pids.length > 0 ? cpuSeconds(pids) : null;
    const origin0 = cpuSeconds([env.originPid]);
    const core0 = env.proxyCore !== null ? coreSeconds(env.proxyCore) : null;
    const rss = pids.length > 0 ? new RssSampler(pids) : null;
    const d = env.opts.durationS;
    const gen = await generate(env, s, running.url, d, (el, rps) => {
      progressLine(`${label}  [${bar(el / d)}] ${Math.min(el, d).toFixed(1)}/${d} s${rps !== null ? `  ${kfmt(rps)} req/s` : ''}`);
    });
    const cpu1 = pids.length > 0 ? cpuSeconds(pids) : null;
    const origin1 = cpuSeconds([env.originPid]);
    const core1 = env.proxyCore !== null ? coreSeconds(env.proxyCore) : null;
    rec.rssMaxBytes = rss?.stop() ?? null;
    // What else ran on the proxy's core: its busy time minus the proxy's and the origin's.
    if (core0 !== null && core1 !== null && origin0 !== null && origin1 !== null && core1.total > core0.total) {
      const ours = origin1 - origin0 + (cpu0 !== null && cpu1 !== null ? cpu1 - cpu0 : 0);
      rec.otherCpuPct = Math.max(0, (100 * (core1.busy - core0.busy - ours)) / (core1.total - core0.total));
    }
    rec.gen = gen;
    if (cpu0 !== null && cpu1 !== null && gen.responses > 0) rec.cpuUsPerReq = ((cpu1 - cpu0) * 1e6) / gen.responses;
    if (origin0 !== null && origin1 !== null && gen.responses > 0) rec.originCpuUsPerReq = ((origin1 - origin0) * 1e6) / gen.responses;
    if (running.child !== null && running.child.exited) {
      rec.proxyExitedEarly = true;
      rec.notes.push(`${c.id} exited during the measured run (${running.child.describeExit()}): ${running.child.output().trim().slice(-600)}`);
    }
  } catch (e) {
    rec.error = e instanceof Error ? e.message : String(e);
  } finally {
    if (running !== null) {
      const child = running.child;
      const wasAlive = child !== null && !child.exited;
      const t = Date.now();
      await running.stop();
      if (child !== null && wasAlive) {
        const ms = Date.now() - t;
        if (child.exitSignal === 'SIGKILL') rec.notes.push(`${c.id} did not exit within 3 s of SIGTERM (killed)`);
        else if (c.id.startsWith('pillion') && child.exitCode !== 0) rec.notes.push(`${c.id} exited with ${child.describeExit()} after SIGTERM (${ms} ms): ${child.output().trim().slice(-400)}`);
      }
    }
  }
  return rec;
}

function resultLine(label: string, r: RunRecord): string {
  if (r.gen === null) return `${label}  FAILED: ${(r.error ?? '').slice(0, 300)}`;
  const g = r.gen;
  const errs = g.non2xx + g.socketErrors + g.timeouts + g.lost;
  const parts = [
    `${kfmt(g.rps)} req/s`,
    g.p50 === null ? 'latency not measured' : `p50 ${g.p50.toFixed(2)} p99 ${(g.p99 ?? 0).toFixed(2)} p99.9 ${(g.p999 ?? 0).toFixed(2)} ms`,
    `errors ${errs}${g.reconnects ? `, reconnects ${g.reconnects}` : ''}`,
  ];
  if (r.cpuUsPerReq !== null) parts.push(`CPU ${r.cpuUsPerReq.toFixed(1)} us/req`);
  if (r.rssMaxBytes !== null) parts.push(`RSS ${(r.rssMaxBytes / 1048576).toFixed(1)} MB`);
  if (r.otherCpuPct !== null) parts.push(`others on core ${r.otherCpuPct.toFixed(0)}%`);
  return `${label}  ${parts.join(', ')}${r.notes.length > 0 ? `  NOTE: ${r.notes.join('; ')}` : ''}`;
}

async function startOrigin(core: number | null, name = 'origin'): Promise<{ child: Child; port: number }> {
  const child = new Child(name, process.execPath, [path.join(HERE, 'origin.js'), '0'], core);
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    const m = /\{"port":(\d+)\}/.exec(child.output());
    if (m !== null) {
      const port = Number(m[1]);
      await waitHttp200(`http://127.0.0.1:${port}/small`, child, 5000);
      return { child, port };
    }
    if (child.exited) break;
    await sleep(20);
  }
  await child.stop('SIGKILL');
  throw new Error(`the ${name} did not start: ${child.output().trim()}`);
}

function gitRev(ref: string): string {
  try {
    return execFileSync('git', ['rev-parse', '--short', ref], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return '?';
  }
}

function gitDescribe(): string {
  try {
    const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no', '--', 'src'], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    return dirty === '' ? head : `${head} + uncommitted changes in src/`;
  } catch {
    return '?';
  }
}

/**
 * A private copy of the built proxy (dist/src + package.json, node_modules linked): others rebuild
 * dist/ in the same tree while the bench runs, and a half-written dist/ made pillion fail to start
 * in the middle of a run. Checked with --version and --check before use.
 */
async function snapshotPillion(tmp: string, ref: string | null): Promise<string> {
  let lastErr = '';
  for (let attempt = 1; attempt <= 3; attempt++) {
    const dir = path.join(tmp, `pillion-${attempt}`);
    mkdirSync(path.join(dir, 'dist'), { recursive: true });
    if (ref === null) {
      // All of dist/ but the tests and the bench (src/ imports siblings such as envoy-compat/).
      const skip = new Set([path.join(ROOT, 'dist/test'), path.join(ROOT, 'dist/bench')]);
      cpSync(path.join(ROOT, 'dist'), path.join(dir, 'dist'), { recursive: true, filter: (src) => !skip.has(src) });
      copyFileSync(path.join(ROOT, 'package.json'), path.join(dir, 'package.json'));
      symlinkSync(path.join(ROOT, 'node_modules'), path.join(dir, 'node_modules'), 'dir');
    } else {
      // Read-only for the repository: git archive of the ref, compiled here.
      const tar = path.join(tmp, 'src.tar');
      execFileSync('git', ['archive', '--format=tar', '-o', tar, ref], { cwd: ROOT, stdio: 'pipe' });
      execFileSync('tar', ['-xf', tar, '-C', dir], { stdio: 'pipe' });
      symlinkSync(path.join(ROOT, 'node_modules'), path.join(dir, 'node_modules'), 'dir');
      process.stderr.write(`bench: building pillion from ${ref} in ${dir}\n`);
      try {
        execFileSync(process.execPath, [path.join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json'], { cwd: dir, stdio: 'pipe', timeout: 180_000 });
      } catch (e) {
        // Type errors still emit JavaScript; whether it runs is checked below.
        const err = e as { stdout?: Buffer; stderr?: Buffer };
        const out = `${err.stdout?.toString() ?? ''}${err.stderr?.toString() ?? ''}`.trim();
        process.stderr.write(`bench: tsc reported errors building ${ref} (checking whether it runs anyway):\n${out.split('\n').slice(0, 5).join('\n')}\n`);
      }
    }
    const cfg = path.join(tmp, 'snapshot-check.yaml');
    writeFileSync(cfg, 'listeners:\n  - port: 15001\n    routes:\n      - match: { prefix: / }\n        cluster: c\nclusters:\n  - name: c\n    endpoints: [ "http://127.0.0.1:8080" ]\n');
    try {
      execFileSync(process.execPath, [path.join(dir, 'dist/src/cli.js'), 'proxy', '--config', cfg, '--check'], { stdio: 'pipe', timeout: 15_000 });
      return dir;
    } catch (e) {
      const err = e as { stderr?: Buffer; message: string };
      lastErr = err.stderr?.toString().trim().slice(-800) || err.message;
      process.stderr.write(`bench: the built proxy in dist/ does not start (attempt ${attempt}/3, retrying in 3 s): ${lastErr}\n`);
      await sleep(3000);
    }
  }
  throw new Error(`dist/src/cli.js does not pass --check (run npm run build?): ${lastErr}`);
}

/**
 * `npm run bench -- agent` and `npm run bench -- logs` run the benches of those modes (they compare with
 * node_exporter, and measure file-to-sink throughput), which live beside their code; `npm run bench --
 * split` measures the proxy's parts alone (bench/cost-split.ts).
 */
const SUB_BENCHES: Record<string, string> = {
  agent: '../test/agent/bench-footprint.js',
  logs: '../src/logs/bench.js',
  split: './cost-split.js',
};

async function main(): Promise<void> {
  const sub = SUB_BENCHES[process.argv[2] ?? ''];
  if (sub !== undefined) {
    const { spawnSync } = await import('node:child_process');
    const r = spawnSync(process.execPath, [new URL(sub, import.meta.url).pathname, ...process.argv.slice(3)], { stdio: 'inherit' });
    process.exitCode = r.status ?? 1;
    return;
  }
  const opts = parseArgs(process.argv.slice(2));
  const started = Date.now();
  const loadBefore = loadAverage();
  const cores = os.cpus().length;

  // Pinning: this process (autocannon) and wrk on core 0; origin and proxy on core 1.
  let genCore: number | null = null;
  let proxyCore: number | null = null;
  let pinning = `not pinned (${TASKSET === null ? 'taskset not found' : `${cores} core(s)`}): generator, origin and proxy share the cores`;
  if (TASKSET !== null && cores >= 2) {
    try {
      execFileSync(TASKSET, ['-a', '-p', '-c', '0', String(process.pid)], { stdio: 'ignore' });
      genCore = 0;
      proxyCore = 1;
      pinning = 'core 0: load generator (autocannon in the bench process, wrk) and the log collector (SCHED_IDLE); core 1: origin + proxy under test';
    } catch (e) {
      pinning = `not pinned (taskset failed: ${e instanceof Error ? e.message : String(e)})`;
    }
  }

  const tmp = mkdtempSync(path.join(os.tmpdir(), 'pillion-bench-'));
  // Also on Ctrl-C (bench/procs.ts exits the process after killing the children).
  process.on('exit', () => rmSync(tmp, { recursive: true, force: true }));
  let origin: Child | null = null;
  let collector: Child | null = null;
  try {
    let pillionRoot: string | null = null;
    let pillionError = '';
    try {
      pillionRoot = await snapshotPillion(tmp, opts.ref);
    } catch (e) {
      pillionError = e instanceof Error ? e.message : String(e);
    }
    const { candidates: all, skipped } = availableCandidates(pillionRoot, tmp);
    if (pillionRoot === null) skipped.unshift({ id: 'pillion', reason: `the built proxy does not start: ${pillionError.slice(0, 600)}` });
    const candidates = opts.only === null ? all : all.filter((c) => opts.only?.includes(c.id));
    const wrk = which('wrk');
    let scenarios = opts.scenarios === null ? SCENARIOS : SCENARIOS.filter((s) => opts.scenarios?.includes(s.id));
    const notes: string[] = [];
    if (wrk === null) {
      if (scenarios.some((s) => s.generator === 'wrk')) notes.push('wrk is not installed: the wrk rows are left out (autocannon alone cannot show more than ~36k req/s).');
      scenarios = scenarios.filter((s) => s.generator !== 'wrk');
    }
    if (candidates.length === 0 || scenarios.length === 0) throw new Error('nothing to run (check --only / --scenarios)');

    const require = createRequire(import.meta.url);
    const versions: Record<string, string> = {
      pillion: `${(require(path.join(ROOT, 'package.json')) as { version: string }).version} (${opts.ref === null ? `working tree: ${gitDescribe()}` : `git ${opts.ref} = ${gitRev(opts.ref)}`})`,
      autocannon: (require('autocannon/package.json') as { version: string }).version,
    };
    if (wrk !== null) versions.wrk = versionOf(wrk, ['--version']).replace(/ Copyright.*$/, '');
    const nginxBin = which('nginx');
    if (nginxBin !== null) versions.nginx = versionOf(nginxBin, ['-v']).replace(/^nginx version: /, '');
    const haproxyBin = which('haproxy');
    if (haproxyBin !== null) versions.haproxy = versionOf(haproxyBin, ['-v']).replace(/ - https.*$/, '');

    const o = await startOrigin(proxyCore);
    origin = o.child;
    const col = await startOrigin(genCore, 'log collector');
    collector = col.child;
    // SCHED_IDLE: the collector reads a batch only when the generator's core has nothing else to run,
    // so that its 0.5 ms per batch does not delay the generator's clock either (with autocannon, a
    // node process, 20 interleaved rounds gave 0.94x and +16 % p99 for logging on; with wrk 0.99x, +5 %).
    const chrt = which('chrt');
    if (chrt !== null) {
      try {
        execFileSync(chrt, ['--idle', '-a', '-p', '0', String(collector.proc.pid)], { stdio: 'ignore' });
      } catch { /* not permitted: the collector runs at normal priority */ }
    }
    const env: Env = { opts, originPort: o.port, originPid: o.child.pid, collectorPort: col.port, tmp, proxyCore, genCore, wrk, wrkScript: wrk !== null ? writeWrkScript(tmp) : null, pillionRoot };

    const total = opts.rounds * scenarios.length * candidates.length;
    const perCase = opts.durationS + opts.warmupS + opts.warmupStops * (WARMUP_STOP_S + 0.5) + 1;
    const header0 = [
      `pillion bench: node ${process.version}, ${cpuModel() || os.cpus()[0]?.model || '?'}, ${cores} cores`,
      `${CONNECTIONS} connections; ${opts.durationS} s measured per run, after ${opts.warmupStops} stopped warm-up runs and ${opts.warmupS} s of warm-up; ${opts.rounds} rounds; ${pinning}`,
      `candidates: ${candidates.map((c) => c.id).join(', ')}${skipped.length > 0 ? ` (skipped: ${skipped.map((s) => `${s.id}: ${s.reason}`).join('; ')})` : ''}`,
      `${total} runs, about ${Math.ceil((total * perCase) / 60)} min`,
    ];
    process.stderr.write(header0.join('\n') + '\n\n');

    const records: RunRecord[] = [];
    /** Runs measured again because the proxy exited under them (see below). */
    const discarded: RunRecord[] = [];
    let n = 0;
    for (let round = 1; round <= opts.rounds; round++) {
      for (const s of scenarios) {
        for (const c of candidates) {
          n++;
          const label = `[${String(n).padStart(String(total).length)}/${total}] ${s.label} (${s.generator === 'wrk' ? 'wrk' : 'ac'}) ${c.label}`;
          const where = `round ${round}, ${s.label} (${s.generator}), ${c.label}`;
          let rec = await runCase(env, s, c, round, label);
          progressDone(resultLine(label, rec));
          if (rec.proxyExitedEarly) {
            // On this shared machine something outside the bench has sent SIGTERM to pillion
            // processes mid-run (its log says "draining (SIGTERM)"; the bench only signals after the
            // window). Such a run measures the drain, not the proxy: keep it in the notes and the
            // JSON, and measure the case again once. A proxy that crashes by itself crashes again.
            notes.push(`${where}: the proxy exited before the bench stopped it; the run was repeated. First attempt: ${(rec.error ?? rec.notes.join('; ')).slice(0, 500)}`);
            discarded.push(rec);
            rec = await runCase(env, s, c, round, `${label} (again)`);
            progressDone(resultLine(`${label} (again)`, rec));
          }
          records.push(rec);
          for (const note of rec.notes) notes.push(`${where}: ${note}`);
          if (rec.error !== null) notes.push(`${where}: failed: ${rec.error.slice(0, 500)}`);
          if (origin.exited) throw new Error(`the origin died (${origin.describeExit()}): ${origin.output().trim().slice(-800)}`);
          // Let sockets in TIME_WAIT and the scheduler settle between cases.
          await sleep(200);
        }
      }
    }

    const header: Header = {
      date: new Date(started).toISOString(),
      command: `node dist/bench/run.js ${process.argv.slice(2).join(' ')}`.trim(),
      node: process.version,
      cpu: cpuModel() || os.cpus()[0]?.model || '?',
      cores,
      connections: CONNECTIONS,
      durationS: opts.durationS,
      warmupS: opts.warmupS,
      warmupStops: opts.warmupStops,
      rounds: opts.rounds,
      pinning,
      versions,
      loadavgBefore: loadBefore,
      loadavgAfter: loadAverage(),
      totalSeconds: (Date.now() - started) / 1000,
    };
    const rows = summarize(records, scenarios, candidates);
    const table = textTable(rows);
    process.stdout.write(`\n${headerLines(header).join('\n')}\n\n${table}\n\n${LEGEND.join('\n')}\n`);
    if (skipped.length > 0) process.stdout.write(`\nskipped: ${skipped.map((s) => `${s.id} (${s.reason})`).join('; ')}\n`);
    if (notes.length > 0) process.stdout.write(`\nnotes:\n${notes.map((x) => `- ${x}`).join('\n')}\n`);

    const outDir = path.join(ROOT, 'bench/results');
    mkdirSync(outDir, { recursive: true });
    const setups = candidates.map((c) => ({ label: c.label, setup: c.setup }));
    writeFileSync(path.join(outDir, `${opts.outName}.json`), JSON.stringify({ header, summary: rows, runs: records, discardedRuns: discarded, skipped, notes, candidates: setups }, null, 2) + '\n');
    writeFileSync(path.join(outDir, `${opts.outName}.md`), markdown(header, rows, skipped, setups, notes, variantLines(rows, records)));
    process.stdout.write(`\nwrote bench/results/${opts.outName}.json and bench/results/${opts.outName}.md\n`);
  } finally {
    if (origin !== null) await origin.stop();
    if (collector !== null) await collector.stop();
    rmSync(tmp, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    process.stderr.write(`\nbench: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exit(1);
  },
);
