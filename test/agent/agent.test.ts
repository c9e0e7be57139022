// The agent over real sockets: failure isolation, collect[] filtering, HTTP edges, a hung mount
// and the cgroup v2 container collector on a fake hierarchy.
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { after, describe, it } from 'node:test';
import { startAgent, type RunningAgent } from '../../src/agent/agent.js';
import { COLLECTOR_DEFAULTS } from '../../src/agent/collectors/index.js';
import { FilesystemCollector, type StatfsFn, type StatfsSyncFn } from '../../src/agent/collectors/filesystem.js';
import { createAgentServer } from '../../src/agent/http-server.js';
import { MetricSet } from '../../src/agent/exposition.js';
import { parseFlags } from '../../src/agent/flags.js';
import { createLogger, silentLogger } from '../../src/agent/logger.js';
import { httpGet, NE } from './helpers.js';

const tmp = mkdtempSync(join(tmpdir(), 'pillion-agent-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

async function withAgent(args: string[], fn: (a: RunningAgent) => Promise<void>): Promise<void> {
  const agent = await startAgent(parseFlags([...args, '--web.listen-address=127.0.0.1:0'], COLLECTOR_DEFAULTS), silentLogger);
  try {
    await fn(agent);
  } finally {
    await agent.close();
  }
}

/** A procfs copy of the fixtures where some files are missing or corrupt. */
function brokenProc(): string {
  const dir = join(tmp, 'broken-proc');
  cpSync(`${NE}proc`, dir, { recursive: true });
  rmSync(join(dir, 'vmstat'));
  writeFileSync(join(dir, 'meminfo'), 'MemTotal: lots kB\n');
  writeFileSync(join(dir, 'diskstats'), '\u0000\u0001 not diskstats at all 1 2 3 4 5 6 7 8 9 10 11 12\n');
  return dir;
}

describe('pillion agent over HTTP', () => {
  it('a failing collector reports success 0 and the others still answer', async () => {
    await withAgent([`--path.procfs=${brokenProc()}`, `--path.sysfs=${NE}sys`, '--collector.disable-defaults',
      '--collector.loadavg', '--collector.meminfo', '--collector.vmstat', '--collector.diskstats', '--collector.pressure'], async (a) => {
      const res = await httpGet(a.address, '/metrics');
      assert.equal(res.status, 200);
      for (const c of ['meminfo', 'vmstat', 'diskstats']) assert.match(res.body, new RegExp(`node_scrape_collector_success\\{collector="${c}"\\} 0`));
      for (const c of ['loadavg', 'pressure']) assert.match(res.body, new RegExp(`node_scrape_collector_success\\{collector="${c}"\\} 1`));
      assert.match(res.body, /^node_load1 0\.21$/m);
    });
  });

  it('survives garbage in every file it reads: each collector fails alone, the scrape still answers', async () => {
    // Deterministic garbage (a fixed LCG), so a failure reproduces.
    let seed = 12345;
    const rand = (): number => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
    const garbage = (): Buffer => Buffer.from(Array.from({ length: 1 + Math.floor(rand() * 600) }, () => {
      const r = rand();
      return r < 0.3 ? 0x20 : r < 0.4 ? 0x0a : r < 0.6 ? 0x30 + Math.floor(rand() * 10) : Math.floor(rand() * 256);
    }));
    for (let round = 0; round < 5; round++) {
      const proc = join(tmp, `garbage-proc-${round}`);
      const sys = join(tmp, `garbage-sys-${round}`);
      cpSync(`${NE}proc`, proc, { recursive: true });
      cpSync(`${NE}sys`, sys, { recursive: true });
      for (const f of ['stat', 'meminfo', 'loadavg', 'diskstats', 'vmstat', 'pressure/cpu', 'pressure/io', 'pressure/memory', '1/mountinfo']) writeFileSync(join(proc, f), garbage());
      mkdirSync(join(proc, 'net'), { recursive: true });
      writeFileSync(join(proc, 'net/dev'), garbage());
      writeFileSync(join(sys, 'devices/system/cpu/isolated'), garbage());
      writeFileSync(join(sys, 'devices/system/cpu/cpu0/topology/core_id'), garbage());
      await withAgent([`--path.procfs=${proc}`, `--path.sysfs=${sys}`, `--path.rootfs=${tmp}`, '--no-collector.uname'], async (a) => {
        const res = await httpGet(a.address, '/metrics');
        assert.equal(res.status, 200);
        assert.match(res.body, /node_scrape_collector_success\{collector="loadavg"\} [01]/);
      });
    }
  });

  it('a missing PSI directory is "no data": success 0, no error, no samples', async () => {
    const dir = join(tmp, 'no-psi');
    mkdirSync(dir, { recursive: true });
    await withAgent([`--path.procfs=${dir}`, '--collector.disable-defaults', '--collector.pressure'], async (a) => {
      const res = await httpGet(a.address, '/metrics');
      assert.match(res.body, /node_scrape_collector_success\{collector="pressure"\} 0/);
      assert.doesNotMatch(res.body, /node_pressure_/);
    });
  });

  it('collect[] and exclude[] select collectors; an unknown name is a 400 naming it', async () => {
    await withAgent([`--path.procfs=${NE}proc`, `--path.sysfs=${NE}sys`, '--collector.disable-defaults', '--collector.loadavg', '--collector.meminfo', '--collector.stat'], async (a) => {
      const only = await httpGet(a.address, '/metrics?collect[]=loadavg&collect[]=stat');
      assert.match(only.body, /collector="loadavg"/);
      assert.match(only.body, /collector="stat"/);
      assert.doesNotMatch(only.body, /collector="meminfo"|node_memory_/);
      const ex = await httpGet(a.address, '/metrics?exclude[]=meminfo');
      assert.doesNotMatch(ex.body, /node_memory_/);
      assert.match(ex.body, /node_load1 /);
      const bad = await httpGet(a.address, '/metrics?collect[]=cpu');
      assert.equal(bad.status, 400);
      assert.match(bad.body, /missing collector: cpu/);
    });
  });

  it('serves gzip when asked, a landing page on /, 404 elsewhere, and honours --web.telemetry-path', async () => {
    await withAgent([`--path.procfs=${NE}proc`, '--collector.disable-defaults', '--collector.loadavg', '--web.telemetry-path=/node'], async (a) => {
      const z = await new Promise<Buffer>((resolve, reject) => {
        import('node:http').then(({ get }) => {
          const [host, port] = a.address.split(':');
          get({ host, port: Number(port), path: '/node', headers: { 'accept-encoding': 'gzip' } }, (res) => {
            assert.equal(res.headers['content-encoding'], 'gzip');
            const chunks: Buffer[] = [];
            res.on('data', (c: Buffer) => chunks.push(c));
            res.on('end', () => resolve(Buffer.concat(chunks)));
          }).on('error', reject);
        }, reject);
      });
      assert.match(gunzipSync(z).toString(), /^node_load1 0\.21$/m);
      assert.match((await httpGet(a.address, '/')).body, /href="\/node"/);
      assert.equal((await httpGet(a.address, '/metrics')).status, 404);
    });
  });

  it('reads /proc at scrape time: a changed file shows in the next scrape', async () => {
    const dir = join(tmp, 'live-proc');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'loadavg'), '1.00 2.00 3.00 1/1 1\n');
    await withAgent([`--path.procfs=${dir}`, '--collector.disable-defaults', '--collector.loadavg'], async (a) => {
      assert.match((await httpGet(a.address, '/metrics')).body, /^node_load1 1$/m);
      writeFileSync(join(dir, 'loadavg'), '4.50 2.00 3.00 1/1 1\n');
      assert.match((await httpGet(a.address, '/metrics')).body, /^node_load1 4\.5$/m);
    });
  });
});

