// RFC 9110's syntax pieces that configs are checked against (the request path has its own, lowercase
// only, in src/proxy/headers.ts, since uWS hands it lowercase names).

/** A token (RFC 9110 5.6.2): what a header name or a method is made of. */
export const HTTP_TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
