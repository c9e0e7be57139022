// --web.listen-address as Go's net.Listen takes it: "host:port", ":port" (all interfaces) or "[v6]:port".
import { UsageError } from './flags.js';

export interface ListenAddress {
  /** Undefined means every interface (Node's default, dual-stack). */
  host: string | undefined;
  port: number;
}

export function parseListenAddress(text: string): ListenAddress {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(text);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw new UsageError(`--web.listen-address: expected host:port, :port or [v6]:port, got '${text}'`);
  const host = m[1] ?? m[2];
  return { host: host === '' ? undefined : host, port };
}
