// Acks awaited on one connection: a batch sent with a `chunk` id is done when
// `{ack: id}` comes back; without it in time, it is sent again.
import { AckTimeoutError, type ForwardError } from './errors.js';

export interface PendingAck {
  /** Settles when the ack arrives, the timer fires, or the connection fails. */
  readonly done: Promise<void>;
  /** Starts the timeout once the batch is written (a slow write is not a missing ack). */
  startTimer(timeoutMs: number): void;
}

interface Entry {
  resolve(): void;
  reject(err: Error): void;
  timer?: NodeJS.Timeout;
}

export class AckTracker {
  private readonly pending = new Map<string, Entry>();
  /** Batches an ack was asked for, in all. */
  asked = 0;

  /** Registers a chunk id before its batch is written, so an early ack is not missed. */
  expect(chunk: string, onTimeout: () => void): PendingAck {
    let entry!: Entry;
    const done = new Promise<void>((resolve, reject) => {
      entry = { resolve, reject };
    });
    // Nobody may be awaiting yet when a failure comes first; the caller awaits later.
    done.catch(() => {});
    this.pending.set(chunk, entry);
    this.asked++;
    return {
      done,
      startTimer: (timeoutMs) => {
        if (!this.pending.has(chunk)) return;
        entry.timer = setTimeout(() => {
          this.pending.delete(chunk);
          entry.reject(new AckTimeoutError(`no ack within ${timeoutMs / 1000}s`));
          onTimeout();
        }, timeoutMs);
        entry.timer.unref();
      },
    };
  }

  /** An ack arrived; false when nobody waits for it (late, after a timeout). */
  settle(chunk: string): boolean {
    const entry = this.pending.get(chunk);
    if (!entry) return false;
    this.pending.delete(chunk);
    clearTimeout(entry.timer);
    entry.resolve();
    return true;
  }

  /** The connection is gone: every awaited ack fails with it. */
  failAll(err: ForwardError): void {
    for (const entry of this.pending.values()) {
      clearTimeout(entry.timer);
      entry.reject(err);
    }
    this.pending.clear();
  }

  get size(): number {
    return this.pending.size;
  }
}
