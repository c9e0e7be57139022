// Shared by the deploy tests: the repository root, a Dockerfile parser, and
// Kubernetes schema validation through kubernetes-models (its validators are generated from the
// Kubernetes OpenAPI schemas; no hand-written structure check).
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';

/** The repository root (this file runs as dist/test/deploy/helpers.js). */
export const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

export function readRepo(path: string): string {
  return readFileSync(join(ROOT, path), 'utf8');
}

/** Every file under a repo directory, as repo-relative paths (node_modules, .git and dist skipped). */
export function listRepo(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const n of readdirSync(d)) {
      if (n === 'node_modules' || n === '.git' || n === 'dist') continue;
      const p = join(d, n);
      if (statSync(p).isDirectory()) walk(p);
      else out.push(relative(ROOT, p).split('\\').join('/'));
    }
  };
  walk(join(ROOT, dir));
  return out.sort();
}

// ---- Dockerfile ----------------------------------------------------------------------------------

export interface Instruction {
  cmd: string; // upper case
  args: string; // the rest, continuation lines joined
  line: number;
}

export interface Stage {
  from: string; // as written, ARGs not expanded
  image: string; // ARGs expanded with their defaults
  name: string | null;
  instructions: Instruction[];
}

export interface Dockerfile {
  args: Record<string, string>; // global ARGs (before the first FROM) with defaults
  stages: Stage[];
}

