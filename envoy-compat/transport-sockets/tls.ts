// envoy.transport_sockets.tls: DownstreamTlsContext on a listener's filter chain (certificates,
// require_client_certificate, validation_context, SNI via filter_chain_match.server_names) and
// UpstreamTlsContext on a cluster (sni, auto_sni, client certificate, trusted CA).
// TODO(envoy-compat): map onto pillion's TLS once issue 4 lands in src/config/validate.ts:
// tls_certificates[].certificate_chain/private_key {filename} -> cert/key files (inline_string
// becomes a file: say so), require_client_certificate + validation_context.trusted_ca -> mTLS,
// filter chains' server_names -> SNI certificates; upstream: sni -> servername, endpoints -> https://.
import type { Node } from '../source.js';

export const TLS_NAME = 'envoy.transport_sockets.tls';
export const DOWNSTREAM_TLS = 'envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext';
export const UPSTREAM_TLS = 'envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext';

/** A listener filter chain's transport_socket. */
export function downstreamTls(socket: Node): void {
  const typed = socket.get('typed_config');
  const mtls = typed?.get('require_client_certificate')?.value === true;
  socket.dropSelf(
    `downstream TLS: pillion terminates no TLS yet (issue 4): this listener would accept plaintext connections${mtls ? ' and clients without a certificate (require_client_certificate)' : ''}`,
    true,
  );
}

/** A cluster's transport_socket. */
export function upstreamTls(socket: Node): void {
  socket.dropSelf('upstream TLS: pillion originates no TLS yet (issue 4): requests to this cluster would go out as plain HTTP', true);
}

/** Any other transport socket (raw_buffer is the default and means nothing to carry). */
export function transportSocket(socket: Node, side: 'downstream' | 'upstream'): void {
  const typed = socket.get('typed_config');
  const type = typed?.typeName();
  const name = socket.str('name');
  if (type === DOWNSTREAM_TLS || (side === 'downstream' && type === undefined && (name === TLS_NAME || name === 'tls'))) return downstreamTls(socket);
  if (type === UPSTREAM_TLS || (side === 'upstream' && type === undefined && (name === TLS_NAME || name === 'tls'))) return upstreamTls(socket);
  if (name === 'envoy.transport_sockets.raw_buffer' && (typed === undefined || typed.keys().length <= 1)) return;
  socket.dropSelf(`transport socket ${name ?? type ?? '(unnamed)'}: pillion has no equivalent`, true);
}
