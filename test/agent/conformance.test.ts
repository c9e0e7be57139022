// Conformance with node_exporter: run `pillion agent` on node_exporter's own fixture trees and
// compare its /metrics with what node_exporter printed for the same trees, family by family
// (types, label sets, values), with the shared prom-compare tool. See test/fixtures/node_exporter/README.md.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { familiesOf, httpGet, NE, promCompare, promtoolFindings, startAgentProcess, type AgentProcess } from './helpers.js';

const tmp = mkdtempSync(join(tmpdir(), 'pillion-agent-conformance-'));
const CORE = ['cpu', 'meminfo', 'loadavg', 'diskstats', 'stat', 'vmstat', 'pressure'];
/** node_exporter's checkmetrics.sh ignores these: /proc/meminfo's names are camelCase by promtool's rules. */
const PROMTOOL_IGNORED = /^node_(entropy|memory|netstat|wifi_station)_/;

async function scrapeTo(agent: AgentProcess, file: string): Promise<string> {
  const res = await httpGet(agent.address, '/metrics');
  assert.equal(res.status, 200);
  assert.match(String(res.headers['content-type']), /^text\/plain; version=0\.0\.4/);
  writeFileSync(file, res.body);
  return res.body;
}

describe('agent conformance: core collectors on node_exporter v1.12.1 fixtures', () => {
  let agent: AgentProcess;
  let body: string;
  const actual = join(tmp, 'core.prom');
  const expectedE2e = `${NE}expected/core-e2e-v1.12.1.prom`;

  before(async () => {
    agent = await startAgentProcess([
      `--path.procfs=${NE}proc`, `--path.sysfs=${NE}sys`, `--path.rootfs=${NE}`, `--path.udev.data=${NE}udev/data`,
      '--collector.disable-defaults', ...CORE.map((c) => `--collector.${c}`), '--collector.stat.softirq',
    ]);
    body = await scrapeTo(agent, actual);
  });
  after(async () => {
    assert.equal(await agent.stop(), 0, 'SIGTERM must stop the agent with exit code 0');
  });

  it('matches every family of node_exporter 1.12.1 e2e output', () => {
    // --families= makes every expected family required: a family we stop emitting fails too.
    const families = familiesOf(readFileSync(expectedE2e, 'utf8'));
    assert.ok(families.length >= 90, `expected file has ${families.length} families`);
    const r = promCompare(expectedE2e, actual, [`--families=${families.join(',')}`]);
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, new RegExp(`checked=${families.length} ok=${families.length} failed=0`));
  });

  it('matches node_exporter 1.5.0 (Debian) on the same tree, but for the labels 1.5 lacks', () => {
    const r = promCompare(`${NE}expected/core-node_exporter-1.5.0.prom`, actual,
      ['--ignore-labels=node_disk_info:rotational,node_disk_info:serial', '--subset=node_scrape_collector_success']);
    assert.equal(r.code, 0, r.out);
  });

  it('is byte-identical to node_exporter output once collector durations are left out', () => {
    const ours = body.split('\n').filter((l) => !l.includes('node_scrape_collector_duration_seconds')).join('\n');
    assert.equal(ours, readFileSync(expectedE2e, 'utf8'));
  });

  it('reports every collector as successful', () => {
    for (const c of CORE) assert.match(body, new RegExp(`^node_scrape_collector_success\\{collector="${c}"\\} 1$`, 'm'));
  });

  it('the comparison can fail: a changed value, a dropped series and a wrong type are caught', () => {
    const cases: [string, (s: string) => string][] = [
      ['value', (s) => s.replace(/^node_load1 0\.21$/m, 'node_load1 0.22')],
      ['series', (s) => s.replace(/^node_disk_io_now\{device="sda"\} 0\n/m, '')],
      ['type', (s) => s.replace('# TYPE node_forks_total counter', '# TYPE node_forks_total gauge')],
      ['unit', (s) => s.replace(/^(node_disk_read_bytes_total\{device="sda"\}) \S+$/m, '$1 1.003346126e+09')],
    ];
    for (const [what, mutate] of cases) {
      const broken = mutate(body);
      assert.notEqual(broken, body, `mutation '${what}' did not apply`);
      const file = join(tmp, `broken-${what}.prom`);
      writeFileSync(file, broken);
      const r = promCompare(expectedE2e, file, ['--subset=node_scrape_collector_success']);
      assert.equal(r.code, 1, `mutation '${what}' was not detected:\n${r.out}`);
    }
  });

  it('promtool check metrics finds nothing beyond what it finds in node_exporter output', (t) => {
    const ours = promtoolFindings(body);
    if (ours === undefined) {
      t.skip('promtool not installed (apt-get install prometheus)');
      return;
    }
    const theirs = promtoolFindings(readFileSync(expectedE2e, 'utf8'))!;
    assert.notEqual(ours.code, 1, `promtool could not parse our output:\n${ours.findings.join('\n')}`);
    const extra = ours.findings.filter((f) => !PROMTOOL_IGNORED.test(f) && !theirs.findings.includes(f));
    assert.deepEqual(extra, []);
  });
});

describe('agent conformance: cpu --collector.cpu.info on the v1.12.1 /proc/cpuinfo fixture', () => {
  it('matches node_cpu_info, node_cpu_frequency_hertz, node_cpu_flag_info and node_cpu_bug_info', async () => {
    // The include patterns reproduce upstream's end-to-end run (its output has exactly these flags and bugs).
    const agent = await startAgentProcess([`--path.procfs=${NE}proc`, `--path.sysfs=${NE}sys`, '--collector.disable-defaults', '--collector.cpu',
      '--collector.cpu.info', '--collector.cpu.info.flags-include=^(aes|avx.?|constant_tsc)$', '--collector.cpu.info.bugs-include=^(cpu_meltdown|spectre_.*|mds)$']);
    try {
      const actual = join(tmp, 'cpu-info.prom');
      await scrapeTo(agent, actual);
      const expected = `${NE}expected/cpu-info-e2e-v1.12.1.prom`;
      const families = familiesOf(readFileSync(expected, 'utf8'));
      assert.equal(families.length, 4);
      const r = promCompare(expected, actual, [`--families=${families.join(',')}`]);
      assert.equal(r.code, 0, r.out);
    } finally {
      assert.equal(await agent.stop(), 0);
    }
  });
});

describe('agent conformance: netdev on /proc/net/dev (node_exporter 1.5.0)', () => {
  it('matches all ten devices, including "ibr10:30", "flannel.1", an emoji name and "eth0:<no space>"', async () => {
    const agent = await startAgentProcess([`--path.procfs=${NE}netdev-procfs/proc`, '--collector.disable-defaults', '--collector.netdev']);
    try {
      const actual = join(tmp, 'netdev.prom');
      const body = await scrapeTo(agent, actual);
      const expected = `${NE}expected/netdev-procfs-node_exporter-1.5.0.prom`;
      const families = familiesOf(readFileSync(expected, 'utf8'));
      const r = promCompare(expected, actual, [`--families=${families.join(',')}`]);
      assert.equal(r.code, 0, r.out);
      assert.match(body, /device="💩0"/u);
      const lint = promtoolFindings(body);
      if (lint !== undefined) assert.equal(lint.code, 0, lint.findings.join('\n'));
    } finally {
      assert.equal(await agent.stop(), 0);
    }
  });
});
