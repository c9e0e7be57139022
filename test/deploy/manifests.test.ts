// deploy/: every Kubernetes object validates against the Kubernetes schemas (kubernetes-models), and
// has the properties that issue 9 lists: probes on the admin port, resources sized from measurements,
// a grace period longer than the drain, native-sidecar and legacy ordering, the Service on the proxy
// port, the agent's host mounts; the kustomizations tie every manifest together; compose and the
// manifests run the same image and the README's config. The sync sidecars of issue 10 (deploy/sync/)
// get the same treatment for their status port, and their flags are checked against the CLI.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, posix } from 'node:path';
import { parseFlags } from '../../src/sync/common/cli-args.js';
import { CONFIG_SYNC_FLAGS } from '../../src/sync/config-sync-main.js';
import { FILE_SYNC_FLAGS } from '../../src/sync/file-sync-main.js';
import { IPTABLES_HELP, parseIptablesArgs } from '../../src/iptables/main.js';
import { k8sErrors, listRepo, loadYamlDocs, podSpecOf, readRepo, ROOT, seconds, type Obj } from './helpers.js';

const VERSION = (JSON.parse(readRepo('package.json')) as { version: string }).version;
const IMAGE = `pillion:${VERSION}`;
const CLI = join(ROOT, 'dist/src/cli.js');

const yamlFiles = listRepo('deploy').filter((f) => f.endsWith('.yaml'));
const parsed = new Map(yamlFiles.map((f) => [f, loadYamlDocs(readRepo(f), f)]));
const isKustomization = (d: Obj) => d.kind === 'Kustomization';
/** pillion configs (proxy YAML) are the YAML files without apiVersion, except compose.yaml. */
const pillionConfigs = yamlFiles.filter((f) => f !== 'deploy/compose.yaml' && parsed.get(f)!.every((d) => !d.apiVersion));
const manifests = [...parsed].filter(([f, docs]) => !pillionConfigs.includes(f) && f !== 'deploy/compose.yaml' && !docs.some(isKustomization));
const objects = manifests.flatMap(([f, docs]) => docs.map((d) => ({ file: f, obj: d })));

/** Kubernetes resource quantities in base units (cores, bytes). */
function quantity(q: string | number): number {
  const m = /^(\d+(?:\.\d+)?)(m|Ki|Mi|Gi|k|M|G)?$/.exec(String(q));
  if (!m) throw new Error(`not a quantity: ${q}`);
  const mult: Record<string, number> = { m: 1e-3, Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3, k: 1e3, M: 1e6, G: 1e9 };
  return Number(m[1]) * (m[2] ? mult[m[2]]! : 1);
}

function portNumber(c: Obj, port: string | number): number | undefined {
  if (typeof port === 'number') return port;
  return (c.ports as Obj[] | undefined)?.find((p) => p.name === port)?.containerPort as number | undefined;
}

interface PillionContainer { c: Obj; native: boolean; index: number; file: string; workload: Obj; spec: Obj }

function pillionContainers(mode: string): PillionContainer[] {
  const out: PillionContainer[] = [];
  for (const { file, obj } of objects) {
    const spec = podSpecOf(obj);
    if (!spec) continue;
    const lists: [Obj[], boolean][] = [[spec.initContainers ?? [], true], [spec.containers ?? [], false]];
    for (const [list, native] of lists) {
      list.forEach((c, index) => {
        if (String(c.image).startsWith('pillion:') && (c.args as string[])[0] === mode) out.push({ c, native, index, file, workload: obj, spec });
      });
    }
  }
  return out;
}

/** The argument after a flag in a container's args, or undefined. */
function flagValue(args: string[], flag: string): string | undefined {
  const i = args.indexOf(flag);
  return i < 0 ? undefined : args[i + 1];
}

/** The pillion config a proxy container runs: the file it names (from its ConfigMap) or the default. */
function configFileOf(p: PillionContainer): string | null {
  const args = p.c.args as string[];
  const i = args.indexOf('--config');
  if (i < 0) return null;
  let container = p.c;
  let path = args[i + 1]!;
  let mountDir = dirname(path);
  let mount = (container.volumeMounts as Obj[]).find((m) => m.mountPath === mountDir)!;
  assert.ok(mount, `${p.file}: a volume is mounted at ${mountDir}`);
  let vol = (p.spec.volumes as Obj[]).find((v) => v.name === mount.name)!;
  // The config may be an emptyDir that a config-sync sidecar fills from a ConfigMap
  // (deploy/sync/config-sync-configmap.yaml): then the config the proxy runs is that ConfigMap's key,
  // so follow config-sync's --configmap-dir and --key back to it. Any other emptyDir still fails below.
  if (vol.emptyDir) {
    const sync = [...(p.spec.initContainers ?? [])].find((c: Obj) => String(c.image).startsWith('pillion:') &&
      (c.args as string[])[0] === 'config-sync' && flagValue(c.args as string[], '--dest') === path) as Obj | undefined;
    const dir = sync && flagValue(sync.args as string[], '--configmap-dir');
    if (sync && dir !== undefined) {
      container = sync;
      path = `${dir}/${flagValue(sync.args as string[], '--key')}`;
      mountDir = dir;
      mount = (container.volumeMounts as Obj[]).find((m) => m.mountPath === mountDir)!;
      assert.ok(mount, `${p.file}: config-sync mounts ${mountDir}`);
      vol = (p.spec.volumes as Obj[]).find((v) => v.name === mount.name)!;
    }
  }
  const cmName = vol.configMap?.name as string;
  assert.ok(cmName, `${p.file}: ${mountDir} is a ConfigMap volume (or an emptyDir config-sync fills from one)`);
  // the ConfigMap comes from a configMapGenerator in the kustomization beside the manifest
  const kdir = dirname(p.file);
  const k = parsed.get(`${kdir}/kustomization.yaml`)![0]!;
  const gen = (k.configMapGenerator as Obj[]).find((g) => g.name === cmName)!;
  assert.ok(gen, `${kdir}/kustomization.yaml generates ConfigMap ${cmName}`);
  const key = posix.basename(path);
  const entry = (gen.files as string[]).map((f) => (f.includes('=') ? f.split('=') : [posix.basename(f), f]))
    .find(([k2]) => k2 === key);
  assert.ok(entry, `ConfigMap ${cmName} has the key ${key}`);
  return `${kdir}/${entry[1]}`;
}

function check(args: string[]): { status: number | null; out: string; err: string } {
  const r = spawnSync(process.execPath, [CLI, 'proxy', ...args, '--check'], { encoding: 'utf8', timeout: 20_000 });
  return { status: r.status, out: r.stdout, err: r.stderr };
}

