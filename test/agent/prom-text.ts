// A small parser for the Prometheus text format, enough to compare two expositions sample by sample.

export interface Family {
  type: string | undefined;
  /** Sample key (name + sorted labels, JSON) to value. */
  samples: Map<string, number>;
}

export function parseExposition(text: string, ignoreLabels: ReadonlyMap<string, readonly string[]> = new Map()): Map<string, Family> {
  const fams = new Map<string, Family>();
  const fam = (n: string): Family => {
    let f = fams.get(n);
    if (f === undefined) fams.set(n, (f = { type: undefined, samples: new Map() }));
    return f;
  };
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '') continue;
    if (line.startsWith('#')) {
      const m = /^# TYPE (\S+) (\S+)/.exec(line);
      if (m) fam(m[1]!).type = m[2];
      continue;
    }
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?$/.exec(line);
    if (!m) throw new Error(`unparsable sample line: ${line}`);
    const name = m[1]!;
    const drop = ignoreLabels.get(name) ?? [];
    const labels: [string, string][] = [];
    for (const lm of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
      if (!drop.includes(lm[1]!)) labels.push([lm[1]!, lm[2]!]);
    }
    labels.sort((a, b) => (a[0] < b[0] ? -1 : 1));
    fam(name).samples.set(JSON.stringify([name, labels]), Number(m[3]));
  }
  return fams;
}
