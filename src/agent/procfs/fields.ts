// Whitespace splitting for /proc text without RegExp: `line.trim().split(/\s+/)` allocates a match
// object per separator, and a scrape splits hundreds of lines; this is Go's strings.Fields.

function isSpace(c: number): boolean {
  return c === 32 || c === 9 || c === 10 || c === 13 || c === 11 || c === 12;
}

/** Whitespace other than the space: lines holding any go the character-by-character way. */
const OTHER_SPACE = /[\t\n\r\v\f]/;

/** Splits on runs of whitespace; no empty fields. `limit` stops after that many fields. */
export function fields(line: string, limit = Infinity): string[] {
  const out: string[] = [];
  // Fast path for the common /proc line (fields separated by runs of spaces): the native split is
  // about 2.5 times cheaper than the loop below on baseline-compiled code (lean-v8.ts). Not with a
  // limit: that is for lines with thousands of fields (/proc/stat intr), where splitting all of
  // them is the cost being avoided.
  if (limit === Infinity && !OTHER_SPACE.test(line)) {
    const parts = line.split(' ');
    for (let i = 0; i < parts.length; i++) if (parts[i] !== '') out.push(parts[i]!);
    return out;
  }
  const n = line.length;
  let i = 0;
  while (i < n && out.length < limit) {
    while (i < n && isSpace(line.charCodeAt(i))) i++;
    if (i >= n) break;
    const start = i;
    while (i < n && !isSpace(line.charCodeAt(i))) i++;
    out.push(line.slice(start, i));
  }
  return out;
}

/** True for a non-empty run of ASCII digits (what strconv.ParseUint base 10 accepts). */
export function isUint(s: string | undefined): s is string {
  if (s === undefined || s.length === 0) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return true;
}