test('every YAML file in deploy/ parses', () => {
  assert.ok(yamlFiles.length >= 10, yamlFiles.join(' '));
  for (const [f, docs] of parsed) assert.ok(docs.length > 0, `${f} has documents`);
});

test('every Kubernetes object validates against the Kubernetes schemas', () => {
  assert.ok(objects.length >= 10);
  const kinds = new Set(objects.map((o) => o.obj.kind));
  for (const k of ['Deployment', 'DaemonSet', 'Service', 'Namespace', 'NetworkPolicy']) assert.ok(kinds.has(k), `a ${k}`);
  for (const { file, obj } of objects) {
    assert.deepEqual(k8sErrors(obj), [], `${file}: ${obj.kind} ${obj.metadata?.name}`);
  }
});

test('the schema check catches mistakes (a wrong type, a missing field, an unknown kind)', () => {
  // The native-sidecar web Deployment: its first init container has two ports.
  const web = () => objects.find((o) => o.obj.kind === 'Deployment' && o.file === 'deploy/sidecar/deployment.yaml')!.obj;
  const dep = structuredClone(web());
  dep.spec.template.spec.initContainers[0].ports[0].containerPort = '15001';
  assert.match(k8sErrors(dep).join('\n'), /containerPort must be integer/);
  const svc = structuredClone(objects.find((o) => o.obj.kind === 'Service')!.obj);
  svc.spec.ports[0].port = undefined;
  delete svc.spec.ports[0].port;
  assert.match(k8sErrors(svc).join('\n'), /port/);
  assert.match(k8sErrors({ apiVersion: 'v1', kind: 'Podd' }).join(), /no Kubernetes schema/);
  // unknown fields, as kubectl --validate=strict: a misspelt key at any depth
  const typo = structuredClone(web());
  typo.spec.template.spec.initContainers[0].restartpolicy = 'Always';
  typo.spec.template.spec.terminationGracePeriodSecond = 60;
  typo.spec.template.spec.initContainers[0].ports[1].containerport = 1;
  typo.spec.template.spec.initContainers[0].startupProbe.httpGet.paht = '/';
  const errs = k8sErrors(typo);
  for (const f of ['Deployment.spec.template.spec.initContainers[0].restartpolicy', 'Deployment.spec.template.spec.terminationGracePeriodSecond',
    'Deployment.spec.template.spec.initContainers[0].ports[1].containerport', 'Deployment.spec.template.spec.initContainers[0].startupProbe.httpGet.paht']) {
    assert.ok(errs.includes(`${f}: unknown field`), `${f} in ${errs.join('; ')}`);
  }
  // maps (labels, annotations, ConfigMap data) take any key
  const cm = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x', labels: { anything: 'y' } }, data: { 'any.key': 'v' } };
  assert.deepEqual(k8sErrors(cm), []);
});

test('kustomizations: every reference exists, and every manifest and config is reached from deploy/kustomization.yaml', () => {
  const reached = new Set<string>();
  const visit = (dir: string): void => {
    const kf = `${dir}/kustomization.yaml`;
    assert.ok(parsed.has(kf), `${kf} exists`);
    reached.add(kf);
    const k = parsed.get(kf)![0]!;
    assert.equal(k.apiVersion, 'kustomize.config.k8s.io/v1beta1');
    for (const r of (k.resources ?? []) as string[]) {
      const p = posix.normalize(`${dir}/${r}`);
      assert.ok(existsSync(join(ROOT, p)), `${kf}: ${r} exists`);
      if (statSync(join(ROOT, p)).isDirectory()) visit(p);
      else reached.add(p);
    }
    for (const g of [...(k.configMapGenerator ?? []), ...(k.secretGenerator ?? [])] as Obj[]) {
      for (const f of (g.files ?? []) as string[]) {
        const p = posix.normalize(`${dir}/${f.includes('=') ? f.split('=')[1] : f}`);
        assert.ok(!p.startsWith('..') && existsSync(join(ROOT, p)), `${kf}: ${f} exists inside the kustomization`);
        reached.add(p);
      }
    }
  };
  visit('deploy');
  for (const [f] of manifests) assert.ok(reached.has(f), `${f} is in a kustomization`);
  for (const f of pillionConfigs) assert.ok(reached.has(f), `${f} is in a configMapGenerator`);
  for (const f of listRepo('deploy').filter((x) => x.endsWith('.conf'))) assert.ok(reached.has(f), `${f} is in a configMapGenerator`);
});

test('one image name everywhere: pillion:<package.json version> (manifests, compose, docs)', () => {
  const images: string[] = [];
  for (const { obj } of objects) {
    const spec = podSpecOf(obj);
    for (const c of [...(spec?.initContainers ?? []), ...(spec?.containers ?? [])] as Obj[]) {
      if (String(c.image).startsWith('pillion')) images.push(c.image as string);
    }
  }
  const compose = parsed.get('deploy/compose.yaml')![0]!;
  for (const s of Object.values(compose.services as Record<string, Obj>)) {
    if (String(s.image).startsWith('pillion')) images.push(s.image as string);
  }
  assert.ok(images.length >= 6);
  for (const i of images) assert.equal(i, IMAGE);
  const k = parsed.get('deploy/kustomization.yaml')![0]!;
  assert.deepEqual(k.images, [{ name: 'pillion', newTag: VERSION }]);
  assert.match(readRepo('Dockerfile'), new RegExp(`docker build -t ${IMAGE.replace('.', '\\.')} \\.`));
  for (const doc of ['docs/deploy.md', 'docs/sync.md']) {
    const names = readRepo(doc).match(/\bpillion:\d+\.\d+\.\d+\b/g) ?? [];
    for (const n of names) assert.equal(n, IMAGE, doc);
  }
});

test('sidecar configs: the native sidecar and compose run the README default, the legacy sidecar the embedded one', () => {
  const def = check(['--admin', '0.0.0.0:15000']);
  assert.equal(def.status, 0, def.err);
  const file = check(['--config', join(ROOT, 'deploy/sidecar/pillion.yaml'), '--admin', '0.0.0.0:15000']);
  assert.equal(file.status, 0, file.err);
  assert.deepEqual(JSON.parse(file.out), JSON.parse(def.out), 'deploy/sidecar/pillion.yaml is the embedded default');
  const readme = readRepo('README.md');
  assert.match(readme, /listens on `0\.0\.0\.0:15001`, forwards everything\s+to `http:\/\/127\.0\.0\.1:8080`/);
  const c = JSON.parse(def.out) as Obj;
  assert.equal(c.listeners[0].port, 15001);
  assert.deepEqual(c.clusters[0].endpoints, ['http://127.0.0.1:8080']);
  const legacy = pillionContainers('proxy').filter((p) => !p.native);
  assert.equal(legacy.length, 1);
  assert.deepEqual(legacy[0]!.c.args, ['proxy', '--admin', '0.0.0.0:15000'], 'no --config: the embedded default');
  const pillion = (parsed.get('deploy/compose.yaml')![0]!.services as Obj).pillion as Obj;
  assert.ok((pillion.volumes as string[]).includes('./sidecar/pillion.yaml:/etc/pillion/pillion.yaml:ro'));
  assert.deepEqual(pillion.command, ['proxy', '--config', '/etc/pillion/pillion.yaml', '--watch']);
});

