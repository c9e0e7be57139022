#!/usr/bin/env node
// Builds native/ with node-gyp (`npm install` runs this; so can `node native/build.mjs`). It never
// fails the install: without a compiler, Python or Node's headers, pillion runs with the JavaScript
// fallback (stream piping, no transparent interception) and says so at start.
//
// node-gyp: npm ships one and tells scripts where (npm_config_node_gyp); otherwise the one next to
// this node's npm. Node's headers: npm's `nodedir` when set (offline builds), else node-gyp's cache.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const say = (msg) => process.stderr.write(`pillion native: ${msg}\n`);

if (process.env.PILLION_SKIP_NATIVE) {
  say('PILLION_SKIP_NATIVE is set: not building; the JavaScript fallback will be used');
  process.exit(0);
}
if (process.platform !== 'linux') {
  say(`${process.platform} has no SO_ORIGINAL_DST or splice(2): not building; the JavaScript fallback will be used`);
  process.exit(0);
}

const candidates = [
  process.env.npm_config_node_gyp,
  join(dirname(process.execPath), '../lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js'),
  join(here, '../node_modules/node-gyp/bin/node-gyp.js'),
].filter(Boolean);
const gyp = candidates.find((p) => existsSync(p));
if (gyp === undefined) {
  say(`node-gyp not found (looked in ${candidates.join(', ')}): the JavaScript fallback will be used`);
  process.exit(0);
}
const args = [gyp, 'rebuild', '--release'];
// Headers installed with node itself (<prefix>/include/node) build offline; node-gyp would download them.
const prefix = join(dirname(process.execPath), '..');
const nodedir = process.env.npm_config_nodedir || (existsSync(join(prefix, 'include/node/node_api.h')) ? prefix : undefined);
if (nodedir) args.push(`--nodedir=${nodedir}`);
const r = spawnSync(process.execPath, args, { cwd: here, stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
if (r.status !== 0) {
  process.stderr.write(r.stdout.slice(-4000) + r.stderr.slice(-4000));
  say(`build failed (node-gyp exit ${r.status ?? r.signal}): pillion still works, with the JavaScript fallback ` +
    '(stream piping, no transparent interception); see the output above');
  process.exit(0);
}
say(`built ${join(here, 'build/Release/pillion_native.node')}`);
