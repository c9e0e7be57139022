// What every collector factory receives: host paths, parsed flags and a logger.
import type { Collector, HostPaths } from '../collector.js';
import type { AgentOptions } from '../flags.js';
import type { Logger } from '../logger.js';

export interface CollectorContext {
  paths: HostPaths;
  opts: AgentOptions;
  logger: Logger;
}

/**
 * A collector as the flag parser and registry see it. `create` validates its options and may
 * throw (a bad flag is a startup error, exit 2); after that, only `update` runs per scrape.
 */
export interface CollectorFactory {
  name: string;
  defaultEnabled: boolean;
  create(ctx: CollectorContext): Collector;
}