export function parseDockerfile(text: string): Dockerfile {
  const instructions: Instruction[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const first = lines[i]!;
    if (/^\s*(#|$)/.test(first)) continue;
    const start = i;
    let joined = first;
    while (/\\\s*$/.test(joined) && i + 1 < lines.length) {
      joined = joined.replace(/\\\s*$/, ' ');
      i++;
      if (/^\s*#/.test(lines[i]!)) continue; // comments inside a continuation are dropped, as BuildKit does
      joined += lines[i]!;
    }
    const m = /^\s*(\w+)\s*(.*)$/s.exec(joined);
    if (m) instructions.push({ cmd: m[1]!.toUpperCase(), args: m[2]!.trim().replace(/\s+/g, ' '), line: start + 1 });
  }
  const args: Record<string, string> = {};
  const stages: Stage[] = [];
  for (const ins of instructions) {
    if (ins.cmd === 'FROM') {
      const m = /^(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?$/i.exec(ins.args);
      if (!m) throw new Error(`Dockerfile:${ins.line}: cannot parse FROM ${ins.args}`);
      const image = m[1]!.replace(/\$\{?(\w+)\}?/g, (_, v: string) => args[v] ?? '');
      stages.push({ from: m[1]!, image, name: m[2] ?? null, instructions: [] });
    } else if (stages.length === 0) {
      if (ins.cmd === 'ARG') {
        const [k, v] = ins.args.split('=');
        args[k!] = v ?? '';
      }
    } else {
      stages[stages.length - 1]!.instructions.push(ins);
    }
  }
  return { args, stages };
}

/** The JSON (exec) form of CMD/ENTRYPOINT/HEALTHCHECK CMD, or null for the shell form. */
export function execForm(s: string): string[] | null {
  if (!s.startsWith('[')) return null;
  return JSON.parse(s) as string[];
}

// ---- YAML and Kubernetes schemas ----------------------------------------------------------------

export type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** Every document of a YAML file; throws on a YAML error, naming the file and the line. */
export function loadYamlDocs(text: string, name = 'yaml'): Obj[] {
  const docs = parseAllDocuments(text, { prettyErrors: true });
  if (!Array.isArray(docs)) throw new Error(`${name}: empty`);
  const out: Obj[] = [];
  for (const d of docs) {
    if (d.errors.length) throw new Error(`${name}: ${d.errors.map((e) => e.message).join('; ')}`);
    const v = d.toJS() as unknown;
    if (v !== null && v !== undefined) out.push(v as Obj);
  }
  return out;
}

const require = createRequire(import.meta.url);

/**
 * Validates one Kubernetes object against the schema of its apiVersion/kind, as generated from the
 * Kubernetes OpenAPI document by kubernetes-models 4.5.1 (a 1.32-or-later API: it has native sidecars,
 * the preStop sleep action, image volumes and NodeFeatures).
 * Returns the errors, empty when valid; an unknown apiVersion/kind is an error too, and so is a field
 * that the object's type does not have (k8sUnknownFields).
 */
export function k8sErrors(obj: Obj): string[] {
  const apiVersion = String(obj.apiVersion ?? '');
  const kind = String(obj.kind ?? '');
  if (!apiVersion || !kind) return ['missing apiVersion or kind'];
  // core API objects live under kubernetes-models/v1/, the others under <group>/<version>/
  const path = `kubernetes-models/${apiVersion}/${kind}`;
  let mod: Obj;
  try {
    mod = require(path) as Obj;
  } catch {
    return [`no Kubernetes schema for ${apiVersion} ${kind}`];
  }
  const Model = mod[kind] as (new (o: Obj) => { validate(): void }) | undefined;
  if (Model === undefined) return [`no Kubernetes model class for ${apiVersion} ${kind}`];
  try {
    new Model(obj).validate();
    return k8sUnknownFields(obj);
  } catch (err) {
    const errors = (err as { errors?: { instancePath: string; message: string; params?: unknown }[] }).errors;
    if (!errors) return [String(err)];
    return errors.map((e) => `${e.instancePath || '/'} ${e.message} ${JSON.stringify(e.params ?? {})}`);
  }
}

// ---- unknown fields ------------------------------------------------------------------------------
// The Kubernetes schemas allow unknown fields (the API server drops them, or refuses them with
// --validate=strict), so a misspelt key passes k8sErrors. kubernetes-models also ships a TypeScript
// interface per type (<Kind>.d.ts, one quoted property per line); these list every known field and the
// type of each, which is enough to walk an object and report every key the API does not have, as
// `kubectl apply --validate=strict` or `kubeconform -strict` would.

interface TypeInfo {
  props: Map<string, string>; // field -> its TypeScript type as written
  imports: Map<string, string>; // type name -> .d.ts file
}
const typeCache = new Map<string, TypeInfo | null>();

function typeInfo(dts: string): TypeInfo | null {
  if (typeCache.has(dts)) return typeCache.get(dts)!;
  let info: TypeInfo | null = null;
  let text: string | null = null;
  try { text = readFileSync(dts, 'utf8'); } catch { /* a type alias module without .d.ts: no fields to walk */ }
  if (text !== null) {
    const lines = text.split('\n');
    const start = lines.findIndex((l) => /^export interface I\w+/.test(l));
    if (start >= 0) {
      const props = new Map<string, string>();
      for (let i = start + 1; i < lines.length && lines[i] !== '}'; i++) {
        const m = /^ {4}"([^"]+)"\??: (.*?);?$/.exec(lines[i]!);
        if (m) props.set(m[1]!, m[2]!);
      }
      const imports = new Map<string, string>();
      const req = createRequire(dts);
      for (const m of text.matchAll(/^import \{ (\w+) \} from "([^"]+)";$/gm)) {
        try {
          imports.set(m[1]!, req.resolve(m[2]!).replace(/\.js$/, '.d.ts'));
        } catch { /* unresolvable: that field is not walked */ }
      }
      info = { props, imports };
    }
  }
  typeCache.set(dts, info);
  return info;
}

function walkFields(value: unknown, dts: string, path: string, out: string[], root: boolean): void {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return;
  const info = typeInfo(dts);
  if (info === null) return;
  for (const [k, v] of Object.entries(value as Obj)) {
    const type = info.props.get(k);
    if (type === undefined) {
      if (!(root && (k === 'apiVersion' || k === 'kind'))) out.push(`${path}.${k}: unknown field`);
      continue;
    }
    const arr = /^Array<(\w+)>$/.exec(type);
    const name = arr ? arr[1]! : /^\w+$/.test(type) ? type : null;
    const file = name !== null ? info.imports.get(name) : undefined;
    if (file === undefined) continue; // a primitive, a union of literals, a map
    if (arr && Array.isArray(v)) v.forEach((e, i) => walkFields(e, file, `${path}.${k}[${i}]`, out, false));
    else if (!arr) walkFields(v, file, `${path}.${k}`, out, false);
  }
}

/** Every field of a Kubernetes object that its type does not have (empty when none, or no type). */
export function k8sUnknownFields(obj: Obj): string[] {
  const out: string[] = [];
  let dts: string;
  try {
    dts = require.resolve(`kubernetes-models/${String(obj.apiVersion)}/${String(obj.kind)}`).replace(/\.js$/, '.d.ts');
  } catch {
    return out;
  }
  walkFields(obj, dts, String(obj.kind), out, true);
  return out;
}

/** The pod spec of a workload (Pod, Deployment, StatefulSet, DaemonSet, Job, CronJob) or null. */
export function podSpecOf(obj: Obj): Obj | null {
  switch (obj.kind) {
    case 'Pod': return obj.spec ?? null;
    case 'CronJob': return obj.spec?.jobTemplate?.spec?.template?.spec ?? null;
    case 'Deployment': case 'StatefulSet': case 'DaemonSet': case 'ReplicaSet': case 'Job':
      return obj.spec?.template?.spec ?? null;
    default: return null;
  }
}

/** Kubernetes durations in manifests are seconds; pillion's are "5s", "250ms", "2m" or seconds. */
export function seconds(d: string | number): number {
  if (typeof d === 'number') return d;
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(d.trim());
  if (!m) throw new Error(`not a duration: ${d}`);
  const n = Number(m[1]);
  return m[2] === 'ms' ? n / 1000 : m[2] === 'm' ? n * 60 : m[2] === 'h' ? n * 3600 : n;
}
