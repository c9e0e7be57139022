/** Process exit codes, one meaning each (the CLI contract in README.md). */
export const EXIT_OK = 0;
/** A runtime failure: a port taken, a worker that cannot start, an unexpected error. */
export const EXIT_FAILURE = 1;
/** Bad usage or a bad config: the message names the flag, or the field and its line. */
export const EXIT_USAGE = 2;
