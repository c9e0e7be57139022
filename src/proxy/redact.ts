// /config_dump must never show a secret: values of fields whose names say they hold one are replaced.
const SECRET_FIELD = /(secret|password|passphrase|token|key|keys|key_sha256|credential|credentials)$/i;

export function redact(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(redact);
  if (v === null || typeof v !== 'object') return v;
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) out[k] = SECRET_FIELD.test(k) && x !== undefined ? '[redacted]' : redact(x);
  return out;
}