test('every pillion config in deploy/ passes `pillion proxy --check`', (t) => {
  assert.ok(pillionConfigs.length >= 3);
  for (const f of pillionConfigs) {
    // --check reads certificate files: the mesh configs are checked (and run) with real ones in mesh.test.ts
    if (readRepo(f).includes('/etc/pillion/tls/')) {
      t.diagnostic(`${f}: checked with certificates from make-certs.sh in mesh.test.ts`);
      continue;
    }
    const r = check(['--config', join(ROOT, f)]);
    assert.equal(r.status, 0, `${f}: ${r.err}`);
  }
});

test('proxy sidecars: probes on the admin port, admin reachable by the kubelet, proxy and admin ports named', () => {
  const sidecars = pillionContainers('proxy');
  assert.equal(sidecars.length, 6, 'web, web-legacy, frontend, backend, web-synced, web-transparent');
  for (const p of sidecars) {
    const where = `${p.file} ${p.c.name}`;
    const args = p.c.args as string[];
    // the admin binds 127.0.0.1 unless told: the kubelet probes from the node (docs/deploy.md)
    assert.equal(args[args.indexOf('--admin') + 1], '0.0.0.0:15000', where);
    assert.equal(portNumber(p.c, 'admin'), 15000, where);
    assert.equal(p.c.ports.find((x: Obj) => x.containerPort === 15001) !== undefined, true, where);
    for (const probe of ['startupProbe', 'readinessProbe', 'livenessProbe']) {
      const h = p.c[probe]?.httpGet as Obj | undefined;
      assert.ok(h, `${where}: ${probe} is an httpGet`);
      assert.equal(portNumber(p.c, h.port), 15000, `${where}: ${probe} on the admin port`);
    }
    assert.equal(p.c.startupProbe.httpGet.path, '/ready');
    assert.equal(p.c.readinessProbe.httpGet.path, '/ready');
    // /ready is 503 while draining and after /healthcheck/fail: liveness must not restart on either
    assert.notEqual(p.c.livenessProbe.httpGet.path, '/ready', `${where}: liveness is not /ready`);
    assert.ok(p.c.startupProbe.periodSeconds * p.c.startupProbe.failureThreshold >= 10, `${where}: startup window`);
  }
});

test('resources: requests and limits, memory limit above the measured peak RSS', () => {
  const MEASURED_PEAK = 116 * 1024 ** 2; // docs/deploy.md, "Resources" (the higher of the two runs)
  for (const p of [...pillionContainers('proxy'), ...pillionContainers('agent')]) {
    const r = p.c.resources as Obj;
    const where = `${p.file} ${p.c.name}`;
    for (const k of ['cpu', 'memory']) {
      assert.ok(r.requests?.[k] !== undefined, `${where}: requests.${k}`);
      assert.ok(r.limits?.[k] !== undefined, `${where}: limits.${k}`);
      assert.ok(quantity(r.requests[k]) <= quantity(r.limits[k]), `${where}: ${k} request <= limit`);
    }
    if (p.c.args[0] === 'proxy') {
      assert.ok(quantity(r.limits.memory) >= 1.5 * MEASURED_PEAK, `${where}: memory limit leaves room above ${MEASURED_PEAK}`);
      assert.ok(quantity(r.requests.memory) >= 73 * 1024 ** 2, `${where}: memory request >= idle RSS`);
    }
  }
  // every container in deploy/ has a memory limit: a sidecar's neighbour can starve it too
  for (const { file, obj } of objects) {
    const spec = podSpecOf(obj);
    for (const c of [...(spec?.initContainers ?? []), ...(spec?.containers ?? [])] as Obj[]) {
      assert.ok(c.resources?.limits?.memory, `${file} ${c.name}: memory limit`);
      assert.ok(c.resources?.requests?.cpu, `${file} ${c.name}: cpu request`);
    }
  }
});

test('terminationGracePeriodSeconds is longer than the app preStop, pillion preStop and drain together', () => {
  for (const p of pillionContainers('proxy')) {
    const cfgFile = configFileOf(p);
    const cfg = cfgFile ? loadYamlDocs(readRepo(cfgFile))[0]! : {};
    const drain = seconds((cfg.drain_time as string | undefined) ?? '5s') + seconds((cfg.drain_timeout as string | undefined) ?? '30s');
    let before = 0;
    for (const c of p.spec.containers as Obj[]) {
      if (c === p.c) continue;
      const pre = c.lifecycle?.preStop as Obj | undefined;
      if (pre?.sleep) before = Math.max(before, pre.sleep.seconds as number);
      if (pre?.exec) before = Math.max(before, Number(/sleep (\d+)/.exec((pre.exec.command as string[]).join(' '))?.[1] ?? 0));
    }
    const own = p.c.lifecycle?.preStop?.exec?.command as string[] | undefined;
    // the legacy preStop waits for the app; it runs while the app's own preStop runs, so it covers it
    if (own) before = Math.max(before, Number(own[own.length - 1]));
    const grace = p.spec.terminationGracePeriodSeconds as number;
    assert.ok(grace > before + drain, `${p.file}: ${grace} s > ${before} s before the drain + ${drain} s of drain`);
  }
});

test('native sidecar: an init container with restartPolicy Always, before the app', () => {
  const natives = pillionContainers('proxy').filter((p) => p.native);
  assert.equal(natives.length, 5);
  for (const p of natives) {
    assert.equal(p.c.restartPolicy, 'Always', p.file);
    assert.ok(p.c.startupProbe, `${p.file}: the app waits for the startup probe`);
    assert.ok((p.spec.containers as Obj[]).every((c) => !String(c.image).startsWith('pillion')), p.file);
  }
});

