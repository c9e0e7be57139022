// Parsers of kernel files, on edge cases taken from real kernels and from node_exporter's fixtures.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DeviceFilter } from '../device-filter.js';
import { parseProcStat } from '../procfs/proc-stat.js';
import { identifyContainer, parseIoStat } from './containers.js';
import { parseCpuList } from './cpu.js';
import { parseDiskstats, parseUdevProperties } from './diskstats.js';
import { fields } from '../procfs/fields.js';
import { isBelowAny, mountPointsThatMayBlock, parseMountinfo, stripRootfs } from './filesystem.js';
import { parseLoadavg } from './loadavg.js';
import { parseMeminfo } from './meminfo.js';
import { parseNetDev } from './netdev.js';
import { parsePsi } from './pressure.js';

const all = new DeviceFilter(undefined, undefined);

describe('kernel file parsers', () => {
  it('/proc/stat: old kernels with fewer cpu columns, and a bad number is an error', () => {
    const s = parseProcStat('cpu  1 2 3 4\ncpu0 100 200 300 400\nintr 42 1 2 3\nctxt 7\nbtime 9\nprocesses 3\nprocs_running 1\nprocs_blocked 0\n');
    assert.deepEqual(s.cpus.get(0), { user: 1, nice: 2, system: 3, idle: 4, iowait: 0, irq: 0, softirq: 0, steal: 0, guest: 0, guestNice: 0 });
    assert.equal(s.interrupts, 42);
    assert.equal(s.softirqs, undefined);
    assert.throws(() => parseProcStat('ctxt x\n'), /ctxt/);
  });

  it('/proc/meminfo: units, parentheses and a broken line', () => {
    const m = parseMeminfo('MemTotal:  100 kB\nActive(anon): 2 kB\nHugePages_Total: 0\n\n');
    assert.deepEqual([...m], [['MemTotal_bytes', 102400], ['Active_anon_bytes', 2048], ['HugePages_Total', 0]]);
    assert.throws(() => parseMeminfo('MemTotal: lots kB\n'), /invalid value/);
  });

  it('/proc/loadavg', () => {
    assert.deepEqual(parseLoadavg('0.21 0.37 0.39 1/719 19737\n'), [0.21, 0.37, 0.39]);
    assert.throws(() => parseLoadavg(''), /loadavg/);
  });

  it('/proc/diskstats: 14, 18 and 20 field lines; short lines skipped', () => {
    const d = parseDiskstats('8 0 sda 1 2 3 4 5 6 7 8 9 10 11\n8 16 sdb 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15\n8 32 sdc 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17\n1 2 short 1 2\n');
    assert.deepEqual(d.map((x) => x.stats.length), [11, 15, 17]);
    assert.throws(() => parseDiskstats('8 0 sda 1 2 3 4 5 6 7 8 9 10 x\n'), /diskstats/);
  });

  it('udev data: only E: properties, values may contain =', () => {
    const p = parseUdevProperties('S:disk/by-id/x\nE:ID_MODEL=A=B\nE:ID_ATA=1\nW:1\n');
    assert.deepEqual([...p], [['ID_MODEL', 'A=B'], ['ID_ATA', '1']]);
  });

  it('/proc/net/dev: names with colons, no space after the colon, and malformed lines', () => {
    const head = 'Inter-|   Receive                            |  Transmit\n face |bytes packets errs drop fifo frame compressed multicast|bytes packets errs drop fifo colls carrier compressed\n';
    const s = parseNetDev(`${head}ibr10:30: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16\n  eth0:68210035552 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16\n`, all);
    assert.deepEqual([...s.keys()], ['ibr10:30', 'eth0']);
    assert.equal(s.get('eth0')!.get('receive_bytes'), 68210035552);
    assert.equal(s.get('ibr10:30')!.get('transmit_compressed'), 16);
    assert.throws(() => parseNetDev(`${head}eth0: 1 2 3\n`, all), /invalid line/);
    assert.throws(() => parseNetDev('garbage\n', all), /header/);
    assert.equal(parseNetDev(`${head}lo: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16\n`, new DeviceFilter(/^lo$/, undefined)).size, 0);
  });

  it('fields: runs of spaces, tabs and other whitespace, limit', () => {
    assert.deepEqual(fields('   8       0 sda 1 2  3 '), ['8', '0', 'sda', '1', '2', '3']);
    assert.deepEqual(fields('MemTotal:       15666184 kB'), ['MemTotal:', '15666184', 'kB']);
    assert.deepEqual(fields('a\tb \t c\r\n'), ['a', 'b', 'c']);
    assert.deepEqual(fields(''), []);
    assert.deepEqual(fields('   '), []);
    assert.deepEqual(fields('intr 1 2 3 4', 2), ['intr', '1']);
  });

  it('mountinfo: optional fields, octal escapes, and --path.rootfs stripping', () => {
    const m = parseMountinfo('36 35 98:0 /mnt1 /mnt\\040with\\011tab rw,noatime master:1 shared:2 - ext3 /dev/root rw,errors=continue\n37 35 0:5 / /ro ro - nfs srv:/x rw\n38 35 0:6 / /sbro rw - ext4 /dev/sdc ro,relatime\n');
    assert.deepEqual(m[0], { device: '/dev/root', mountPoint: '/mnt with\ttab', fsType: 'ext3', readOnly: false });
    assert.equal(m[1]!.readOnly, true, 'read-only mount');
    assert.equal(m[2]!.readOnly, true, 'read-only superblock under a rw mount');
    assert.throws(() => parseMountinfo('1 2 3\n'), /malformed/);
    assert.equal(stripRootfs('/host', '/host/boot'), '/boot');
    assert.equal(stripRootfs('/host', '/host'), '/');
    assert.equal(stripRootfs('/host/', '/hostile'), '/hostile');
    assert.equal(stripRootfs('/', '/boot'), '/boot');
    const mounts = parseMountinfo([
      '1 0 8:1 / / rw - ext4 /dev/sda1 rw', '2 1 0:5 / /proc rw - proc proc rw',
      '3 1 0:40 / /mnt/nfs rw - nfs4 srv:/x rw', '4 1 0:41 / /home rw - fuse.sshfs u@h: rw',
    ].join('\n'));
    assert.deepEqual(mountPointsThatMayBlock(mounts), ['/mnt/nfs', '/home']);
    assert.equal(isBelowAny('/mnt/nfs/a', ['/mnt/nfs']), true);
    assert.equal(isBelowAny('/mnt/nfs', ['/mnt/nfs']), true);
    assert.equal(isBelowAny('/mnt/nfs2', ['/mnt/nfs']), false);
    assert.equal(isBelowAny('/boot', ['/']), true, 'an NFS root makes every mount unsafe');
    assert.equal(isBelowAny('/boot', []), false);
  });

  it('PSI files, with and without a full line', () => {
    assert.deepEqual(parsePsi('some avg10=0.00 avg60=0.00 avg300=0.00 total=14036781\n'), { some: 14036781, full: undefined });
    assert.deepEqual(parsePsi('full avg10=0.00 avg60=0.00 avg300=0.00 total=8494'), { some: undefined, full: 8494 });
  });

  it('CPU lists', () => {
    assert.deepEqual(parseCpuList('1,3-5,9\n'), [1, 3, 4, 5, 9]);
    assert.deepEqual(parseCpuList('\n'), []);
    assert.throws(() => parseCpuList('a-b'), /CPU list/);
  });

  it('container identity from cgroup paths (systemd and cgroupfs drivers, plain Docker)', () => {
    const id = 'a'.repeat(64);
    assert.deepEqual(identifyContainer(`kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod12345678_aaaa_bbbb_cccc_123456789abc.slice/cri-containerd-${id}.scope`),
      { path: `kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod12345678_aaaa_bbbb_cccc_123456789abc.slice/cri-containerd-${id}.scope`, containerId: id, podUid: '12345678-aaaa-bbbb-cccc-123456789abc', qosClass: 'burstable' });
    assert.deepEqual(identifyContainer(`kubepods/pod12345678-aaaa-bbbb-cccc-123456789abc/${id}`)?.qosClass, 'guaranteed');
    assert.deepEqual(identifyContainer(`kubepods/besteffort/pod12345678-aaaa-bbbb-cccc-123456789abc/crio-${id}.scope`)?.qosClass, 'besteffort');
    assert.deepEqual(identifyContainer(`system.slice/docker-${id}.scope`), { path: `system.slice/docker-${id}.scope`, containerId: id, podUid: '', qosClass: '' });
    assert.equal(identifyContainer('system.slice/sshd.service'), undefined);
    assert.equal(identifyContainer('kubepods.slice/kubepods-pod12345678_aaaa_bbbb_cccc_123456789abc.slice'), undefined);
  });

  it('io.stat', () => {
    const io = parseIoStat('8:0 rbytes=1 wbytes=2 rios=3 wios=4 dbytes=0 dios=0\nbad line\n');
    assert.deepEqual([...io.get('8:0')!], [['rbytes', 1], ['wbytes', 2], ['rios', 3], ['wios', 4], ['dbytes', 0], ['dios', 0]]);
    assert.equal(io.size, 1);
  });
});
