// The output's counters, kept live for the metrics endpoint and logged as one
// line at close.
import type { OutputCounters } from '../types.js';

export type DropReason =
  /** mem_buf_limit reached and nothing could be spooled in time. */
  | 'buffer_full'
  /** Retry_Limit reached. */
  | 'retry_limit'
  /** storage.total_limit_size reached: the oldest spooled chunks go. */
  | 'storage_full'
  /** Undelivered at close with no storage.path, or written after close. */
  | 'shutdown'
  /** A chunk whose entries cannot be read (Time_as_Integer rewrites them; nothing else looks). */
  | 'invalid_record'
  /** A bug of ours, logged; counted rather than thrown into the input. */
  | 'internal_error';

export class ForwardCounters {
  records_in = 0;
  records_sent = 0;
  records_acked = 0;
  records_retried = 0;
  records_spooled = 0;
  records_restored = 0;
  bytes_sent = 0;
  /** Failed delivery attempts of a chunk (Fluent Bit's output errors). */
  errors = 0;
  /** Chunks scheduled again after a failure. */
  retries = 0;
  /** Chunks given up at Retry_Limit. */
  retries_failed = 0;
  readonly records_dropped: Partial<Record<DropReason, number>> = {};

  drop(reason: DropReason, records: number): void {
    this.records_dropped[reason] = (this.records_dropped[reason] ?? 0) + records;
  }

  get dropped(): number {
    return Object.values(this.records_dropped).reduce((a, b) => a + (b ?? 0), 0);
  }

  snapshot(live: Pick<OutputCounters, 'connection' | 'buffer_bytes' | 'buffer_bytes_peak'> & { spool_bytes?: number }): OutputCounters {
    return {
      records_in: this.records_in,
      records_sent: this.records_sent,
      records_acked: this.records_acked,
      records_retried: this.records_retried,
      records_dropped: { ...(this.records_dropped as Record<string, number>) },
      bytes_sent: this.bytes_sent,
      errors: this.errors,
      retries: this.retries,
      retries_failed: this.retries_failed,
      records_spooled: this.records_spooled,
      records_restored: this.records_restored,
      ...live,
    };
  }

  /** One line for the log at close. */
  summary(bufferPeak: number, bufferLimit: number, spoolBytes?: number): string {
    const drops = Object.entries(this.records_dropped).map(([reason, n]) => `${reason} ${n}`);
    const parts = [
      `records in ${this.records_in}`,
      `sent ${this.records_sent}`,
      `acked ${this.records_acked}`,
      `retried ${this.records_retried}`,
      `dropped ${this.dropped}${drops.length ? ` (${drops.join(', ')})` : ''}`,
    ];
    if (spoolBytes !== undefined) parts.push(`spooled ${this.records_spooled}`, `restored ${this.records_restored}`, `${spoolBytes} bytes left in the spool`);
    parts.push(`${this.bytes_sent} bytes sent`, `memory peak ${bufferPeak} of ${bufferLimit} bytes`);
    return parts.join(', ');
  }
}