test('legacy sidecar: first container, postStart waits for /ready, preStop waits for the app to close', () => {
  const [p] = pillionContainers('proxy').filter((x) => !x.native);
  assert.ok(p);
  assert.equal(p.index, 0, 'pillion is the first container: the kubelet starts them in order');
  assert.deepEqual(p.c.lifecycle.postStart.exec.command.slice(0, 3), ['node', '/app/probe.mjs', 'wait-ready']);
  assert.equal(p.c.lifecycle.postStart.exec.command[3], 'http://127.0.0.1:15000/ready');
  assert.deepEqual(p.c.lifecycle.preStop.exec.command.slice(0, 4), ['node', '/app/probe.mjs', 'wait-closed', '127.0.0.1:8080']);
  assert.equal(p.c.restartPolicy, undefined);
});

test('Services point at the proxy port, never at the app', () => {
  const services = objects.filter((o) => o.obj.kind === 'Service' && o.obj.metadata.name !== 'pillion-agent');
  let checked = 0;
  for (const { file, obj } of services) {
    const sel = obj.spec.selector as Record<string, string>;
    const workload = objects.find((o) => podSpecOf(o.obj) !== null && o.obj.spec.template &&
      Object.entries(sel).every(([k, v]) => o.obj.spec.template.metadata.labels[k] === v));
    assert.ok(workload, `${file}: the Service selects a workload`);
    const spec = podSpecOf(workload.obj)!;
    // The rule is about pods with a pillion proxy. A pod with only a sync sidecar (file-sync's
    // StatefulSet and its headless Service) has no proxy port: its Service targets the app.
    const pillion = [...(spec.initContainers ?? []), ...spec.containers]
      .find((c: Obj) => String(c.image).startsWith('pillion') && (c.args as string[])[0] === 'proxy');
    if (!pillion) {
      assert.ok([...(spec.initContainers ?? []), ...spec.containers].some((c: Obj) => /^(config|file)-sync$/.test((c.args as string[] | undefined)?.[0] ?? '')),
        `${file}: a pod without a proxy is a sync example`);
      continue;
    }
    checked++;
    for (const port of obj.spec.ports as Obj[]) {
      assert.equal(portNumber(pillion, port.targetPort), 15001, `${file}: targetPort ${port.targetPort} is pillion's 15001`);
    }
  }
  assert.equal(checked, 6, 'web, web-legacy, frontend, backend, web-synced, web-transparent');
});

test('sidecars share an emptyDir for logs; security contexts are non-root and read-only', () => {
  for (const p of pillionContainers('proxy')) {
    const logs = (p.spec.volumes as Obj[]).find((v) => v.name === 'logs');
    assert.ok(logs?.emptyDir, `${p.file}: logs emptyDir`);
    const users = [p.c, ...(p.spec.containers as Obj[])].filter((c) => (c.volumeMounts as Obj[] | undefined)?.some((m) => m.name === 'logs'));
    assert.ok(users.length >= 2, `${p.file}: pillion and the app share it`);
    const sc = p.c.securityContext as Obj;
    assert.equal(sc.runAsNonRoot, true);
    assert.equal(sc.readOnlyRootFilesystem, true);
    assert.equal(sc.allowPrivilegeEscalation, false);
    assert.deepEqual(sc.capabilities.drop, ['ALL']);
  }
});

/**
 * The one container in deploy/ that may run as root: an init container that runs to completion (no
 * restartPolicy) with the args `iptables install ...` (deploy/transparent/). Programming the pod's
 * network namespace needs CAP_NET_ADMIN (and CAP_NET_RAW for the iptables-legacy backend), and
 * Kubernetes gives capabilities to a non-root process only through file capabilities on the binary
 * (allowPrivilegeEscalation would have to be true for those to apply); istio-init runs as root for
 * the same reason. It gets nothing else: every other capability dropped, no escalation, not
 * privileged, a read-only root filesystem, and never in a hostNetwork pod (the rules would be the
 * node's). Every other pillion container stays non-root with nothing added.
 */
function isIptablesInit(spec: Obj, c: Obj): boolean {
  const args = (c.args ?? []) as string[];
  return (spec.initContainers ?? []).includes(c) && c.restartPolicy === undefined && c.command === undefined &&
    args[0] === 'iptables' && args[1] === 'install';
}

/**
 * The other container that may run as uid 0: `pillion logs --kubernetes` in a DaemonSet
 * (deploy/logs/daemonset.yaml). Container logs are 0640 root:root, so it reads them as their owner, with
 * every capability dropped (no CAP_DAC_OVERRIDE), as Fluent Bit and Vector run for the same files. Every
 * host path it mounts is read-only except its state directory.
 */
function isNodeLogs(obj: Obj, c: Obj): boolean {
  const args = (c.args ?? []) as string[];
  return obj.kind === 'DaemonSet' && args[0] === 'logs' && args.includes('--kubernetes');
}

test('security contexts: every pillion container non-root, read-only, no escalation, ALL dropped; only the iptables init container (with NET_ADMIN/NET_RAW) and the node log collector (no capability) run as root', () => {
  let checked = 0;
  let iptablesInits = 0;
  let nodeLogs = 0;
  for (const { file, obj } of objects) {
    const spec = podSpecOf(obj);
    if (!spec) continue;
    const pod = (spec.securityContext ?? {}) as Obj;
    for (const c of [...(spec.initContainers ?? []), ...(spec.containers ?? [])] as Obj[]) {
      if (!String(c.image).startsWith('pillion:')) continue;
      checked++;
      const where = `${file} ${c.name}`;
      const sc = (c.securityContext ?? {}) as Obj;
      assert.equal(sc.allowPrivilegeEscalation, false, `${where}: allowPrivilegeEscalation false`);
      assert.equal(sc.readOnlyRootFilesystem, true, `${where}: read-only root filesystem`);
      assert.notEqual(sc.privileged, true, `${where}: not privileged`);
      assert.deepEqual(sc.capabilities?.drop, ['ALL'], `${where}: every capability dropped`);
      for (const k of ['procMount', 'seLinuxOptions', 'windowsOptions', 'appArmorProfile']) assert.equal(sc[k], undefined, `${where}: no ${k}`);
      assert.notEqual(sc.seccompProfile?.type ?? pod.seccompProfile?.type, 'Unconfined', where);
      const uid = sc.runAsUser ?? pod.runAsUser;
      if (isIptablesInit(spec, c)) {
        iptablesInits++;
        assert.notEqual(spec.hostNetwork, true, `${where}: the pod's own network namespace, never the node's`);
        assert.equal(uid, 0, `${where}: root`);
        assert.equal(sc.runAsNonRoot, false, where);
        const add = (sc.capabilities.add ?? []) as string[];
        assert.ok(add.includes('NET_ADMIN'), `${where}: NET_ADMIN`);
        assert.deepEqual(add.filter((x) => x !== 'NET_ADMIN' && x !== 'NET_RAW'), [], `${where}: NET_ADMIN and NET_RAW only`);
      } else if (isNodeLogs(obj, c) && uid === 0) {
        nodeLogs++;
        assert.equal(sc.runAsNonRoot, false, where);
        assert.equal(sc.capabilities.add, undefined, `${where}: no capability added`);
        assert.notEqual(spec.hostNetwork, true, `${where}: no host network`);
        assert.notEqual(spec.hostPID, true, `${where}: no host PID namespace`);
        const state = (c.args as string[]).find((a) => a.startsWith('--state-dir='))!.split('=')[1];
        for (const m of c.volumeMounts as Obj[]) {
          const vol: Obj = (spec.volumes as Obj[]).find((v) => v.name === m.name)!;
          if (vol.hostPath && m.mountPath !== state) assert.equal(m.readOnly, true, `${where}: host path ${vol.hostPath.path} read-only`);
        }
      } else {
        assert.equal(sc.runAsNonRoot ?? pod.runAsNonRoot, true, `${where}: runAsNonRoot`);
        assert.ok(uid === undefined || uid !== 0, `${where}: not uid 0`);
        assert.equal(sc.capabilities.add, undefined, `${where}: no capability added`);
      }
    }
  }
  assert.ok(checked >= 10, `${checked} pillion containers`);
  assert.equal(iptablesInits, 1, 'deploy/transparent/ has the only root init container');
  assert.equal(nodeLogs, 1, 'deploy/logs/ has the only root DaemonSet');
});

