// `pillion inject`: add the pillion sidecar to Kubernetes workloads (and `--uninject` to take it out).
// Reads YAML, writes YAML to stdout, one note per workload to stderr; `| kubectl apply -f -`.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { EXIT_OK, EXIT_USAGE } from '../util/exit-codes.js';
import { inject, InputError, uninject } from './inject.js';

/** Read here, not imported from cli.ts: importing cli.ts would run the CLI. */
function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

function usage(): string {
  return `Usage: pillion inject [-f FILE | FILE | -] [options]

Adds the pillion sidecar to the Pods, Deployments, StatefulSets, DaemonSets, ReplicaSets, Jobs and
CronJobs in FILE (multi-document YAML, or a List; - or no file reads stdin) and prints the result.
Workloads that already have pillion are left alone, so running it twice changes nothing; every other
field and document is kept (documents without a change are printed byte for byte).

  -f, --filename FILE   the manifests to read (- for stdin)
      --config NAME     mount the ConfigMap NAME (key pillion.yaml) as pillion's config, with --watch;
                        without it pillion runs its embedded default (:15001 -> 127.0.0.1:PORT)
      --port PORT       the app's port on 127.0.0.1 (default: the TCP port named http or http-*,
                        else 8080, else the first TCP port the containers declare, else 8080)
      --legacy          a plain container with postStart/preStop hooks instead of a native sidecar
                        (for Kubernetes before 1.29; refused for Jobs and CronJobs)
      --image IMAGE     the pillion image (default pillion:${version()})
      --uninject        remove what inject added (also restores renamed ports and Services)
  -h, --help            this text

The proxy port (15001) takes the name of the app's port, and the app's port is renamed <name>-app,
so a Service that targets the port by name reaches the proxy; a Service in the same input that
targets it by number gets targetPort set to the proxy's port name. Annotate a pod template with
pillion/inject: disabled to keep inject away. docs/deploy.md has the details.
`;
}

export async function main(argv: string[]): Promise<number> {
  let values: { filename?: string; config?: string; port?: string; legacy?: boolean; image?: string; uninject?: boolean; help?: boolean };
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        filename: { type: 'string', short: 'f' },
        config: { type: 'string' },
        port: { type: 'string' },
        legacy: { type: 'boolean' },
        image: { type: 'string' },
        uninject: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (err) {
    process.stderr.write(`pillion inject: ${(err as Error).message}\n\n${usage()}`);
    return EXIT_USAGE;
  }
  if (values.help) {
    process.stdout.write(usage());
    return EXIT_OK;
  }
  const files = [...(values.filename !== undefined ? [values.filename] : []), ...positionals];
  if (files.length > 1) {
    process.stderr.write('pillion inject: one input at a time (-f FILE, FILE or -)\n');
    return EXIT_USAGE;
  }
  let port: number | null = null;
  if (values.port !== undefined) {
    port = Number(values.port);
    if (!Number.isInteger(port) || port < 1 || port > 65535 || port === 15000 || port === 15001) {
      process.stderr.write(`pillion inject: --port: expected a port other than pillion's 15000 and 15001, got '${values.port}'\n`);
      return EXIT_USAGE;
    }
  }
  if (values.config !== undefined && !/^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/.test(values.config)) {
    process.stderr.write(`pillion inject: --config: '${values.config}' is not a ConfigMap name\n`);
    return EXIT_USAGE;
  }
  if (values.uninject && (values.config !== undefined || values.port !== undefined || values.legacy || values.image !== undefined)) {
    process.stderr.write('pillion inject: --uninject takes no other option: the annotations say what to undo\n');
    return EXIT_USAGE;
  }

  const file = files[0] ?? '-';
  let text: string;
  try {
    text = readFileSync(file === '-' ? 0 : file, 'utf8');
  } catch (err) {
    process.stderr.write(`pillion inject: cannot read ${file === '-' ? 'stdin' : file}: ${(err as Error).message}\n`);
    return EXIT_USAGE;
  }
  try {
    const out = values.uninject
      ? uninject(text)
      : inject(text, { image: values.image ?? `pillion:${version()}`, legacy: values.legacy === true, configMap: values.config ?? null, port });
    process.stdout.write(out.output);
    for (const n of out.notes) process.stderr.write(`pillion inject: ${n}\n`);
    return EXIT_OK;
  } catch (err) {
    if (!(err instanceof InputError)) throw err;
    process.stderr.write(`pillion inject: ${file === '-' ? 'stdin' : file}: ${err.message}\n`);
    return EXIT_USAGE;
  }
}
