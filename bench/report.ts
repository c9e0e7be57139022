// Medians over rounds, ratios, and the three renderings of the result: the console table,
// Markdown and JSON.
import type { GenResult, Scenario } from './generators.js';

export interface RunRecord {
  scenario: string;
  candidate: string;
  round: number;
  /** Null when the case could not be measured (start failure, generator failure). */
  gen: GenResult | null;
  error: string | null;
  /** Proxy user+sys CPU over the measured window / responses, in microseconds. */
  cpuUsPerReq: number | null;
  /** Max sampled RSS of the proxy's processes during the measured window, bytes. */
  rssMaxBytes: number | null;
  /** Origin user+sys CPU per response, microseconds (for reading "direct" and the proxies' cost apart). */
  originCpuUsPerReq: number | null;
  /** CPU used on the proxy's core by processes other than the proxy and the origin, % of the window (other work on a shared machine). */
  otherCpuPct: number | null;
  /** The proxy process exited before the bench stopped it (crash, or a signal from outside). */
  proxyExitedEarly: boolean;
  /** Anything odd about the proxy process in this case (crash, slow stop). */
  notes: string[];
}

export interface SummaryRow {
  scenario: string;
  scenarioLabel: string;
  generator: string;
  candidate: string;
  candidateLabel: string;
  runs: number;
  failedRuns: number;
  rps: number | null;
  p50: number | null;
  p99: number | null;
  p999: number | null;
  /** Summed over the runs: non-2xx + socket errors + timeouts + requests lost on closed connections. */
  errors: number | null;
  /** Summed over the runs; null for wrk. */
  reconnects: number | null;
  cpuUsPerReq: number | null;
  rssMB: number | null;
  ratioDirect: number | null;
  ratioNginx: number | null;
  otherCpuPct: number | null;
}

export interface Header {
  date: string;
  command: string;
  node: string;
  cpu: string;
  cores: number;
  connections: number;
  durationS: number;
  warmupS: number;
  /** Short stopped runs before the warm-up (absent in results from before they existed). */
  warmupStops?: number;
  rounds: number;
  pinning: string;
  versions: Record<string, string>;
  loadavgBefore: string;
  loadavgAfter: string;
  totalSeconds: number;
}

