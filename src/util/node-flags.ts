// Which node/V8 flags the user gave, on node's command line or in NODE_OPTIONS. The proxy's heap
// tuning (heap-tuning.ts) and the agent's (src/agent/lean-v8.ts) set V8 flags at run time, and both
// leave alone any flag the user chose.

/** Flag names as given (`--max-opt=1` -> `--max-opt`), with node's `_` for `-` spelled `-`. */
export function givenNodeFlags(execArgv: readonly string[], nodeOptions: string): Set<string> {
  return new Set([...execArgv, ...nodeOptions.split(/\s+/)].filter((a) => a.startsWith('--')).map((a) => a.split('=')[0]!.replace(/_/g, '-')));
}
