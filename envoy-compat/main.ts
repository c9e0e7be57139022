// `pillion envoy-compat check envoy.yaml [--strict]`: prints the pillion config an Envoy bootstrap
// translates to (YAML, usable as `pillion proxy --config`), with every Envoy field not carried over
// as a comment naming its path and line. Exit 0; 1 with --strict when anything was dropped; 2 when
// the bootstrap cannot be translated.
import { parseArgs } from 'node:util';
import { stringify } from 'yaml';
import { EXIT_FAILURE, EXIT_OK, EXIT_USAGE } from '../src/util/exit-codes.js';
import { ConfigError } from '../src/config/validate.js';
import { formatFinding, loadEnvoyConfig } from './index.js';

export const HELP = `Usage: pillion envoy-compat check ENVOY.yaml [RESOURCES.yaml...] [--strict]

Translates an Envoy v3 bootstrap (YAML or JSON) into pillion's config and prints it as YAML, followed
by every Envoy field that was not carried over (path, file:line and why) and notes on fields carried
over with a difference. Run it with: pillion proxy --envoy-config ENVOY.yaml

Instead of a bootstrap (or after it), files of xDS resources are accepted: a YAML list of Listener,
Cluster and RouteConfiguration resources, or a 'resources:' file as used with path_config_source.

  --strict   exit 1 when any field was not carried over
  --json     print {config, dropped, notes} as JSON instead
  --help     this text

Exit codes: 0 translated, 1 fields dropped (--strict only), 2 bad usage or a bootstrap that cannot
be translated. Coverage: docs/envoy-compat.md.
`;

export async function main(argv: string[]): Promise<number> {
  let values: Record<string, string | boolean | undefined>;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: true,
      options: { strict: { type: 'boolean' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
    }));
  } catch (err) {
    process.stderr.write(`pillion envoy-compat: ${(err as Error).message}\n\n${HELP}`);
    return EXIT_USAGE;
  }
  if (values.help === true) {
    process.stdout.write(HELP);
    return EXIT_OK;
  }
  if (positionals[0] !== 'check' || positionals.length < 2) {
    process.stderr.write(`pillion envoy-compat: expected 'check ENVOY.yaml'\n\n${HELP}`);
    return EXIT_USAGE;
  }
  const files = positionals.slice(1);
  let load;
  try {
    load = loadEnvoyConfig(files, { allowNoListener: true });
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`pillion envoy-compat: cannot translate: ${err.message}\n`);
      return EXIT_USAGE;
    }
    throw err;
  }
  const { config, report } = load;
  if (values.json === true) {
    process.stdout.write(JSON.stringify({ config, dropped: report.dropped, notes: report.notes }, null, 2) + '\n');
  } else {
    let out = `# pillion config translated from the Envoy config ${files.join(' ')}\n`;
    if (config.listeners.length === 0) out += '# no listener: pillion cannot run this alone\n';
    out += stringify(config, { lineWidth: 0 });
    out += `\n# Not carried over (${report.dropped.length}):\n`;
    for (const f of report.dropped) out += `#   ${formatFinding(f)}\n`;
    out += `\n# Notes (${report.notes.length}):\n`;
    for (const f of report.notes) out += `#   ${formatFinding(f)}\n`;
    process.stdout.write(out);
  }
  return values.strict === true && report.dropped.length > 0 ? EXIT_FAILURE : EXIT_OK;
}
