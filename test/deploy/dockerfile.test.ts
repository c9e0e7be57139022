// The Dockerfile's properties (issue 9), checked on the parsed file: no Docker engine runs here.
// deploy/runtime-layout.mjs (runtime-layout.test.ts) runs the same layout for real.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { execForm, parseDockerfile, readRepo, ROOT, type Stage } from './helpers.js';

interface DockerignoreModule {
  rules(text: string): unknown;
  includes(rules: unknown, path: string): boolean;
  contextFiles(root: string): string[];
}
// plain JavaScript, shared with deploy/runtime-layout.mjs; not compiled into dist/
const dockerignore = (await import(pathToFileURL(join(ROOT, 'deploy/dockerignore.mjs')).href)) as DockerignoreModule;

const df = parseDockerfile(readRepo('Dockerfile'));
const ignore = dockerignore.rules(readRepo('.dockerignore'));
const dockerContextIncludes = (path: string) => dockerignore.includes(ignore, path);
const final = df.stages[df.stages.length - 1]!;
const of = (s: Stage, cmd: string) => s.instructions.filter((i) => i.cmd === cmd);
const stageNamed = (name: string) => df.stages.find((s) => s.name === name);

test('multi-stage, every stage on a glibc Node 20 slim base (uWS needs glibc and Node 20 ABI)', () => {
  assert.ok(df.stages.length >= 2, 'at least a build and a runtime stage');
  for (const s of df.stages) {
    assert.match(s.image, /^node:20(\.\d+){0,2}-(bookworm|bullseye|trixie)-slim(@sha256:[0-9a-f]{64})?$/, `FROM ${s.from} -> ${s.image}`);
    assert.doesNotMatch(s.image, /alpine/);
  }
});

test('the build stage installs dev dependencies and compiles; the runtime stage does not', () => {
  const build = df.stages.find((s) => of(s, 'RUN').some((r) => /\btsc\b/.test(r.args)));
  assert.ok(build, 'a stage runs tsc');
  assert.notEqual(build, final, 'tsc does not run in the final stage');
  const ci = of(build, 'RUN').find((r) => /npm ci/.test(r.args))!;
  assert.ok(ci, 'the build stage runs npm ci');
  assert.doesNotMatch(ci.args, /--omit=dev|--production/, 'the build stage needs typescript');
  assert.doesNotMatch(of(final, 'RUN').map((r) => r.args).join('\n'), /npm (ci|install)|\btsc\b/);
});

test('production node_modules: npm ci --omit=dev --ignore-scripts in the stage the runtime copies them from', () => {
  const copy = of(final, 'COPY').find((c) => /node_modules/.test(c.args));
  assert.ok(copy, 'the runtime stage copies node_modules');
  const from = /--from=(\S+)/.exec(copy.args)?.[1];
  assert.ok(from, 'node_modules comes from another stage');
  const src = stageNamed(from)!;
  assert.ok(src, `stage ${from} exists`);
  const ci = of(src, 'RUN').find((r) => /npm ci/.test(r.args));
  assert.ok(ci, `stage ${from} runs npm ci`);
  assert.match(ci.args, /--omit=dev/);
  // `prepare` runs tsc, which --omit=dev leaves out: without --ignore-scripts the install fails
  assert.match(ci.args, /--ignore-scripts/);
  // only the uWS binary for this platform and Node ABI stays (the others are 86 MB)
  const prune = of(src, 'RUN').find((r) => /uws-js-unofficial\/binaries/.test(r.args));
  assert.ok(prune, 'the deps stage prunes the uWS binaries');
  assert.match(prune.args, /process\.versions\.modules/);
  assert.match(prune.args, /test -f "\$keep"/);
});

