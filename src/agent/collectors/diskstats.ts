// diskstats: per block device I/O counters from /proc/diskstats, plus node_disk_info and the
// filesystem, device-mapper and ATA facts udev recorded for each device (node_exporter
// collector/diskstats_linux.go v1.12: same names, help texts, labels and default exclude).
import { isNotFound, procPath, readOptional, readText, sysPath, type Collector } from '../collector.js';
import { deviceFilterFromFlags, type DeviceFilter } from '../device-filter.js';
import { MetricDesc, type MetricSet } from '../exposition.js';
import { fields, isUint } from '../procfs/fields.js';
import type { CollectorContext, CollectorFactory } from './context.js';

/** Partitions and virtual devices are left out by default: their I/O is counted on the disk too. */
export const DEFAULT_DISKSTATS_EXCLUDE = '^(z?ram|loop|fd|(h|s|v|xv)d[a-z]|nvme\\d+n\\d+p)\\d+$';

// Go computes `ticks * (1.0/1000.0)`; multiplying by the same constant keeps every bit equal.
const SECONDS_PER_TICK = 1.0 / 1000.0;
/** /proc/diskstats counts 512-byte sectors whatever the device's block size (Documentation/block/stat.rst). */
const SECTOR_SIZE = 512.0;

const dev = ['device'];
/** One desc per /proc/diskstats column, in column order, with the factor that turns it into the unit. */
const columns: { desc: MetricDesc; factor: number }[] = [
  { desc: new MetricDesc('node_disk_reads_completed_total', 'The total number of reads completed successfully.', 'counter', dev), factor: 1 },
  { desc: new MetricDesc('node_disk_reads_merged_total', 'The total number of reads merged.', 'counter', dev), factor: 1 },
  { desc: new MetricDesc('node_disk_read_bytes_total', 'The total number of bytes read successfully.', 'counter', dev), factor: SECTOR_SIZE },
  { desc: new MetricDesc('node_disk_read_time_seconds_total', 'The total number of seconds spent by all reads.', 'counter', dev), factor: SECONDS_PER_TICK },
  { desc: new MetricDesc('node_disk_writes_completed_total', 'The total number of writes completed successfully.', 'counter', dev), factor: 1 },
  { desc: new MetricDesc('node_disk_writes_merged_total', 'The number of writes merged.', 'counter', dev), factor: 1 },
  { desc: new MetricDesc('node_disk_written_bytes_total', 'The total number of bytes written successfully.', 'counter', dev), factor: SECTOR_SIZE },
  { desc: new MetricDesc('node_disk_write_time_seconds_total', 'This is the total number of seconds spent by all writes.', 'counter', dev), factor: SECONDS_PER_TICK },
  { desc: new MetricDesc('node_disk_io_now', 'The number of I/Os currently in progress.', 'gauge', dev), factor: 1 },
  { desc: new MetricDesc('node_disk_io_time_seconds_total', 'Total seconds spent doing I/Os.', 'counter', dev), factor: SECONDS_PER_TICK },
  { desc: new MetricDesc('node_disk_io_time_weighted_seconds_total', 'The weighted # of seconds spent doing I/Os.', 'counter', dev), factor: SECONDS_PER_TICK },
  // Linux 4.18+
  { desc: new MetricDesc('node_disk_discards_completed_total', 'The total number of discards completed successfully.', 'counter', dev), factor: 1 },
  { desc: new MetricDesc('node_disk_discards_merged_total', 'The total number of discards merged.', 'counter', dev), factor: 1 },
  { desc: new MetricDesc('node_disk_discarded_sectors_total', 'The total number of sectors discarded successfully.', 'counter', dev), factor: 1 },
  { desc: new MetricDesc('node_disk_discard_time_seconds_total', 'This is the total number of seconds spent by all discards.', 'counter', dev), factor: SECONDS_PER_TICK },
  // Linux 5.5+
  { desc: new MetricDesc('node_disk_flush_requests_total', 'The total number of flush requests completed successfully', 'counter', dev), factor: 1 },
  { desc: new MetricDesc('node_disk_flush_requests_time_seconds_total', 'This is the total number of seconds spent by all flush requests.', 'counter', dev), factor: SECONDS_PER_TICK },
];

const infoDesc = new MetricDesc('node_disk_info', 'Info of /sys/block/<block_device>.', 'gauge',
  ['device', 'major', 'minor', 'path', 'wwn', 'model', 'serial', 'revision', 'rotational']);
const filesystemInfoDesc = new MetricDesc('node_disk_filesystem_info', 'Info about disk filesystem.', 'gauge', ['device', 'type', 'usage', 'uuid', 'version']);
const deviceMapperInfoDesc = new MetricDesc('node_disk_device_mapper_info', 'Info about disk device mapper.', 'gauge', ['device', 'name', 'uuid', 'vg_name', 'lv_name', 'lv_layer']);
const ataDescs: [string, MetricDesc][] = [
  ['ID_ATA_WRITE_CACHE', new MetricDesc('node_disk_ata_write_cache', 'ATA disk has a write cache.', 'gauge', dev)],
  ['ID_ATA_WRITE_CACHE_ENABLED', new MetricDesc('node_disk_ata_write_cache_enabled', 'ATA disk has its write cache enabled.', 'gauge', dev)],
  ['ID_ATA_ROTATION_RATE_RPM', new MetricDesc('node_disk_ata_rotation_rate_rpm', 'ATA disk rotation rate in RPMs (0 for SSDs).', 'gauge', dev)],
];

