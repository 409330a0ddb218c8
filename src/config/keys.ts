// Parsers for the value types Fluent Bit's keys use, for KeySpec.parse and
// TraceKey.parse. Each checks a whole value and throws an Error saying what
// is accepted; the config loader puts "file:line: Key: " in front. Every
// duration and size is bounded, also when its key sets no bound itself.
import { quoteExcerpt } from './model.js';

/** on/off, true/false, yes/no in any case (Fluent Bit's flb_utils_bool). */
export function parseBool(value: string): boolean {
  switch (value.toLowerCase()) {
    case 'on':
    case 'true':
    case 'yes':
      return true;
    case 'off':
    case 'false':
    case 'no':
      return false;
  }
  throw new Error(`${quoteExcerpt(value)} is not a boolean: use on/off, true/false or yes/no`);
}

/** Any text but an empty one (a ${VAR} that is not set leaves a value empty). */
export function parseNonEmpty(value: string): string {
  if (value === '') throw new Error('the value is empty');
  return value;
}

/**
 * A secret an HTTP client sends as "Authorization: Bearer <token>": at least
 * 16 printable characters, no spaces. Errors never quote it.
 */
export function parseBearerToken(value: string): string {
  if (value.length < 16 || !/^[\x21-\x7e]+$/.test(value)) {
    throw new Error('the token must be at least 16 printable characters without spaces (e.g. from openssl rand -hex 32)');
  }
  return value;
}

export interface Bounds {
  min?: number;
  max?: number;
}

function checkBounds(n: number, bounds: Bounds, unit = ''): void {
  const { min, max } = bounds;
  if ((min !== undefined && n < min) || (max !== undefined && n > max)) {
    const range = min !== undefined && max !== undefined ? `between ${min}${unit} and ${max}${unit}` : min !== undefined ? `at least ${min}${unit}` : `at most ${max}${unit}`;
    throw new Error(`${n}${unit} is out of range: it must be ${range}`);
  }
}

/** A whole number, optionally signed, within bounds. */
export function integerParser(bounds: Bounds = {}): (value: string) => number {
  return (value) => {
    const n = /^[+-]?\d+$/.test(value) ? Number(value) : NaN;
    if (!Number.isSafeInteger(n)) throw new Error(`${quoteExcerpt(value)} is not a whole number`);
    checkBounds(n, bounds);
    return n;
  };
}

export interface SizeOptions extends Bounds {
  /**
   * K, M and G as powers of 1024, and KiB/MiB/GiB accepted (Fluent Bit's
   * flb_utils_size_to_binary_bytes). Default: powers of 1000, as Fluent Bit's
   * `size` keys (flb_utils_size_to_bytes): "8M" is 8,000,000 bytes.
   */
  binary?: boolean;
}

const sizeUnits = { k: 1, m: 2, g: 3 } as const;

/**
 * Bytes from "512", "512K", "8M", "1.5G", "2MB" (any case; binary: also
 * "8MiB"), or "false" for 0, as Fluent Bit reads sizes. Undefined if the text
 * is not a size.
 */
export function sizeToBytes(text: string, binary = false): number | undefined {
  if (text.toLowerCase() === 'false') return 0;
  const m = (binary ? /^(\d+(?:\.\d*)?|\.\d+)(?:([kmg])(b|ib)?)?$/i : /^(\d+(?:\.\d*)?|\.\d+)(?:([kmg])(b)?)?$/i).exec(text);
  if (!m) return undefined;
  const amount = Number(m[1]);
  if (!m[2]) return Number.isInteger(amount) ? amount : undefined;
  const power = sizeUnits[m[2].toLowerCase() as keyof typeof sizeUnits];
  // Fluent Bit truncates to whole bytes ("1.5K" is 1500).
  return Math.floor(amount * (binary ? 1024 : 1000) ** power);
}

