// 1,000 container logs with 64 descriptors at most: every line arrives, descriptors stay under the
// bound (idle files are closed and reopened), and the /metrics text passes `promtool check metrics`.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { renderMetrics, startMetricsServer } from '../../src/logs/metrics.js';
import { CaptureSink, startCollector, tempDir, waitFor } from './helpers.js';

const tmp = tempDir('many');
after(tmp.cleanup);
const T = '2024-05-01T10:00:00.000000001Z';

describe('many files', { timeout: 60_000 }, () => {
  it('1000 pods, 64 descriptors: every line, bounded descriptors, promtool-clean metrics', { timeout: 40_000 }, async () => {
    const pods = join(tmp.dir, 'pods');
    const files: string[] = [];
    for (let i = 0; i < 1000; i++) {
      const d = join(pods, `ns${i % 7}_pod-${i}_uid-${i}`, 'c');
      mkdirSync(d, { recursive: true });
      const f = join(d, '0.log');
      writeFileSync(f, `${T} stdout F p${i} 0\n${T} stdout F p${i} 1\n${T} stderr F p${i} 2\n`);
      files.push(f);
    }
    const sink = new CaptureSink();
    const c = await startCollector(join(tmp.dir, 'state'), ['--kubernetes', '--pods-dir', pods, '--max-open-files', '64', '--idle-close', '200ms', '--batch-max-records', '1000'], sink);
    let maxOpen = 0;
    const sampler = setInterval(() => { maxOpen = Math.max(maxOpen, c.gauges().filesOpen); }, 5);
    const server = await startMetricsServer('127.0.0.1', 0, () => renderMetrics(c.stats, c.gauges()));
    try {
      await waitFor('3000 lines', () => sink.records.length >= 3000, 30_000);
      assert.equal(c.gauges().filesTracked, 1000);
      // Every file written again: files closed while idle are reopened (by path, same inode).
      for (let i = 0; i < 1000; i++) appendFileSync(files[i]!, `${T} stdout F p${i} 3\n`);
      await waitFor('4000 lines', () => sink.records.length >= 4000, 30_000);
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(sink.records.length, 4000);
      const perPod = new Map<string, string[]>();
      for (const r of sink.records) {
        const [pod, n] = r.message.split(' ');
        perPod.set(pod!, [...(perPod.get(pod!) ?? []), n!]);
      }
      assert.equal(perPod.size, 1000);
      for (const [pod, ns] of perPod) assert.deepEqual(ns, ['0', '1', '2', '3'], pod);
      assert.ok(maxOpen <= 64, `${maxOpen} descriptors open at once`);
      assert.ok(maxOpen > 0);

      const addr = server.address() as { port: number };
      const text = await (await fetch(`http://127.0.0.1:${addr.port}/metrics`)).text();
      assert.match(text, /^pillion_logs_lines_read_total 4000$/m);
      assert.match(text, /^pillion_logs_files_tracked 1000$/m);
      assert.match(text, /^pillion_logs_lag_bytes 0$/m);
      const promtool = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
      if (promtool.error === undefined) assert.equal(promtool.status, 0, promtool.stdout + promtool.stderr);
    } finally {
      clearInterval(sampler);
      server.close();
      await c.stop();
    }
  });
});
