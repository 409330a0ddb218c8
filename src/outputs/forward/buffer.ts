// What the output holds: per-tag batches still filling, sealed chunks waiting
// for delivery (in memory or spooled to disk), and the memory they take.
import { cryptoModule } from '../../builtins-on-use.js';

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
  /** Its last attempt could not reach a receiver: it is due as soon as one answers (reconnect.ts). */
  waitsForReceiver = false;
  /** Delivered or dropped: no longer in the queue. */
  done = false;
  /** To call once the records are safe (delivered, spooled) or dropped: the inputs' holds on them. */
  releases: (() => void)[] = [];

  /** Set by the first read of `id`. */
  private idText: string | undefined;

  constructor(
    /** Creation order: chunks are delivered oldest first. */
    readonly seq: number,
    /** The chunk's id (see `id`); undefined: made when first asked for. */
    id: string | undefined,
    readonly tag: string,
    readonly records: number,
    /** Size of the packed entries. */
    readonly bytes: number,
    readonly createdAt: number,
    /** Packed entries while in memory. */
    public entries: Buffer | undefined,
    /** Spool file while on disk. */
    public file?: string,
    /** The pooled buffer behind `entries`, given back when they are let go. */
    public buffer?: Buffer,
  ) {
    this.idText = id;
  }

  /**
   * The `chunk` option acks refer to. Fluentd's form, base64 of 16 random
   * bytes: unique per batch, kept across resends. Made when first asked for
   * (acks on, a spool): without them a batch needs none.
   */
  get id(): string {
    return (this.idText ??= Chunk.newId());
  }

  /**
   * 16 bytes, base64 (Fluentd's form): 8 random bytes drawn once per process,
   * then a counter. Unique per batch like 16 random bytes each, without a
   * call into OpenSSL per batch (one batch per input read under load).
   */
  static newId(): string {
    idBytes ??= cryptoModule().randomBytes(16);
    idBytes.writeBigUInt64BE(++idCounter, 8);
    return idBytes.toString('base64');
  }
}

let idBytes: Buffer | undefined;
let idCounter = 0n;

/**
 * Batch buffers of one size, used again once their chunk is done. Chunks'
 * bytes are the output's own copies (an input's chunk is valid only during
 * write()); reusing their buffers keeps memory flat under load instead of
 * leaving megabytes a second of dead buffers for the garbage collector.
 */
export class BufferPool {
  private readonly free: Buffer[] = [];

  constructor(
    readonly size: number,
    /** Free buffers kept at most; more are left to the garbage collector. */
    private readonly keep: number,
  ) {}

  /** A buffer of at least `bytes` (the pool's size, unless more is asked for). */
  take(bytes: number): Buffer {
    if (bytes > this.size) return Buffer.allocUnsafe(bytes);
    return this.free.pop() ?? Buffer.allocUnsafe(this.size);
  }

  /** Gives a buffer from take() back; nothing may use it afterwards. */
  give(buffer: Buffer): void {
    if (buffer.length === this.size && this.free.length < this.keep) this.free.push(buffer);
  }
}

interface OpenBatch {
  buffer: Buffer;
  bytes: number;
  records: number;
  releases: (() => void)[];
}

/** A sealed batch: its entries, in `buffer` (to give back to the pool once done). */
export interface SealedBatch {
  tag: string;
  entries: Buffer;
  records: number;
  buffer: Buffer;
  releases: (() => void)[];
}

/** Batches still filling, one per tag, sealed at Flush or when big enough. */
export class Batcher {
  private readonly open = new Map<string, OpenBatch>();

  constructor(private readonly pool: BufferPool) {}

  /** Whether `bytes` more fit in the tag's open batch (else seal it first). */
  fits(tag: string, bytes: number): boolean {
    const batch = this.open.get(tag);
    return !batch || batch.bytes + bytes <= batch.buffer.length;
  }

  /** Copies entries into the tag's batch (they must fit); returns the batch's size so far. */
  add(tag: string, entries: Buffer, records: number, release?: () => void): number {
    let batch = this.open.get(tag);
    if (!batch) {
      batch = { buffer: this.pool.take(entries.length), bytes: 0, records: 0, releases: [] };
      this.open.set(tag, batch);
    }
    entries.copy(batch.buffer, batch.bytes);
    batch.bytes += entries.length;
    batch.records += records;
    if (release) batch.releases.push(release);
    return batch.bytes;
  }

  take(tag: string): SealedBatch | undefined {
    const batch = this.open.get(tag);
    if (!batch) return undefined;
    this.open.delete(tag);
    return { tag, entries: batch.buffer.subarray(0, batch.bytes), records: batch.records, buffer: batch.buffer, releases: batch.releases };
  }

  tags(): string[] {
    return [...this.open.keys()];
  }

  get filling(): boolean {
    return this.open.size > 0;
  }
}

/**
 * Bytes of records held in memory, against mem_buf_limit; full from
 * `fullAt` bytes, when whoever waits for room (the inputs) is told once it
 * is below again.
 */
export class MemoryBudget {
  used = 0;
  peak = 0;
  private readonly roomWaiters: (() => void)[] = [];

  constructor(
    readonly limit: number,
    private readonly fullAt: number,
  ) {}

  fits(bytes: number): boolean {
    return this.used + bytes <= this.limit;
  }

  get full(): boolean {
    return this.used >= this.fullAt;
  }

  add(bytes: number): void {
    this.used += bytes;
    if (this.used > this.peak) this.peak = this.used;
  }

  release(bytes: number): void {
    this.used -= bytes;
    if (!this.full) this.openUp();
  }

  /** Undefined while not full; else resolves once there is room again. */
  whenRoom(): Promise<void> | undefined {
    if (!this.full) return undefined;
    return new Promise((resolve) => this.roomWaiters.push(resolve));
  }

  /** Lets every waiter go (room again, or the output closing). */
  openUp(): void {
    for (const wake of this.roomWaiters.splice(0)) wake();
  }
}
