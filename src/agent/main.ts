// `pillion agent`: the node_exporter-compatible node agent (issue 6). Loads only the agent's own
// modules and node built-ins: no uWS app, no undici pools.
import { untilStopSignal } from '../util/signals.js';
import { startAgent, type RunningAgent } from './agent.js';
import { COLLECTOR_DEFAULTS } from './collectors/index.js';
import { parseFlags, usage, UsageError, type AgentOptions } from './flags.js';
import { applyLeanV8 } from './lean-v8.js';
import { createLogger } from './logger.js';
import { EXIT_FAILURE, EXIT_OK, EXIT_USAGE } from '../util/exit-codes.js';
import { readFileSync } from 'node:fs';

/** Read here, not imported from cli.ts: importing cli.ts would run the CLI. */
function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

export async function main(argv: string[]): Promise<number> {
  // `pillion agent --logs ...` is `pillion logs --kubernetes ...` (issue 7): the log collector, not the agent.
  if (argv.includes('--logs')) return (await import('../logs/main.js')).main(['--kubernetes', ...argv.filter((a) => a !== '--logs')]);
  let opts: AgentOptions;
  try {
    opts = parseFlags(argv, COLLECTOR_DEFAULTS);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`pillion agent: error: ${err.message}\n`);
    return EXIT_USAGE;
  }
  if (opts.help) {
    process.stdout.write(usage(COLLECTOR_DEFAULTS));
    return EXIT_OK;
  }
  if (opts.version) {
    process.stdout.write(`pillion agent ${version()}\n`);
    return EXIT_OK;
  }
  const logger = createLogger(opts.logLevel);
  // Before any scrape code runs, so that none of it is optimised past Sparkplug.
  const lean = applyLeanV8();
  if (lean.applied.length > 0) logger.info('V8 settings for a small footprint', { flags: lean.applied.join(' ') });
  let agent: RunningAgent;
  try {
    agent = await startAgent(opts, logger, { gc: lean.gc });
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`pillion agent: error: ${err.message}\n`);
      return EXIT_USAGE;
    }
    logger.error('cannot start the agent', { err });
    return EXIT_FAILURE;
  }
  const signal = await untilStopSignal();
  logger.info('Received signal, shutting down', { signal });
  await agent.close();
  return EXIT_OK;
}
