// `pillion agent` as a process: exit codes and signals.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createServer } from 'node:net';
import { describe, it } from 'node:test';
import { CLI, httpGet, NE, startAgentProcess } from './helpers.js';

const run = (...args: string[]) => spawnSync(process.execPath, [CLI, 'agent', ...args], { encoding: 'utf8', timeout: 10_000 });

describe('pillion agent CLI', () => {
  it('exits 2 on bad usage, naming the flag', () => {
    for (const [args, flag] of [
      [['--no-such-flag'], '--no-such-flag'],
      [['--collector.netdev.device-include=(', '--web.listen-address=127.0.0.1:0'], 'collector.netdev.device-include'],
      [['--collector.diskstats.device-include=sd', '--collector.diskstats.device-exclude=nvme', '--web.listen-address=127.0.0.1:0'], 'mutually exclusive'],
      [['--web.listen-address=nohost'], '--web.listen-address'],
    ] as const) {
      const r = run(...args);
      assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.ok(r.stderr.includes(flag), r.stderr);
    }
  });

  it('exits 1 when the port is taken', async () => {
    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    const port = (blocker.address() as { port: number }).port;
    try {
      const r = run(`--web.listen-address=127.0.0.1:${port}`, '--collector.disable-defaults');
      assert.equal(r.status, 1, r.stderr);
      assert.match(r.stderr, /EADDRINUSE/);
    } finally {
      blocker.close();
    }
  });

  it('prints --help and --version with exit 0', () => {
    const h = run('--help');
    assert.equal(h.status, 0);
    assert.match(h.stdout, /--path\.procfs/);
    assert.match(h.stdout, /--\[no-\]collector\.filesystem/);
    assert.equal(run('--version').status, 0);
  });

  it('stops cleanly on SIGINT too', async () => {
    const a = await startAgentProcess([`--path.procfs=${NE}proc`, '--collector.disable-defaults', '--collector.loadavg']);
    assert.equal((await httpGet(a.address, '/metrics')).status, 200);
    a.child.kill('SIGINT');
    const code = await new Promise<number | null>((r) => a.child.once('exit', r));
    assert.equal(code, 0);
  });

  it('applies its V8 footprint settings itself: no node flags needed, and nothing reaches TurboFan', async () => {
    // --trace-opt prints each optimisation to stdout; the module loading at start used to be
    // enough to send node's own functions to TurboFan (3.7 MB of compiler pages).
    const child = spawn(process.execPath, ['--trace-opt', CLI, 'agent', `--path.procfs=${NE}proc`, '--collector.disable-defaults',
      '--collector.loadavg', '--collector.meminfo', '--collector.stat', '--web.listen-address=127.0.0.1:0'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout!.setEncoding('utf8').on('data', (c: string) => { out += c; });
    child.stderr!.setEncoding('utf8');
    const address = await new Promise<string>((resolve, reject) => {
      child.stderr!.on('data', (c: string) => {
        err += c;
        const m = /msg="Listening on" address=(\S+)/.exec(err);
        if (m) resolve(m[1]!);
      });
      child.once('exit', (code) => reject(new Error(`agent exited with ${code}:\n${err}`)));
    });
    try {
      assert.match(err, /msg="V8 settings for a small footprint" flags="--max-opt=1 --semi-space-growth-factor=1 --expose-gc"/);
      for (let i = 0; i < 200; i++) assert.equal((await httpGet(address, '/metrics')).status, 200);
      assert.doesNotMatch(out, /TURBOFAN/, out.split('\n').filter((l) => l.includes('TURBOFAN')).slice(0, 3).join('\n'));
    } finally {
      child.kill('SIGTERM');
    }
  });

  it('does not load uWebSockets.js or undici', () => {
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', `
      import { createRequire } from 'node:module';
      await import(${JSON.stringify(`${CLI.replace(/cli\.js$/, 'agent/main.js')}`)});
      const loaded = Object.keys(createRequire(import.meta.url).cache);
      console.log(JSON.stringify(loaded));
    `], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.doesNotMatch(r.stdout, /uws|uWebSockets|undici/i);
  });
});
