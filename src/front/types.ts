// What the proxy needs from a front: the subset of uWS's HttpResponse / HttpRequest that the request
// path uses. uWS objects satisfy it as they are (no wrapper on the fast path); the node:http front
// (front/node.ts) implements it for listeners that need what uWS 20.30 cannot do.

export interface FrontResponse {
  writeStatus(status: string): unknown;
  writeHeader(name: string, value: string | Uint8Array): unknown;
  /** Chunked write; false when the client is slow (the chunk is kept; wait for onWritable). */
  write(chunk: Uint8Array): boolean;
  /** Writes (part of) a body of known total size; [accepted, finished]. A false `accepted` keeps
   *  nothing: resend from `getWriteOffset()` in onWritable. */
  tryEnd(chunk: Uint8Array, totalSize: number): [boolean, boolean];
  end(body?: string | Uint8Array, closeConnection?: boolean): unknown;
  endWithoutBody(reportedContentLength?: number, closeConnection?: boolean): unknown;
  getWriteOffset(): number;
  onWritable(handler: (offset: number) => boolean): unknown;
  onAborted(handler: () => void): unknown;
  pause(): void;
  resume(): void;
  /** Drops the connection at once (a truncated response must not look complete). */
  close(): unknown;
  /** Runs `cb` with writes batched into one syscall. */
  cork(cb: () => void): unknown;
}

export interface FrontRequest {
  getCaseSensitiveMethod(): string;
  /** The path, without the query. */
  getUrl(): string;
  /** The raw query string, without '?', or '' / undefined when there is none. */
  getQuery(): string | undefined;
  /** Every header in arrival order, duplicates included, names lowercased. */
  forEach(cb: (name: string, value: string) => void): void;
}

/** Which implementation serves a listener. */
export type FrontKind = 'uws' | 'node';
