// `pillion inject` and `pillion uninject` on YAML text. Pure functions: text in, text and notes out.
//
// Every change is made on the yaml Document (comments and the order of keys survive); a document that
// is not changed is written back byte for byte. Decisions are taken on the plain JS view of a
// document, then applied with setIn/deleteIn at paths into it.
//
// What inject changes in a workload's pod template, and records in the `pillion/uninject` annotation:
//  - adds the pillion container (first init container with restartPolicy Always, or with --legacy
//    the first container) and, with --config, its ConfigMap volume;
//  - hands the app port's name to the proxy port and renames the app's port `<name>-app`, rewriting
//    the app container's probes and lifecycle hooks that used the old name, so a Service that targets
//    the port by name reaches the proxy and the kubelet's probes still reach the app;
//  - raises terminationGracePeriodSeconds to cover pillion's drain.
// And in a Service of the same input that selects the workload and targets the app's port by number:
// targetPort becomes the proxy port's name (recorded on the Service).
import { Document, isMap, isScalar, isSeq, parseAllDocuments } from 'yaml';
import {
  ADMIN_PORT, ADMIN_PORT_NAME, ANNOTATION_INJECTED, ANNOTATION_OPT_OUT, ANNOTATION_RECORD, CONFIG_VOLUME, CONTAINER_NAME,
  LEGACY_GRACE_SECONDS, NATIVE_GRACE_SECONDS, PROXY_PORT, PROXY_PORT_NAME, sidecarContainer,
} from './sidecar.js';

export interface InjectOptions {
  image: string;
  legacy: boolean;
  configMap: string | null;
  /** The app's port; null: the TCP port named http (or http-*), else 8080, else the first declared, else 8080. */
  port: number | null;
}

export interface Outcome {
  output: string;
  /** One line per workload or Service looked at: what was done, or why not. */
  notes: string[];
  changed: number;
}

export class InputError extends Error {}

type Path = (string | number)[];
type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const TEMPLATE_KINDS = new Set(['Deployment', 'StatefulSet', 'DaemonSet', 'ReplicaSet', 'ReplicationController', 'Job']);
const DEFAULT_GRACE_SECONDS = 30; // Kubernetes' default terminationGracePeriodSeconds
const PROBES = ['livenessProbe', 'readinessProbe', 'startupProbe'] as const;
const HANDLER_PORTS = ['httpGet', 'tcpSocket'] as const;

/** What inject changed beside adding things, so that uninject can put it back. */
interface WorkloadRecord {
  mode: 'native' | 'legacy';
  /** Whether these keys existed before (so uninject removes the ones inject created). */
  had: { metadata?: boolean; annotations: boolean; initContainers: boolean; volumes: boolean };
  grace: number | null;
  /** [container index, port index, old name] of the app port whose name went to the proxy. */
  port: [number, number, string] | null;
  /** Paths (relative to the app container) whose port name was rewritten. */
  refs: Path[];
}

interface ServiceRecord {
  had: { annotations: boolean };
  /** [port index, old targetPort or null when it was absent] */
  ports: [number, number | string | null][];
}

interface Located {
  doc: Document;
  base: Path; // [] or ['items', i] for a List
  obj: Obj;
  label: string; // Kind/name for the notes
}

interface Workload extends Located {
  meta: Path; // the pod template's metadata (or a Pod's)
  spec: Path; // the pod spec
}

/** An injected workload, for the Service pass. */
interface Rewire {
  labels: Record<string, string>;
  appPort: number;
  proxyPortName: string;
  label: string;
  services: number;
}

function podPaths(kind: string): { meta: Path; spec: Path } | null {
  if (kind === 'Pod') return { meta: ['metadata'], spec: ['spec'] };
  if (TEMPLATE_KINDS.has(kind)) return { meta: ['spec', 'template', 'metadata'], spec: ['spec', 'template', 'spec'] };
  if (kind === 'CronJob') return { meta: ['spec', 'jobTemplate', 'spec', 'template', 'metadata'], spec: ['spec', 'jobTemplate', 'spec', 'template', 'spec'] };
  return null;
}

function at(obj: unknown, path: Path): any { // eslint-disable-line @typescript-eslint/no-explicit-any
  let v: any = obj; // eslint-disable-line @typescript-eslint/no-explicit-any
  for (const k of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = v[k];
  }
  return v;
}

