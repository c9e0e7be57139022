// basic_auth config: users in htpasswd format, Envoy's `{SHA}` scheme only (what Envoy's
// envoy.filters.http.basic_auth accepts: `name:{SHA}<base64 SHA-1 of the password>`), inline, from a
// file or from an environment variable. Read and checked here, in the main thread, when the config
// loads: the data planes get the digests only, and a reload reads the file again.
import { readFileSync } from 'node:fs';
import type { Checker, Path } from '../../config/validate.js';
import { HTTP_TOKEN } from '../../util/http-syntax.js';

export interface BasicAuthConfig {
  /** Request header holding `Basic <base64 user:password>` (lowercase; Envoy's authentication_header). */
  header: string;
  /**
   * [user, base64 SHA-1 of the password] pairs. The user is the latin1 spelling of its UTF-8 bytes, so
   * that it compares byte for byte with a decoded credential and is forwarded with the bytes the client
   * sent. A list rather than a record: a user may be called `__proto__`. /config_dump redacts the field.
   */
  credentials: [string, string][];
  /** Request header the authenticated user is written to (Envoy's forward_username_header), or null. */
  forward_username_header: string | null;
  /** Fixed realm of `WWW-Authenticate: Basic realm="..."`; null: Envoy's, the request's URI. */
  realm: string | null;
  /** Remove the credential header before forwarding (default false: Envoy forwards it). */
  hide_credentials: boolean;
}

// A forwarded user name must be a valid header value, and an htpasswd line has no room for a newline.
const CONTROL = /[\x00-\x1f\x7f]/;
const SHA1_B64 = /^[A-Za-z0-9+/]{27}=$/;
const REALM = /^[\x20-\x7e]*$/;

/**
 * Envoy's htpasswd reader (source/extensions/filters/http/basic_auth/config.cc): blank lines and lines
 * starting with `#` skipped, `name:{SHA}<28 base64 characters>` on every other line, no duplicate
 * names. A trailing CR (a file saved on Windows) is tolerated. Errors name the user, never the hash.
 */
export function parseHtpasswd(text: string, fail: (reason: string) => never): [string, string][] {
  const out: [string, string][] = [];
  const seen = new Set<string>();
  text.split('\n').forEach((raw, i) => {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (line === '' || line.startsWith('#')) return;
    const at = `line ${i + 1}`;
    const colon = line.indexOf(':');
    if (colon < 0) fail(`${at}: expected name:{SHA}hash (htpasswd format)`);
    const name = line.slice(0, colon);
    const hash = line.slice(colon + 1);
    if (name === '' || hash === '') fail(`${at}: empty user name or password hash`);
    if (CONTROL.test(name)) fail(`${at}: the user name has a control character`);
    if (seen.has(name)) fail(`${at}: duplicate user '${name}'`);
    seen.add(name);
    if (!hash.startsWith('{SHA}')) {
      fail(`${at}: user '${name}': unsupported hash; only {SHA} (htpasswd -s), as in Envoy (bcrypt, MD5 and crypt are not supported)`);
    }
    if (!SHA1_B64.test(hash.slice(5))) fail(`${at}: user '${name}': a {SHA} hash is 28 base64 characters (a SHA-1 digest)`);
    out.push([Buffer.from(name, 'utf8').toString('latin1'), hash.slice(5)]);
  });
  return out;
}

function readUsers(c: Checker, v: unknown, path: Path): [string, string][] {
  let text = '';
  let where = path;
  if (typeof v === 'string') {
    text = v;
  } else {
    const o = c.object(v, path, ['inline', 'file', 'env']);
    const given = ['inline', 'file', 'env'].filter((k) => o[k] !== undefined);
    if (given.length !== 1) c.fail(path, 'needs exactly one of inline, file or env (or an inline string)');
    const k = given[0]!;
    where = [...path, k];
    if (k === 'inline') {
      if (typeof o.inline !== 'string') c.fail(where, 'must be a string (htpasswd lines)');
      text = o.inline;
    } else if (k === 'file') {
      const file = c.string(o.file, where);
      try {
        text = readFileSync(file, 'utf8');
      } catch (err) {
        c.fail(where, `cannot read: ${(err as Error).message}`);
      }
    } else {
      const name = c.string(o.env, where);
      const value = process.env[name];
      if (value === undefined) c.fail(where, `environment variable ${name} is not set`);
      text = value;
    }
  }
  return parseHtpasswd(text, (reason) => c.fail(where, reason));
}

export function parseBasicAuth(c: Checker, raw: Record<string, unknown>, path: Path): BasicAuthConfig {
  const o = c.object(raw, path, ['users', 'authentication_header', 'forward_username_header', 'realm', 'hide_credentials']);
  if (o.users === undefined) c.fail([...path, 'users'], 'is required: htpasswd lines ({SHA} hashes), inline or {file} or {env}');
  const credentials = readUsers(c, o.users, [...path, 'users']);
  const header = (p: Path, v: unknown, fallback?: string): string => {
    const h = c.string(v, p, fallback).toLowerCase();
    if (!HTTP_TOKEN.test(h)) c.fail(p, 'must be a header name');
    return h;
  };
  const forward = o.forward_username_header === undefined ? null : header([...path, 'forward_username_header'], o.forward_username_header);
  const realm = o.realm === undefined ? null : c.string(o.realm, [...path, 'realm']);
  if (realm !== null && (!REALM.test(realm) || realm.includes('"') || realm.includes('\\'))) {
    c.fail([...path, 'realm'], 'must be printable ASCII without " or \\');
  }
  return {
    header: header([...path, 'authentication_header'], o.authentication_header, 'authorization'),
    credentials,
    forward_username_header: forward,
    realm,
    hide_credentials: c.bool(o.hide_credentials, [...path, 'hide_credentials'], false),
  };
}
