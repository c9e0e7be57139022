// deploy/logs/ (issue 7): the node DaemonSet and the sidecar example run flags that `pillion logs`
// accepts, mount what those flags name, and are sized from the measured footprint. Schema validation,
// the kustomization and the security contexts are checked with every other manifest (manifests.test.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseFlags } from '../../src/logs/flags.js';
import { loadYamlDocs, podSpecOf, readRepo, seconds, type Obj } from './helpers.js';

const MiB = 1024 ** 2;
/** docs/logs.md, Benchmark: the highest peak RSS measured (1,000 pods read at once). */
const MEASURED_PEAK = 139 * MiB;
/** src/logs/main.ts: SIGTERM delivers what was read for up to 5 s, then writes the checkpoint. */
const STOP_DEADLINE_S = 5;

function memory(q: string): number {
  const m = /^(\d+)(Mi|Gi)$/.exec(q);
  assert.ok(m, `a memory quantity in Mi or Gi: ${q}`);
  return Number(m[1]) * (m[2] === 'Gi' ? 1024 * MiB : MiB);
}

function logsContainer(file: string, docs = loadYamlDocs(readRepo(file), file)): { obj: Obj; spec: Obj; c: Obj; native: boolean } {
  for (const obj of docs) {
    const spec = podSpecOf(obj);
    if (!spec) continue;
    for (const [list, native] of [[spec.initContainers ?? [], true], [spec.containers ?? [], false]] as [Obj[], boolean][]) {
      const c = list.find((x) => String(x.image).startsWith('pillion:') && (x.args as string[])[0] === 'logs');
      if (c) return { obj, spec, c, native };
    }
  }
  throw new Error(`${file}: no pillion logs container`);
}

/** The collector's options from a container's args, through the real flag parser (throws on a bad flag). */
function options(c: Obj) {
  return parseFlags((c.args as string[]).slice(1));
}

function mountOf(spec: Obj, c: Obj, path: string): { mount: Obj; vol: Obj } {
  const mount = (c.volumeMounts as Obj[]).find((m) => path === m.mountPath || path.startsWith(`${m.mountPath}/`));
  assert.ok(mount, `${c.name}: a volume holds ${path}`);
  return { mount, vol: (spec.volumes as Obj[]).find((v) => v.name === mount.name)! };
}

function checkCommon(file: string, spec: Obj, c: Obj, o: ReturnType<typeof options>): void {
  assert.equal(spec.automountServiceAccountToken, false, `${file}: no API access`);
  assert.ok(spec.terminationGracePeriodSeconds > STOP_DEADLINE_S + 5, `${file}: the grace period covers the final delivery`);
  const r = c.resources as Obj;
  assert.ok(memory(r.requests.memory) <= memory(r.limits.memory), `${file}: memory request <= limit`);
  assert.ok(r.requests.cpu && r.limits.cpu, `${file}: cpu request and limit`);
  assert.equal(o.metrics?.port, c.ports.find((p: Obj) => p.name === 'metrics').containerPort, `${file}: --metrics-address is the metrics port`);
  assert.equal(o.metrics?.host, '0.0.0.0', `${file}: metrics reachable by Prometheus and the kubelet`);
  assert.equal(c.livenessProbe.httpGet.path, '/metrics');
  assert.equal(c.livenessProbe.httpGet.port, 'metrics');
  assert.equal(o.sink.kind, 'http');
  // The state directory is on a writable volume that outlives the container.
  const { mount, vol } = mountOf(spec, c, o.stateDir);
  assert.notEqual(mount.readOnly, true, `${file}: ${o.stateDir} writable`);
  assert.ok(vol.hostPath || vol.emptyDir, `${file}: the state dir outlives a container restart`);
}

