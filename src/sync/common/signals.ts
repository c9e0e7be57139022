import { constants } from 'node:os';
import { UsageError } from './cli-args.js';

/** `HUP`, `SIGHUP` or `hup` -> `SIGHUP`; anything the OS does not know is a usage error. */
export function parseSignal(flag: string, text: string): NodeJS.Signals {
  const name = (text.toUpperCase().startsWith('SIG') ? text.toUpperCase() : `SIG${text.toUpperCase()}`) as NodeJS.Signals;
  if (!(name in constants.signals)) throw new UsageError(`--${flag}: unknown signal '${text}'`);
  return name;
}
