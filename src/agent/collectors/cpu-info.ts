// The cpu collector's optional /proc/cpuinfo part (--collector.cpu.info): node_cpu_info per logical
// CPU, its frequency, and the first CPU's flags and bugs filtered by the include regexps
// (node_exporter collector/cpu_linux.go updateInfo; x86 layout of /proc/cpuinfo).
import { MetricDesc, type MetricSet } from '../exposition.js';

const infoDesc = new MetricDesc('node_cpu_info', 'CPU information from /proc/cpuinfo.', 'gauge',
  ['package', 'core', 'cpu', 'vendor', 'family', 'model', 'model_name', 'microcode', 'stepping', 'cachesize']);
const frequencyDesc = new MetricDesc('node_cpu_frequency_hertz', 'CPU frequency in hertz from /proc/cpuinfo.', 'gauge', ['package', 'core', 'cpu']);
const flagDesc = new MetricDesc('node_cpu_flag_info', 'The `flags` field of CPU information from /proc/cpuinfo taken from the first core.', 'gauge', ['flag']);
const bugDesc = new MetricDesc('node_cpu_bug_info', 'The `bugs` field of CPU information from /proc/cpuinfo taken from the first core.', 'gauge', ['bug']);

export interface CpuInfo {
  processor: string;
  vendor: string;
  family: string;
  model: string;
  modelName: string;
  stepping: string;
  microcode: string;
  mhz: number | undefined;
  cacheSize: string;
  physicalId: string;
  coreId: string;
  flags: string[];
  bugs: string[];
}

/** Parses /proc/cpuinfo: "key<TAB>: value" lines, one block per logical CPU starting at "processor". */
export function parseCpuinfo(text: string): CpuInfo[] {
  const cpus: CpuInfo[] = [];
  let cur: CpuInfo | undefined;
  for (const line of text.split('\n')) {
    const colon = line.indexOf(':');
    if (colon === -1) continue;
    const key = line.slice(0, colon).trim();
    const value = line.slice(colon + 1).trim();
    if (key === 'processor') {
      if (!/^\d+$/.test(value)) throw new Error(`/proc/cpuinfo: bad processor number ${JSON.stringify(value)}`);
      cur = { processor: value, vendor: '', family: '', model: '', modelName: '', stepping: '', microcode: '', mhz: undefined, cacheSize: '', physicalId: '', coreId: '', flags: [], bugs: [] };
      cpus.push(cur);
      continue;
    }
    if (cur === undefined) continue;
    switch (key) {
      case 'vendor_id': case 'vendor': cur.vendor = value; break;
      case 'cpu family': cur.family = value; break;
      case 'model': cur.model = value; break;
      case 'model name': cur.modelName = value; break;
      case 'stepping': cur.stepping = value; break;
      case 'microcode': cur.microcode = value; break;
      case 'cpu MHz': {
        const mhz = Number(value);
        if (value === '' || Number.isNaN(mhz)) throw new Error(`/proc/cpuinfo: bad cpu MHz ${JSON.stringify(value)}`);
        cur.mhz = mhz;
        break;
      }
      case 'cache size': cur.cacheSize = value; break;
      case 'physical id': cur.physicalId = value; break;
      case 'core id': cur.coreId = value; break;
      case 'flags': cur.flags = value.split(/\s+/).filter(Boolean); break;
      case 'bugs': cur.bugs = value.split(/\s+/).filter(Boolean); break;
    }
  }
  return cpus;
}

export function addCpuInfo(out: MetricSet, cpus: CpuInfo[], flagsInclude: RegExp | undefined, bugsInclude: RegExp | undefined): void {
  for (const c of cpus) {
    out.add(infoDesc, 1, c.physicalId, c.coreId, c.processor, c.vendor, c.family, c.model, c.modelName, c.microcode, c.stepping, c.cacheSize);
    if (c.mhz !== undefined) out.add(frequencyDesc, c.mhz * 1e6, c.physicalId, c.coreId, c.processor);
  }
  const first = cpus[0];
  if (first === undefined) return;
  // Without an include pattern node_exporter exports no flags or bugs: there are about a hundred.
  if (flagsInclude) for (const f of first.flags) if (flagsInclude.test(f)) out.add(flagDesc, 1, f);
  if (bugsInclude) for (const b of first.bugs) if (bugsInclude.test(b)) out.add(bugDesc, 1, b);
}
