import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { MetricSet } from '../exposition.js';
import { parseFlags } from '../flags.js';
import { silentLogger } from '../logger.js';
import { CpuCollector } from './cpu.js';
import { COLLECTOR_DEFAULTS } from './index.js';

const dir = mkdtempSync(join(tmpdir(), 'pillion-cpu-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function scrapeWith(c: CpuCollector, statLine: string): string {
  writeFileSync(join(dir, 'stat'), `cpu  0 0 0 0\n${statLine}\nbtime 1\n`);
  const out = new MetricSet();
  c.update(out);
  return out.render();
}

describe('cpu collector counters', () => {
  mkdirSync(dir, { recursive: true });
  const opts = parseFlags([`--path.procfs=${dir}`, `--path.sysfs=${join(dir, 'nosys')}`], COLLECTOR_DEFAULTS);
  const c = new CpuCollector({ paths: opts.paths, opts, logger: silentLogger });

  it('never step backwards by a tick, but reset after a hotplug-sized idle drop', () => {
    assert.match(scrapeWith(c, 'cpu0 1000 0 500 90000 0 0 0 0 0 0'), /node_cpu_seconds_total\{cpu="0",mode="user"\} 10\n/);
    // user goes back by one tick (per-CPU accounting race): the previous value is kept.
    const t2 = scrapeWith(c, 'cpu0 999 0 501 90001 0 0 0 0 0 0');
    assert.match(t2, /mode="user"\} 10\n/);
    assert.match(t2, /mode="system"\} 5\.01\n/);
    // idle drops by more than 3 s: the CPU was unplugged and came back, counters restart.
    const t3 = scrapeWith(c, 'cpu0 5 0 5 100 0 0 0 0 0 0');
    assert.match(t3, /mode="idle"\} 1\n/);
    assert.match(t3, /mode="user"\} 0\.05\n/);
  });

  it('without sysfs (no thermal_throttle, no isolated file) still reports the /proc/stat times', () => {
    const text = scrapeWith(c, 'cpu0 5 0 5 200 0 0 0 0 3 0');
    assert.match(text, /node_cpu_guest_seconds_total\{cpu="0",mode="user"\} 0\.03/);
    assert.doesNotMatch(text, /throttles|isolated/);
  });
});
