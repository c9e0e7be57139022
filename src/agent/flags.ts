// Command-line flags, spelled as node_exporter (kingpin) spells them, so a DaemonSet spec written
// for node_exporter keeps its args: `--flag=value` or `--flag value`, booleans as `--flag` /
// `--no-flag`, and `--collector.<name>` / `--no-collector.<name>` per collector.
import type { HostPaths } from './collector.js';
import { isLogLevel, type LogLevel } from './logger.js';

/** Thrown for bad usage; the message names the flag (exit code 2). */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** Everything the agent needs from its command line, with node_exporter's defaults filled in. */
export interface AgentOptions {
  paths: HostPaths;
  listenAddress: string;
  telemetryPath: string;
  /** Concurrent scrapes served at once; more get 503 (node_exporter --web.max-requests). 0 = no limit. */
  maxRequests: number;
  logLevel: LogLevel;
  /** Names of the collectors to run. */
  collectors: Set<string>;
  cpuGuest: boolean;
  /** node_cpu_info and friends; also turned on by either include flag, as node_exporter does. */
  cpuInfo: boolean;
  cpuFlagsInclude: string | undefined;
  cpuBugsInclude: string | undefined;
  statSoftirq: boolean;
  vmstatFields: string;
  /** Undefined when not given; the diskstats collector applies node_exporter's defaulting rules. */
  diskstatsDeviceExclude: string | undefined;
  diskstatsDeviceInclude: string | undefined;
  netdevDeviceExclude: string | undefined;
  netdevDeviceInclude: string | undefined;
  /** Undefined when not given (the default and the include flags' rules are applied in filesystem.ts). */
  filesystemMountPointsExclude: string | undefined;
  filesystemMountPointsInclude: string | undefined;
  filesystemFsTypesExclude: string | undefined;
  filesystemFsTypesInclude: string | undefined;
  /** How long one statfs may take before the mount is reported as failed and skipped. */
  filesystemMountTimeoutMs: number;
  /** cgroup v2 mount point, relative to --path.sysfs (pillion-only collector `containers`). */
  containersCgroupPath: string;
  help: boolean;
  version: boolean;
}

/** node_exporter 1.5 defaults for linux (collector/filesystem_linux.go). */
export const DEFAULT_MOUNT_POINTS_EXCLUDE = '^/(dev|proc|run/credentials/.+|sys|var/lib/docker/.+|var/lib/containers/storage/.+)($|/)';
export const DEFAULT_FS_TYPES_EXCLUDE =
  '^(autofs|binfmt_misc|bpf|cgroup2?|configfs|debugfs|devpts|devtmpfs|fusectl|hugetlbfs|iso9660|mqueue|nsfs|overlay|proc|procfs|pstore|rpc_pipefs|securityfs|selinuxfs|squashfs|sysfs|tracefs)$';
/** collector/vmstat_linux.go default. */
export const DEFAULT_VMSTAT_FIELDS = '^(oom_kill|pgpg|pswp|pg.*fault).*';

type Kind = 'string' | 'bool' | 'int' | 'duration';
interface FlagSpec {
  kind: Kind;
  help: string;
  def?: string;
  /** Old spelling node_exporter still accepts (hidden in its --help). */
  alias?: string;
}