/** A size in bytes (see sizeToBytes), within bounds given in bytes. */
export function sizeParser(options: SizeOptions = {}): (value: string) => number {
  const { binary = false } = options;
  return (value) => {
    const bytes = sizeToBytes(value, binary);
    if (bytes === undefined) {
      const units = binary ? 'K, M or G (powers of 1024; KB and KiB also work)' : 'K, M or G (powers of 1000, as in Fluent Bit; KB also works)';
      throw new Error(`${quoteExcerpt(value)} is not a size: use a number of bytes or a number with ${units}, e.g. 512K or 8M`);
    }
    // Beyond this, byte counts are no longer exact numbers (8 PiB: no memory or disk has it).
    if (options.max === undefined && !Number.isSafeInteger(bytes)) {
      throw new Error(`${quoteExcerpt(value)} is too large: a size is at most ${Number.MAX_SAFE_INTEGER} bytes (8 PiB)`);
    }
    checkBounds(bytes, options, ' bytes');
    return bytes;
  };
}

export interface SecondsOptions extends Bounds {
  /** Accepts "0.5" (Fluent Bit's Flush is a double); else whole seconds only. */
  fractional?: boolean;
  /** The value must be more than this (e.g. 0 for "positive"). */
  above?: number;
  /**
   * Accepts a unit suffix s, m, h or d ("5m" = 300), as Fluent Bit's `time`
   * keys. Off by default: Flush and Grace are plain numbers in Fluent Bit,
   * which reads "1m" there as 1 second.
   */
  units?: boolean;
}

const secondsPerUnit: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400 };

/**
 * Durations become Node.js timers, which take at most 2^31-1 ms (24.8 days)
 * and turn anything longer into 1 ms, and nothing shorter than 1 ms.
 */
export const MAX_TIMER_SECONDS = Math.floor((2 ** 31 - 1) / 1000);
const MIN_TIMER_SECONDS = 0.001;

/** A duration in seconds. */
export function secondsParser(options: SecondsOptions = {}): (value: string) => number {
  const { fractional = false, units = false, above } = options;
  const number = fractional ? String.raw`(\d+(?:\.\d*)?|\.\d+)` : String.raw`(\d+)`;
  const pattern = new RegExp(`^${number}${units ? '([smhd])?' : '()'}$`, 'i');
  return (value) => {
    const m = pattern.exec(value);
    if (!m) {
      const examples = [fractional ? '1, 0.5' : '1, 30', units ? '5m, 1h' : ''].filter(Boolean).join(', ');
      throw new Error(`${quoteExcerpt(value)} is not ${fractional ? 'a number' : 'a whole number'} of seconds (e.g. ${examples})`);
    }
    const seconds = Number(m[1]) * (m[2] ? secondsPerUnit[m[2].toLowerCase()]! : 1);
    if (above !== undefined && !(seconds > above)) throw new Error(`${seconds} is out of range: it must be more than ${above} seconds`);
    if (options.max === undefined && seconds > MAX_TIMER_SECONDS) {
      throw new Error(`${quoteExcerpt(value)} is too long: a duration is at most ${MAX_TIMER_SECONDS} seconds (24.8 days, the longest timer Node.js can set)`);
    }
    if (seconds > 0 && seconds < MIN_TIMER_SECONDS) throw new Error(`${quoteExcerpt(value)} is too short: a duration of more than 0 is at least 0.001 seconds (1 ms, the shortest timer)`);
    checkBounds(seconds, options, ' seconds');
    return seconds;
  };
}

/**
 * One of fixed words, any case; returns it as listed. `aliases` maps other
 * accepted words to listed ones (Log_Level "warning" is "warn").
 */
export function enumParser<T extends string>(allowed: readonly T[], aliases: Readonly<Record<string, T>> = {}): (value: string) => T {
  return (value) => {
    const lower = value.toLowerCase();
    const found = allowed.find((a) => a.toLowerCase() === lower) ?? aliases[lower];
    if (found === undefined) throw new Error(`${quoteExcerpt(value)} is not one of ${allowed.join(', ')}`);
    return found;
  };
}
