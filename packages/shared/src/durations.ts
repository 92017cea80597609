/**
 * Durations on the command line, one convention for every tool: a whole number with its unit —
 * `ms`, `s`, `m`, `h`, `d` or `w` (`500ms`, `5s`, `15m`, `6h`, `2d`) — read into milliseconds. A
 * bare `0` needs no unit.
 *
 * Options that used to take a bare number (`--timeout 5000` in milliseconds, `--lock-wait 300` in
 * seconds) still take one for this release, read in the old unit, with a deprecation line on
 * stderr naming the spelling to use instead.
 */
import { InvalidArgumentError, Option } from 'commander';

export type DurationUnit = 'ms' | 's' | 'm' | 'h' | 'd' | 'w';

const UNIT_MS: Record<DurationUnit, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** `90s`, `15m`, `500ms` … in milliseconds; null when the text is not a whole number and a unit (or 0). */
export function parseDuration(text: string): number | null {
  if (text.trim() === '0') return 0;
  const m = /^(\d{1,15})(ms|s|m|h|d|w)$/.exec(text.trim());
  if (!m) return null;
  return Number(m[1]) * UNIT_MS[m[2] as DurationUnit];
}

/** Milliseconds as the shortest exact spelling: 300000 → `5m`, 1500 → `1500ms`, 0 → `0s`. */
export function durationText(ms: number): string {
  if (ms === 0) return '0s';
  for (const unit of ['w', 'd', 'h', 'm', 's'] as const) {
    if (ms % UNIT_MS[unit] === 0) return `${ms / UNIT_MS[unit]}${unit}`;
  }
  return `${ms}ms`;
}

export interface DurationOptionSpec {
  /** The option as the user spells it, for messages: `--timeout`. */
  flag: string;
  /** Inclusive bounds, in milliseconds. */
  min: number;
  max: number;
  /** The unit a bare number used to mean; a bare number is then read in it, with a deprecation line. */
  bareUnit?: DurationUnit;
  /** Where the deprecation line goes (the tool's stderr, with its name). */
  warn?: (message: string) => void;
}

/**
 * A commander option parser for a duration: returns milliseconds; a bad value or one out of range
 * is a usage error naming the accepted spelling.
 */
export function durationOption(spec: DurationOptionSpec): (value: string) => number {
  return (value: string): number => {
    let ms = parseDuration(value);
    if (ms === null && spec.bareUnit !== undefined && /^\d{1,15}$/.test(value.trim())) {
      ms = Number(value.trim()) * UNIT_MS[spec.bareUnit];
      spec.warn?.(
        `${spec.flag} ${value.trim()} without a unit is deprecated and read as ${value.trim()}${spec.bareUnit}; write ${spec.flag} ${durationText(ms)}`,
      );
    }
    if (ms === null) throw new InvalidArgumentError(`'${value}' is not a duration: a whole number and a unit (500ms, 5s, 15m, 6h, 2d).`);
    if (ms < spec.min || ms > spec.max) {
      throw new InvalidArgumentError(`${durationText(ms)} is out of range ${durationText(spec.min)}..${durationText(spec.max)}.`);
    }
    return ms;
  };
}

/**
 * The commander option for a duration (`--timeout <duration>`): parsed by durationOption, its
 * default shown in help with a unit (`default: 2s`) and given to the command in milliseconds.
 */
export function durationFlag(flags: string, description: string, spec: DurationOptionSpec, defaultMs?: number): Option {
  const option = new Option(flags, description).argParser(durationOption(spec));
  return defaultMs === undefined ? option : option.default(defaultMs, durationText(defaultMs));
}
