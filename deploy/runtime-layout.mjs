#!/usr/bin/env node
// The Dockerfile's runtime stage without Docker (no engine runs where the tests run). It lays out
// /app as the image does, in a temporary directory, and runs it for real:
//
//   context the files .dockerignore admits (deploy/dockerignore.mjs), copied to build/
//   build   tsc -p deploy/tsconfig.image.json in build/    (the build stage; its dev dependencies are
//           node native/build.mjs                          the repo's node_modules, from the same lock)
//   deps    npm ci --omit=dev --ignore-scripts            (the deps stage, from package-lock.json)
//   app/    node_modules/ package.json dist/ native/build/Release/pillion_native.node probe.mjs
//                                                         (what the runtime stage COPYs)
//
// then checks the layout (no typescript, no tests, no dev dependencies, every relative import of
// dist/ resolves, every mode loads), starts `pillion proxy` from
// it in front of a small origin, probes /ready with probe.mjs (the HEALTHCHECK), sends a request
// through, sends SIGTERM and expects /ready 503 during the drain and exit 0; and starts `pillion agent`
// and scrapes it. Prints one line per step; exit 0 when every step passed.
//
//   node deploy/runtime-layout.mjs [--keep] [--git REF]
//     --keep      leave the temporary directory
//     --git REF   take the context from a commit (git archive REF) instead of the working tree
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { contextFiles } from './dockerignore.mjs';
import { fileURLToPath } from 'node:url';

const repo = resolve(fileURLToPath(new URL('..', import.meta.url)));
const keep = process.argv.includes('--keep');
const gitRef = process.argv.includes('--git') ? process.argv[process.argv.indexOf('--git') + 1] : undefined;
const root = mkdtempSync(join(tmpdir(), 'pillion-layout-'));
/** Where the context comes from: the working tree, or a commit's tree. */
let source = repo;
const app = join(root, 'app');
let failures = 0;
const children = [];

function step(name, ok, detail = '') {
  if (!ok) failures++;
  process.stdout.write(`${ok ? 'ok  ' : 'FAIL'} ${name}${detail ? `: ${detail}` : ''}\n`);
  return ok;
}

function run(cmd, args, opts) {
  const t0 = Date.now();
  const r = spawnSync(cmd, args, { encoding: 'utf8', ...opts });
  return { ...r, ms: Date.now() - t0 };
}

function walk(dir, out = []) {
  for (const n of readdirSync(dir)) {
    const p = join(dir, n);
    if (statSync(p).isDirectory()) walk(p, out);
    else out.push(p);
  }
  return out;
}

const freePort = () => new Promise((res) => {
  const s = createServer();
  s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => res(port)); });
});

