// `--kubernetes`: the kubelet's pods directory with CRI and Docker json-file logs, labels from the path,
// partial lines joined up to F (and cut at the bound), through the real HTTP sink (NDJSON, gzip).
import assert from 'node:assert/strict';
import { appendFileSync, mkdirSync, renameSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { CaptureSink, startCollector, startHttpSink, tempDir, waitFor } from './helpers.js';
import { createSink } from '../../src/logs/sink.js';
import { parseFlags } from '../../src/logs/flags.js';

const tmp = tempDir('k8s');
after(tmp.cleanup);

describe('kubernetes pods directory', { timeout: 30_000 }, () => {
  it('CRI and Docker lines, labels, partial joins with a bound', { timeout: 40_000 }, async () => {
    const pods = join(tmp.dir, 'pods');
    const cri = join(pods, 'shop_cart-7d9f_11111111-2222-3333-4444-555555555555', 'app');
    const docker = join(pods, 'kube-system_dns-x_aaaa-bbbb', 'dns');
    mkdirSync(cri, { recursive: true });
    mkdirSync(docker, { recursive: true });
    const T = '2024-05-01T10:00:00.123456789Z';
    writeFileSync(join(cri, '0.log'), [
      `${T} stdout F hello`,
      `${T} stderr P part one, `,
      `${T} stdout F interleaved`,
      `${T} stderr F part two`,
      `${T} stdout P ${'x'.repeat(80)}`,
      `${T} stdout P ${'y'.repeat(80)}`,
      `${T} stdout F z`,
      `${T} stdout F:x ${'w'.repeat(150)}`,
      'not a cri line',
      '',
    ].join('\n'));
    writeFileSync(join(docker, '0.log'), [
      JSON.stringify({ log: 'from docker\n', stream: 'stdout', time: T }),
      JSON.stringify({ log: 'split ', stream: 'stderr', time: T }),
      JSON.stringify({ log: 'line\n', stream: 'stderr', time: T }),
      '',
    ].join('\n'));
    const http = await startHttpSink(true);
    const state = join(tmp.dir, 'state');
    const args = ['--kubernetes', '--pods-dir', pods, '--sink', `http:${http.url}`, '--max-line-bytes', '100', '--state-dir', state];
    const c = await startCollector(state, args, createSink(parseFlags([...args, '--metrics-address', 'off']).sink));
    try {
      await waitFor('8 records', () => http.lines.length >= 8);
      assert.equal(http.bodies[0]!.encoding, 'gzip');
      assert.equal(http.bodies[0]!.type, 'application/x-ndjson');
      const recs = http.lines.map((l) => JSON.parse(l) as Record<string, string>);
      const byPod = (pod: string): Record<string, string>[] => recs.filter((r) => r.pod === pod);
      const cart = byPod('cart-7d9f');
      assert.deepEqual(cart.map((r) => [r.stream, r.message]), [
        ['stdout', 'hello'],
        ['stdout', 'interleaved'],
        ['stderr', 'part one, part two'],
        ['stdout', 'x'.repeat(80) + 'y'.repeat(20)],
        ['stdout', 'w'.repeat(100)],
        [undefined, 'not a cri line'],
      ]);
      assert.deepEqual({ ...cart[0], message: undefined }, {
        time: T, file: join(cri, '0.log'), namespace: 'shop', pod: 'cart-7d9f', pod_uid: '11111111-2222-3333-4444-555555555555', container: 'app', stream: 'stdout', message: undefined,
      });
      assert.deepEqual(byPod('dns-x').map((r) => [r.namespace, r.container, r.stream, r.message]), [
        ['kube-system', 'dns', 'stdout', 'from docker'],
        ['kube-system', 'dns', 'stderr', 'split line'],
      ]);
      assert.equal(c.stats.linesTruncated, 2);
      assert.equal(c.stats.truncatedBytes, 61 + 50, 'the joined pieces past the bound (60 of y, the z), and the whole line past it');
      assert.equal(c.stats.parseErrors, 1);
      // A new pod appears: found through the watch on the pods directory.
      const later = join(pods, 'shop_new-1_u-2', 'web');
      mkdirSync(later, { recursive: true });
      appendFileSync(join(later, '0.log'), `${T} stdout F late\n`);
      await waitFor('the new pod', () => http.lines.some((l) => l.includes('"late"')), 5000);
    } finally {
      await c.stop();
      await http.close();
    }
  });

  it('Docker layout: a symlinked log closed while idle, then rotated by dockerd, is found beside the target', { timeout: 40_000 }, async () => {
    const pods = join(tmp.dir, 'pods2');
    const containers = join(tmp.dir, 'containers', 'abc123');
    const link = join(pods, 'ns_web-1_u-9', 'web');
    mkdirSync(link, { recursive: true });
    mkdirSync(containers, { recursive: true });
    const target = join(containers, 'abc123-json.log');
    const line = (m: string): string => JSON.stringify({ log: `${m}\n`, stream: 'stdout', time: '2024-05-01T10:00:00Z' }) + '\n';
    writeFileSync(target, line('d0'));
    symlinkSync(target, join(link, '0.log'));
    const state = join(tmp.dir, 'state2');
    const sink = new CaptureSink();
    const c = await startCollector(state, ['--kubernetes', '--pods-dir', pods, '--idle-close', '100ms', '--rescan-interval', '1s'], sink);
    try {
      await waitFor('d0', () => sink.records.length >= 1);
      await waitFor('idle close', () => c.gauges().filesOpen === 0, 5000);
      appendFileSync(target, line('d1'));
      renameSync(target, `${target}.1`);
      writeFileSync(target, line('d2'));
      await waitFor('d1 and d2', () => sink.records.length >= 3, 5000);
      assert.deepEqual(sink.messages().sort(), ['d0', 'd1', 'd2']);
      assert.equal(c.stats.skippedBytesVanished, 0);
    } finally {
      await c.stop();
    }
  });
});
