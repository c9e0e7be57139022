import assert from 'node:assert/strict';
import { it } from 'node:test';
import type { Collector } from './collector.js';
import { NoDataError } from './collector.js';
import { MetricDesc, type MetricSet } from './exposition.js';
import { silentLogger } from './logger.js';
import { scrape } from './scrape.js';

const d = new MetricDesc('t_value', 'T.', 'gauge');
const busy = (ms: number): void => { const end = performance.now() + ms; while (performance.now() < end); };

it('measures each collector on its own and isolates failures', async () => {
  const collectors: Collector[] = [
    { name: 'fast', update: (out: MetricSet) => out.add(d, 1) },
    { name: 'slow', update: () => busy(30) },
    { name: 'broken', update: () => { throw new Error('boom'); } },
    { name: 'empty', update: () => { throw new NoDataError('nothing here'); } },
    { name: 'async', update: async () => { await new Promise((r) => setTimeout(r, 5)); } },
  ];
  const text = (await scrape(collectors, silentLogger)).render();
  const dur = (n: string): number => Number(new RegExp(`node_scrape_collector_duration_seconds\\{collector="${n}"\\} (\\S+)`).exec(text)![1]);
  assert.ok(dur('fast') < 0.02, `fast took ${dur('fast')} s: it must not include the slow collector after it`);
  assert.ok(dur('slow') >= 0.03);
  for (const [n, ok] of [['fast', 1], ['slow', 1], ['broken', 0], ['empty', 0], ['async', 1]] as const) {
    assert.match(text, new RegExp(`node_scrape_collector_success\\{collector="${n}"\\} ${ok}`));
  }
  assert.match(text, /^t_value 1$/m);
});
