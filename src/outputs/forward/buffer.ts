// What the output holds: per-tag batches still filling, sealed chunks waiting
// for delivery (in memory or spooled to disk), and the memory they take.
import { randomBytes } from 'node:crypto';

export type ChunkState = 'ready' | 'sending' | 'spilling';

/** One batch of one tag: the unit sent in one message, acked, retried, spooled. */
export class Chunk {
  state: ChunkState = 'ready';
  /** Failed attempts so far (Retry_Limit counts these beyond the first). */
  retries = 0;
  /** Deliveries started, failed or not. */
  attempts = 0;
  /** Not before this time (ms since epoch): the retry backoff. */
  nextAttemptAt = 0;
  /** Written to a receiver at least once: a later write is a resend. */
  written = false;
  /** Delivered or dropped: no longer in the queue. */
  done = false;

  constructor(
    /** Creation order: chunks are delivered oldest first. */
    readonly seq: number,
    /** The `chunk` option acks refer to. Fluentd's form, base64 of 16 random bytes: unique per batch, kept across resends. */
    readonly id: string,
    readonly tag: string,
    readonly records: number,
    /** Size of the packed entries. */
    readonly bytes: number,
    readonly createdAt: number,
    /** Packed entries while in memory. */
    public entries: Buffer | undefined,
    /** Spool file while on disk. */
    public file?: string,
  ) {}

  /**
   * 16 bytes, base64 (Fluentd's form): 8 random bytes drawn once per process,
   * then a counter. Unique per batch like 16 random bytes each, without a
   * call into OpenSSL per batch (one batch per input read under load).
   */
  static newId(): string {
    idBytes ??= randomBytes(16);
    idBytes.writeBigUInt64BE(++idCounter, 8);
    return idBytes.toString('base64');
  }
}

let idBytes: Buffer | undefined;
let idCounter = 0n;

interface OpenBatch {
  parts: Buffer[];
  bytes: number;
  records: number;
}

/** Batches still filling, one per tag, sealed at Flush or when big enough. */
export class Batcher {
  private readonly open = new Map<string, OpenBatch>();

  /** Adds encoded entries; returns the batch's size so far. */
  add(tag: string, entries: Buffer, records: number): number {
    let batch = this.open.get(tag);
    if (!batch) {
      batch = { parts: [], bytes: 0, records: 0 };
      this.open.set(tag, batch);
    }
    batch.parts.push(entries);
    batch.bytes += entries.length;
    batch.records += records;
    return batch.bytes;
  }

  take(tag: string): { tag: string; entries: Buffer; records: number } | undefined {
    const batch = this.open.get(tag);
    if (!batch) return undefined;
    this.open.delete(tag);
    const entries = batch.parts.length === 1 ? batch.parts[0]! : Buffer.concat(batch.parts, batch.bytes);
    return { tag, entries, records: batch.records };
  }

  tags(): string[] {
    return [...this.open.keys()];
  }
}

/** Bytes of records held in memory, against mem_buf_limit. */
export class MemoryBudget {
  used = 0;
  peak = 0;

  constructor(readonly limit: number) {}

  fits(bytes: number): boolean {
    return this.used + bytes <= this.limit;
  }

  add(bytes: number): void {
    this.used += bytes;
    if (this.used > this.peak) this.peak = this.used;
  }

  release(bytes: number): void {
    this.used -= bytes;
  }
}
