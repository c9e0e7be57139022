// Every collector the agent knows, in one table. A collector added here gets its
// --collector.<name> / --no-collector.<name> flag and its collect[] name automatically.
import type { CollectorFactory } from './context.js';
import { containersFactory } from './containers.js';
import { cpuFactory } from './cpu.js';
import { diskstatsFactory } from './diskstats.js';
import { filesystemFactory } from './filesystem.js';
import { loadavgFactory } from './loadavg.js';
import { meminfoFactory } from './meminfo.js';
import { netdevFactory } from './netdev.js';
import { pressureFactory } from './pressure.js';
import { statFactory } from './stat.js';
import { unameFactory } from './uname.js';
import { vmstatFactory } from './vmstat.js';

/**
 * Scrape order. Collectors run side by side, but only filesystem waits on other threads (statfs in
 * libuv's pool): it goes first, so its syscalls overlap the synchronous /proc reads of the rest.
 */
export const FACTORIES: readonly CollectorFactory[] = [
  filesystemFactory,
  cpuFactory,
  diskstatsFactory,
  loadavgFactory,
  meminfoFactory,
  netdevFactory,
  pressureFactory,
  statFactory,
  unameFactory,
  vmstatFactory,
  containersFactory,
];

/** Collector name to whether it runs without a --collector.<name> flag. */
export const COLLECTOR_DEFAULTS: ReadonlyMap<string, boolean> = new Map(FACTORIES.map((f) => [f.name, f.defaultEnabled]));