/** Every object of the input (a List's items one by one), with where it sits in its document. */
function locate(docs: Document[]): Located[] {
  const out: Located[] = [];
  for (const doc of docs) {
    const obj = doc.toJS() as unknown;
    if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) continue;
    const o = obj as Obj;
    const items = typeof o.kind === 'string' && o.kind.endsWith('List') && Array.isArray(o.items) ? (o.items as unknown[]) : null;
    if (items) {
      items.forEach((it, i) => {
        if (it !== null && typeof it === 'object') out.push({ doc, base: ['items', i], obj: it as Obj, label: labelOf(it as Obj) });
      });
    } else {
      out.push({ doc, base: [], obj: o, label: labelOf(o) });
    }
  }
  return out;
}

function labelOf(o: Obj): string {
  return `${String(o.kind ?? '?')}/${String(o.metadata?.name ?? '?')}`;
}

function workloadOf(l: Located): Workload | null {
  const p = typeof l.obj.kind === 'string' ? podPaths(l.obj.kind) : null;
  if (!p || at(l.obj, p.spec) === undefined) return null;
  return { ...l, meta: [...l.base, ...p.meta], spec: [...l.base, ...p.spec] };
}

function prepend(doc: Document, path: Path, value: unknown): void {
  const seq = doc.getIn(path, true);
  if (isSeq(seq)) seq.items.unshift(doc.createNode(value));
  else doc.setIn(path, doc.createNode([value]));
}

/** Like prepend, but a new list goes right before the key `before` (initContainers before containers). */
function prependBefore(doc: Document, path: Path, value: unknown, before: string): void {
  const parent = doc.getIn(path.slice(0, -1), true);
  if (isSeq(doc.getIn(path, true)) || !isMap(parent)) return prepend(doc, path, value);
  const i = parent.items.findIndex((p) => isScalar(p.key) && p.key.value === before);
  const pair = doc.createPair(path[path.length - 1], [value]);
  if (i < 0) parent.items.push(pair);
  else parent.items.splice(i, 0, pair);
}

function append(doc: Document, path: Path, value: unknown): void {
  const seq = doc.getIn(path, true);
  if (isSeq(seq)) seq.items.push(doc.createNode(value));
  else doc.setIn(path, doc.createNode([value]));
}

/** A port name that fits IANA_SVC_NAME (15 characters) and is not taken in the pod. */
function renamed(name: string, taken: Set<string>): string {
  for (let i = 0; ; i++) {
    const suffix = i === 0 ? '-app' : `-app${i}`;
    const n = name.slice(0, 15 - suffix.length).replace(/-+$/, '') + suffix;
    if (!taken.has(n)) return n;
  }
}

