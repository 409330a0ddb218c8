// Retry_Limit and the wait between attempts, as Fluent Bit's scheduler does
// them: a batch whose delivery fails is tried again after a backoff with full
// jitter, between scheduler.base and min(scheduler.cap, base * 2^retry)
// seconds ([SERVICE] keys, defaults 5 and 2000 as in Fluent Bit).

/** Retries allowed after the first attempt; 'unlimited' for no_limits / False. */
export type RetryLimit = number | 'unlimited';

/**
 * Fluent Bit's Retry_Limit values: a whole number N >= 1, "no_limits",
 * "false" or "off" (retry forever), "no_retries" (give up after the first
 * failure).
 */
export function parseRetryLimit(value: string): RetryLimit {
  const v = value.toLowerCase();
  if (v === 'no_limits' || v === 'false' || v === 'off') return 'unlimited';
  if (v === 'no_retries') return 0;
  if (/^\d+$/.test(v) && Number(v) >= 1) return Number(v);
  throw new Error(`${JSON.stringify(value)} is not a retry limit: use a number of retries (1 or more), no_limits (or False) for no limit, or no_retries`);
}

export const DEFAULT_SCHEDULER_BASE_SECONDS = 5;
export const DEFAULT_SCHEDULER_CAP_SECONDS = 2000;

export class Backoff {
  constructor(
    readonly baseSeconds = DEFAULT_SCHEDULER_BASE_SECONDS,
    readonly capSeconds = DEFAULT_SCHEDULER_CAP_SECONDS,
  ) {}

  /** Milliseconds to wait before attempt number `retry` + 1 (retry >= 1). */
  delayMs(retry: number): number {
    const ceiling = Math.min(this.capSeconds, this.baseSeconds * 2 ** Math.min(retry, 30));
    const seconds = this.baseSeconds + Math.random() * Math.max(0, ceiling - this.baseSeconds);
    return Math.round(seconds * 1000);
  }
}

/** A scheduler setting from [SERVICE] values, which may hold a number or its text. */
export function serviceSeconds(raw: unknown, fallback: number): number {
  const n = typeof raw === 'number' ? raw : typeof raw === 'string' ? Number(raw) : NaN;
  return Number.isFinite(n) && n > 0 ? n : fallback;
}

/** During the grace period a failed chunk is tried again this soon (the grace is short). */
const GRACE_RETRY_MS = 250;

/** When a failed chunk is tried again: after a backoff (soon during the grace), until Retry_Limit is spent. */
export class RetryPolicy {
  constructor(
    readonly limit: RetryLimit,
    private readonly backoff: Backoff,
  ) {}

  /**
   * Milliseconds to wait before the next attempt of a chunk that failed
   * `retries` times; undefined once its retries are spent. A stop's attempts
   * (draining) are extra: they spend none, and what they can't deliver is
   * kept in the spool for the next start, not given up.
   */
  waitMs(retries: number, draining: boolean): number | undefined {
    if (draining) return GRACE_RETRY_MS;
    if (this.limit !== 'unlimited' && retries > this.limit) return undefined;
    return this.backoff.delayMs(retries);
  }
}

/** One timer, set for the next chunk due. */
export class DueTimer {
  private timer: NodeJS.Timeout | undefined;
  private at = Infinity;

  constructor(private readonly onDue: () => void) {}

  /** Fires at `at` (ms since the epoch; Infinity: never), replacing the time set before. */
  arm(at: number): void {
    if (at === this.at) return;
    this.cancel();
    this.at = at;
    if (at === Infinity) return;
    this.timer = setTimeout(() => {
      this.at = Infinity;
      this.onDue();
    }, Math.max(0, at - Date.now()));
    this.timer.unref();
  }

  cancel(): void {
    clearTimeout(this.timer);
    this.at = Infinity;
  }
}