test('the runtime stage holds no sources, tests, compilers or package managers', () => {
  const copies = of(final, 'COPY').map((c) => c.args);
  for (const c of copies) {
    const words = c.split(' ');
    const sources = words.filter((w) => !w.startsWith('--')).slice(0, -1);
    if (words.some((w) => w.startsWith('--from='))) {
      // from other stages: built output, node_modules, tini; never a whole source or test tree
      for (const s of sources) assert.match(s, /\/dist$|\/node_modules$|\/tini(-static)?$|\/native\/build\/Release\/pillion_native\.node$/, `COPY ${c}`);
    } else {
      // from the build context: only these two files
      for (const s of sources) assert.ok(['package.json', 'deploy/probe.mjs'].includes(s), `COPY ${c}`);
    }
  }
  assert.ok(copies.some((c) => /--from=\S+ \S*\/dist \S*dist$/.test(c)), 'compiled dist/ comes from the build stage');
  const runs = of(final, 'RUN').map((r) => r.args).join('\n');
  assert.doesNotMatch(runs, /build-essential|gcc|python3|make /);
  // one Debian package and no other: iptables, which the transparent init container runs
  for (const r of of(final, 'RUN').filter((x) => /apt-get install/.test(x.args))) {
    const pkgs = /apt-get install (.*?)(?:&&|$)/.exec(r.args)![1]!.split(' ').filter((w) => w !== '' && !w.startsWith('-'));
    assert.deepEqual(pkgs, ['iptables'], `Dockerfile:${r.line}: the runtime stage installs iptables only`);
    assert.match(r.args, /--no-install-recommends/, `Dockerfile:${r.line}`);
    assert.match(r.args, /apt-get clean && rm -rf \/var\/lib\/apt\/lists\/\* \/var\/cache\/apt\/\*\.bin/, `Dockerfile:${r.line}: no apt lists, archives or caches left in the layer`);
  }
  assert.match(runs, /rm -rf .*\/usr\/local\/lib\/node_modules\/npm/, 'npm removed from the final image');
  // the image build compiles without *.test.ts (deploy/tsconfig.image.json)
  const tsconfig = JSON.parse(readRepo('deploy/tsconfig.image.json').replace(/^\s*\/\/.*$/gm, '')) as { exclude: string[] };
  assert.ok(tsconfig.exclude.some((e) => e.includes('*.test.ts')));
});

test('the native addon is built in the build stage (compilers there only) and copied, and its absence fails the build', () => {
  const build = df.stages.find((st) => of(st, 'RUN').some((r) => /native\/build\.mjs/.test(r.args)))!;
  assert.ok(build, 'a stage runs native/build.mjs');
  assert.notEqual(build, final);
  assert.match(of(build, 'RUN').map((r) => r.args).join('\n'), /apt-get install .*g\+\+/);
  assert.match(of(build, 'RUN').find((r) => /native\/build\.mjs/.test(r.args))!.args, /test -f native\/build\/Release\/pillion_native\.node/);
  const copy = of(final, 'COPY').find((c) => /pillion_native\.node/.test(c.args))!;
  assert.ok(copy);
  // src/l4/native.ts loads ../../../native/build/Release/pillion_native.node from dist/src/l4/
  assert.match(copy.args, / \.\/native\/build\/Release\/pillion_native\.node$/);
  assert.equal(final.instructions.find((i) => i.cmd === 'WORKDIR')?.args, '/app');
});

