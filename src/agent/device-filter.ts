// Include/exclude regexps for device names, as node_exporter's deviceFilter: a device is
// ignored when it matches the exclude pattern or, with an include pattern, does not match it.
// Patterns are Go RE2 syntax; the subset node_exporter's defaults and users' flags use
// (anchors, classes, alternation, \d, a leading (?i)) means the same in JS.
import { UsageError } from './flags.js';

/** Compiles a flag's Go regexp for JS; a bad pattern is a usage error naming the flag. */
export function compileFlagRegex(flag: string, pattern: string): RegExp {
  let source = pattern;
  let flags = 'u';
  if (source.startsWith('(?i)')) {
    source = source.slice(4);
    flags += 'i';
  }
  try {
    return new RegExp(source, flags);
  } catch {
    // The 'u' flag rejects some escapes RE2 allows (e.g. `\-` outside a class); retry without it.
    try {
      return new RegExp(source, flags.replace('u', ''));
    } catch (err) {
      throw new UsageError(`--${flag}: invalid regular expression ${JSON.stringify(pattern)}: ${(err as Error).message}`);
    }
  }
}

export class DeviceFilter {
  constructor(
    private readonly exclude: RegExp | undefined,
    private readonly include: RegExp | undefined,
  ) {}

  ignored(name: string): boolean {
    return (this.exclude !== undefined && this.exclude.test(name)) || (this.include !== undefined && !this.include.test(name));
  }
}

/**
 * Builds a filter from a collector's `--collector.X.device-exclude/-include` flags. Giving both is a
 * usage error (node_exporter: "mutually exclusive"). `defaultExclude` applies only when neither is given.
 */
export function deviceFilterFromFlags(collector: string, exclude: string | undefined, include: string | undefined, defaultExclude?: string): DeviceFilter {
  return filterFromFlags(`collector.${collector}.device-exclude`, `collector.${collector}.device-include`, exclude, include, defaultExclude);
}

/**
 * The same rules for any exclude/include flag pair (filesystem's mount-points-* and fs-types-*,
 * node_exporter 1.9+): both given is a usage error; an include given alone drops the default exclude.
 * `exclude` / `include` are undefined when the flag was not given.
 */
export function filterFromFlags(excludeFlag: string, includeFlag: string, exclude: string | undefined, include: string | undefined, defaultExclude?: string): DeviceFilter {
  if (exclude !== undefined && include !== undefined && exclude !== '' && include !== '') {
    throw new UsageError(`--${excludeFlag} and --${includeFlag} are mutually exclusive`);
  }
  const ex = exclude ?? (include === undefined || include === '' ? defaultExclude : undefined);
  return new DeviceFilter(
    ex ? compileFlagRegex(excludeFlag, ex) : undefined,
    include ? compileFlagRegex(includeFlag, include) : undefined,
  );
}
