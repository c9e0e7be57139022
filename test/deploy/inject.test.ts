// pillion inject / --uninject on real-world shapes (test/deploy/fixtures/): several containers,
// existing init containers, named and numbered ports, multi-document files, a List, Jobs, opt-outs.
// Every output validates against the Kubernetes schemas; inject is idempotent; uninject restores
// the input.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { inject, uninject, type InjectOptions } from '../../src/inject/inject.js';
import { k8sErrors, loadYamlDocs, podSpecOf, readRepo, ROOT, type Obj } from './helpers.js';

const FIXTURES = ['several-containers', 'init-containers', 'list', 'jobs-and-pods', 'kubectl-get'] as const;
const fixture = (n: string) => readRepo(`test/deploy/fixtures/${n}.yaml`);
const NATIVE: InjectOptions = { image: 'pillion:0.1.0', legacy: false, configMap: null, port: null };
const LEGACY: InjectOptions = { ...NATIVE, legacy: true };
const CLI = join(ROOT, 'dist/src/cli.js');

/** Every Kubernetes object of a YAML text, a List's items one by one. */
function objectsOf(text: string): Obj[] {
  return loadYamlDocs(text).flatMap((d) => (d.kind === 'List' ? (d.items as Obj[]) : [d]));
}
const find = (text: string, kind: string, name: string) => objectsOf(text).find((o) => o.kind === kind && o.metadata.name === name)!;

function assertValid(text: string, where: string): void {
  for (const o of objectsOf(text)) assert.deepEqual(k8sErrors(o), [], `${where}: ${o.kind}/${o.metadata?.name}`);
}

/** Every port a probe or lifecycle handler names exists on its own container (the kubelet's rule). */
function assertProbePortsResolve(text: string): void {
  for (const o of objectsOf(text)) {
    const spec = podSpecOf(o);
    for (const c of [...(spec?.initContainers ?? []), ...(spec?.containers ?? [])] as Obj[]) {
      const names = new Set(((c.ports ?? []) as Obj[]).map((p) => p.name));
      for (const h of [c.livenessProbe, c.readinessProbe, c.startupProbe, c.lifecycle?.preStop, c.lifecycle?.postStart]) {
        const port = (h?.httpGet ?? h?.tcpSocket)?.port as unknown;
        if (typeof port === 'string') assert.ok(names.has(port), `${o.metadata.name}/${c.name}: port ${port} resolves`);
      }
    }
  }
}

const pillionOf = (spec: Obj) => [...(spec.initContainers ?? []), ...spec.containers].find((c: Obj) => c.name === 'pillion') as Obj;

for (const name of FIXTURES) {
  for (const [mode, opts] of [['native', NATIVE], ['legacy', LEGACY]] as const) {
    test(`${name} (${mode}): schema-valid output, idempotent, probes resolve, uninject restores the input`, () => {
      const input = fixture(name);
      const once = inject(input, opts);
      assert.ok(once.changed > 0, once.notes.join('\n'));
      assertValid(once.output, `${name} injected`);
      assertProbePortsResolve(once.output);
      const twice = inject(once.output, opts);
      assert.equal(twice.output, once.output, 'running inject twice changes nothing');
      assert.equal(twice.changed, 0);
      assert.ok(twice.notes.every((n) => /skipped/.test(n)), twice.notes.join('\n'));
      const back = uninject(once.output);
      assert.deepEqual(loadYamlDocs(back.output), loadYamlDocs(input), 'uninject(inject(x)) is x');
      assert.equal(uninject(back.output).output, back.output, 'uninject twice changes nothing');
      assertValid(back.output, `${name} uninjected`);
    });
  }
}

test('documents without a workload are written back byte for byte, comments kept', () => {
  const input = fixture('several-containers');
  const out = inject(input, NATIVE).output;
  assert.ok(out.startsWith('# A web app with a log shipper'), 'leading comment');
  assert.ok(out.includes("  settings.json: '{\"currency\": \"EUR\"}'\n"), 'the ConfigMap as it was');
  assert.ok(out.includes('# the Service targets this name'), 'a comment inside a changed document');
  const inPieces = input.split(/^---$/m);
  const outPieces = out.split(/^---$/m);
  assert.equal(outPieces.length, inPieces.length);
  assert.equal(outPieces[0], inPieces[0], 'the ConfigMap document');
  // the Service that targets the port by name needs no change and is left byte for byte
  assert.equal(outPieces[2], inPieces[2]);
});