test('transparent variant: iptables init container, then the native sidecar as the uid the rules exclude, on the ports the rules redirect to', () => {
  const pods = objects.filter((o) => (podSpecOf(o.obj)?.initContainers as Obj[] | undefined)?.some((c) => (c.args as string[] | undefined)?.[0] === 'iptables'));
  assert.deepEqual(pods.map((o) => o.file), ['deploy/transparent/deployment.yaml']);
  const { file, obj } = pods[0]!;
  const spec = podSpecOf(obj)!;
  const [rules, proxy, ...more] = spec.initContainers as Obj[];
  assert.deepEqual(more, [], 'two init containers');
  // order: the rules first (run to completion), then pillion as a native sidecar, then the app
  assert.ok(isIptablesInit(spec, rules!), `${file}: initContainers[0] runs \`pillion iptables install\` to completion`);
  assert.equal(proxy!.args[0], 'proxy');
  assert.equal(proxy!.restartPolicy, 'Always', 'pillion is a native sidecar after the rules');
  assert.equal(proxy!.image, rules!.image, 'one image: the rules come from the same build');
  // every flag exists: the CLI's own parser and its --help; a dry run prints the rules
  const args = (rules!.args as string[]).slice(1);
  const a = parseIptablesArgs(args);
  assert.notEqual(a, 'help');
  if (a === 'help') return;
  assert.equal(a.action, 'install');
  for (const f of args.filter((x) => x.startsWith('--'))) assert.ok(IPTABLES_HELP.includes(`  ${f} `), `pillion iptables --help lists ${f}`);
  const dry = spawnSync(process.execPath, [CLI, 'iptables', ...args, '--dry-run'], { encoding: 'utf8', timeout: 20_000 });
  assert.equal(dry.status, 0, dry.stderr);
  // the proxy runs as the uid (and gid, if any) the rules exclude, and nothing else in the pod does
  const pod = (spec.securityContext ?? {}) as Obj;
  const uid = (proxy!.securityContext?.runAsUser ?? pod.runAsUser) as number;
  assert.deepEqual(a.options.proxyUids, [uid], `pillion's runAsUser ${uid} is --proxy-uid (default 1337)`);
  assert.match(dry.stdout, new RegExp(`--uid-owner ${uid} -j RETURN`));
  if (a.options.proxyGids.length > 0) assert.deepEqual(a.options.proxyGids, [proxy!.securityContext?.runAsGroup ?? pod.runAsGroup]);
  for (const c of spec.containers as Obj[]) {
    assert.notEqual(c.securityContext?.runAsUser ?? pod.runAsUser, uid, `${c.name}: not the proxy's uid (its traffic would not be redirected)`);
  }
  // the ports: the redirect targets are the config's transparent tcp listeners, bound where REDIRECT
  // delivers (the wildcard of the family the rules cover)
  const cfg = loadYamlDocs(readRepo(configFileOf({ c: proxy!, native: true, index: 1, file, workload: obj, spec })!))[0]!;
  const transparent = (cfg.tcp_listeners as Obj[]).filter((l) => l.original_dst === true);
  assert.deepEqual(transparent.map((l) => l.port).sort(), [a.options.inboundPort, a.options.outboundPort].sort(),
    'the tcp_listeners with original_dst are on --inbound-port and --outbound-port');
  for (const l of transparent) assert.equal(l.address, a.ipv6 ? '::' : '0.0.0.0', `${l.name}: bound for the rules' family`);
  assert.match(dry.stdout, new RegExp(`REDIRECT --to-ports ${a.options.inboundPort}\\n`));
  assert.match(dry.stdout, new RegExp(`REDIRECT --to-ports ${a.options.outboundPort}\\n`));
  // the admin port the probes use is never redirected; the Service's port reaches the HTTP listener directly
  assert.equal(a.options.adminPort, portNumber(proxy!, 'admin'));
  assert.equal(Number(flagValue(proxy!.args as string[], '--admin')!.split(':').pop()), a.options.adminPort);
  assert.ok(a.options.excludeInboundPorts.includes(portNumber(proxy!, 'http-proxy')!), '15001 excluded from the inbound redirect');
  assert.ok((cfg.listeners as Obj[]).some((l) => l.port === portNumber(proxy!, 'http-proxy')), 'the HTTP listener is on 15001');
  // iptables-legacy takes /run/xtables.lock: a writable emptyDir there, the root filesystem stays read-only
  const run = (rules!.volumeMounts as Obj[]).find((m) => m.mountPath === '/run')!;
  assert.ok(run && run.readOnly !== true, '/run is writable');
  assert.ok((spec.volumes as Obj[]).find((v) => v.name === run.name)?.emptyDir, '/run is an emptyDir');
});