export function median(xs: number[]): number | null {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

function medianOf(runs: RunRecord[], pick: (r: RunRecord) => number | null | undefined): number | null {
  const xs: number[] = [];
  for (const r of runs) {
    const v = pick(r);
    if (v !== null && v !== undefined && Number.isFinite(v)) xs.push(v);
  }
  return median(xs);
}

export function summarize(records: RunRecord[], scenarios: Scenario[], candidates: { id: string; label: string }[]): SummaryRow[] {
  const rows: SummaryRow[] = [];
  for (const s of scenarios) {
    const byCand = new Map<string, SummaryRow>();
    for (const c of candidates) {
      const runs = records.filter((r) => r.scenario === s.id && r.candidate === c.id);
      if (runs.length === 0) continue;
      const measured = runs.filter((r) => r.gen !== null);
      const row: SummaryRow = {
        scenario: s.id,
        scenarioLabel: s.label,
        generator: s.generator,
        candidate: c.id,
        candidateLabel: c.label,
        runs: runs.length,
        failedRuns: runs.length - measured.length,
        rps: medianOf(measured, (r) => r.gen?.rps),
        p50: medianOf(measured, (r) => r.gen?.p50),
        p99: medianOf(measured, (r) => r.gen?.p99),
        p999: medianOf(measured, (r) => r.gen?.p999),
        errors: measured.length === 0 ? null : measured.reduce((a, r) => a + (r.gen === null ? 0 : r.gen.non2xx + r.gen.socketErrors + r.gen.timeouts + r.gen.lost), 0),
        reconnects: s.generator === 'wrk' || measured.length === 0 ? null : measured.reduce((a, r) => a + (r.gen?.reconnects ?? 0), 0),
        cpuUsPerReq: medianOf(measured, (r) => r.cpuUsPerReq),
        rssMB: medianOf(measured, (r) => (r.rssMaxBytes === null ? null : r.rssMaxBytes / (1024 * 1024))),
        ratioDirect: null,
        ratioNginx: null,
        otherCpuPct: medianOf(measured, (r) => r.otherCpuPct),
      };
      byCand.set(c.id, row);
      rows.push(row);
    }
    const direct = byCand.get('direct')?.rps ?? null;
    const nginx = byCand.get('nginx')?.rps ?? null;
    for (const row of byCand.values()) {
      if (row.rps === null) continue;
      if (direct !== null && direct > 0) row.ratioDirect = row.rps / direct;
      if (nginx !== null && nginx > 0) row.ratioNginx = row.rps / nginx;
    }
  }
  return rows;
}

const COLUMNS = ['scenario', 'gen', 'candidate', 'req/s', 'p50 ms', 'p99 ms', 'p99.9 ms', 'errors', 'reconn.', 'CPU us/req', 'RSS MB', 'x direct', 'x nginx', 'others %'];

function fmtNum(v: number | null, digits: number): string {
  return v === null ? '-' : v.toFixed(digits);
}

function fmtMs(v: number | null): string {
  if (v === null) return '-';
  // Both generators report microseconds (autocannon through the bench's own histogram: generators.ts).
  return v < 10 ? v.toFixed(2) : v < 100 ? v.toFixed(1) : v.toFixed(0);
}

function cells(r: SummaryRow): string[] {
  const failed = r.failedRuns > 0 ? ` (${r.failedRuns}/${r.runs} failed)` : '';
  return [
    r.scenarioLabel,
    r.generator,
    r.candidateLabel + failed,
    r.rps === null ? 'failed' : Math.round(r.rps).toLocaleString('en-US'),
    fmtMs(r.p50),
    fmtMs(r.p99),
    fmtMs(r.p999),
    r.errors === null ? '-' : String(r.errors),
    r.reconnects === null ? '-' : String(r.reconnects),
    r.candidate === 'direct' ? '-' : fmtNum(r.cpuUsPerReq, 1),
    r.candidate === 'direct' ? '-' : fmtNum(r.rssMB, 1),
    r.candidate === 'direct' ? '-' : fmtNum(r.ratioDirect, 2),
    fmtNum(r.ratioNginx, 2),
    fmtNum(r.otherCpuPct, 0),
  ];
}

export function textTable(rows: SummaryRow[]): string {
  const all = [COLUMNS, ...rows.map(cells)];
  const widths = COLUMNS.map((_, i) => Math.max(...all.map((r) => r[i].length)));
  const numeric = (i: number): boolean => i >= 3;
  const line = (r: string[]): string => r.map((c, i) => (numeric(i) ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join('  ');
  const out: string[] = [line(COLUMNS), widths.map((w) => '-'.repeat(w)).join('  ')];
  let last = '';
  for (const r of rows) {
    if (last !== '' && r.scenario !== last) out.push('');
    last = r.scenario;
    out.push(line(cells(r)));
  }
  return out.join('\n');
}

export function headerLines(h: Header): string[] {
  return [
    `date: ${h.date}`,
    `command: ${h.command}`,
    `node: ${h.node}; CPU: ${h.cpu}; cores: ${h.cores}`,
    `connections: ${h.connections}; pipelining: 1, or 10 in the "pipelining 10" scenarios`,
    `duration: ${h.durationS} s measured per run, after ${h.warmupStops ? `${h.warmupStops} short generator runs, each stopped, and ` : ''}${h.warmupS} s of warm-up on a fresh proxy process; ${h.rounds} round(s), interleaved (every candidate once per round), median reported`,
    `pinning: ${h.pinning}`,
    `versions: ${Object.entries(h.versions)
      .map(([k, v]) => `${k} ${v}`)
      .join('; ')}`,
    `load average before: ${h.loadavgBefore}; after: ${h.loadavgAfter}; whole bench: ${Math.round(h.totalSeconds)} s`,
  ];
}

export const LEGEND = [
  'req/s: 2xx responses per second (median of the runs). p50/p99/p99.9: latency to the microsecond (autocannon: recorded by the bench from its response events, 2xx only; wrk: its own, not reported with pipelining, where its percentiles come out wrong).',
  'errors: non-2xx + socket errors + timeouts, summed over all runs; autocannon rows add the requests left unanswered on a connection the server closed (autocannon itself counts none of them). reconn.: how many such closes autocannon silently reopened, summed (wrk counts each as a read error instead).',
  'CPU us/req: user+sys time of the proxy process(es) over the measured window / responses (nginx: master + worker). RSS MB: max VmRSS sampled every 100 ms during the window (median over runs).',
  'others %: CPU time used on the proxy\'s core by processes other than the proxy and the origin (other work on a shared machine), % of the window, median. Rows with a high figure were disturbed.',
  'x direct, x nginx: req/s ratio to the direct and nginx rows of the same scenario and generator. The direct row is also the ceiling of the generator (one process, one core) for that scenario: a proxy close to it may be limited by the generator, not by itself.',
];

/**
 * Each pillion variant (policy, access logs, TLS, the node front) against plain pillion in the same
 * scenario: the medians' ratios, then every round's p99 of both, because on a noisy machine a median
 * of a few rounds can move by more than the difference asked about (issue 5: logging on within 10 %).
 */
export function variantLines(rows: SummaryRow[], records: RunRecord[]): string[] {
  const out: string[] = [];
  const p99s = (scenario: string, candidate: string) => records
    .filter((r) => r.scenario === scenario && r.candidate === candidate && r.gen !== null)
    .map((r) => fmtMs(r.gen!.p99)).join(', ');
  for (const base of rows.filter((r) => r.candidate === 'pillion')) {
    for (const v of rows.filter((r) => r.scenario === base.scenario && r.candidate.startsWith('pillion-'))) {
      if (v.rps === null || base.rps === null || base.rps === 0) continue;
      const p99 = v.p99 !== null && base.p99 !== null && base.p99 > 0 ? `p99 ${fmtMs(v.p99)} against ${fmtMs(base.p99)} ms (${v.p99 >= base.p99 ? '+' : ''}${(((v.p99 / base.p99) - 1) * 100).toFixed(0)} %)` : 'p99 -';
      out.push(`${base.scenarioLabel} (${base.generator}), ${v.candidateLabel}: ${(v.rps / base.rps).toFixed(3)}x pillion's req/s, ${p99}; p99 per round: ${p99s(v.scenario, v.candidate)} against ${p99s(base.scenario, 'pillion')}`);
    }
  }
  return out;
}

export function markdown(h: Header, rows: SummaryRow[], skipped: { id: string; reason: string }[], setups: { label: string; setup: string }[], notes: string[], variants: string[] = []): string {
  const md: string[] = ['# pillion bench results', ''];
  for (const l of headerLines(h)) md.push(`- ${l.replace(/^(\w[^:]*):/, '**$1**:')}`);
  md.push('', `| ${COLUMNS.join(' | ')} |`, `| ${COLUMNS.map((_, i) => (i >= 3 ? '---:' : '---')).join(' | ')} |`);
  for (const r of rows) md.push(`| ${cells(r).join(' | ')} |`);
  md.push('', ...LEGEND.map((l) => `- ${l}`), '');
  if (variants.length > 0) md.push('## pillion variants against pillion (same run)', '', ...variants.map((l) => `- ${l}`), '');
  md.push('## Candidates', '');
  for (const s of setups) md.push(`- **${s.label}**: ${s.setup}`);
  for (const s of skipped) md.push(`- **${s.id}**: skipped: ${s.reason}`);
  if (notes.length > 0) {
    md.push('', '## Notes from this run', '');
    // Notes quote process output: one line each, so the list stays a list.
    for (const n of notes) md.push(`- ${n.replace(/\s*\n\s*/g, ' | ')}`);
  }
  md.push('');
  return md.join('\n');
}
