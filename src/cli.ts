#!/usr/bin/env node
// The one binary. Picks a mode and loads only that mode's code, so that `pillion agent` never pulls
// in uWS or undici (issue 6) and `pillion --help` starts in milliseconds.
import { version } from './util/version.js';
import { EXIT_USAGE } from './util/exit-codes.js';
import { applyLeanV8 } from './agent/lean-v8.js';

interface Mode {
  summary: string;
  /** Runs before the mode's code is loaded (process-wide V8 settings must precede it). */
  before?: (argv: string[]) => void;
  load: () => Promise<{ main: (argv: string[]) => Promise<number> }>;
}

const MODES: Record<string, Mode> = {
  proxy: { summary: 'run the L7 sidecar proxy (default config: :15001 -> 127.0.0.1:8080, admin 127.0.0.1:15000)', load: () => import('./proxy/main.js') },
  agent: {
    summary: 'node agent: node_exporter-compatible metrics from /proc and /sys',
    // The agent's memory budget (docs/agent.md, Footprint); not for `agent --logs`, which is `pillion logs`.
    before: (argv) => { if (!argv.includes('--logs')) applyLeanV8(); },
    load: () => import('./agent/main.js'),
  },
  'config-sync': { summary: 'pull config from a config centre into a shared volume, atomically', load: () => import('./sync/config-sync-main.js') },
  iptables: { summary: 'install or remove the transparent-interception iptables rules (init container, NET_ADMIN)', load: () => import('./iptables/main.js') },
  'file-sync': { summary: 'back up a data directory to another directory', load: () => import('./sync/file-sync-main.js') },
  'envoy-compat': { summary: 'translate an Envoy v3 bootstrap to pillion config: check envoy.yaml [--strict]', load: () => import('../envoy-compat/main.js') },
  inject: { summary: 'add the pillion sidecar to Kubernetes workloads in YAML (--uninject removes it)', load: () => import('./inject/main.js') },
  uninject: { summary: 'remove what pillion inject added', load: () => import('./inject/uninject-main.js') },
  logs: { summary: 'tail log files (--path) or container logs (--kubernetes) and ship them at least once', load: () => import('./logs/main.js') },
};


function usage(): string {
  const width = Math.max(...Object.keys(MODES).map((m) => m.length));
  const lines = Object.entries(MODES).map(([name, m]) => `  ${name.padEnd(width)}  ${m.summary}`);
  return `pillion ${version()}: a sidecar proxy data plane for Node.js

Usage: pillion <mode> [options]     (pillion <mode> --help for the mode's options)

Modes:
${lines.join('\n')}

Options:
  --help       this text
  --version    print the version

Exit codes: 0 clean stop, 1 runtime failure, 2 bad usage or bad config.
`;
}

async function run(argv: string[]): Promise<number> {
  const first = argv[0];
  if (first === undefined || first === '--help' || first === '-h' || first === 'help') {
    process.stdout.write(usage());
    return first === undefined ? EXIT_USAGE : 0;
  }
  if (first === '--version' || first === '-v' || first === 'version') {
    process.stdout.write(`${version()}\n`);
    return 0;
  }
  const mode = MODES[first];
  if (mode === undefined) {
    process.stderr.write(`pillion: unknown mode '${first}'\n\n${usage()}`);
    return EXIT_USAGE;
  }
  mode.before?.(argv.slice(1));
  const mod = await mode.load();
  return mod.main(argv.slice(1));
}

run(process.argv.slice(2)).then(
  // Exit explicitly: a stopped server mode may still hold handles (closed sockets linger in uWS).
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`pillion: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  },
);
