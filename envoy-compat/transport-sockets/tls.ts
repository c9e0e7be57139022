// envoy.transport_sockets.tls -> pillion's `tls` on listeners and clusters (src/front/tls-config.ts).
// Downstream (DownstreamTlsContext on a filter chain): the first tls_certificates pair -> cert/key,
// validation_context.trusted_ca -> ca, require_client_certificate, exact SAN matchers -> each
// route's allowed_client_sans, tls_params -> min_version/ciphers. mTLS needs pillion's node front
// (uWS does not verify client certificates), so such a listener gets `front: node`.
// Upstream (UpstreamTlsContext on a cluster): endpoints become https://, sni -> servername, trusted_ca
// -> ca, a client certificate -> cert/key.
// pillion reads certificates from files: an inline_string / inline_bytes is written to a file of its
// own (mode 0600, in a private directory) and noted.
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Ctx, RawCluster, RawListener } from '../context.js';
import type { Node } from '../source.js';

export const TLS_NAME = 'envoy.transport_sockets.tls';
export const DOWNSTREAM_TLS = 'envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext';
export const UPSTREAM_TLS = 'envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext';

/** Where inline certificates and keys are written (TranslateOptions.inlineDir overrides). */
export function defaultInlineDir(): string {
  return join(tmpdir(), `pillion-envoy-inline-${process.getuid?.() ?? 'user'}`);
}

/** A DataSource as a file name: `filename` as is, inline data written to a private file. */
function dataFile(d: Node, ctx: Ctx, what: string): string | undefined {
  const file = d.str('filename');
  if (file !== undefined) {
    d.finish();
    return file;
  }
  const text = d.str('inline_string');
  const bytes = d.str('inline_bytes');
  if (text === undefined && bytes === undefined) {
    d.drop('environment_variable', `${what} from an environment variable: pillion reads certificates from files`, true);
    d.finish();
    return undefined;
  }
  const data = text !== undefined ? Buffer.from(text) : Buffer.from(bytes!, 'base64');
  const dir = ctx.options.inlineDir ?? defaultInlineDir();
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const path = join(dir, `${createHash('sha256').update(data).digest('hex').slice(0, 24)}.pem`);
  writeFileSync(path, data, { mode: 0o600 });
  d.note(`inline ${what}: written to ${path} (pillion reads certificates from files)`);
  d.finish();
  return path;
}

interface Pair {
  cert?: string;
  key?: string;
  passphrase?: string;
}

/** common_tls_context.tls_certificates[0]; a second pair is reported. */
function certificates(ctc: Node, ctx: Ctx): Pair {
  const out: Pair = {};
  ctc.list('tls_certificates').forEach((tc, i) => {
    if (i > 0) return tc.dropSelf('a second certificate (e.g. RSA + ECDSA): pillion serves one per server name');
    const chain = tc.get('certificate_chain');
    const key = tc.get('private_key');
    if (chain !== undefined) out.cert = dataFile(chain, ctx, 'certificate');
    if (key !== undefined) out.key = dataFile(key, ctx, 'private key');
    const pw = tc.get('password');
    if (pw !== undefined) {
      const p = pw.str('inline_string');
      if (p !== undefined) out.passphrase = p;
      else pw.dropSelf('a key password from a file or variable: pillion takes it inline');
      pw.finish();
    }
    tc.finish();
  });
  ctc.drop('tls_certificate_sds_secret_configs', 'certificates by SDS: pillion reads files (it reloads them when they change)', true);
  return out;
}

function tlsParams(ctc: Node, out: Record<string, unknown>): void {
  const p = ctc.get('tls_params');
  if (p === undefined) return;
  const min = p.str('tls_minimum_protocol_version');
  if (min === 'TLSv1_3') out.min_version = 'TLSv1.3';
  else if (min !== undefined && min !== 'TLS_AUTO' && min !== 'TLSv1_2') {
    p.get('tls_minimum_protocol_version')!.dropSelf(`${min}: pillion accepts TLS 1.2 and 1.3 only`);
  }
  const max = p.str('tls_maximum_protocol_version');
  if (max === 'TLSv1_2') p.get('tls_maximum_protocol_version')!.dropSelf('a TLS 1.2 maximum: pillion also offers TLS 1.3');
  const ciphers = p.strings('cipher_suites');
  if (ciphers !== undefined) out.ciphers = ciphers.join(':');
  p.drop('ecdh_curves', 'pillion uses OpenSSL\'s default curves');
  p.drop('signature_algorithms', 'pillion uses OpenSSL\'s default signature algorithms');
  p.finish();
}

