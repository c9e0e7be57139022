// What every config source gives the syncer. Sources are conditional where they can be: an HTTP
// source sends If-None-Match / If-Modified-Since, a ConfigMap source compares the `..data` link
// target, a file source compares (inode, size, mtime). "Not modified" costs no download and no parse.

export type FetchResult =
  /** The source says nothing changed since the last *accepted* fetch. */
  | { kind: 'not_modified' }
  | { kind: 'content'; body: Buffer };

/** Thrown for a source failure with a reason safe to log (never a header value). */
export class SourceError extends Error {
  readonly code = 'PILLION_SYNC_SOURCE';
}

export interface ConfigSource {
  /** For logs; contains no secrets (URLs are logged without credentials or query). */
  readonly description: string;
  fetch(): Promise<FetchResult>;
  /**
   * The content of the last fetch was accepted (valid and on disk): remember its validators so the
   * next fetch can be conditional. Validators of refused content are never kept, so a bad config
   * is fetched (and refused) again rather than hidden behind a 304.
   */
  accept(): void;
}