export interface DiskstatsLine {
  major: number;
  minor: number;
  device: string;
  /** The counters after the device name: 11 (old kernels), 15 (4.18+) or 17 (5.5+). */
  stats: number[];
}

/** Parses /proc/diskstats. Lines with fewer than the 11 classic counters are skipped, as procfs does. */
export function parseDiskstats(text: string): DiskstatsLine[] {
  const out: DiskstatsLine[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const f = fields(line);
    if (f.length < 14) continue;
    if (!isUint(f[0]) || !isUint(f[1]) || !f.slice(3, 20).every(isUint)) throw new Error(`invalid line in diskstats: ${JSON.stringify(line)}`);
    out.push({ major: Number(f[0]), minor: Number(f[1]), device: f[2]!, stats: f.slice(3, 20).map(Number) });
  }
  return out;
}

/** Parses a udev database file (/run/udev/data/b<major>:<minor>): only the `E:` properties. */
export function parseUdevProperties(text: string): Map<string, string> {
  const props = new Map<string, string>();
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (!line.startsWith('E:')) continue;
    const eq = line.indexOf('=');
    if (eq !== -1) props.set(line.slice(2, eq), line.slice(eq + 1));
  }
  return props;
}

export class DiskstatsCollector implements Collector {
  readonly name = 'diskstats';
  private readonly filter: DeviceFilter;

  constructor(private readonly ctx: CollectorContext) {
    this.filter = deviceFilterFromFlags('diskstats', ctx.opts.diskstatsDeviceExclude, ctx.opts.diskstatsDeviceInclude, DEFAULT_DISKSTATS_EXCLUDE);
  }

  update(out: MetricSet): void {
    const disks = parseDiskstats(readText(procPath(this.ctx.paths, 'diskstats')));
    for (let k = 0; k < disks.length; k++) {
      const d = disks[k]!;
      if (this.filter.ignored(d.device)) continue;
      const udev = this.udevProperties(d.major, d.minor);
      const prop = (k: string): string => udev.get(k) ?? '';
      // The serial printed on the label; else the short serial; else ID_SERIAL (virtio disks).
      const serial = prop('SCSI_IDENT_SERIAL') || prop('ID_SERIAL_SHORT') || prop('ID_SERIAL');
      out.add(infoDesc, 1, d.device, String(d.major), String(d.minor), prop('ID_PATH'), prop('ID_WWN'), prop('ID_MODEL'), serial, prop('ID_REVISION'), this.rotational(d.device));

      const n = Math.min(d.stats.length, columns.length);
      for (let i = 0; i < n; i++) out.add(columns[i]!.desc, d.stats[i]! * columns[i]!.factor, d.device);

      const fsType = prop('ID_FS_TYPE');
      if (fsType !== '') out.add(filesystemInfoDesc, 1, d.device, fsType, prop('ID_FS_USAGE'), prop('ID_FS_UUID'), prop('ID_FS_VERSION'));
      const dmName = prop('DM_NAME');
      if (dmName !== '') out.add(deviceMapperInfoDesc, 1, d.device, dmName, prop('DM_UUID'), prop('DM_VG_NAME'), prop('DM_LV_NAME'), prop('DM_LV_LAYER'));
      if (prop('ID_ATA') !== '') {
        for (const [key, desc] of ataDescs) {
          const raw = udev.get(key);
          if (raw === undefined) continue;
          const v = Number(raw);
          if (raw.trim() === '' || Number.isNaN(v)) this.ctx.logger.error('Failed to parse ATA value', { device: d.device, attribute: key, value: raw });
          else out.add(desc, v, d.device);
        }
      }
    }
  }

  /** udev facts for a device; none when udev has no record (containers without /run/udev). */
  private udevProperties(major: number, minor: number): Map<string, string> {
    const path = `${this.ctx.paths.udevData}/b${major}:${minor}`;
    try {
      return parseUdevProperties(readText(path));
    } catch (err) {
      if (!isNotFound(err)) this.ctx.logger.debug('Failed to parse udev info', { path, err });
      return new Map();
    }
  }

  /** "1" for spinning disks, "0" otherwise or when the queue attributes are missing (partitions, dm). */
  private rotational(device: string): string {
    try {
      const text = readOptional(sysPath(this.ctx.paths, 'block', device, 'queue/rotational'));
      return text !== undefined && /^\d+$/.test(text.trim()) ? Number(text.trim()).toString(2) : '0';
    } catch (err) {
      this.ctx.logger.debug('Failed to get block device queue stats', { device, err });
      return '0';
    }
  }
}

export const diskstatsFactory: CollectorFactory = { name: 'diskstats', defaultEnabled: true, create: (ctx) => new DiskstatsCollector(ctx) };
