// TLS at run time: node:tls options with SNI (exact and wildcard names), client identities of mTLS
// connections, Envoy's x-forwarded-client-cert, and the development certificate of `--tls-self-signed`.
import { createHash, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createSecureContext, type SecureContext, type TLSSocket, type TlsOptions } from 'node:tls';
import type { CertPair, ListenerTls } from './tls-config.js';

/** Who a verified client certificate says the client is. */
export interface ClientIdentity {
  subject: string;
  uris: string[];
  dns: string[];
  /** SHA-256 of the DER certificate, hex (Envoy's XFCC `Hash`). */
  hash: string;
  /** The XFCC element for this client, built once per connection. */
  xfcc: string;
}

const identities = new WeakMap<TLSSocket, ClientIdentity | null>();

/** The verified client certificate's identity, once per connection; null without a verified one. */
export function clientIdentity(socket: TLSSocket): ClientIdentity | null {
  let id = identities.get(socket);
  if (id !== undefined) return id;
  id = null;
  if (socket.authorized) {
    const raw = socket.getPeerCertificate(false)?.raw;
    if (raw !== undefined && raw.length > 0) {
      const x = new X509Certificate(raw);
      const sans = (x.subjectAltName ?? '').split(', ').filter((s) => s !== '');
      const uris = sans.filter((s) => s.startsWith('URI:')).map((s) => s.slice(4));
      const dns = sans.filter((s) => s.startsWith('DNS:')).map((s) => s.slice(4));
      const subject = x.subject.split('\n').reverse().join(',');
      const hash = createHash('sha256').update(raw).digest('hex');
      let xfcc = `Hash=${hash};Subject="${subject.replace(/"/g, '\\"')}"`;
      for (const u of uris) xfcc += `;URI=${u}`;
      for (const d of dns) xfcc += `;DNS=${d}`;
      id = { subject, uris, dns, hash, xfcc };
    }
  }
  identities.set(socket, id);
  return id;
}

/** Does `name` match an allowed SAN: exact, or `*.domain` for DNS names, or a URI prefix ending in '*'. */
export function sanAllowed(id: ClientIdentity, allowed: readonly string[]): boolean {
  for (const a of allowed) {
    if (a.endsWith('*') && !a.startsWith('*.')) {
      const p = a.slice(0, -1);
      if (id.uris.some((u) => u.startsWith(p))) return true;
    } else if (a.startsWith('*.')) {
      const suffix = a.slice(1);
      if (id.dns.some((d) => d.endsWith(suffix) && d.indexOf('.') === d.length - suffix.length)) return true;
    } else if (id.uris.includes(a) || id.dns.includes(a)) {
      return true;
    }
  }
  return false;
}

function context(p: CertPair): SecureContext {
  return createSecureContext({ cert: readFileSync(p.cert_file), key: readFileSync(p.key_file), passphrase: p.passphrase });
}

/** Picks the SNI certificate for a server name: exact first, then the longest `*.` wildcard. */
export function sniLookup(names: ReadonlyMap<string, SecureContext>, servername: string): SecureContext | undefined {
  const n = servername.toLowerCase();
  const exact = names.get(n);
  if (exact !== undefined) return exact;
  const dot = n.indexOf('.');
  return dot < 0 ? undefined : names.get(`*${n.slice(dot)}`);
}

/**
 * Options for a node:tls server. `names` is the SNI table the server's callback reads: it is filled
 * here (emptied first), so that calling this again with the same map rotates the SNI certificates too.
 */
export function nodeTlsOptions(t: ListenerTls, names: Map<string, SecureContext>): TlsOptions {
  names.clear();
  for (const s of t.sni) {
    const ctx = context(s);
    for (const n of s.server_names) names.set(n, ctx);
  }
  const opts: TlsOptions = {
    cert: readFileSync(t.cert_file),
    key: readFileSync(t.key_file),
    passphrase: t.passphrase,
    minVersion: t.min_version,
    ciphers: t.ciphers,
    ALPNProtocols: ['http/1.1'],
    // Unknown names get the default certificate, as clients without SNI do.
    SNICallback: (servername, cb) => cb(null, sniLookup(names, servername)),
  };
  if (t.ca_file !== null) {
    opts.ca = readFileSync(t.ca_file);
    opts.requestCert = true;
    opts.rejectUnauthorized = t.require_client_certificate;
  }
  return opts;
}

/** A certificate for localhost and 127.0.0.1, made at start for development (`tls.self_signed`). */
export async function makeSelfSigned(): Promise<{ cert: string; key: string; fingerprint: string }> {
  const mod = (await import('selfsigned')) as unknown as { default?: { generate: Function }; generate?: Function };
  const generate = (mod.default?.generate ?? mod.generate)!;
  const r = (await generate([{ name: 'commonName', value: 'localhost' }], {
    keySize: 2048,
    days: 30,
    algorithm: 'sha256',
    extensions: [{ name: 'subjectAltName', altNames: [{ type: 2, value: 'localhost' }, { type: 7, ip: '127.0.0.1' }] }],
  })) as { cert: string; private: string };
  const fingerprint = new X509Certificate(r.cert).fingerprint256;
  return { cert: r.cert, key: r.private, fingerprint };
}