test('mesh: two services, a ConfigMap each, TLS between the sidecars from a Secret, calls through the local sidecar', () => {
  const mesh = pillionContainers('proxy').filter((p) => p.file.startsWith('deploy/mesh/'));
  assert.equal(mesh.length, 2);
  const cms = new Set<string>();
  for (const p of mesh) {
    const cfgFile = configFileOf(p)!;
    const cfg = loadYamlDocs(readRepo(cfgFile))[0]!;
    cms.add(cfgFile);
    const inbound = (cfg.listeners as Obj[]).find((l) => l.port === 15001)!;
    assert.ok(inbound.tls?.cert && inbound.tls.key && inbound.tls.ca, `${cfgFile}: inbound TLS`);
    assert.equal(inbound.tls.require_client_certificate, true);
    assert.equal(inbound.front, 'node', 'mTLS needs the node front (docs/config.md)');
    const peerName = p.workload.metadata.name === 'frontend' ? 'backend' : 'frontend';
    assert.deepEqual(inbound.routes[0].allowed_client_sans, [peerName], 'only the peer may call');
    const outbound = (cfg.listeners as Obj[]).find((l) => l.address === '127.0.0.1')!;
    const peer = (cfg.clusters as Obj[]).find((c) => c.name === outbound.routes[0].cluster)!;
    assert.match(peer.endpoints[0], /^https:\/\/(frontend|backend):15001$/);
    assert.ok(peer.tls?.ca && peer.tls.cert && peer.tls.key, `${cfgFile}: client certificate to the peer`);
    // the certificate paths live on the Secret volume
    const tlsMount = (p.c.volumeMounts as Obj[]).find((m) => m.mountPath === '/etc/pillion/tls')!;
    const vol = (p.spec.volumes as Obj[]).find((v) => v.name === tlsMount.name)!;
    assert.match(vol.secret.secretName, /^(frontend|backend)-tls$/);
    for (const path of [inbound.tls.cert, inbound.tls.key, inbound.tls.ca]) assert.ok(path.startsWith('/etc/pillion/tls/'));
    // the app's nginx calls the peer through the local outbound listener
    const nginx = readRepo(`deploy/mesh/${p.workload.metadata.name}-nginx.conf`);
    assert.match(nginx, new RegExp(`proxy_pass http://127\\.0\\.0\\.1:${outbound.port}/`));
  }
  assert.equal(cms.size, 2, 'a ConfigMap per sidecar');
  // make-certs.sh names the same Secrets and keys
  const script = readRepo('deploy/mesh/make-certs.sh');
  for (const s of ['$svc-tls', 'ca.crt:', 'tls.crt:', 'tls.key:', 'for svc in frontend backend']) assert.ok(script.includes(s), s);
});

test('agent DaemonSet: host /proc, /sys and / read-only, hostNetwork and hostPID, flags the agent knows', () => {
  const [a] = pillionContainers('agent');
  assert.ok(a);
  assert.equal(a.workload.kind, 'DaemonSet');
  assert.equal(a.spec.hostNetwork, true);
  assert.equal(a.spec.hostPID, true);
  assert.equal(a.spec.automountServiceAccountToken, false, 'no API access, no RBAC');
  assert.ok(!objects.some((o) => /Role/.test(o.obj.kind)), 'no RBAC objects');
  const args = a.c.args as string[];
  const flag = (n: string) => args.find((x) => x.startsWith(`--${n}=`))?.split('=')[1];
  for (const [hostPath, f] of [['/proc', 'path.procfs'], ['/sys', 'path.sysfs'], ['/', 'path.rootfs']] as const) {
    const vol = (a.spec.volumes as Obj[]).find((v) => v.hostPath?.path === hostPath)!;
    assert.ok(vol, `hostPath ${hostPath}`);
    const m = (a.c.volumeMounts as Obj[]).find((x) => x.name === vol.name)!;
    assert.equal(m.readOnly, true, `${hostPath} read-only`);
    assert.equal(flag(f), m.mountPath, `--${f} names the mount`);
  }
  assert.equal((a.c.volumeMounts as Obj[]).find((m) => m.mountPath === flag('path.rootfs'))!.mountPropagation, 'HostToContainer');
  assert.equal(portNumber(a.c, a.c.readinessProbe.httpGet.port), 9100);
  assert.equal(flag('web.listen-address'), ':9100');
  assert.equal(a.c.securityContext.readOnlyRootFilesystem, true);
  assert.equal(a.spec.securityContext.runAsNonRoot, true);
  // the image's entrypoint runs `pillion agent`, which sets its V8 footprint settings itself (src/agent/lean-v8.ts)
  assert.equal(a.c.command, undefined, 'no command override');
  // the flags exist in this build of the agent
  const help = spawnSync(process.execPath, [CLI, 'agent', '--help'], { encoding: 'utf8' });
  for (const x of args.slice(1)) assert.ok(help.stdout.includes(`--${x.slice(2).split('=')[0]}=`), `agent knows ${x}`);
});

test('compose: pillion owns the network namespace, the app joins it after pillion is healthy', () => {
  const compose = parsed.get('deploy/compose.yaml')![0]!;
  const s = compose.services as Record<string, Obj>;
  assert.equal(s.app!.network_mode, 'service:pillion');
  assert.equal(s.app!.depends_on.pillion.condition, 'service_healthy');
  assert.ok((s.pillion!.ports as string[]).includes('15001:15001'));
  assert.ok(seconds(s.pillion!.stop_grace_period as string) > 35, 'stop_grace_period covers the drain');
  assert.equal(s.pillion!.build.dockerfile, 'Dockerfile');
  assert.equal(s.pillion!.build.context, '..');
});

test('every pod with an admin port open to the network has a NetworkPolicy that keeps it for monitoring', () => {
  const policies = objects.filter((o) => o.obj.kind === 'NetworkPolicy').map((o) => o.obj);
  for (const p of pillionContainers('proxy')) {
    const labels = p.workload.spec.template.metadata.labels as Record<string, string>;
    const pol = policies.find((n) => Object.entries(n.spec.podSelector.matchLabels as Record<string, string>).every(([k, v]) => labels[k] === v));
    assert.ok(pol, `${p.file}: a NetworkPolicy selects the pods`);
    assert.deepEqual(pol.spec.policyTypes, ['Ingress']);
    const rules = pol.spec.ingress as Obj[];
    const open = rules.filter((r) => r.from === undefined).flatMap((r) => r.ports.map((x: Obj) => x.port));
    assert.deepEqual(open, [15001], `${p.file}: only the proxy port is open to all`);
    const admin = rules.find((r) => r.ports.some((x: Obj) => x.port === 15000))!;
    assert.ok(admin.from?.length > 0, `${p.file}: the admin port has a from`);
    for (const f of admin.from as Obj[]) assert.equal(f.podSelector.matchLabels['app.kubernetes.io/component'], 'monitoring');
  }
});

