// /config_dump must never show a secret: values of fields whose names say they hold one are replaced
// (header names included: an access-log sink's authorization), and so is a password inside a URL.
const SECRET_FIELD = /(secret|password|passphrase|token|key|keys|key_sha256|credential|credentials|authorization|cookie)$/i;

function redactUrlPassword(s: string): string {
  return s.replace(/^([a-z][a-z0-9+.-]*:\/\/[^/@:]*):[^/@]*@/i, '$1:[redacted]@');
}

export function redact(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(redact);
  if (typeof v === 'string') return v.includes('@') ? redactUrlPassword(v) : v;
  if (v === null || typeof v !== 'object') return v;
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) out[k] = SECRET_FIELD.test(k) && x !== undefined ? '[redacted]' : redact(x);
  return out;
}
