// Every response pillion makes itself, in one table: status, the response flag (Envoy's letters, for the
// access log and the `x-pillion-error` header) and the body. The request path picks a row by index;
// nothing here is built per request.

export interface LocalReply {
  status: string;
  statusCode: number;
  /** Envoy's response flag (`UF`, `UH`, `UT`...) or a pillion code. */
  flag: string;
  body: string;
}

const reply = (status: string, flag: string, body: string): LocalReply => ({ status, statusCode: Number(status.slice(0, 3)), flag, body });

export const LOCAL_REPLIES = {
  /** The upstream refused or reset the connection before response headers (Envoy: UF). */
  upstreamConnectFailure: reply('503 Service Unavailable', 'UF', 'upstream connect error or disconnect/reset before headers\n'),
  /** The cluster has no endpoint to send to (Envoy: UH). */
  noHealthyUpstream: reply('503 Service Unavailable', 'UH', 'no healthy upstream\n'),
  /** The upstream did not answer within the route timeout (Envoy: UT). */
  upstreamTimeout: reply('504 Gateway Timeout', 'UT', 'upstream request timeout\n'),
  /** The upstream reset an established connection before response headers (Envoy: UR). */
  upstreamReset: reply('503 Service Unavailable', 'UR', 'upstream reset before response headers\n'),
  /** The upstream sent something that is not HTTP/1.1 (Envoy: UPE). */
  upstreamProtocolError: reply('502 Bad Gateway', 'UPE', 'upstream protocol error\n'),
  /** A circuit breaker is open (Envoy: UO, with `x-envoy-overloaded: true`). */
  overflow: reply('503 Service Unavailable', 'UO', 'upstream connect error or disconnect/reset before headers. reset reason: overflow\n'),
  noRoute: reply('404 Not Found', 'NR', 'no route matched\n'),
  /** Authentication failed: no credential, or an unknown or invalid one. */
  unauthorized: reply('401 Unauthorized', 'UAEX', 'unauthorized\n'),
  /** Authenticated, but not allowed here. */
  forbidden: reply('403 Forbidden', 'UAEX', 'forbidden\n'),
  /** local_ratelimit refused the request (Envoy: RL, body "local_rate_limited"). */
  rateLimited: reply('429 Too Many Requests', 'RL', 'local_rate_limited\n'),
  bodyTooLarge: reply('413 Payload Too Large', 'TL', 'request body too large\n'),
  headersTooLarge: reply('431 Request Header Fields Too Large', 'TL', 'request headers too large\n'),
  badRequest: reply('400 Bad Request', 'DPE', 'bad request: ambiguous framing or invalid header\n'),
  notImplemented: reply('501 Not Implemented', 'NI', 'method not implemented by this proxy\n'),
} as const satisfies Record<string, LocalReply>;

export type LocalReplyKind = keyof typeof LOCAL_REPLIES;

/** Maps an undici error (by its stable `code`) to the reply the client gets. One table, one fallback. */
export function replyForUpstreamError(err: { code?: string; name?: string }): LocalReplyKind {
  // undici 7's parser errors carry no code, only their class name.
  if (err.name === 'HTTPParserError' || err.code?.startsWith('HPE_')) return 'upstreamProtocolError';
  switch (err.code) {
    case 'UND_ERR_CONNECT_TIMEOUT':
    case 'ECONNREFUSED':
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
    case 'EADDRNOTAVAIL':
      return 'upstreamConnectFailure';
    case 'UND_ERR_HEADERS_TIMEOUT':
    case 'UND_ERR_BODY_TIMEOUT':
      return 'upstreamTimeout';
    case 'HPE_INVALID_CONSTANT':
    case 'HPE_INVALID_HEADER_TOKEN':
    case 'HPE_INVALID_VERSION':
    case 'HPE_INVALID_STATUS':
    case 'UND_ERR_INVALID_RETURN_VALUE':
      return 'upstreamProtocolError';
    case 'ECONNRESET':
    case 'EPIPE':
    case 'UND_ERR_SOCKET':
      return 'upstreamConnectFailure';
    default:
      return 'upstreamConnectFailure';
  }
}
