import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { COLLECTOR_DEFAULTS } from './collectors/index.js';
import { DEFAULT_FS_TYPES_EXCLUDE, parseDuration, parseFlags, UsageError } from './flags.js';
import { filterFromFlags } from './device-filter.js';
import { parseListenAddress } from './listen-address.js';

const parse = (...argv: string[]) => parseFlags(argv, COLLECTOR_DEFAULTS);

describe('agent flags (node_exporter spelling)', () => {
  it('has node_exporter defaults', () => {
    const o = parse();
    assert.equal(o.listenAddress, ':9100');
    assert.equal(o.telemetryPath, '/metrics');
    assert.deepEqual(o.paths, { procfs: '/proc', sysfs: '/sys', rootfs: '/', udevData: '/run/udev/data' });
    assert.equal(o.filesystemFsTypesExclude, undefined, 'not given: filesystem.ts applies DEFAULT_FS_TYPES_EXCLUDE unless fs-types-include is given');
    assert.equal(o.filesystemMountTimeoutMs, 5000);
    assert.equal(o.cpuGuest, true);
    assert.equal(o.statSoftirq, false);
    for (const c of ['cpu', 'meminfo', 'loadavg', 'diskstats', 'netdev', 'filesystem', 'stat', 'vmstat', 'pressure', 'uname']) assert.ok(o.collectors.has(c), c);
  });

  it('takes --flag=value and --flag value, --collector.X / --no-collector.X and --collector.disable-defaults', () => {
    const o = parse('--path.procfs', '/host/proc', '--path.sysfs=/host/sys', '--no-collector.uname', '--collector.disable-defaults', '--collector.cpu', '--no-collector.cpu.guest');
    assert.equal(o.paths.procfs, '/host/proc');
    assert.equal(o.paths.sysfs, '/host/sys');
    assert.deepEqual([...o.collectors], ['cpu']);
    assert.equal(o.cpuGuest, false);
    assert.equal(parse('--collector.stat.softirq=true').statSoftirq, true);
  });

  it('turns on --collector.cpu.info when a flags or bugs include pattern is given, as node_exporter does', () => {
    assert.equal(parse().cpuInfo, false);
    assert.equal(parse('--collector.cpu.info').cpuInfo, true);
    const o = parse('--collector.cpu.info.bugs-include=^mds$');
    assert.equal(o.cpuInfo, true);
    assert.equal(o.cpuBugsInclude, '^mds$');
  });

  it('filesystem include flags (node_exporter 1.9+): alone they drop the default exclude; with an exclude they are an error', () => {
    const f = filterFromFlags('collector.filesystem.fs-types-exclude', 'collector.filesystem.fs-types-include', undefined, '^(ext4|xfs)$', DEFAULT_FS_TYPES_EXCLUDE);
    assert.equal(f.ignored('ext4'), false);
    assert.equal(f.ignored('tmpfs'), true);
    const d = filterFromFlags('collector.filesystem.fs-types-exclude', 'collector.filesystem.fs-types-include', undefined, undefined, DEFAULT_FS_TYPES_EXCLUDE);
    assert.equal(d.ignored('proc'), true);
    assert.equal(d.ignored('tmpfs'), false);
    const o = parse('--collector.filesystem.mount-points-include=^/$', '--collector.filesystem.mount-points-exclude=^/boot$');
    assert.throws(() => filterFromFlags('collector.filesystem.mount-points-exclude', 'collector.filesystem.mount-points-include', o.filesystemMountPointsExclude, o.filesystemMountPointsInclude),
      (e: unknown) => e instanceof UsageError && /mount-points-exclude and --collector\.filesystem\.mount-points-include are mutually exclusive/.test(e.message));
  });

  it('accepts the old hidden spellings node_exporter still takes', () => {
    assert.equal(parse('--collector.filesystem.ignored-mount-points=^/x').filesystemMountPointsExclude, '^/x');
    assert.equal(parse('--collector.netdev.device-blacklist=^lo$').netdevDeviceExclude, '^lo$');
  });

  it('rejects bad usage with a message that names the flag', () => {
    const bad: [string[], RegExp][] = [
      [['--web.listen'], /--web\.listen/],
      [['--collector.nope'], /--collector\.nope/],
      [['--collector.cpu=maybe'], /--collector\.cpu/],
      [['--web.max-requests=-1'], /--web\.max-requests/],
      [['--collector.filesystem.mount-timeout=5 seconds'], /mount-timeout/],
      [['--log.level=loud'], /--log\.level/],
      [['--web.telemetry-path=metrics'], /--web\.telemetry-path/],
      [['--path.procfs'], /--path\.procfs/],
      [['stray'], /stray/],
    ];
    for (const [argv, re] of bad) assert.throws(() => parse(...argv), (e: unknown) => e instanceof UsageError && re.test(e.message), argv.join(' '));
  });

  it('parses Go durations', () => {
    assert.equal(parseDuration('5s'), 5000);
    assert.equal(parseDuration('1m30s'), 90_000);
    assert.equal(parseDuration('250ms'), 250);
    assert.equal(parseDuration('5'), undefined);
    assert.equal(parseDuration(''), undefined);
  });

  it('parses listen addresses as Go net.Listen', () => {
    assert.deepEqual(parseListenAddress(':9100'), { host: undefined, port: 9100 });
    assert.deepEqual(parseListenAddress('127.0.0.1:0'), { host: '127.0.0.1', port: 0 });
    assert.deepEqual(parseListenAddress('[::1]:9100'), { host: '::1', port: 9100 });
    assert.throws(() => parseListenAddress('9100'), UsageError);
    assert.throws(() => parseListenAddress('host:99999'), UsageError);
  });
});