/** SAN matchers pillion can check per route: exact DNS/URI names and URI prefixes (`spiffe://x/*`). */
function sanRules(vc: Node): string[] | undefined {
  const rules: string[] = [];
  let ok = true;
  for (const m of [...vc.list('match_typed_subject_alt_names'), ...vc.list('match_subject_alt_names')]) {
    const typed = m.has('matcher');
    const type = typed ? m.str('san_type') : undefined;
    const sm = typed ? m.get('matcher')! : m;
    const exact = sm.str('exact');
    const prefix = sm.str('prefix');
    if (exact !== undefined && (type === undefined || type === 'DNS' || type === 'URI')) rules.push(exact);
    else if (prefix !== undefined && type === 'URI') rules.push(`${prefix}*`);
    else {
      m.dropSelf('a SAN matcher pillion cannot check (it has exact DNS/URI names, URI prefixes and *.domain)', true);
      ok = false;
      continue;
    }
    sm.skip('ignore_case');
    if (sm !== m) sm.finish();
    m.skip('oid');
    m.finish();
  }
  return ok && rules.length > 0 ? rules : undefined;
}

/** A listener filter chain's DownstreamTlsContext -> `tls` (and `front: node` for mTLS). */
export function downstreamTls(socket: Node, ctx: Ctx, listener: RawListener): Record<string, unknown> | undefined {
  socket.skip('name');
  const typed = socket.get('typed_config');
  if (typed === undefined || typed.typeName() !== DOWNSTREAM_TLS) {
    socket.dropSelf('a TLS transport socket without a DownstreamTlsContext', true);
    return undefined;
  }
  const out: Record<string, unknown> = {};
  const ctc = typed.get('common_tls_context');
  if (ctc === undefined) return typed.fail('DownstreamTlsContext needs common_tls_context with a certificate');
  const pair = certificates(ctc, ctx);
  if (pair.cert === undefined || pair.key === undefined) {
    socket.dropSelf('downstream TLS without a certificate pillion can read: this listener would accept plaintext connections', true);
    return undefined;
  }
  Object.assign(out, pair);
  const vc = ctc.get('validation_context');
  let sans: string[] | undefined;
  if (vc !== undefined) {
    const ca = vc.get('trusted_ca');
    if (ca !== undefined) out.ca = dataFile(ca, ctx, 'trusted CA');
    sans = sanRules(vc);
    vc.drop('verify_certificate_hash', 'certificate pinning: pillion checks the CA and SANs', true);
    vc.drop('verify_certificate_spki', 'certificate pinning: pillion checks the CA and SANs', true);
    vc.drop('crl', 'revocation lists: pillion does not read CRLs', true);
    vc.finish();
  }
  ctc.drop('validation_context_sds_secret_config', 'a CA by SDS: pillion reads files', true);
  tlsParams(ctc, out);
  const alpn = ctc.get('alpn_protocols');
  if (alpn !== undefined) alpn.note('alpn_protocols: pillion offers http/1.1');
  ctc.finish();
  const require = typed.bool('require_client_certificate');
  if (require !== undefined) out.require_client_certificate = require;
  if (out.ca !== undefined) {
    // Without require_client_certificate Envoy asks for a certificate and verifies one if sent; so does pillion.
    if (require === undefined) out.require_client_certificate = false;
    listener.front = 'node';
    typed.note('mTLS: pillion verifies client certificates on its node front (front: node, concurrency 1)');
  } else if (require === true) {
    typed.get('require_client_certificate')!.dropSelf('require_client_certificate without a trusted_ca: Envoy refuses this too', true);
  }
  if (sans !== undefined) {
    ctx.listenerSans.set(listener, sans);
    typed.note('SAN matchers: checked on each route (allowed_client_sans; 403), where Envoy fails the handshake');
  }
  typed.drop('session_ticket_keys', 'pillion manages its own session tickets');
  typed.drop('session_ticket_keys_sds_secret_config', 'pillion manages its own session tickets');
  typed.skip('disable_stateless_session_resumption', 'disable_stateful_session_resumption', 'session_timeout');
  typed.drop('ocsp_staple_policy', 'pillion does not staple OCSP responses');
  typed.drop('full_scan_certs_on_sni_mismatch', 'pillion picks certificates by server name');
  typed.finish();
  socket.finish();
  return out;
}