async function get(url) {
  try {
    const r = await fetch(url, { signal: AbortSignal.timeout(3000) });
    return { status: r.status, body: await r.text() };
  } catch (err) {
    return { status: 0, body: String(err) };
  }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Runs a pillion mode from the laid-out app, as the image's ENTRYPOINT would (cwd /app, production). */
function start(args) {
  const env = { PATH: process.env.PATH, HOME: root, NODE_ENV: 'production' };
  const child = spawn(process.execPath, [join(app, 'dist/src/cli.js'), ...args], { cwd: app, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  child.stdout.on('data', (d) => { log += d; });
  child.stderr.on('data', (d) => { log += d; });
  const exited = new Promise((res) => child.on('exit', (code, signal) => res({ code, signal })));
  children.push(child);
  return { child, exited, log: () => log };
}

async function main() {
  if (gitRef !== undefined) {
    source = join(root, 'git');
    mkdirSync(source);
    const g = run('sh', ['-c', `git -C "${repo}" archive "${gitRef}" | tar -x -C "${source}"`]);
    if (!step(`git archive ${gitRef}`, g.status === 0, g.stderr.trim())) return;
  }
  // build stage: the context's files only, so a file missing from the .dockerignore allow-list fails here too
  const build = join(root, 'build');
  const context = contextFiles(source);
  for (const f of context) {
    mkdirSync(dirname(join(build, f)), { recursive: true });
    cpSync(join(source, f), join(build, f));
  }
  symlinkSync(join(repo, 'node_modules'), join(build, 'node_modules'));
  const tsc = join(repo, 'node_modules/typescript/bin/tsc');
  const b = run(process.execPath, [tsc, '-p', 'deploy/tsconfig.image.json'], { cwd: build });
  if (!step(`build: tsc -p deploy/tsconfig.image.json on the ${context.length} files of the context`, b.status === 0, `${b.ms} ms ${b.stdout}${b.stderr}`.trim())) return;
  const addon = 'native/build/Release/pillion_native.node';
  const nb = run(process.execPath, ['native/build.mjs'], { cwd: build });
  if (!step('build: node native/build.mjs (the addon; needs a C++ compiler, as the build stage has)', existsSync(join(build, addon)), `${nb.ms} ms ${existsSync(join(build, addon)) ? '' : nb.stderr.trim()}`)) return;

  // deps stage
  mkdirSync(app);
  cpSync(join(build, 'package.json'), join(app, 'package.json'));
  cpSync(join(build, 'package-lock.json'), join(app, 'package-lock.json'));
  const npm = run('npm', ['ci', '--omit=dev', '--ignore-scripts', '--no-audit', '--no-fund'], { cwd: app, env: { ...process.env, NODE_ENV: 'production' } });
  if (!step('deps: npm ci --omit=dev --ignore-scripts', npm.status === 0, `${npm.ms} ms ${npm.status === 0 ? '' : npm.stderr}`.trim())) return;
  rmSync(join(app, 'package-lock.json')); // the runtime stage copies package.json only
  // as the deps stage: keep the one uWS binary for this platform and Node ABI
  const bins = join(app, 'node_modules/@trufflesuite/uws-js-unofficial/binaries');
  const keepBin = `uws_${process.platform}_${process.arch}_${process.versions.modules}.node`;
  if (!step(`deps: ${keepBin} present`, existsSync(join(bins, keepBin)))) return;
  for (const n of readdirSync(bins)) if (n.startsWith('uws_') && n !== keepBin) rmSync(join(bins, n));

  // runtime stage
  cpSync(join(build, 'dist'), join(app, 'dist'), { recursive: true });
  mkdirSync(join(app, 'native/build/Release'), { recursive: true });
  cpSync(join(build, addon), join(app, addon));
  cpSync(join(build, 'deploy/probe.mjs'), join(app, 'probe.mjs'));

  const pkg = JSON.parse(readFileSync(join(app, 'package.json'), 'utf8'));
  const devDeps = Object.keys(pkg.devDependencies ?? {}).filter((d) => existsSync(join(app, 'node_modules', d)));
  step('layout: no dev dependency in node_modules', devDeps.length === 0, devDeps.join(', '));
  const prodDeps = Object.keys(pkg.dependencies ?? {}).filter((d) => !existsSync(join(app, 'node_modules', d)));
  step('layout: every dependency in node_modules', prodDeps.length === 0, prodDeps.join(', '));
  const files = walk(join(app, 'dist'));
  const tests = files.filter((f) => /\.test\.js$/.test(f));
  step('layout: no test files in dist/', tests.length === 0, tests.slice(0, 3).join(', '));
  step('layout: no TypeScript sources in dist/', !files.some((f) => f.endsWith('.ts')));
  step('layout: size of node_modules (MiB)', true, (walk(join(app, 'node_modules')).reduce((n, f) => n + statSync(f).size, 0) / 2 ** 20).toFixed(1));
  step('layout: dist/src/cli.js present', existsSync(join(app, 'dist/src/cli.js')), `${files.length} files`);
  // every relative import (static or dynamic) of the compiled code lands on a file of the layout
  const missing = [];
  for (const f of files.filter((x) => x.endsWith('.js'))) {
    for (const m of readFileSync(f, 'utf8').matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*)['"](\.{1,2}\/[^'"]+)['"]/g)) {
      if (!existsSync(join(dirname(f), m[1]))) missing.push(`${f.slice(app.length + 1)} -> ${m[1]}`);
    }
  }
  step('layout: every relative import in dist/ resolves', missing.length === 0, missing.slice(0, 5).join(', '));
  // every mode loads its code from the layout (`pillion <mode> --help` imports the mode's module)
  const top = run(process.execPath, [join(app, 'dist/src/cli.js'), '--help'], { cwd: app });
  const modes = [...top.stdout.matchAll(/^ {2}([a-z][\w-]*) {2,}/gm)].map((m) => m[1]);
  const broken = modes.filter((m) => {
    const r = run(process.execPath, [join(app, 'dist/src/cli.js'), m, '--help'], { cwd: app, env: { PATH: process.env.PATH, HOME: root } });
    return r.status !== 0 || /ERR_MODULE_NOT_FOUND|Cannot find (module|package)/.test(r.stderr);
  });
  step('layout: every mode loads (pillion <mode> --help)', modes.length >= 4 && broken.length === 0, `${modes.join(' ')}${broken.length ? `; broken: ${broken.join(' ')}` : ''}`);

  const req = run(process.execPath, ['-e', `require(${JSON.stringify(join(app, addon))})`], { cwd: app });
  step('layout: the native addon loads', req.status === 0, req.stderr.trim().split('\n')[0] ?? '');
  const version = run(process.execPath, [join(app, 'dist/src/cli.js'), '--version'], { cwd: app });
  step('pillion --version', version.status === 0 && version.stdout.trim() === pkg.version, version.stdout.trim() || version.stderr);

  // proxy: origin <- pillion <- fetch
  const [originPort, listenPort, adminPort, agentPort] = [await freePort(), await freePort(), await freePort(), await freePort()];
  const origin = createServer((req, res) => { res.setHeader('content-type', 'text/plain'); res.end(`origin saw ${req.url}\n`); });
  await new Promise((r) => origin.listen(originPort, '127.0.0.1', r));
  const proxy = start(['proxy', '--listen', `127.0.0.1:${listenPort}`, '--upstream', `http://127.0.0.1:${originPort}`,
    '--admin', `127.0.0.1:${adminPort}`, '--drain-time', '1s', '--drain-timeout', '2s']);
  const readyUrl = `http://127.0.0.1:${adminPort}/ready`;
  const wait = run(process.execPath, [join(app, 'probe.mjs'), 'wait-ready', readyUrl, '20'], { cwd: app });
  if (!step('proxy: probe.mjs wait-ready (postStart hook)', wait.status === 0, `${wait.ms} ms ${wait.stderr}`.trim())) {
    process.stdout.write(proxy.log());
    origin.close();
    return;
  }
  const hc = run(process.execPath, [join(app, 'probe.mjs'), 'ready', readyUrl], { cwd: app });
  step('proxy: probe.mjs ready (HEALTHCHECK)', hc.status === 0);
  const through = await get(`http://127.0.0.1:${listenPort}/hello?x=1`);
  step('proxy: request through the proxy', through.status === 200 && through.body === 'origin saw /hello?x=1\n', `${through.status} ${through.body.trim()}`);
  const uwsLine = proxy.log().split('\n').find((l) => /uWS /.test(l)) ?? '(no uWS line in the log)';
  step('proxy: uWS native binary loaded (glibc, Node 20 ABI)', /uWS native binary/.test(uwsLine), uwsLine);
  const nativeLine = proxy.log().split('\n').find((l) => /native addon/.test(l)) ?? '(no native addon line in the log)';
  step('proxy: pillion native addon loaded', !/not loaded|disabled|without/.test(nativeLine), nativeLine);

  proxy.child.kill('SIGTERM');
  await sleep(200);
  const draining = await get(readyUrl);
  step('proxy: /ready 503 while draining', draining.status === 503, `${draining.status} ${draining.body.trim()}`);
  const hcDraining = run(process.execPath, [join(app, 'probe.mjs'), 'ready', readyUrl], { cwd: app });
  step('proxy: probe.mjs ready fails while draining', hcDraining.status === 1);
  const exit = await Promise.race([proxy.exited, sleep(10_000).then(() => ({ code: 'timeout' }))]);
  step('proxy: SIGTERM -> exit 0 after the drain', exit.code === 0, JSON.stringify(exit));

  // the legacy sidecar's preStop: returns once the app stops listening, not at its deadline
  const t0 = Date.now();
  const waiter = spawn(process.execPath, [join(app, 'probe.mjs'), 'wait-closed', `127.0.0.1:${originPort}`, '20'], { cwd: app, stdio: 'ignore' });
  const waited = new Promise((res) => waiter.on('exit', (code) => res(code)));
  await sleep(700);
  const stillWaiting = waiter.exitCode === null;
  origin.close();
  origin.closeAllConnections();
  const waitCode = await waited;
  step('probe.mjs wait-closed: waits while the app listens, returns when it stops (preStop hook)', stillWaiting && waitCode === 0 && Date.now() - t0 < 5000, `${Date.now() - t0} ms`);

  // agent (the DaemonSet's mode), from the same layout
  const agent = start(['agent', `--web.listen-address=127.0.0.1:${agentPort}`]);
  let metrics = { status: 0, body: '' };
  for (let i = 0; i < 40 && metrics.status !== 200; i++) {
    await sleep(250);
    metrics = await get(`http://127.0.0.1:${agentPort}/metrics`);
  }
  step('agent: /metrics answers with node_ metrics', metrics.status === 200 && /^node_\w+/m.test(metrics.body), `${metrics.status}, ${metrics.body.length} bytes`);
  agent.child.kill('SIGTERM');
  const agentExit = await Promise.race([agent.exited, sleep(10_000).then(() => ({ code: 'timeout' }))]);
  step('agent: SIGTERM -> exit 0', agentExit.code === 0, JSON.stringify(agentExit));
}

main()
  .catch((err) => step('runtime-layout', false, err instanceof Error ? (err.stack ?? err.message) : String(err)))
  .finally(() => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    if (keep) process.stdout.write(`kept ${root}\n`);
    else rmSync(root, { recursive: true, force: true });
    process.stdout.write(`${failures === 0 ? 'runtime layout: all steps passed' : `runtime layout: ${failures} step(s) failed`}\n`);
    process.exitCode = failures === 0 ? 0 : 1;
  });