test('native: first init container, restartPolicy Always, before an existing init container', () => {
  const out = inject(fixture('init-containers'), NATIVE).output;
  const spec = podSpecOf(find(out, 'StatefulSet', 'ledger'))!;
  assert.deepEqual(spec.initContainers.map((c: Obj) => c.name), ['pillion', 'migrate']);
  assert.equal(spec.initContainers[0].restartPolicy, 'Always');
  assert.deepEqual(spec.containers.map((c: Obj) => c.name), ['ledger']);
  assert.equal(spec.terminationGracePeriodSeconds, 40);
  const p = spec.initContainers[0];
  assert.deepEqual(p.args, ['proxy', '--upstream', 'http://127.0.0.1:3000', '--admin', '0.0.0.0:15000']);
  // the app's port had no name: the proxy's is pillion-http, and the numeric Service is rewired
  assert.equal(p.ports[0].name, 'pillion-http');
  const svc = find(out, 'Service', 'ledger');
  assert.equal(svc.spec.ports[0].targetPort, 'pillion-http');
  assert.match(svc.metadata.annotations['pillion/uninject'], /"ports":\[\[0,3000\]\]/);
  // in a multi-document file, the notes name each object
  const notes = inject(fixture('init-containers'), NATIVE).notes;
  assert.ok(notes.some((n) => /^StatefulSet\/ledger: injected \(native sidecar; proxy :15001 -> 127\.0\.0\.1:3000/.test(n)), notes.join('\n'));
});

test('legacy: first container with postStart/preStop hooks; the grace period covers the wait and the drain', () => {
  const out = inject(fixture('several-containers'), LEGACY).output;
  const spec = podSpecOf(find(out, 'Deployment', 'shop'))!;
  assert.deepEqual(spec.containers.map((c: Obj) => c.name), ['pillion', 'shop', 'log-shipper']);
  assert.equal(spec.initContainers, undefined);
  const p = spec.containers[0];
  assert.equal(p.restartPolicy, undefined);
  assert.deepEqual(p.lifecycle.postStart.exec.command, ['node', '/app/probe.mjs', 'wait-ready', 'http://127.0.0.1:15000/ready', '30']);
  assert.deepEqual(p.lifecycle.preStop.exec.command, ['node', '/app/probe.mjs', 'wait-closed', '127.0.0.1:8080', '30']);
  assert.equal(spec.terminationGracePeriodSeconds, 70);
  // the app's own hook still reaches the app (its port name followed the rename)
  assert.equal(spec.containers[1].lifecycle.preStop.httpGet.port, 'http-app');
});

test('named ports: the proxy takes the name, the app port is renamed, its probes follow; numeric Services are rewired', () => {
  const out = inject(fixture('several-containers'), NATIVE).output;
  const spec = podSpecOf(find(out, 'Deployment', 'shop'))!;
  const app = spec.containers[0];
  assert.deepEqual(app.ports.map((p: Obj) => [p.name, p.containerPort]), [['http-app', 8080], ['metrics', 9090]]);
  assert.equal(app.readinessProbe.httpGet.port, 'http-app');
  assert.equal(app.livenessProbe.tcpSocket.port, 'http-app');
  assert.equal(app.startupProbe.httpGet.port, 8080, 'numeric probe ports are left alone: the app still listens there');
  const p = spec.initContainers[0];
  assert.deepEqual(p.ports, [{ name: 'http', containerPort: 15001 }, { name: 'pillion-admin', containerPort: 15000 }]);
  // Service by name: unchanged, now reaches the proxy; Service by number: targetPort rewired
  assert.equal(find(out, 'Service', 'shop').spec.ports[0].targetPort, 'http');
  const internal = find(out, 'Service', 'shop-internal');
  assert.equal(internal.spec.ports[0].targetPort, 'http', 'port 8080 (no targetPort) now targets the proxy');
  assert.equal(internal.spec.ports[1].targetPort, 9090, 'metrics untouched');
  assert.equal(internal.metadata.annotations.owner, 'payments');
  // the workload's own annotations and labels survive
  const dep = find(out, 'Deployment', 'shop');
  assert.equal(dep.metadata.annotations['deployment.kubernetes.io/revision'], '3');
  assert.equal(dep.spec.template.metadata.annotations['pillion/injected'], 'native');
  assert.equal(spec.terminationGracePeriodSeconds, 40, 'raised from 20');
});

test('a List: items injected in place, a hostNetwork DaemonSet skipped', () => {
  const r = inject(fixture('list'), NATIVE);
  const doc = loadYamlDocs(r.output)[0]!;
  assert.equal(doc.kind, 'List');
  assert.equal(doc.items.length, 3);
  assert.equal(podSpecOf(doc.items[0])!.initContainers[0].name, 'pillion');
  assert.equal(podSpecOf(doc.items[0])!.initContainers[0].ports[0].name, 'web');
  assert.equal(podSpecOf(doc.items[2])!.initContainers, undefined);
  assert.ok(r.notes.some((n) => /DaemonSet\/node-probe: skipped: hostNetwork/.test(n)));
});

test('Jobs, CronJobs and Pods get the native sidecar; --legacy refuses Jobs; the opt-out annotation is honoured', () => {
  const native = inject(fixture('jobs-and-pods'), NATIVE);
  for (const [kind, name] of [['Job', 'report'], ['CronJob', 'nightly'], ['Pod', 'debug']]) {
    assert.equal(podSpecOf(find(native.output, kind!, name!))!.initContainers[0].restartPolicy, 'Always', `${kind}/${name}`);
  }
  assert.equal(podSpecOf(find(native.output, 'Deployment', 'opted-out'))!.initContainers, undefined);
  assert.ok(native.notes.some((n) => /opted-out: skipped: pillion\/inject: disabled/.test(n)));
  const legacy = inject(fixture('jobs-and-pods'), LEGACY);
  assert.equal(podSpecOf(find(legacy.output, 'Job', 'report'))!.containers.length, 1);
  assert.ok(legacy.notes.some((n) => /Job\/report: skipped: --legacy on a Job/.test(n)));
  assert.equal(podSpecOf(find(legacy.output, 'Pod', 'debug'))!.containers[0].name, 'pillion');
  assert.ok(native.notes.some((n) => /Pod\/debug: the app's port 8080 has no name/.test(n)), 'no port declared: 8080, and a hint');
});

test('--config mounts the ConfigMap; --port picks the port; --image', () => {
  const out = inject(fixture('several-containers'), { ...NATIVE, configMap: 'shop-pillion', port: 9090, image: 'registry.example/pillion:0.1.0' }).output;
  const spec = podSpecOf(find(out, 'Deployment', 'shop'))!;
  const p = spec.initContainers[0];
  assert.equal(p.image, 'registry.example/pillion:0.1.0');
  assert.deepEqual(p.args, ['proxy', '--config', '/etc/pillion/pillion.yaml', '--watch', '--upstream', 'http://127.0.0.1:9090', '--admin', '0.0.0.0:15000']);
  assert.deepEqual(p.volumeMounts, [{ name: 'pillion-config', mountPath: '/etc/pillion', readOnly: true }]);
  assert.deepEqual(spec.volumes.at(-1), { name: 'pillion-config', configMap: { name: 'shop-pillion' } });
  assert.equal(p.ports[0].name, 'metrics', 'the proxy fronts the chosen port');
  assert.deepEqual(loadYamlDocs(uninject(out).output), loadYamlDocs(fixture('several-containers')));
  // --config without --port: the config file decides the upstream
  const cfgOnly = podSpecOf(find(inject(fixture('several-containers'), { ...NATIVE, configMap: 'x' }).output, 'Deployment', 'shop'))!;
  assert.ok(!cfgOnly.initContainers[0].args.includes('--upstream'));
});

test("inject's container matches the hand-written native sidecar in deploy/sidecar/", () => {
  const hand = podSpecOf(loadYamlDocs(readRepo('deploy/sidecar/deployment.yaml'))[0]!)!.initContainers[0];
  const injected = pillionOf(podSpecOf(find(inject(fixture('several-containers'), NATIVE).output, 'Deployment', 'shop'))!);
  for (const k of ['restartPolicy', 'resources', 'securityContext']) assert.deepEqual(injected[k], hand[k], k);
  for (const probe of ['startupProbe', 'readinessProbe', 'livenessProbe']) {
    const strip = (p: Obj) => ({ ...p, httpGet: { ...p.httpGet, port: undefined } });
    assert.deepEqual(strip(injected[probe]), strip(hand[probe]), probe);
  }
  assert.deepEqual(injected.args.slice(-2), hand.args.slice(-2), '--admin 0.0.0.0:15000');
});

test('CLI: -f FILE, stdin, notes on stderr, exit codes', () => {
  const run = (args: string[], input?: string) => spawnSync(process.execPath, [CLI, 'inject', ...args], { input, encoding: 'utf8', timeout: 20_000 });
  const file = join(ROOT, 'test/deploy/fixtures/init-containers.yaml');
  const a = run(['-f', file]);
  assert.equal(a.status, 0, a.stderr);
  assert.equal(a.stdout, inject(fixture('init-containers'), NATIVE).output);
  assert.match(a.stderr, /pillion inject: StatefulSet\/ledger: injected/);
  const b = run(['-'], a.stdout);
  assert.equal(b.status, 0);
  assert.equal(b.stdout, a.stdout, 'idempotent through the CLI');
  const c = run(['--uninject'], a.stdout);
  assert.equal(c.status, 0, c.stderr);
  assert.deepEqual(loadYamlDocs(c.stdout), loadYamlDocs(fixture('init-containers')));
  const legacy = run(['--legacy', file]);
  assert.equal(podSpecOf(loadYamlDocs(legacy.stdout)[0]!)!.containers[0].name, 'pillion');
  assert.equal(run(['-'], 'a: [unclosed\n').status, 2);
  assert.match(run(['-'], 'a: [unclosed\n').stderr, /bad YAML/);
  assert.equal(run(['--port', '15001', file]).status, 2);
  assert.equal(run(['--port', 'x', file]).status, 2);
  assert.equal(run(['--bogus']).status, 2);
  assert.equal(run(['/nonexistent.yaml']).status, 2);
  assert.equal(run(['--uninject', '--legacy', file]).status, 2);
  const help = run(['--help']);
  assert.equal(help.status, 0);
  assert.match(help.stdout, /--legacy/);
  const top = spawnSync(process.execPath, [CLI, '--help'], { encoding: 'utf8' });
  assert.match(top.stdout, /^\s+inject\s+add the pillion sidecar/m);
  // empty input: nothing out, nothing wrong
  const empty = run(['-'], '');
  assert.equal(empty.status, 0);
  assert.equal(empty.stdout, '');
  assert.equal(parseAllDocuments(a.stdout).length, 2);
});

test('the app port without --port: named http first, then 8080, then the first TCP port', () => {
  const dep = (ports: string) => `apiVersion: apps/v1
kind: Deployment
metadata: { name: a }
spec:
  selector: { matchLabels: { app: a } }
  template:
    metadata: { labels: { app: a } }
    spec:
      containers:
        - name: a
          image: a:1
          ports: ${ports}
`;
  const upstream = (ports: string) =>
    (podSpecOf(loadYamlDocs(inject(dep(ports), NATIVE).output)[0]!)!.initContainers[0].args as string[])[2];
  assert.equal(upstream('[{ name: metrics, containerPort: 9090 }, { name: http-api, containerPort: 3000 }]'), 'http://127.0.0.1:3000');
  assert.equal(upstream('[{ name: metrics, containerPort: 9090 }, { name: http-api, containerPort: 3000 }, { name: http, containerPort: 4000 }]'), 'http://127.0.0.1:4000');
  assert.equal(upstream('[{ containerPort: 9090 }, { containerPort: 8080 }]'), 'http://127.0.0.1:8080');
  assert.equal(upstream('[{ containerPort: 53, protocol: UDP }, { containerPort: 9000 }]'), 'http://127.0.0.1:9000');
  assert.equal(upstream('[]'), 'http://127.0.0.1:8080');
  const taken = inject(dep('[{ containerPort: 15001 }]'), NATIVE);
  assert.equal(taken.changed, 0);
  assert.match(taken.notes.join('\n'), /uses port 15001, which pillion needs/);
});

test('the hand-written manifests in deploy/ count as injected: inject leaves every file byte for byte', () => {
  for (const f of ['deploy/sidecar/deployment.yaml', 'deploy/sidecar-legacy/deployment.yaml', 'deploy/mesh/frontend.yaml', 'deploy/mesh/backend.yaml']) {
    const text = readRepo(f);
    const r = inject(text, NATIVE);
    assert.equal(r.output, text, f);
    assert.equal(r.changed, 0, f);
    assert.equal(uninject(text).output, text, `${f}: uninject leaves hand-written sidecars alone`);
  }
});

test("kubectl's own output (lists not indented): inject only adds and changes lines, in the input's style", () => {
  const input = fixture('kubectl-get');
  const out = inject(input, NATIVE).output;
  assertValid(out, 'kubectl-get');
  // every input line is still there, in order, except the three inject changes
  const changedLines = new Set(['          name: http', '            port: http', '      terminationGracePeriodSeconds: 30']);
  const outLines = out.split('\n');
  let j = 0;
  for (const line of input.split('\n')) {
    if (changedLines.has(line)) continue;
    while (j < outLines.length && outLines[j] !== line) j++;
    assert.ok(j < outLines.length, `input line kept in place: ${JSON.stringify(line)}`);
    j++;
  }
  assert.match(out, /^ {6}initContainers:\n {6}- name: pillion$/m, 'the new list in the same style');
  assert.match(out, /^ {10}name: http-app$/m);
  assert.match(out, /^ {6}terminationGracePeriodSeconds: 40$/m);
  assert.deepEqual(loadYamlDocs(uninject(out).output), loadYamlDocs(input));
});

test('src/inject/uninject-main.js (for a `pillion uninject` mode) is inject --uninject', () => {
  const injected = inject(fixture('several-containers'), NATIVE).output;
  const mod = join(ROOT, 'dist/src/inject/uninject-main.js');
  const r = spawnSync(process.execPath, ['--input-type=module', '-e',
    `const m = await import(${JSON.stringify(mod)}); process.exitCode = await m.main(['-']);`], { input: injected, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, uninject(injected).output);
  assert.match(r.stderr, /Deployment\/shop: uninjected/);
});