describe('--web.max-requests', () => {
  it('answers 503 beyond the limit of concurrent scrapes, and serves again after', async () => {
    const slow = { name: 'slow', update: () => new Promise<void>((r) => setTimeout(r, 300)) };
    const server = createAgentServer({ collectors: [slow], telemetryPath: '/metrics', maxRequests: 1, logger: silentLogger });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const address = `127.0.0.1:${(server.address() as { port: number }).port}`;
    try {
      const [a, b] = await Promise.all([httpGet(address, '/metrics'), new Promise((r) => setTimeout(r, 50)).then(() => httpGet(address, '/metrics'))]);
      assert.equal(a.status, 200);
      assert.equal(b.status, 503);
      assert.match(b.body, /Limit of concurrent requests reached \(1\)/);
      assert.equal((await httpGet(address, '/metrics')).status, 200);
    } finally {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  });
});

describe('filesystem collector and hung mounts', () => {
  const mountinfo = (dir: string): string => {
    mkdirSync(join(dir, '1'), { recursive: true });
    writeFileSync(join(dir, '1/mountinfo'), [
      '22 1 8:1 / / rw,relatime - ext4 /dev/sda1 rw',
      '23 22 0:40 / /mnt/nfs rw,relatime - nfs4 srv:/export rw',
      '24 22 0:41 / /data ro,relatime - xfs /dev/sdb1 ro',
      '25 22 0:5 / /proc rw - proc proc rw',
      '26 22 0:42 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw',
      '27 23 0:43 / /mnt/nfs/scratch rw - tmpfs tmpfs rw',
    ].join('\n') + '\n');
    return dir;
  };

  it('reports a mount whose statfs hangs as device_error 1 within the timeout, and skips it until it answers', async () => {
    const procfs = mountinfo(join(tmp, 'fs-proc'));
    const opts = parseFlags([`--path.procfs=${procfs}`, '--collector.filesystem.mount-timeout=100ms'], COLLECTOR_DEFAULTS);
    const pending = new Map<string, () => void>();
    const calls: string[] = [];
    const syncCalls: string[] = [];
    let hung = true;
    const st = { type: 0, bsize: 4096, blocks: 100, bfree: 50, bavail: 40, files: 1000, ffree: 900 };
    const statfsFn: StatfsFn = (path, cb) => {
      calls.push(path);
      if (hung && path.endsWith('/mnt/nfs')) pending.set(path, () => cb(null, st as never)); // hangs until released
      else cb(null, st as never);
    };
    const statfsSyncFn: StatfsSyncFn = (path) => {
      syncCalls.push(path);
      return st as never;
    };
    const lines: string[] = [];
    const c = new FilesystemCollector({ paths: opts.paths, opts, logger: createLogger('warn', (l) => lines.push(l)) }, statfsFn, statfsSyncFn);
    const t0 = Date.now();
    const out = new MetricSet();
    await c.update(out);
    const elapsed = Date.now() - t0;
    assert.ok(elapsed < 1000, `scrape took ${elapsed} ms`);
    const text = out.render();
    assert.match(text, /node_filesystem_device_error\{device="srv:\/export",fstype="nfs4",mountpoint="\/mnt\/nfs"\} 1/);
    assert.doesNotMatch(text, /node_filesystem_size_bytes\{[^}]*mountpoint="\/mnt\/nfs"/);
    assert.match(text, /node_filesystem_size_bytes\{device="\/dev\/sda1",fstype="ext4",mountpoint="\/"\} 409600/);
    assert.match(text, /node_filesystem_avail_bytes\{device="\/dev\/sda1",fstype="ext4",mountpoint="\/"\} 163840/);
    assert.match(text, /node_filesystem_readonly\{device="\/dev\/sdb1",fstype="xfs",mountpoint="\/data"\} 1/);
    assert.doesNotMatch(text, /mountpoint="\/proc"|cgroup2/, 'default excludes apply');
    assert.ok(lines.some((l) => l.includes('level=warn') && l.includes('/mnt/nfs')), 'the timeout is logged at warn');
    // Local filesystems are asked on the main thread; NFS, and a tmpfs whose path crosses the NFS
    // mount, through the thread pool with the timeout.
    assert.deepEqual(syncCalls.sort(), ['/', '/data']);
    assert.deepEqual(calls.sort(), ['/mnt/nfs', '/mnt/nfs/scratch']);
    assert.match(text, /node_filesystem_size_bytes\{device="tmpfs",fstype="tmpfs",mountpoint="\/mnt\/nfs\/scratch"\} 409600/);

    // Next scrape: the stuck mount is not asked again (no second blocked thread), still device_error 1.
    const before = calls.filter((p) => p.endsWith('/mnt/nfs')).length;
    const out2 = new MetricSet();
    await c.update(out2);
    assert.equal(calls.filter((p) => p.endsWith('/mnt/nfs')).length, before);
    assert.match(out2.render(), /node_filesystem_device_error\{[^}]*mnt\/nfs"\} 1/);

    // The mount answers late: it is monitored again from the following scrape.
    hung = false;
    pending.get([...pending.keys()][0]!)!();
    const out3 = new MetricSet();
    await c.update(out3);
    assert.match(out3.render(), /node_filesystem_device_error\{[^}]*mnt\/nfs"\} 0/);
  });
});

describe('filesystem include flags', () => {
  it('--collector.filesystem.mount-points-include alone drops the default exclude; with an exclude the agent refuses to start', async () => {
    const procfs = join(tmp, 'fs-include-proc');
    mkdirSync(join(procfs, '1'), { recursive: true });
    writeFileSync(join(procfs, '1/mountinfo'), ['22 1 8:1 / / rw - ext4 /dev/sda1 rw', '23 22 0:5 / /dev/shm rw - tmpfs tmpfs rw', '24 22 8:2 / /data rw - xfs /dev/sdb1 rw'].join('\n') + '\n');
    const statfsSyncFn: StatfsSyncFn = () => ({ type: 0, bsize: 4096, blocks: 100, bfree: 50, bavail: 40, files: 1000, ffree: 900 }) as never;
    const collect = (...flags: string[]): string => {
      const opts = parseFlags([`--path.procfs=${procfs}`, ...flags], COLLECTOR_DEFAULTS);
      const out = new MetricSet();
      void new FilesystemCollector({ paths: opts.paths, opts, logger: silentLogger }, undefined, statfsSyncFn).update(out);
      return [...out.render().matchAll(/^node_filesystem_size_bytes\{.*mountpoint="([^"]*)"/gm)].map((m) => m[1]).join(',');
    };
    assert.equal(collect(), '/,/data');
    assert.equal(collect('--collector.filesystem.mount-points-include=^/(dev/shm|data)$'), '/data,/dev/shm', 'the default mount-point exclude no longer drops /dev/shm');
    assert.equal(collect('--collector.filesystem.mount-points-include=^/(dev/shm|data)$', '--collector.filesystem.fs-types-include=^xfs$'), '/data');
    await assert.rejects(startAgent(parseFlags([`--path.procfs=${procfs}`, '--collector.filesystem.mount-points-include=^/$',
      '--collector.filesystem.mount-points-exclude=^/data$', '--web.listen-address=127.0.0.1:0'], COLLECTOR_DEFAULTS), silentLogger), /mutually exclusive/);
  });
});

describe('containers collector (cgroup v2, pillion only)', () => {
  it('labels per-container CPU, memory and I/O with pod UID, container ID and QoS class from the path', async () => {
    const sysfs = join(tmp, 'sys');
    const root = join(sysfs, 'fs/cgroup');
    const id = 'b'.repeat(64);
    const pod = 'kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod0a1b2c3d_0000_1111_2222_333344445555.slice';
    const ctr = join(root, pod, `cri-containerd-${id}.scope`);
    mkdirSync(ctr, { recursive: true });
    mkdirSync(join(root, 'system.slice/sshd.service'), { recursive: true });
    writeFileSync(join(root, 'cgroup.controllers'), 'cpu io memory pids\n');
    writeFileSync(join(ctr, 'cpu.stat'), 'usage_usec 2500000\nuser_usec 2000000\nsystem_usec 500000\nnr_periods 10\nnr_throttled 2\nthrottled_usec 300000\n');
    writeFileSync(join(ctr, 'memory.current'), '104857600\n');
    writeFileSync(join(ctr, 'memory.stat'), 'anon 52428800\nfile 41943040\ninactive_file 20971520\n');
    writeFileSync(join(ctr, 'memory.max'), 'max\n');
    writeFileSync(join(ctr, 'memory.events'), 'low 0\nhigh 0\nmax 0\noom 1\noom_kill 1\n');
    writeFileSync(join(ctr, 'pids.current'), '7\n');
    writeFileSync(join(ctr, 'io.stat'), '8:0 rbytes=4096 wbytes=8192 rios=1 wios=2 dbytes=0 dios=0\n');
    await withAgent([`--path.sysfs=${sysfs}`, '--collector.disable-defaults', '--collector.containers'], async (a) => {
      const body = (await httpGet(a.address, '/metrics')).body;
      const l = `container_id="${id}",pod_uid="0a1b2c3d-0000-1111-2222-333344445555",qos_class="burstable"`;
      assert.match(body, new RegExp(`^pillion_container_cpu_usage_seconds_total\\{${l}\\} 2\\.5$`, 'm'));
      assert.match(body, new RegExp(`^pillion_container_cpu_cfs_throttled_seconds_total\\{${l}\\} 0\\.3$`, 'm'));
      assert.match(body, new RegExp(`^pillion_container_memory_working_set_bytes\\{${l}\\} 8\\.388608e\\+07$`, 'm'));
      assert.match(body, new RegExp(`^pillion_container_oom_kills_total\\{${l}\\} 1$`, 'm'));
      assert.match(body, /pillion_container_io_read_bytes_total\{container_id="b+",device="8:0",[^}]*\} 4096/);
      assert.doesNotMatch(body, /pillion_container_memory_limit_bytes/, 'memory.max "max" means no limit');
      assert.doesNotMatch(body, /sshd/);
      assert.match(body, /node_scrape_collector_success\{collector="containers"\} 1/);
    });
  });

  it('reports no data (success 0) on a cgroup v1 host', async () => {
    const sysfs = join(tmp, 'sys-v1');
    mkdirSync(join(sysfs, 'fs/cgroup/memory'), { recursive: true });
    await withAgent([`--path.sysfs=${sysfs}`, '--collector.disable-defaults', '--collector.containers'], async (a) => {
      assert.match((await httpGet(a.address, '/metrics')).body, /node_scrape_collector_success\{collector="containers"\} 0/);
    });
  });
});
