// TLS settings of a listener (termination) and of a cluster (origination), validated when the config
// loads: files are read and each certificate/key pair is checked to belong together, so that a bad pair
// is refused with the field's name and line before anything listens.
import { createSecureContext } from 'node:tls';
import { readFileSync } from 'node:fs';
import type { Checker, Path } from '../config/validate.js';

export type ForwardClientCert = 'sanitize' | 'sanitize_set' | 'append_forward';

export interface CertPair {
  cert_file: string;
  key_file: string;
  passphrase?: string;
}

export interface SniCert extends CertPair {
  /** Exact names and `*.example.com` wildcards. */
  server_names: string[];
}

export interface ListenerTls extends CertPair {
  sni: SniCert[];
  /** Trusted CA bundle for client certificates (mTLS); null: no client certificates asked for. */
  ca_file: string | null;
  require_client_certificate: boolean;
  forward_client_cert: ForwardClientCert;
  /** Generate a certificate for localhost at start (development); cert_file/key_file are filled then. */
  self_signed: boolean;
  min_version: 'TLSv1.2' | 'TLSv1.3';
  ciphers: string;
}

export interface ClusterTls {
  ca_file: string | null;
  cert_file: string | null;
  key_file: string | null;
  /** SNI and the name checked in the server's certificate; default: the endpoint's host. */
  servername: string | null;
  reject_unauthorized: boolean;
}

/** Mozilla's "intermediate" TLS 1.2 suites (TLS 1.3 suites are always on). */
export const MODERN_CIPHERS = [
  'ECDHE-ECDSA-AES128-GCM-SHA256', 'ECDHE-RSA-AES128-GCM-SHA256', 'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384', 'ECDHE-ECDSA-CHACHA20-POLY1305', 'ECDHE-RSA-CHACHA20-POLY1305',
].join(':');

function readable(c: Checker, v: unknown, path: Path): string {
  const file = c.string(v, path);
  try {
    readFileSync(file);
  } catch (err) {
    c.fail(path, `cannot read: ${(err as Error).message}`);
  }
  return file;
}

/** Loads a pair and checks that the key belongs to the certificate; returns the reason when not. */
export function checkPair(p: CertPair): string | null {
  try {
    createSecureContext({ cert: readFileSync(p.cert_file), key: readFileSync(p.key_file), passphrase: p.passphrase });
    return null;
  } catch (err) {
    return (err as Error).message;
  }
}

function pair(c: Checker, o: Record<string, unknown>, path: Path): CertPair {
  const p: CertPair = { cert_file: readable(c, o.cert, [...path, 'cert']), key_file: readable(c, o.key, [...path, 'key']) };
  if (o.passphrase !== undefined) p.passphrase = c.string(o.passphrase, [...path, 'passphrase']);
  const why = checkPair(p);
  if (why !== null) c.fail([...path, 'key'], `does not load with its certificate: ${why}`);
  return p;
}

export function parseListenerTls(c: Checker, v: unknown, path: Path, front: string): ListenerTls | null {
  if (v === undefined) return null;
  const o = c.object(v, path, ['cert', 'key', 'passphrase', 'sni', 'ca', 'require_client_certificate', 'forward_client_cert', 'self_signed', 'min_version', 'ciphers']);
  const selfSigned = c.bool(o.self_signed, [...path, 'self_signed'], false);
  if (selfSigned && (o.cert !== undefined || o.key !== undefined)) c.fail([...path, 'self_signed'], 'cannot be combined with cert/key (real certificates win; remove self_signed)');
  const base: CertPair = selfSigned ? { cert_file: '', key_file: '' } : pair(c, o, path);
  const sni = c.array(o.sni ?? [], [...path, 'sni']).map((s, i) => {
    const p = [...path, 'sni', i];
    const so = c.object(s, p, ['server_names', 'cert', 'key', 'passphrase']);
    const names = c.stringList(so.server_names, [...p, 'server_names']).map((n) => n.toLowerCase());
    names.forEach((n, j) => {
      if (!/^(\*\.)?[a-z0-9-]+(\.[a-z0-9-]+)*$/.test(n)) c.fail([...p, 'server_names', j], 'must be a host name or *.domain');
    });
    return { ...pair(c, so, p), server_names: names };
  });
  const ca = o.ca === undefined ? null : readable(c, o.ca, [...path, 'ca']);
  const require = c.bool(o.require_client_certificate, [...path, 'require_client_certificate'], ca !== null);
  if (require && ca === null) c.fail([...path, 'require_client_certificate'], 'needs a ca to verify client certificates against');
  if (ca !== null && front !== 'node') {
    // uWS 20.30 neither enforces client certificates (a missing or untrusted one still gets through)
    // nor shows them to JavaScript, so mTLS is done on the node:tls front.
    c.fail([...path, 'ca'], "mTLS needs `front: node` on this listener (uWS 20.30 does not verify client certificates)");
  }
  const fcc = o.forward_client_cert ?? 'sanitize';
  if (fcc !== 'sanitize' && fcc !== 'sanitize_set' && fcc !== 'append_forward') c.fail([...path, 'forward_client_cert'], 'must be sanitize, sanitize_set or append_forward');
  const minv = o.min_version ?? 'TLSv1.2';
  if (minv !== 'TLSv1.2' && minv !== 'TLSv1.3') c.fail([...path, 'min_version'], 'must be TLSv1.2 or TLSv1.3');
  if (minv === 'TLSv1.3' && front !== 'node') c.fail([...path, 'min_version'], 'TLSv1.3-only needs `front: node` (uWS 20.30 does not expose the setting)');
  return {
    ...base,
    sni,
    ca_file: ca,
    require_client_certificate: require,
    forward_client_cert: fcc as ForwardClientCert,
    self_signed: selfSigned,
    min_version: minv as ListenerTls['min_version'],
    ciphers: o.ciphers === undefined ? MODERN_CIPHERS : c.string(o.ciphers, [...path, 'ciphers']),
  };
}

export function parseClusterTls(c: Checker, v: unknown, path: Path): ClusterTls | null {
  if (v === undefined) return null;
  const o = c.object(v, path, ['ca', 'cert', 'key', 'servername', 'reject_unauthorized']);
  if ((o.cert === undefined) !== (o.key === undefined)) c.fail(path, 'cert and key go together (a client certificate for mTLS to the upstream)');
  const t: ClusterTls = {
    ca_file: o.ca === undefined ? null : readable(c, o.ca, [...path, 'ca']),
    cert_file: null,
    key_file: null,
    servername: o.servername === undefined ? null : c.string(o.servername, [...path, 'servername']),
    reject_unauthorized: c.bool(o.reject_unauthorized, [...path, 'reject_unauthorized'], true),
  };
  if (o.cert !== undefined) {
    const p = pair(c, o, path);
    t.cert_file = p.cert_file;
    t.key_file = p.key_file;
  }
  return t;
}