/** Every flag but the per-collector booleans, which come from the collector list. */
const FLAGS: Record<string, FlagSpec> = {
  'path.procfs': { kind: 'string', def: '/proc', help: 'procfs mountpoint.' },
  'path.sysfs': { kind: 'string', def: '/sys', help: 'sysfs mountpoint.' },
  'path.rootfs': { kind: 'string', def: '/', help: 'rootfs mountpoint.' },
  'path.udev.data': { kind: 'string', def: '/run/udev/data', help: 'udev data path.' },
  'web.listen-address': { kind: 'string', def: ':9100', help: 'Address on which to expose metrics and web interface.' },
  'web.telemetry-path': { kind: 'string', def: '/metrics', help: 'Path under which to expose metrics.' },
  'web.max-requests': { kind: 'int', def: '40', help: 'Maximum number of parallel scrape requests. Use 0 to disable.' },
  'web.disable-exporter-metrics': { kind: 'bool', def: 'false', help: 'Accepted for compatibility; the agent exposes no exporter self-metrics beyond node_scrape_collector_*.' },
  'log.level': { kind: 'string', def: 'info', help: 'Only log messages with the given severity or above. One of: [debug, info, warn, error]' },
  'log.format': { kind: 'string', def: 'logfmt', help: 'Output format of log messages. Only logfmt is supported.' },
  'collector.disable-defaults': { kind: 'bool', def: 'false', help: 'Set all collectors to disabled by default.' },
  'collector.cpu.guest': { kind: 'bool', def: 'true', help: 'Enables metric node_cpu_guest_seconds_total' },
  'collector.cpu.info': { kind: 'bool', def: 'false', help: 'Enables metric cpu_info' },
  'collector.cpu.info.flags-include': { kind: 'string', help: 'Filter the `flags` field in cpuInfo with a value that must be a regular expression' },
  'collector.cpu.info.bugs-include': { kind: 'string', help: 'Filter the `bugs` field in cpuInfo with a value that must be a regular expression' },
  'collector.stat.softirq': { kind: 'bool', def: 'false', help: 'Export softirq calls per vector' },
  'collector.vmstat.fields': { kind: 'string', def: DEFAULT_VMSTAT_FIELDS, help: 'Regexp of fields to return for vmstat collector.' },
  'collector.diskstats.device-exclude': { kind: 'string', alias: 'collector.diskstats.ignored-devices', help: 'Regexp of diskstats devices to exclude (mutually exclusive to device-include).' },
  'collector.diskstats.device-include': { kind: 'string', help: 'Regexp of diskstats devices to include (mutually exclusive to device-exclude).' },
  'collector.netdev.device-exclude': { kind: 'string', alias: 'collector.netdev.device-blacklist', help: 'Regexp of net devices to exclude (mutually exclusive to device-include).' },
  'collector.netdev.device-include': { kind: 'string', alias: 'collector.netdev.device-whitelist', help: 'Regexp of net devices to include (mutually exclusive to device-exclude).' },
  'collector.netdev.netlink': { kind: 'bool', def: 'true', help: 'Accepted for compatibility; the agent always reads /proc/net/dev (the same counters).' },
  'collector.filesystem.mount-points-exclude': { kind: 'string', def: DEFAULT_MOUNT_POINTS_EXCLUDE, alias: 'collector.filesystem.ignored-mount-points', help: 'Regexp of mount points to exclude for filesystem collector. (mutually exclusive to mount-points-include)' },
  'collector.filesystem.mount-points-include': { kind: 'string', help: 'Regexp of mount points to include for filesystem collector. (mutually exclusive to mount-points-exclude)' },
  'collector.filesystem.fs-types-exclude': { kind: 'string', def: DEFAULT_FS_TYPES_EXCLUDE, alias: 'collector.filesystem.ignored-fs-types', help: 'Regexp of filesystem types to exclude for filesystem collector. (mutually exclusive to fs-types-include)' },
  'collector.filesystem.fs-types-include': { kind: 'string', help: 'Regexp of filesystem types to include for filesystem collector. (mutually exclusive to fs-types-exclude)' },
  'collector.filesystem.mount-timeout': { kind: 'duration', def: '5s', help: 'how long to wait for a mount to respond before marking it as stale' },
  'collector.containers.cgroup-path': { kind: 'string', def: 'fs/cgroup', help: 'cgroup v2 mount point relative to --path.sysfs (pillion only).' },
};

