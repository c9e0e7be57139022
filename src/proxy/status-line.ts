// Status lines for uWS's writeStatus, built once at start so the request path only indexes an array.
import { STATUS_CODES } from 'node:http';

const STATUS_LINES: string[] = [];
for (let s = 100; s < 600; s++) STATUS_LINES[s] = `${s} ${STATUS_CODES[s] ?? 'Unknown'}`;
/** "200 OK" for 200, built once at start. */
export function statusLine(status: number): string {
  return STATUS_LINES[status] ?? `${status} Unknown`;
}