function injectWorkload(w: Workload, opts: InjectOptions, notes: string[]): Rewire | null {
  const meta = (at(w.obj, w.meta.slice(w.base.length)) ?? {}) as Obj;
  const spec = at(w.obj, w.spec.slice(w.base.length)) as Obj;
  const annotations = (meta.annotations ?? {}) as Record<string, string>;
  const containers = (spec.containers ?? []) as Obj[];
  const inits = (spec.initContainers ?? []) as Obj[];
  const skip = (why: string): null => { notes.push(`${w.label}: skipped: ${why}`); return null; };

  if (annotations[ANNOTATION_INJECTED] !== undefined || [...containers, ...inits].some((c) => c.name === CONTAINER_NAME)) {
    return skip('already has pillion');
  }
  if (annotations[ANNOTATION_OPT_OUT] === 'disabled') return skip(`${ANNOTATION_OPT_OUT}: disabled`);
  if (spec.hostNetwork === true) return skip('hostNetwork: pillion would bind its ports on the node');
  if (opts.legacy && (w.obj.kind === 'Job' || w.obj.kind === 'CronJob')) {
    return skip('--legacy on a Job: a plain proxy container never exits, so the Job would never complete (use the native sidecar)');
  }

  const portNames = new Set<string>();
  const tcp: { ci: number; pi: number; port: number; name: string | undefined }[] = [];
  for (const [ci, c] of containers.entries()) {
    for (const [pi, p] of ((c.ports ?? []) as Obj[]).entries()) {
      if (typeof p.name === 'string') portNames.add(p.name);
      if (p.containerPort === PROXY_PORT || p.containerPort === ADMIN_PORT) {
        return skip(`container ${String(c.name)} uses port ${p.containerPort}, which pillion needs`);
      }
      if ((p.protocol ?? 'TCP') === 'TCP') tcp.push({ ci, pi, port: p.containerPort as number, name: p.name as string | undefined });
    }
  }
  // The app's port: --port; else the port named http (or http-*), else 8080, else the first TCP port.
  const pick = opts.port !== null
    ? tcp.find((p) => p.port === opts.port)
    : tcp.find((p) => p.name === 'http') ?? tcp.find((p) => p.name?.startsWith('http')) ?? tcp.find((p) => p.port === 8080) ?? tcp[0];
  const app: [number, number] | null = pick ? [pick.ci, pick.pi] : null;
  const appPort = opts.port ?? pick?.port ?? 8080;
  for (const n of [ADMIN_PORT_NAME, PROXY_PORT_NAME]) if (portNames.has(n)) return skip(`a port is already named ${n}`);

  const d = w.doc;
  const mode = opts.legacy ? 'legacy' : 'native';
  const record: WorkloadRecord = {
    mode,
    had: { metadata: at(w.obj, w.meta.slice(w.base.length)) !== undefined, annotations: meta.annotations !== undefined, initContainers: spec.initContainers !== undefined, volumes: spec.volumes !== undefined },
    grace: typeof spec.terminationGracePeriodSeconds === 'number' ? spec.terminationGracePeriodSeconds : null,
    port: null,
    refs: [],
  };

  // Hand the app port's name to the proxy port; the app's probes follow the renamed port.
  let proxyPortName = PROXY_PORT_NAME;
  if (app !== null) {
    const [ci, pi] = app;
    const old = containers[ci]!.ports[pi].name as unknown;
    if (typeof old === 'string') {
      const fresh = renamed(old, portNames);
      proxyPortName = old;
      record.port = [ci, pi, old];
      d.setIn([...w.spec, 'containers', ci, 'ports', pi, 'name'], fresh);
      const c = containers[ci]!;
      const handlers: Path[] = [...PROBES.map((p) => [p]), ['lifecycle', 'postStart'], ['lifecycle', 'preStop']];
      for (const h of handlers) {
        for (const kind of HANDLER_PORTS) {
          const rel = [...h, kind, 'port'];
          if (at(c, rel) === old) {
            record.refs.push(rel);
            d.setIn([...w.spec, 'containers', ci, ...rel], fresh);
          }
        }
      }
    }
  }

  const container = sidecarContainer({
    image: opts.image, legacy: opts.legacy, configMap: opts.configMap, appPort, upstreamFlag: opts.port !== null, proxyPortName,
  });
  if (opts.legacy) prepend(d, [...w.spec, 'containers'], container);
  else prependBefore(d, [...w.spec, 'initContainers'], container, 'containers');
  if (opts.configMap !== null) append(d, [...w.spec, 'volumes'], { name: CONFIG_VOLUME, configMap: { name: opts.configMap } });

  const need = opts.legacy ? LEGACY_GRACE_SECONDS : NATIVE_GRACE_SECONDS;
  if ((record.grace ?? DEFAULT_GRACE_SECONDS) < need) d.setIn([...w.spec, 'terminationGracePeriodSeconds'], need);

  d.setIn([...w.meta, 'annotations', ANNOTATION_INJECTED], mode);
  d.setIn([...w.meta, 'annotations', ANNOTATION_RECORD], JSON.stringify(record));
  notes.push(`${w.label}: injected (${opts.legacy ? 'plain container, --legacy' : 'native sidecar'}; proxy :${PROXY_PORT} -> 127.0.0.1:${appPort}, port name ${proxyPortName})`);
  return { labels: (meta.labels ?? {}) as Record<string, string>, appPort, proxyPortName, label: w.label, services: 0 };
}

function selects(selector: Record<string, string> | undefined, labels: Record<string, string>): boolean {
  if (!selector || Object.keys(selector).length === 0) return false;
  return Object.entries(selector).every(([k, v]) => labels[k] === v);
}