/** Parses a Go duration as node_exporter flags take it ("5s", "500ms", "1m30s"). */
export function parseDuration(text: string): number | undefined {
  const unit: Record<string, number> = { ns: 1e-6, us: 1e-3, 'µs': 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  const re = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/gy;
  let total = 0;
  let pos = 0;
  let m: RegExpExecArray | null;
  while ((m = re.exec(text)) !== null) {
    total += Number(m[1]) * unit[m[2]!]!;
    pos = re.lastIndex;
  }
  return pos === text.length && pos > 0 ? total : undefined;
}

/**
 * Parses argv. `collectorDefaults` maps each known collector to whether it is on by default.
 * Throws UsageError naming the offending flag.
 */
export function parseFlags(argv: readonly string[], collectorDefaults: ReadonlyMap<string, boolean>): AgentOptions {
  const values = new Map<string, string>();
  const collectorChoice = new Map<string, boolean>();
  const aliases = new Map<string, string>();
  for (const [name, spec] of Object.entries(FLAGS)) if (spec.alias) aliases.set(spec.alias, name);
  let help = false;
  let version = false;

  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--help' || arg === '-h') { help = true; continue; }
    if (arg === '--version') { version = true; continue; }
    if (!arg.startsWith('--')) throw new UsageError(`unexpected argument '${arg}' (flags start with --)`);
    const eq = arg.indexOf('=');
    let name = eq === -1 ? arg.slice(2) : arg.slice(2, eq);
    let inline = eq === -1 ? undefined : arg.slice(eq + 1);
    let negated = false;
    if (name.startsWith('no-')) { negated = true; name = name.slice(3); }
    name = aliases.get(name) ?? name;

    // --collector.<name> / --no-collector.<name>
    const coll = name.startsWith('collector.') ? name.slice('collector.'.length) : undefined;
    if (coll !== undefined && collectorDefaults.has(coll)) {
      collectorChoice.set(coll, parseBool(name, negated, inline));
      continue;
    }
    const spec = FLAGS[name];
    if (spec === undefined) throw new UsageError(`unknown flag '--${negated ? 'no-' : ''}${name}', try --help`);
    if (spec.kind === 'bool') {
      values.set(name, String(parseBool(name, negated, inline)));
      continue;
    }
    if (negated) throw new UsageError(`flag '--${name}' is not a boolean, '--no-${name}' is not valid`);
    if (inline === undefined) {
      inline = argv[++i];
      if (inline === undefined) throw new UsageError(`flag '--${name}' needs a value`);
    }
    values.set(name, inline);
  }

  const get = (name: string): string | undefined => values.get(name) ?? FLAGS[name]!.def;
  const str = (name: string): string => get(name) ?? '';
  const bool = (name: string): boolean => get(name) === 'true';

  const maxRequests = Number(str('web.max-requests'));
  if (!Number.isInteger(maxRequests) || maxRequests < 0) throw new UsageError(`--web.max-requests: expected a non-negative integer, got '${str('web.max-requests')}'`);
  const timeout = parseDuration(str('collector.filesystem.mount-timeout'));
  if (timeout === undefined) throw new UsageError(`--collector.filesystem.mount-timeout: expected a duration like 5s or 500ms, got '${str('collector.filesystem.mount-timeout')}'`);
  const logLevel = str('log.level');
  if (!isLogLevel(logLevel)) throw new UsageError(`--log.level: expected one of debug, info, warn, error, got '${logLevel}'`);
  if (str('log.format') !== 'logfmt') throw new UsageError(`--log.format: only logfmt is supported, got '${str('log.format')}'`);
  const telemetryPath = str('web.telemetry-path');
  if (!telemetryPath.startsWith('/')) throw new UsageError(`--web.telemetry-path: must start with '/', got '${telemetryPath}'`);

  const disableDefaults = bool('collector.disable-defaults');
  const collectors = new Set<string>();
  for (const [name, onByDefault] of collectorDefaults) {
    const choice = collectorChoice.get(name);
    if (choice ?? (onByDefault && !disableDefaults)) collectors.add(name);
  }

  return {
    paths: {
      procfs: str('path.procfs'),
      sysfs: str('path.sysfs'),
      rootfs: str('path.rootfs'),
      udevData: str('path.udev.data'),
    },
    listenAddress: str('web.listen-address'),
    telemetryPath,
    maxRequests,
    logLevel,
    collectors,
    cpuGuest: bool('collector.cpu.guest'),
    cpuInfo: bool('collector.cpu.info') || Boolean(values.get('collector.cpu.info.flags-include')) || Boolean(values.get('collector.cpu.info.bugs-include')),
    cpuFlagsInclude: values.get('collector.cpu.info.flags-include') || undefined,
    cpuBugsInclude: values.get('collector.cpu.info.bugs-include') || undefined,
    statSoftirq: bool('collector.stat.softirq'),
    vmstatFields: str('collector.vmstat.fields'),
    diskstatsDeviceExclude: values.get('collector.diskstats.device-exclude'),
    diskstatsDeviceInclude: values.get('collector.diskstats.device-include'),
    netdevDeviceExclude: values.get('collector.netdev.device-exclude'),
    netdevDeviceInclude: values.get('collector.netdev.device-include'),
    filesystemMountPointsExclude: values.get('collector.filesystem.mount-points-exclude'),
    filesystemMountPointsInclude: values.get('collector.filesystem.mount-points-include'),
    filesystemFsTypesExclude: values.get('collector.filesystem.fs-types-exclude'),
    filesystemFsTypesInclude: values.get('collector.filesystem.fs-types-include'),
    filesystemMountTimeoutMs: timeout,
    containersCgroupPath: str('collector.containers.cgroup-path'),
    help,
    version,
  };
}

function parseBool(name: string, negated: boolean, inline: string | undefined): boolean {
  if (inline === undefined) return !negated;
  if (negated) throw new UsageError(`flag '--no-${name}' takes no value`);
  if (inline === 'true') return true;
  if (inline === 'false') return false;
  throw new UsageError(`flag '--${name}' is a boolean: expected true or false, got '${inline}'`);
}

/** The --help text. */
export function usage(collectorDefaults: ReadonlyMap<string, boolean>): string {
  const lines = ['Usage: pillion agent [<flags>]', '', 'node_exporter-compatible node metrics from /proc and /sys.', '', 'Flags:', '  -h, --help  Show this help.', '      --version  Show the version.'];
  for (const [name, spec] of Object.entries(FLAGS)) {
    const def = spec.def === undefined ? '' : spec.kind === 'bool' ? ` (default: ${spec.def === 'true' ? 'on' : 'off'})` : ` (default: ${JSON.stringify(spec.def)})`;
    lines.push(`      --${spec.kind === 'bool' ? '[no-]' : ''}${name}${spec.kind === 'bool' ? '' : '=VALUE'}  ${spec.help}${def}`);
  }
  for (const [name, on] of [...collectorDefaults].sort()) {
    lines.push(`      --[no-]collector.${name}  Enable the ${name} collector (default: ${on ? 'enabled' : 'disabled'}).`);
  }
  return `${lines.join('\n')}\n`;
}
