// Container log line formats and Kubernetes path labels.
//   CRI (containerd, CRI-O):  `<RFC3339Nano> <stdout|stderr> <P|F>[:more tags] <message>`; P = partial,
//                             the runtime split a long line and the pieces end with an F line.
//   Docker json-file:         `{"log":"text\n","stream":"stdout","time":"<RFC3339Nano>"}`; a `log` without
//                             a trailing newline is a partial piece (dockerd splits at 16 KiB).
// Parsing never throws: a line that fits neither format is shipped as it is and counted.

export type Format = 'raw' | 'cri' | 'docker' | 'auto';

/** A parsed container line; `partial` pieces are joined by the caller up to the line bound. */
export interface ContainerLine {
  time: string;
  stream: string;
  partial: boolean;
  message: string;
}

/** Parses one CRI line, or returns null when it is not one. */
export function parseCri(line: string): ContainerLine | null {
  const a = line.indexOf(' ');
  if (a < 20) return null; // shorter than any RFC 3339 timestamp
  const b = line.indexOf(' ', a + 1);
  if (b === -1) return null;
  const stream = line.slice(a + 1, b);
  if (stream !== 'stdout' && stream !== 'stderr') return null;
  // Tags are `P` or `F`, possibly followed by more colon-separated tags; the message may be empty.
  let c = line.indexOf(' ', b + 1);
  if (c === -1) c = line.length;
  const tag = line.charCodeAt(b + 1);
  if (tag !== 80 /* P */ && tag !== 70 /* F */) return null;
  return { time: line.slice(0, a), stream, partial: tag === 80, message: c < line.length ? line.slice(c + 1) : '' };
}

/** Parses one Docker json-file line, or returns null when it is not one. */
export function parseDocker(line: string): ContainerLine | null {
  if (line.charCodeAt(0) !== 123 /* { */) return null;
  let o: unknown;
  try {
    o = JSON.parse(line);
  } catch {
    return null; // not JSON: the caller ships the line raw and counts a parse error
  }
  if (typeof o !== 'object' || o === null) return null;
  const r = o as { log?: unknown; stream?: unknown; time?: unknown };
  if (typeof r.log !== 'string') return null;
  const partial = !r.log.endsWith('\n');
  return {
    time: typeof r.time === 'string' ? r.time : '',
    stream: typeof r.stream === 'string' ? r.stream : 'stdout',
    partial,
    message: partial ? r.log : r.log.slice(0, r.log.endsWith('\r\n') ? -2 : -1),
  };
}

export function parseContainerLine(format: Format, line: string): ContainerLine | null {
  if (format === 'cri') return parseCri(line);
  if (format === 'docker') return parseDocker(line);
  return line.charCodeAt(0) === 123 ? parseDocker(line) : parseCri(line);
}

/** Labels of a container log under the kubelet's pods directory. */
export interface PodLabels {
  namespace: string;
  pod: string;
  pod_uid: string;
  container: string;
}

/**
 * `<podsDir>/<namespace>_<pod>_<uid>/<container>/<n>.log`. Namespaces and pod names are DNS labels or
 * subdomains and cannot hold `_`, so the first and last `_` split the directory name.
 */
export function podLabels(path: string): PodLabels | null {
  const parts = path.split('/');
  if (parts.length < 3) return null;
  const container = parts[parts.length - 2]!;
  const podDir = parts[parts.length - 3]!;
  const first = podDir.indexOf('_');
  const last = podDir.lastIndexOf('_');
  if (first <= 0 || last <= first + 1 || last === podDir.length - 1) return null;
  return { namespace: podDir.slice(0, first), pod: podDir.slice(first + 1, last), pod_uid: podDir.slice(last + 1), container };
}

/**
 * Nanoseconds since the epoch (a decimal string, as Loki wants) from an RFC 3339 time with up to nine
 * fraction digits; Date.parse alone would keep milliseconds only. Falls back to `fallbackMs`.
 */
export function rfc3339ToNs(time: string, fallbackMs: number): string {
  const ms = time === '' ? NaN : Date.parse(time);
  if (Number.isNaN(ms)) return `${fallbackMs}000000`;
  const secs = Math.floor(ms / 1000);
  const dot = time.indexOf('.', 17);
  let frac = '';
  if (dot !== -1) {
    let e = dot + 1;
    while (e < time.length && time.charCodeAt(e) >= 48 && time.charCodeAt(e) <= 57) e++;
    frac = time.slice(dot + 1, Math.min(e, dot + 10));
  }
  return secs === 0 ? String(Number(frac.padEnd(9, '0'))) : `${secs}${frac.padEnd(9, '0')}`;
}
