// Noticing that an unreachable receiver is back. A batch that could not
// connect waits its backoff, which after a long outage grows towards
// scheduler.cap (2000 s by default): the records would sit in memory (and the
// input stay paused, the kernel counting its losses) for many minutes after
// the receiver returned. While batches wait for that reason, the receiver is
// probed with a connect alone (no batch, no retry spent), 1 s apart doubling
// to 10 s; once one succeeds, those batches are due at once.
import type { Logger } from '../../log.js';
import type { Upstream } from './upstream.js';

const PROBE_FIRST_MS = 1000;
const PROBE_MAX_MS = 10_000;

export interface ReconnectParts {
  upstream: Upstream;
  log: Logger;
  /** Whether any batch still waits because its receiver could not be reached. */
  waiting(): boolean;
  /** The receiver answered: make those batches due now. */
  reachable(): void;
}

export class ReconnectProbe {
  private timer: NodeJS.Timeout | undefined;
  private delayMs = PROBE_FIRST_MS;
  private probing = false;
  private stopped = false;

  constructor(private readonly parts: ReconnectParts) {}

  /** A batch failed to connect: probe until the receiver answers (once armed, this does nothing). */
  arm(): void {
    if (this.timer || this.probing || this.stopped) return;
    this.timer = setTimeout(() => this.probe(), this.delayMs);
    // The CLI's lifecycle holds the process open; this timer must not keep a closed output's owner alive.
    this.timer.unref();
  }

  /** A batch got through: the receiver is back, the next outage starts probing from 1 s again. */
  reset(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.delayMs = PROBE_FIRST_MS;
  }

  stop(): void {
    this.stopped = true;
    this.reset();
  }

  private probe(): void {
    this.timer = undefined;
    if (this.stopped || !this.parts.waiting()) return;
    this.probing = true;
    this.parts.upstream.acquire().then(
      () => {
        this.probing = false;
        this.reset();
        if (!this.stopped) this.parts.reachable();
      },
      (err: Error) => {
        this.probing = false;
        this.parts.log.debug(`receiver still unreachable (${err.message}); probing again in ${Math.min(this.delayMs * 2, PROBE_MAX_MS) / 1000}s`);
        this.delayMs = Math.min(this.delayMs * 2, PROBE_MAX_MS);
        this.arm();
      },
    );
  }
}
