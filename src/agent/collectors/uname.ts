// uname: node_uname_info from the uname(2) fields (collector/uname_linux.go). Node's os module
// calls uname(2) itself; domainname is the one field it does not expose, so it comes from the
// kernel's own copy, /proc/sys/kernel/domainname. Like the syscall, both describe the agent's UTS
// namespace (the host's under hostNetwork), not --path.procfs.
import { machine, hostname, release, type, version } from 'node:os';
import { readText, type Collector } from '../collector.js';
import { MetricDesc, type MetricSet } from '../exposition.js';
import type { CollectorFactory } from './context.js';

const infoDesc = new MetricDesc('node_uname_info', 'Labeled system information as provided by the uname system call.', 'gauge',
  ['sysname', 'release', 'version', 'machine', 'nodename', 'domainname']);

export class UnameCollector implements Collector {
  readonly name = 'uname';

  update(out: MetricSet): void {
    const domainname = readText('/proc/sys/kernel/domainname').trim();
    out.add(infoDesc, 1, type(), release(), version(), machine(), hostname(), domainname);
  }
}

export const unameFactory: CollectorFactory = { name: 'uname', defaultEnabled: true, create: () => new UnameCollector() };