test('sync sidecars (deploy/sync/): native, real flags, probes on the status port, resources, security, NetworkPolicy, grace period', () => {
  const syncs = [...pillionContainers('config-sync'), ...pillionContainers('file-sync')];
  assert.deepEqual(syncs.map((p) => `${p.workload.metadata.name}/${p.c.name}`).sort(),
    ['notes/file-sync', 'shop/config-sync', 'web-synced/pillion-config-sync']);
  const help = {
    'config-sync': spawnSync(process.execPath, [CLI, 'config-sync', '--help'], { encoding: 'utf8' }).stdout,
    'file-sync': spawnSync(process.execPath, [CLI, 'file-sync', '--help'], { encoding: 'utf8' }).stdout,
  };
  const policies = objects.filter((o) => o.obj.kind === 'NetworkPolicy').map((o) => o.obj);
  for (const p of syncs) {
    const where = `${p.file} ${p.c.name}`;
    const args = p.c.args as string[];
    const mode = args[0] as 'config-sync' | 'file-sync';
    // the flags exist in this build, as its --help lists them and as its parser takes them
    for (const a of args.slice(1).filter((x) => x.startsWith('--'))) assert.ok(help[mode].includes(`  ${a.split('=')[0]} `), `${where}: ${mode} --help lists ${a}`);
    assert.doesNotThrow(() => parseFlags(args.slice(1), mode === 'config-sync' ? CONFIG_SYNC_FLAGS : FILE_SYNC_FLAGS), where);
    // a native sidecar: it starts before the app and stops after it
    assert.ok(p.native, `${where}: an init container`);
    assert.equal(p.c.restartPolicy, 'Always', where);
    // the status endpoint listens where the kubelet can reach it, on a named port the probes use
    const addr = flagValue(args, '--status-addr') ?? (mode === 'config-sync' ? '0.0.0.0:15020' : '0.0.0.0:15021');
    const [host, port] = [addr.slice(0, addr.lastIndexOf(':')), Number(addr.slice(addr.lastIndexOf(':') + 1))];
    assert.equal(host, '0.0.0.0', `${where}: the kubelet probes from the node`);
    assert.equal(p.c.ports.find((x: Obj) => x.containerPort === port)?.name, 'sync-status', where);
    assert.equal(p.c.livenessProbe?.httpGet?.path, '/healthz', `${where}: liveness`);
    assert.equal(portNumber(p.c, p.c.livenessProbe.httpGet.port), port, `${where}: liveness on the status port`);
    if (mode === 'config-sync') {
      // the app (or the next sidecar) starts only after the first good sync: /ready in the startupProbe
      assert.equal(p.c.startupProbe?.httpGet?.path, '/ready', `${where}: startupProbe holds the app until the config exists`);
      assert.equal(portNumber(p.c, p.c.startupProbe.httpGet.port), port, where);
      assert.ok(p.c.startupProbe.periodSeconds * p.c.startupProbe.failureThreshold >= 30, `${where}: startup window`);
      // the destination is an emptyDir the sidecar writes and another container reads
      const dest = flagValue(args, '--dest')!;
      const m = (p.c.volumeMounts as Obj[]).find((x) => x.mountPath === dirname(dest))!;
      assert.ok(m && !m.readOnly, `${where}: ${dirname(dest)} is mounted writable`);
      assert.ok((p.spec.volumes as Obj[]).find((v) => v.name === m.name)?.emptyDir, `${where}: ${dirname(dest)} is an emptyDir`);
      const readers = [...(p.spec.initContainers ?? []), ...p.spec.containers].filter((c: Obj) => c !== p.c &&
        (c.volumeMounts as Obj[] | undefined)?.some((x) => x.name === m.name && x.readOnly === true));
      assert.ok(readers.length >= 1, `${where}: another container reads ${dirname(dest)} read-only`);
      if (args.includes('--signal-process-name')) assert.equal(p.spec.shareProcessNamespace, true, `${where}: signalling by name needs one process namespace`);
    } else {
      // a native sidecar's readiness counts towards the pod's: the backup must not keep the app out of its Service
      assert.equal(p.c.readinessProbe, undefined, `${where}: no readinessProbe`);
      assert.equal(p.c.startupProbe, undefined, `${where}: no startupProbe (the app does not wait for the backup)`);
      const src = (p.c.volumeMounts as Obj[]).find((x) => x.mountPath === flagValue(args, '--source'))!;
      assert.equal(src?.readOnly, true, `${where}: the source is mounted read-only`);
    }
    // resources: measured peak RSS about 60 MiB (config-sync 57, file-sync 60 over 2000 files)
    const r = p.c.resources as Obj;
    for (const k of ['cpu', 'memory']) {
      assert.ok(r.requests?.[k] !== undefined && r.limits?.[k] !== undefined, `${where}: requests and limits for ${k}`);
      assert.ok(quantity(r.requests[k]) <= quantity(r.limits[k]), `${where}: ${k} request <= limit`);
    }
    assert.ok(quantity(r.limits.memory) >= 1.5 * 61 * 1024 ** 2, `${where}: memory limit above the measured peak`);
    const sc = p.c.securityContext as Obj;
    assert.equal(sc.runAsNonRoot, true, where);
    assert.equal(sc.readOnlyRootFilesystem, true, where);
    assert.equal(sc.allowPrivilegeEscalation, false, where);
    assert.deepEqual(sc.capabilities.drop, ['ALL'], where);
    // the status port (it serves /metrics) is open only to monitoring
    const labels = p.workload.spec.template.metadata.labels as Record<string, string>;
    const pol = policies.find((n) => Object.entries(n.spec.podSelector.matchLabels as Record<string, string>).every(([k, v]) => labels[k] === v));
    assert.ok(pol, `${where}: a NetworkPolicy selects the pods`);
    const rules = pol.spec.ingress as Obj[];
    assert.ok(!rules.filter((x) => x.from === undefined).some((x) => x.ports.some((y: Obj) => y.port === port)), `${where}: status port not open to all`);
    const rule = rules.find((x) => x.ports.some((y: Obj) => y.port === port))!;
    assert.ok(rule?.from?.length > 0, `${where}: the status port has a from`);
    for (const f of rule.from as Obj[]) assert.equal(f.podSelector.matchLabels['app.kubernetes.io/component'], 'monitoring', where);
    // termination: the app's preStop, then the sidecar's last round (config-sync: the source request
    // and the reload request, --timeout each; file-sync: a final round, given at least 30 s)
    let preStop = 0;
    for (const c of p.spec.containers as Obj[]) preStop = Math.max(preStop, (c.lifecycle?.preStop?.sleep?.seconds as number | undefined) ?? 0);
    const timeout = seconds(flagValue(args, '--timeout') ?? '10s');
    const last = mode === 'file-sync' ? 30 : (args.includes('--url') ? timeout : 0) + (args.includes('--reload-url') ? timeout : 0);
    const grace = p.spec.terminationGracePeriodSeconds as number | undefined;
    assert.ok(grace !== undefined && grace > preStop + last, `${where}: terminationGracePeriodSeconds ${grace} > ${preStop} + ${last}`);
  }
});

