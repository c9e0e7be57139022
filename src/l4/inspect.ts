// Looks at the first bytes a client sends, without terminating anything: the server name of a TLS
// ClientHello (Envoy's tls_inspector) and whether it is an HTTP/1 request line (Envoy's
// http_inspector). Pure functions over a Buffer: the caller accumulates bytes and asks again while the
// answer is `more`.

/** `more`: not enough bytes yet to decide. */
export type Inspection =
  | { kind: 'more' }
  | { kind: 'tls'; serverName: string | null }
  | { kind: 'http' }
  | { kind: 'opaque' };

const MORE: Inspection = { kind: 'more' };
const OPAQUE: Inspection = { kind: 'opaque' };
/** A ClientHello larger than this is not worth waiting for (real ones are under 2 KiB; Envoy caps at 64 KiB). */
export const MAX_INSPECT_BYTES = 64 * 1024;

export function inspect(buf: Buffer, wantTls: boolean, wantHttp: boolean): Inspection {
  if (buf.length === 0) return MORE;
  if (wantTls && buf[0] === 0x16) return clientHello(buf);
  if (wantHttp) return httpRequestLine(buf);
  return OPAQUE;
}

const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'PATCH', 'TRACE', 'CONNECT'].map((m) => Buffer.from(`${m} `));

function httpRequestLine(buf: Buffer): Inspection {
  for (const m of METHODS) {
    const n = Math.min(m.length, buf.length);
    if (buf.compare(m, 0, n, 0, n) === 0) return n === m.length ? { kind: 'http' } : MORE;
  }
  return OPAQUE; // includes the HTTP/2 preface "PRI * HTTP/2.0": h2c stays opaque at L4
}

/**
 * The SNI of a ClientHello (RFC 8446 4.1.2, RFC 6066 3). The handshake message may span several
 * records; their payloads are joined before parsing. Anything malformed is `tls` without a name:
 * routing falls back to the listener's cluster, and the real server will reject the handshake.
 */
export function clientHello(buf: Buffer): Inspection {
  const hs: Buffer[] = [];
  let have = 0;
  let off = 0;
  let need = -1; // handshake message length, once its header is in
  while (need < 0 || have < need + 4) {
    if (off + 5 > buf.length) return buf.length >= MAX_INSPECT_BYTES ? { kind: 'tls', serverName: null } : MORE;
    if (buf[off] !== 0x16 || buf[off + 1] !== 0x03) return { kind: 'tls', serverName: null };
    const len = buf.readUInt16BE(off + 3);
    if (off + 5 + len > buf.length) return buf.length >= MAX_INSPECT_BYTES ? { kind: 'tls', serverName: null } : MORE;
    hs.push(buf.subarray(off + 5, off + 5 + len));
    have += len;
    off += 5 + len;
    if (need < 0 && have >= 4) {
      const h = hs.length === 1 ? hs[0]! : Buffer.concat(hs);
      if (h[0] !== 0x01) return { kind: 'tls', serverName: null }; // not a ClientHello
      need = h.readUIntBE(1, 3);
    }
  }
  const msg = (hs.length === 1 ? hs[0]! : Buffer.concat(hs)).subarray(4, 4 + need);
  return { kind: 'tls', serverName: serverName(msg) };
}

function serverName(m: Buffer): string | null {
  let p = 2 + 32; // client_version, random
  if (p + 1 > m.length) return null;
  p += 1 + m[p]!; // session_id
  if (p + 2 > m.length) return null;
  p += 2 + m.readUInt16BE(p); // cipher_suites
  if (p + 1 > m.length) return null;
  p += 1 + m[p]!; // compression_methods
  if (p + 2 > m.length) return null;
  const end = Math.min(m.length, p + 2 + m.readUInt16BE(p));
  p += 2;
  while (p + 4 <= end) {
    const type = m.readUInt16BE(p);
    const len = m.readUInt16BE(p + 2);
    p += 4;
    if (type === 0 && p + 2 <= end) {
      // server_name_list: entries of (name_type, length, name); host_name is type 0.
      let q = p + 2;
      const listEnd = Math.min(end, q + m.readUInt16BE(p));
      while (q + 3 <= listEnd) {
        const nameType = m[q]!;
        const nameLen = m.readUInt16BE(q + 1);
        q += 3;
        if (nameType === 0 && q + nameLen <= listEnd) return m.toString('latin1', q, q + nameLen).toLowerCase();
        q += nameLen;
      }
      return null;
    }
    p += len;
  }
  return null;
}

/** `*.example.com` matches `a.example.com` and `a.b.example.com`, not `example.com`. */
export function matchServerName(pattern: string, name: string): boolean {
  if (pattern.startsWith('*.')) return name.length > pattern.length - 1 && name.endsWith(pattern.slice(1));
  return pattern === name;
}