function checkDaemonSet(file: string, docs?: Obj[]): void {
  const { obj, spec, c } = logsContainer(file, docs);
  assert.equal(obj.kind, 'DaemonSet');
  const o = options(c);
  assert.equal(o.kubernetes, true);
  assert.deepEqual(o.paths, ['/var/log/pods/*/*/*.log']);
  assert.equal(o.format, 'auto', 'CRI and Docker json-file lines');
  checkCommon(file, spec, c, o);
  const pods = mountOf(spec, c, o.podsDir);
  assert.equal(pods.mount.mountPath, '/var/log/pods');
  assert.equal(pods.mount.readOnly, true, 'pods directory read-only');
  assert.equal(pods.vol.hostPath.path, '/var/log/pods');
  const state = mountOf(spec, c, o.stateDir);
  assert.equal(state.vol.hostPath?.type, 'DirectoryOrCreate', 'state on the node, created on first start');
  assert.equal(state.vol.hostPath.path, o.stateDir);
  assert.equal((c.volumeMounts as Obj[]).length, 2, 'nothing else of the host');
  // Scheduled everywhere, like the metrics agent (deploy/node/): tainted nodes' containers log too.
  const tol = spec.tolerations as Obj[];
  for (const effect of ['NoSchedule', 'NoExecute']) assert.ok(tol.some((t) => t.operator === 'Exists' && t.effect === effect), `tolerates every ${effect} taint`);
  assert.equal(obj.spec.updateStrategy.rollingUpdate.maxSurge, undefined, 'no surge: two collectors never share the state dir');
  const r = c.resources as Obj;
  assert.ok(memory(r.limits.memory) >= 1.5 * MEASURED_PEAK, `memory limit leaves room above ${MEASURED_PEAK / MiB} MiB`);
  assert.ok(memory(r.requests.memory) >= 96 * MiB, 'request covers the idle footprint (65 MiB) with room');
}

test('logs DaemonSet: every node, /var/log/pods read-only, checkpoints on a hostPath, real flags, sized above the measured peak', () => {
  checkDaemonSet('deploy/logs/daemonset.yaml');
});

test('logs sidecar: a native sidecar sharing an emptyDir with the app, the glob and the state inside it, real flags', () => {
  const file = 'deploy/logs/sidecar.yaml';
  const { spec, c, native } = logsContainer(file);
  assert.ok(native, 'an init container');
  assert.equal(c.restartPolicy, 'Always', 'native sidecar: started before the app, stopped after it');
  const o = options(c);
  assert.equal(o.kubernetes, false);
  checkCommon(file, spec, c, o);
  const { mount, vol } = mountOf(spec, c, o.paths[0]!);
  assert.ok(vol.emptyDir, 'the logs are an emptyDir');
  assert.ok(o.stateDir.startsWith(`${mount.mountPath}/.`), 'state in a dot directory of the same volume');
  assert.ok(!o.paths.some((p) => p.includes('**')), 'the glob does not reach into the state directory');
  const app = (spec.containers as Obj[]).filter((x) => (x.volumeMounts as Obj[] | undefined)?.some((m) => m.name === mount.name));
  assert.equal(app.length, 1, 'the app writes into the same volume');
  assert.notEqual(app[0]!.volumeMounts.find((m: Obj) => m.name === mount.name).readOnly, true);
  assert.equal(spec.securityContext.runAsNonRoot, true);
  assert.ok(spec.securityContext.fsGroup !== undefined, 'the volume is writable by both containers');
  assert.ok(seconds(spec.terminationGracePeriodSeconds) > STOP_DEADLINE_S);
});

test('the DaemonSet checks catch a flag pillion logs does not know, a writable pods directory, a state dir off the host, a tight memory limit', () => {
  const file = 'deploy/logs/daemonset.yaml';
  const variants: [string, (c: Obj, spec: Obj) => void, RegExp][] = [
    ['unknown flag', (c) => (c.args as string[]).push('--no-such-flag=1'), /unknown flag '--no-such-flag'/],
    ['pods writable', (c) => { (c.volumeMounts as Obj[])[0]!.readOnly = false; }, /pods directory read-only/],
    ['state in an emptyDir', (_c, spec) => { (spec.volumes as Obj[])[1] = { name: 'state', emptyDir: {} }; }, /state on the node/],
    ['memory limit', (c) => { c.resources.limits.memory = '160Mi'; }, /memory limit leaves room/],
  ];
  for (const [what, mutate, error] of variants) {
    const docs = loadYamlDocs(readRepo(file), file);
    const { spec, c } = logsContainer(file, docs);
    mutate(c, spec);
    assert.throws(() => checkDaemonSet(file, docs), error, what);
  }
});