test('sync examples run: the shop schema compiles and refuses a bad config; the ConfigMap example syncs its pillion.yaml', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pillion-deploy-sync-'));
  try {
    const run = (...args: string[]) => spawnSync(process.execPath, [CLI, 'config-sync', ...args, '--once', '--status-addr', 'off'], { encoding: 'utf8', timeout: 20_000 });
    // deploy/sync/config-sync-http.yaml: --schema with the file its ConfigMap is generated from
    const schema = join(ROOT, 'deploy/sync/shop-app.schema.json');
    writeFileSync(join(dir, 'good.json'), JSON.stringify({ listen: ':8080', database: { url: 'postgres://db/shop', pool: 4 } }));
    writeFileSync(join(dir, 'bad.json'), JSON.stringify({ listen: ':8080', database: { pool: 0 } }));
    const good = run('--file', join(dir, 'good.json'), '--dest', join(dir, 'out/app.json'), '--schema', schema);
    assert.equal(good.status, 0, good.stderr);
    const bad = run('--file', join(dir, 'bad.json'), '--dest', join(dir, 'out/app.json'), '--schema', schema);
    assert.equal(bad.status, 1, bad.stderr);
    assert.equal(readFileSync(join(dir, 'out/app.json'), 'utf8'), readFileSync(join(dir, 'good.json'), 'utf8'), 'the last good config stays');
    // deploy/sync/config-sync-configmap.yaml: its args, with the mounts moved into a ConfigMap volume
    // laid out as the kubelet does (..data -> ..<timestamp>/pillion.yaml) and an emptyDir
    const [p] = pillionContainers('config-sync').filter((x) => x.workload.metadata.name === 'web-synced');
    const args = (p!.c.args as string[]).slice(1);
    const src = flagValue(args, '--configmap-dir')!;
    const dest = flagValue(args, '--dest')!;
    const cm = join(dir, 'cm');
    mkdirSync(join(cm, '..2026_11_26_18_00_00.000000001'), { recursive: true });
    writeFileSync(join(cm, '..2026_11_26_18_00_00.000000001', 'pillion.yaml'), readRepo('deploy/sync/web-synced-pillion.yaml'));
    symlinkSync('..2026_11_26_18_00_00.000000001', join(cm, '..data'));
    symlinkSync('..data/pillion.yaml', join(cm, 'pillion.yaml'));
    const moved = args.filter((a, i) => !['--status-addr', '--interval'].includes(a) && !['--status-addr', '--interval'].includes(args[i - 1]!))
      .map((a) => (a === src ? cm : a === dest ? join(dir, 'etc-pillion/pillion.yaml') : a));
    const r = run(...moved);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(readFileSync(join(dir, 'etc-pillion/pillion.yaml'), 'utf8'), readRepo('deploy/sync/web-synced-pillion.yaml'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

const hasKubectl = spawnSync('kubectl', ['version', '--client'], { encoding: 'utf8' }).status === 0;

test('kubectl kustomize deploy/ builds; every rendered object validates; every ConfigMap a pod mounts is rendered', { skip: !hasKubectl && 'no kubectl (kustomize) on this machine' }, () => {
  const r = spawnSync('kubectl', ['kustomize', join(ROOT, 'deploy')], { encoding: 'utf8', timeout: 30_000 });
  assert.equal(r.status, 0, r.stderr);
  const rendered = loadYamlDocs(r.stdout);
  assert.equal(rendered.length, objects.length + 8, 'the manifests plus 8 generated ConfigMaps');
  for (const o of rendered) {
    assert.deepEqual(k8sErrors(o), [], `${o.kind}/${o.metadata.name}`);
    if (o.kind !== 'Namespace') assert.equal(o.metadata.namespace, 'pillion', `${o.kind}/${o.metadata.name} in the namespace`);
  }
  const configMaps = new Map(rendered.filter((o) => o.kind === 'ConfigMap').map((o) => [o.metadata.name as string, o]));
  assert.equal(configMaps.get('web-pillion')!.data['pillion.yaml'], readRepo('deploy/sidecar/pillion.yaml'));
  assert.equal(configMaps.get('frontend-pillion')!.data['pillion.yaml'], readRepo('deploy/mesh/frontend-pillion.yaml'));
  assert.equal(configMaps.get('backend-nginx')!.data['default.conf'], readRepo('deploy/mesh/backend-nginx.conf'));
  assert.equal(configMaps.get('web-synced-pillion')!.data['pillion.yaml'], readRepo('deploy/sync/web-synced-pillion.yaml'));
  assert.equal(configMaps.get('web-transparent-pillion')!.data['pillion.yaml'], readRepo('deploy/transparent/pillion.yaml'));
  const schema = [...configMaps.values()].find((o) => /^shop-config-schema-[a-z0-9]+$/.test(o.metadata.name))!;
  assert.equal(schema.data['app.schema.json'], readRepo('deploy/sync/shop-app.schema.json'), 'shop-config-schema, with a hash suffix');
  const secrets = new Set<string>();
  for (const o of rendered) {
    const spec = podSpecOf(o);
    for (const v of (spec?.volumes ?? []) as Obj[]) {
      if (v.configMap) assert.ok(configMaps.has(v.configMap.name), `${o.metadata.name}: ConfigMap ${v.configMap.name} is rendered`);
      if (v.secret) secrets.add(v.secret.secretName);
    }
    for (const c of [...(spec?.initContainers ?? []), ...(spec?.containers ?? [])] as Obj[]) {
      if (String(c.image).startsWith('pillion')) assert.equal(c.image, IMAGE, 'the images: entry keeps the tag');
    }
  }
  // the only objects not rendered: the mesh Secrets, made by make-certs.sh, and config-sync's token
  // for the config centre (deploy/sync/config-sync-http.yaml): no keys in the repository
  assert.deepEqual([...secrets].sort(), ['backend-tls', 'frontend-tls', 'shop-config-token']);
  for (const dir of ['sidecar', 'sidecar-legacy', 'mesh', 'node', 'sync', 'transparent']) {
    const one = spawnSync('kubectl', ['kustomize', join(ROOT, 'deploy', dir)], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(one.status, 0, `deploy/${dir}: ${one.stderr}`);
  }
});