function rewireService(s: Located, rewires: Rewire[], notes: string[]): boolean {
  const annotations = (s.obj.metadata?.annotations ?? {}) as Record<string, string>;
  if (annotations[ANNOTATION_RECORD] !== undefined) return false;
  const ports = (s.obj.spec?.ports ?? []) as Obj[];
  const record: ServiceRecord = { had: { annotations: s.obj.metadata?.annotations !== undefined }, ports: [] };
  for (const r of rewires) {
    if (!selects(s.obj.spec?.selector as Record<string, string> | undefined, r.labels)) continue;
    ports.forEach((p, i) => {
      const target = (p.targetPort ?? p.port) as unknown;
      if (target === r.appPort) {
        record.ports.push([i, (p.targetPort as number | undefined) ?? null]);
        s.doc.setIn([...s.base, 'spec', 'ports', i, 'targetPort'], r.proxyPortName);
        r.services++;
      }
    });
  }
  if (record.ports.length === 0) return false;
  s.doc.setIn([...s.base, 'metadata', 'annotations', ANNOTATION_RECORD], JSON.stringify(record));
  notes.push(`${s.label}: targetPort of ${record.ports.length} port(s) now the proxy's`);
  return true;
}

function uninjectWorkload(w: Workload, notes: string[]): boolean {
  const meta = (at(w.obj, w.meta.slice(w.base.length)) ?? {}) as Obj;
  const spec = at(w.obj, w.spec.slice(w.base.length)) as Obj;
  const annotations = (meta.annotations ?? {}) as Record<string, string>;
  const raw = annotations[ANNOTATION_RECORD];
  if (annotations[ANNOTATION_INJECTED] === undefined || raw === undefined) {
    const hand = [...(spec.containers ?? []), ...(spec.initContainers ?? [])].some((c: Obj) => c.name === CONTAINER_NAME);
    notes.push(`${w.label}: skipped: ${hand ? 'pillion was not added by inject (no pillion/injected annotation)' : 'no pillion'}`);
    return false;
  }
  let record: WorkloadRecord;
  try {
    record = JSON.parse(raw) as WorkloadRecord;
  } catch (err) {
    throw new InputError(`${w.label}: annotation ${ANNOTATION_RECORD} is not JSON (${(err as Error).message})`);
  }
  const d = w.doc;
  const list = record.mode === 'legacy' ? 'containers' : 'initContainers';
  const i = ((spec[list] ?? []) as Obj[]).findIndex((c) => c.name === CONTAINER_NAME);
  if (i >= 0) d.deleteIn([...w.spec, list, i]);
  if (list === 'initContainers' && !record.had.initContainers && (spec.initContainers as Obj[]).length <= 1) d.deleteIn([...w.spec, 'initContainers']);
  const vi = ((spec.volumes ?? []) as Obj[]).findIndex((v) => v.name === CONFIG_VOLUME);
  if (vi >= 0) d.deleteIn([...w.spec, 'volumes', vi]);
  if (vi >= 0 && !record.had.volumes && (spec.volumes as Obj[]).length <= 1) d.deleteIn([...w.spec, 'volumes']);
  if (record.port) {
    const [ci, pi, old] = record.port;
    d.setIn([...w.spec, 'containers', ci, 'ports', pi, 'name'], old);
    for (const rel of record.refs) d.setIn([...w.spec, 'containers', ci, ...rel], old);
  }
  if (record.grace === null) d.deleteIn([...w.spec, 'terminationGracePeriodSeconds']);
  else d.setIn([...w.spec, 'terminationGracePeriodSeconds'], record.grace);
  d.deleteIn([...w.meta, 'annotations', ANNOTATION_INJECTED]);
  d.deleteIn([...w.meta, 'annotations', ANNOTATION_RECORD]);
  if (!record.had.annotations) d.deleteIn([...w.meta, 'annotations']);
  if (record.had.metadata === false) d.deleteIn(w.meta);
  notes.push(`${w.label}: uninjected`);
  return true;
}

function unwireService(s: Located, notes: string[]): boolean {
  const raw = s.obj.metadata?.annotations?.[ANNOTATION_RECORD] as string | undefined;
  if (raw === undefined) return false;
  const record = JSON.parse(raw) as ServiceRecord;
  for (const [i, old] of record.ports) {
    if (old === null) s.doc.deleteIn([...s.base, 'spec', 'ports', i, 'targetPort']);
    else s.doc.setIn([...s.base, 'spec', 'ports', i, 'targetPort'], old);
  }
  s.doc.deleteIn([...s.base, 'metadata', 'annotations', ANNOTATION_RECORD]);
  if (!record.had.annotations) s.doc.deleteIn([...s.base, 'metadata', 'annotations']);
  notes.push(`${s.label}: targetPort restored`);
  return true;
}