/** A cluster's UpstreamTlsContext -> `tls`, and https:// endpoints. */
export function upstreamTls(socket: Node, ctx: Ctx, cluster: RawCluster): void {
  socket.skip('name');
  const typed = socket.get('typed_config');
  if (typed === undefined || typed.typeName() !== UPSTREAM_TLS) {
    socket.dropSelf('a TLS transport socket without an UpstreamTlsContext: requests to this cluster would go out as plain HTTP', true);
    return;
  }
  const out: Record<string, unknown> = {};
  const sni = typed.str('sni');
  if (sni !== undefined) out.servername = sni;
  // Envoy sends no SNI unless `sni` or `auto_sni` says so; pillion (undici) always sends one, taken
  // from the request's Host (after host_rewrite) or the endpoint's host name, which is what auto_sni does.
  const autoSni = typed.bool('auto_sni');
  if (sni === undefined && autoSni !== true) typed.note('no sni: Envoy sends none; pillion sends the request\'s Host (or the endpoint\'s host name) as SNI and verifies the certificate against it');
  const ctc = typed.get('common_tls_context');
  let verified = false;
  if (ctc !== undefined) {
    const pair = certificates(ctc, ctx);
    if (pair.cert !== undefined && pair.key !== undefined) Object.assign(out, { cert: pair.cert, key: pair.key });
    if (pair.passphrase !== undefined) ctc.note('a client key passphrase: pillion\'s upstream TLS takes unencrypted keys');
    const vc = ctc.get('validation_context');
    if (vc !== undefined) {
      const ca = vc.get('trusted_ca');
      if (ca !== undefined) {
        out.ca = dataFile(ca, ctx, 'trusted CA');
        verified = true;
      }
      vc.drop('match_typed_subject_alt_names', 'SAN matchers on the upstream certificate: pillion checks it against servername (the endpoint host by default)');
      vc.drop('match_subject_alt_names', 'SAN matchers on the upstream certificate: pillion checks it against servername (the endpoint host by default)');
      vc.drop('verify_certificate_hash', 'certificate pinning: pillion checks the CA and the server name');
      vc.finish();
    }
    ctc.get('alpn_protocols')?.note('alpn_protocols: pillion speaks HTTP/1.1 to upstreams');
    tlsParams(ctc, {});
    ctc.finish();
  }
  if (!verified) {
    socket.note('no validation_context: Envoy does not verify this upstream\'s certificate; pillion verifies it against the system CAs (add tls.reject_unauthorized: false to match Envoy)');
  }
  typed.skip('auto_sni_san_validation', 'allow_renegotiation', 'max_session_keys');
  typed.finish();
  socket.finish();
  cluster.tls = out;
  cluster.endpoints = cluster.endpoints.map((e) => e.replace(/^http:/, 'https:'));
}

/** Any transport socket (raw_buffer is the default and means nothing to carry). */
export function transportSocket(socket: Node, side: 'downstream' | 'upstream', ctx: Ctx, target: RawListener | RawCluster): Record<string, unknown> | undefined {
  const name = socket.str('name');
  const typedNode = socket.isMap() ? (socket.value as Record<string, unknown>).typed_config ?? (socket.value as Record<string, unknown>).typedConfig : undefined;
  const type = typeof (typedNode as Record<string, unknown> | undefined)?.['@type'] === 'string' ? String((typedNode as Record<string, unknown>)['@type']).split('/').pop() : undefined;
  const isTls = type === DOWNSTREAM_TLS || type === UPSTREAM_TLS || (type === undefined && (name === TLS_NAME || name === 'tls'));
  if (isTls && side === 'downstream') return downstreamTls(socket, ctx, target as RawListener);
  if (isTls && side === 'upstream') {
    upstreamTls(socket, ctx, target as RawCluster);
    return undefined;
  }
  if (name === 'envoy.transport_sockets.raw_buffer') {
    socket.skip('typed_config');
    socket.finish();
    return undefined;
  }
  socket.dropSelf(`transport socket ${name ?? type ?? '(unnamed)'}: pillion has no equivalent`, true);
  return undefined;
}

/** A TLS-terminating socket where pillion cannot terminate TLS (tcp_proxy listeners). */
export function tlsNotCarried(socket: Node, why: string): void {
  socket.dropSelf(why, true);
}
