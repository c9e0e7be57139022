// deploy/: every Kubernetes object validates against the Kubernetes schemas (kubernetes-models), and
// has the properties that issue 9 lists: probes on the admin port, resources sized from measurements,
// a grace period longer than the drain, native-sidecar and legacy ordering, the Service on the proxy
// port, the agent's host mounts; the kustomizations tie every manifest together; compose and the
// manifests run the same image and the README's config.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { dirname, join, posix } from 'node:path';
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

/** The pillion config a proxy container runs: the file it names (from its ConfigMap) or the default. */
function configFileOf(p: PillionContainer): string | null {
  const args = p.c.args as string[];
  const i = args.indexOf('--config');
  if (i < 0) return null;
  const mountDir = dirname(args[i + 1]!);
  const mount = (p.c.volumeMounts as Obj[]).find((m) => m.mountPath === mountDir)!;
  assert.ok(mount, `${p.file}: a volume is mounted at ${mountDir}`);
  const vol = (p.spec.volumes as Obj[]).find((v) => v.name === mount.name)!;
  const cmName = vol.configMap?.name as string;
  assert.ok(cmName, `${p.file}: ${mountDir} is a ConfigMap volume`);
  // the ConfigMap comes from a configMapGenerator in the kustomization beside the manifest
  const kdir = dirname(p.file);
  const k = parsed.get(`${kdir}/kustomization.yaml`)![0]!;
  const gen = (k.configMapGenerator as Obj[]).find((g) => g.name === cmName)!;
  assert.ok(gen, `${kdir}/kustomization.yaml generates ConfigMap ${cmName}`);
  const key = posix.basename(args[i + 1]!);
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
  const dep = structuredClone(objects.find((o) => o.obj.kind === 'Deployment')!.obj);
  dep.spec.template.spec.initContainers[0].ports[0].containerPort = '15001';
  assert.match(k8sErrors(dep).join('\n'), /containerPort must be integer/);
  const svc = structuredClone(objects.find((o) => o.obj.kind === 'Service')!.obj);
  svc.spec.ports[0].port = undefined;
  delete svc.spec.ports[0].port;
  assert.match(k8sErrors(svc).join('\n'), /port/);
  assert.match(k8sErrors({ apiVersion: 'v1', kind: 'Podd' }).join(), /no Kubernetes schema/);
  // unknown fields, as kubectl --validate=strict: a misspelt key at any depth
  const typo = structuredClone(objects.find((o) => o.obj.kind === 'Deployment')!.obj);
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
  assert.equal(sidecars.length, 4, 'web, web-legacy, frontend, backend');
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
  assert.equal(natives.length, 3);
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
  assert.equal(services.length, 4);
  for (const { file, obj } of services) {
    const sel = obj.spec.selector as Record<string, string>;
    const workload = objects.find((o) => o.obj.kind === 'Deployment' &&
      Object.entries(sel).every(([k, v]) => o.obj.spec.template.metadata.labels[k] === v));
    assert.ok(workload, `${file}: the Service selects a Deployment`);
    const spec = podSpecOf(workload.obj)!;
    const pillion = [...(spec.initContainers ?? []), ...spec.containers].find((c: Obj) => String(c.image).startsWith('pillion'));
    for (const port of obj.spec.ports as Obj[]) {
      assert.equal(portNumber(pillion, port.targetPort), 15001, `${file}: targetPort ${port.targetPort} is pillion's 15001`);
    }
  }
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

const hasKubectl = spawnSync('kubectl', ['version', '--client'], { encoding: 'utf8' }).status === 0;

test('kubectl kustomize deploy/ builds; every rendered object validates; every ConfigMap a pod mounts is rendered', { skip: !hasKubectl && 'no kubectl (kustomize) on this machine' }, () => {
  const r = spawnSync('kubectl', ['kustomize', join(ROOT, 'deploy')], { encoding: 'utf8', timeout: 30_000 });
  assert.equal(r.status, 0, r.stderr);
  const rendered = loadYamlDocs(r.stdout);
  assert.equal(rendered.length, objects.length + 5, 'the manifests plus 5 generated ConfigMaps');
  for (const o of rendered) {
    assert.deepEqual(k8sErrors(o), [], `${o.kind}/${o.metadata.name}`);
    if (o.kind !== 'Namespace') assert.equal(o.metadata.namespace, 'pillion', `${o.kind}/${o.metadata.name} in the namespace`);
  }
  const configMaps = new Map(rendered.filter((o) => o.kind === 'ConfigMap').map((o) => [o.metadata.name as string, o]));
  assert.equal(configMaps.get('web-pillion')!.data['pillion.yaml'], readRepo('deploy/sidecar/pillion.yaml'));
  assert.equal(configMaps.get('frontend-pillion')!.data['pillion.yaml'], readRepo('deploy/mesh/frontend-pillion.yaml'));
  assert.equal(configMaps.get('backend-nginx')!.data['default.conf'], readRepo('deploy/mesh/backend-nginx.conf'));
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
  // the only objects not rendered: the mesh Secrets, made by make-certs.sh (no keys in the repository)
  assert.deepEqual([...secrets].sort(), ['backend-tls', 'frontend-tls']);
  for (const dir of ['sidecar', 'sidecar-legacy', 'mesh', 'node']) {
    const one = spawnSync('kubectl', ['kustomize', join(ROOT, 'deploy', dir)], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(one.status, 0, `deploy/${dir}: ${one.stderr}`);
  }
});
