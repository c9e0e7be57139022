// The filter contract. A filter is built once per (listener or route, config) by its factory and is
// shared by every request through it: it keeps no per-request state of its own, only reads the
// precomputed config and writes to the request's context. Request phase in config order, response
// phase in reverse, as in Envoy's filter manager. A route with no filters runs none (its chain is null).
import type { LocalReplyKind } from '../errors/local-reply.js';
import type { ClientIdentity } from '../front/tls.js';

export const enum FilterStatus {
  /** Go on to the next filter (or, after the last one, to the upstream). */
  Continue = 0,
  /** Stop here. The filter has either sent a local reply (`ctx.reply()`), or it will call
   *  `ctx.resume()` later (an async check), or `ctx.reply()` later. Nothing else runs until then. */
  Stop = 1,
}

/** What a filter sees of a request. Implemented by the Exchange (src/proxy/exchange.ts). */
export interface StreamContext {
  readonly method: string;
  /** Path without the query. */
  readonly path: string;
  /** Raw query string without '?', or ''. Filters may rewrite it (to hide a credential). */
  query: string;
  /** Request headers as a flat [name, value, ...] list with lowercase names; filters may edit it. */
  headers: string[];
  readonly remoteAddress: string;
  /** The client the api_key_auth filter recognised, for later filters (rate limit descriptors, ACLs). */
  apiKeyClient: string | null;
  /** Claims of a JWT the jwt_authn filter verified. */
  jwtClaims: Record<string, unknown> | null;
  /** The verified client certificate of an mTLS connection. */
  readonly clientCert: ClientIdentity | null;
  /** Short fingerprint of the credential used, safe for access logs. */
  credentialFingerprint: string | null;
  /** Adds a header to the response the client gets (upstream's or local). */
  addResponseHeader(name: string, value: string): void;
  /** Ends the request with one of the proxy's own responses; extra headers as [name, value, ...]. */
  reply(kind: LocalReplyKind, extraHeaders?: readonly string[]): void;
  /** After a Stop: run the rest of the chain. */
  resume(): void;
  /** The client went away or the request ended: async filters should drop their work. */
  readonly done: boolean;
}

/** One filter. Only onRequestHeaders is required; the other phases default to Continue. */
export interface Filter {
  readonly name: string;
  onRequestHeaders(ctx: StreamContext): FilterStatus;
  /** Response head from the upstream: `headers` is the [name, value, ...] list the client will get. */
  onResponseHeaders?(ctx: StreamContext, status: number, headers: (string | Buffer)[]): FilterStatus;
  onDestroy?(ctx: StreamContext): void;
}

/** Reads one request header from the flat list (first occurrence), or undefined. */
export function getHeader(headers: readonly string[], name: string): string | undefined {
  for (let i = 0; i < headers.length; i += 2) if (headers[i] === name) return headers[i + 1];
  return undefined;
}

/** Removes every occurrence of a request header from the flat list, in place. */
export function removeHeader(headers: string[], name: string): void {
  let w = 0;
  for (let r = 0; r < headers.length; r += 2) {
    if (headers[r] !== name) { headers[w++] = headers[r]!; headers[w++] = headers[r + 1]!; }
  }
  headers.length = w;
}

/** A query parameter's decoded value (first occurrence), or undefined; a malformed %-escape counts as absent. */
export function queryParam(query: string, name: string): string | undefined {
  for (const part of query.split('&')) {
    const eq = part.indexOf('=');
    const k = eq < 0 ? part : part.slice(0, eq);
    if (k === name) {
      try {
        return decodeURIComponent(eq < 0 ? '' : part.slice(eq + 1).replace(/\+/g, ' '));
      } catch {
        return undefined;
      }
    }
  }
  return undefined;
}

/** The query without a parameter (to hide a credential before forwarding). */
export function withoutQueryParam(query: string, name: string): string {
  return query.split('&').filter((p) => p !== name && !p.startsWith(`${name}=`)).join('&');
}