/**
 * Splits YAML text into documents and the exact text of each, so that documents left alone are
 * written back as they were. The first piece also carries anything before the first document.
 */
function parse(text: string): { docs: Document[]; pieces: string[] } {
  const docs = parseAllDocuments(text, { keepSourceTokens: false }) as unknown;
  if (!Array.isArray(docs)) return { docs: [], pieces: [text] }; // empty input
  const list = docs as Document[];
  for (const d of list) {
    if (d.errors.length > 0) {
      const e = d.errors[0]!;
      const line = e.linePos?.[0]?.line;
      throw new InputError(`bad YAML${line !== undefined ? ` at line ${line}` : ''}: ${e.message.split('\n')[0]}`);
    }
  }
  const starts = list.map((d, i) => (i === 0 ? 0 : (d.range?.[0] ?? 0)));
  const pieces = list.map((_, i) => text.slice(starts[i], i + 1 < list.length ? starts[i + 1] : text.length));
  return { docs: list, pieces };
}

/**
 * The input's own style, so that a changed document keeps it: whether a list under a key is indented
 * (`ports:\n  - a`, most hand-written YAML) or not (`ports:\n- a`, kubectl's output), and whether flow
 * collections are padded (`{ a: b }` or `{a: b}`).
 */
function styleOf(text: string): { indentSeq: boolean; flowCollectionPadding: boolean } {
  const lines = text.split('\n').filter((l) => l.trim() !== '' && !/^\s*#/.test(l));
  let indented = 0;
  let flush = 0;
  for (let i = 0; i + 1 < lines.length; i++) {
    const key = /^(\s*)(?:- )?[^\s#][^:]*:\s*$/.exec(lines[i]!);
    const item = /^(\s*)- /.exec(lines[i + 1]!);
    if (!key || !item) continue;
    const keyIndent = key[1]!.length + (lines[i]!.trimStart().startsWith('- ') ? 2 : 0);
    if (item[1]!.length > keyIndent) indented++;
    else if (item[1]!.length === keyIndent) flush++;
  }
  const padded = (text.match(/[{[] \S/g) ?? []).length;
  const tight = (text.match(/[{[][^\s}\]]/g) ?? []).length;
  return { indentSeq: indented >= flush, flowCollectionPadding: padded >= tight };
}

function render(text: string, docs: Document[], pieces: string[], changed: Set<Document>): string {
  const style = changed.size > 0 ? styleOf(text) : null;
  return docs.map((d, i) => {
    if (!changed.has(d)) return pieces[i]!;
    const s = d.toString({ lineWidth: 0, ...style }); // lineWidth 0: no re-folding of long strings
    return s.endsWith('\n') ? s : `${s}\n`;
  }).join('');
}

export function inject(text: string, opts: InjectOptions): Outcome {
  const { docs, pieces } = parse(text);
  const notes: string[] = [];
  const changed = new Set<Document>();
  const objects = locate(docs);
  const rewires: Rewire[] = [];
  for (const l of objects) {
    const w = workloadOf(l);
    if (!w) continue;
    const r = injectWorkload(w, opts, notes);
    if (r) { rewires.push(r); changed.add(l.doc); }
  }
  if (rewires.length > 0) {
    for (const l of objects) {
      if (l.obj.kind === 'Service' && rewireService(l, rewires, notes)) changed.add(l.doc);
    }
  }
  for (const r of rewires) {
    if (r.services === 0 && r.proxyPortName === PROXY_PORT_NAME) {
      notes.push(`${r.label}: the app's port ${r.appPort} has no name: point its Service at targetPort: ${PROXY_PORT_NAME} (no Service in this input targets it)`);
    }
  }
  return { output: render(text, docs, pieces, changed), notes, changed: changed.size };
}

export function uninject(text: string): Outcome {
  const { docs, pieces } = parse(text);
  const notes: string[] = [];
  const changed = new Set<Document>();
  for (const l of locate(docs)) {
    const w = workloadOf(l);
    if (w && uninjectWorkload(w, notes)) changed.add(l.doc);
    else if (l.obj.kind === 'Service' && unwireService(l, notes)) changed.add(l.doc);
  }
  return { output: render(text, docs, pieces, changed), notes, changed: changed.size };
}