test('iptables is in the runtime image, for deploy/transparent/\'s init container (`pillion iptables install`)', () => {
  const installs = of(final, 'RUN').filter((r) => /apt-get install/.test(r.args));
  assert.equal(installs.length, 1);
  assert.match(installs[0]!.args, /^apt-get update && apt-get install -y --no-install-recommends iptables && /);
  // the manifest that needs it runs this image
  const manifest = readRepo('deploy/transparent/deployment.yaml');
  assert.match(manifest, /args: \["iptables", "install"/);
  // no other stage installs it: the runtime stage is where it must be
  for (const st of df.stages.filter((x) => x !== final)) assert.doesNotMatch(of(st, 'RUN').map((r) => r.args).join('\n'), /\biptables\b/);
});

test('non-root user, numeric so that runAsNonRoot can check it', () => {
  const users = of(final, 'USER');
  assert.equal(users.length, 1);
  const [uid, gid] = users[0]!.args.split(':');
  assert.match(uid!, /^\d+$/);
  assert.notEqual(Number(uid), 0);
  if (gid !== undefined) assert.notEqual(Number(gid), 0);
});

test('tini is PID 1 and forwards SIGTERM to pillion; pillion is on the PATH; default mode proxy', () => {
  const ep = execForm(of(final, 'ENTRYPOINT')[0]!.args)!;
  assert.ok(ep, 'exec-form ENTRYPOINT (a shell form would put sh between tini and the signal)');
  assert.match(ep[0]!, /\/tini$/);
  assert.equal(ep[1], '--');
  assert.equal(ep[2], 'pillion');
  assert.deepEqual(execForm(of(final, 'CMD')[0]!.args), ['proxy']);
  assert.ok(of(final, 'COPY').some((c) => /tini/.test(c.args)), 'tini copied into the runtime stage');
  assert.match(of(final, 'RUN').map((r) => r.args).join('\n'), /ln -s \/app\/dist\/src\/cli\.js \/usr\/local\/bin\/pillion/);
  const stop = of(final, 'STOPSIGNAL');
  if (stop.length) assert.equal(stop[0]!.args, 'SIGTERM');
});

test('EXPOSE the proxy, admin and agent ports (the README defaults)', () => {
  const ports = of(final, 'EXPOSE').flatMap((e) => e.args.split(' ')).map((p) => p.replace(/\/tcp$/, ''));
  const readme = readRepo('README.md');
  assert.match(readme, /0\.0\.0\.0:15001/);
  assert.match(readme, /127\.0\.0\.1:15000/);
  for (const p of ['15001', '15000', '9100']) assert.ok(ports.includes(p), `EXPOSE ${p}`);
});

test('HEALTHCHECK on the admin /ready', () => {
  const hc = of(final, 'HEALTHCHECK');
  assert.equal(hc.length, 1);
  const m = /^(.*?)CMD (.*)$/.exec(hc[0]!.args)!;
  assert.match(m[1]!, /--interval=\d+s/);
  assert.match(m[1]!, /--timeout=\d+s/);
  const cmd = execForm(m[2]!)!;
  assert.ok(cmd);
  assert.equal(cmd[0], 'node');
  assert.ok(cmd.some((a) => /^http:\/\/127\.0\.0\.1:15000\/ready$/.test(a)));
  assert.ok(of(final, 'COPY').some((c) => c.args.includes('probe.mjs')), 'the probe script is in the image');
});

test('.dockerignore: an allow-list; the context holds the sources the build needs and no tests, fixtures or builds', () => {
  for (const p of ['node_modules/yaml/package.json', 'dist/src/cli.js', 'test/run.mjs', '.git/HEAD', 'bench/run.ts',
    'src/config/validate.test.ts', 'envoy-compat/golden.test.ts', 'docs/config.md', 'deploy/compose.yaml', 'README.md',
    'native/build/Release/pillion_native.node']) {
    assert.equal(dockerContextIncludes(p), false, `${p} excluded`);
  }
  const context = dockerignore.contextFiles(ROOT);
  for (const f of ['package.json', 'package-lock.json', 'tsconfig.json', 'src/cli.ts', 'deploy/tsconfig.image.json', 'deploy/probe.mjs',
    'native/build.mjs', 'native/binding.gyp']) {
    assert.ok(context.includes(f), `${f} in the context`);
  }
  // src/config/load.ts imports envoy-compat/: its sources must be in the context, not its tests or fixtures
  assert.ok(context.some((f) => f.startsWith('envoy-compat/') && f.endsWith('.ts')));
  assert.ok(!context.some((f) => /\.test\.ts$|\/fixtures\/|\/golden\//.test(f)), 'no tests or fixtures');
  // every COPY from the context names something the context holds
  const sources = df.stages.flatMap((st) => of(st, 'COPY')).filter((c) => !/--from=/.test(c.args))
    .flatMap((c) => c.args.split(' ').slice(0, -1));
  assert.ok(sources.length > 0);
  for (const src of sources) {
    if (src === '.') continue;
    assert.ok(context.some((f) => f === src || f.startsWith(`${src.replace(/\/$/, '')}/`)), `COPY source ${src} is in the context`);
  }
});
