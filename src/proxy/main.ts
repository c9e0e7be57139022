// `pillion proxy`: flags -> config -> supervisor. Exit codes: 0 clean stop, 1 runtime failure,
// 2 bad usage or bad config.
import { EXIT_FAILURE, EXIT_OK, EXIT_USAGE } from '../util/exit-codes.js';
import { configureLog, log } from '../util/log.js';
import { loadConfig } from '../config/load.js';
import { ConfigError } from '../config/validate.js';
import { PROXY_HELP, UsageError, parseProxyArgs } from './args.js';
import { tuneHeapForProxy } from '../util/heap-tuning.js';

export async function main(argv: string[]): Promise<number> {
  let args;
  try {
    args = parseProxyArgs(argv);
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`pillion proxy: ${err.message}\n\n${PROXY_HELP}`);
      return EXIT_USAGE;
    }
    throw err;
  }
  if (args.help) {
    process.stdout.write(PROXY_HELP);
    return EXIT_OK;
  }
  configureLog({ format: args.logFormat, component: 'pillion' });
  try {
    if (args.check) {
      const { config } = loadConfig(args.configFile, args.overrides);
      process.stdout.write(JSON.stringify(config, null, 2) + '\n');
      return EXIT_OK;
    }
    tuneHeapForProxy();
    // Loaded only now, so that --help and --check never load uWS or undici.
    const { Supervisor, StartError } = await import('./supervisor.js');
    try {
      return await new Supervisor({ configFile: args.configFile, overrides: args.overrides, watch: args.watch }).run();
    } catch (err) {
      if (err instanceof StartError) {
        log.error(err.message);
        return EXIT_FAILURE;
      }
      throw err;
    }
  } catch (err) {
    if (err instanceof ConfigError) {
      log.error(`bad config: ${err.message}`, { field: err.field, line: err.line });
      return EXIT_USAGE;
    }
    throw err;
  }
}
