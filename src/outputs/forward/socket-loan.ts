// A connection's socket lent to the ring readers of the input: at low rates
// a wake-up's cost is mostly JS (the batch into JS, the router, the output,
// Node's stream), so a reader lent the socket writes each batch to the
// receiver itself, as the Forward message this output would have written
// (native/forward_socket.h). Only where nothing of this output's own work is
// skipped: one receiver, plain TCP, no acks, no gzip, no spool, no
// Time_as_Integer. While lent, batches that still come through JS go to the
// same socket, so that messages never interleave. When the socket can't take
// a message whole (a slow receiver), the readers hand their batches to JS
// again and the output releases the socket: it finishes that message, then
// the output's own buffer and delivery take over, with all their memory.
import { openForwardSocket, type KeptBatch, type NativeForwardSocket } from '../../native/addon.js';
import { unpackValue } from '../../msgpack/values.js';
import type { SocketLease } from '../types.js';
import type { ForwardConnection } from './connection.js';
import type { ForwardCounters } from './counters.js';
import { messagePrefix } from './framing.js';
import type { ForwardMode } from './protocol.js';

/** A batch the socket held unsent when it closed: to be queued and sent again. */
export interface ReturnedBatch {
  tag: string;
  entries: Buffer;
  count: number;
  minTime: { sec: number; nsec: number };
  maxTime: { sec: number; nsec: number };
  /** Part of its message went out: the receiver holds a message cut short, and the connection must go. */
  cut: boolean;
}

export function returnedBatch(kept: KeptBatch): ReturnedBatch {
  const [entries, count, minSec, minNsec, maxSec, maxNsec, cut, prefix] = kept;
  return { tag: unpackValue(prefix.subarray(1)) as string, entries, count, minTime: { sec: minSec, nsec: minNsec }, maxTime: { sec: maxSec, nsec: maxNsec }, cut };
}

export class SocketLoan {
  private readonly leases = new Map<string, SocketLease>();
  /** The socket's counters already added to the output's. */
  private counted = { readerRecords: 0, sentRecords: 0, sentBytes: 0 };
  /** release() was called: the socket finishes its message, then closes. */
  releasing = false;

  constructor(
    readonly connection: ForwardConnection,
    private readonly socket: NativeForwardSocket,
    private readonly stats: ForwardCounters,
    private readonly mode: ForwardMode,
    private readonly withSize: boolean,
  ) {}

  /** onEnd: after release(), the held message is out (errno 0); or a held message's write failed, with its batch. */
  static open(connection: ForwardConnection, fd: number, stats: ForwardCounters, mode: ForwardMode, withSize: boolean, onEnd: (errno: number, kept: ReturnedBatch | undefined) => void): SocketLoan {
    const socket = openForwardSocket(fd, (errno, kept) => onEnd(errno, kept && returnedBatch(kept)));
    return new SocketLoan(connection, socket, stats, mode, withSize);
  }

  /** The lease for records of `tag` (as sent: the output's Tag, if set). */
  lease(tag: string): SocketLease {
    let lease = this.leases.get(tag);
    if (!lease) {
      lease = { socket: this.socket, prefix: messagePrefix(tag, this.withSize), packed: this.mode === 'packed', withSize: this.withSize };
      this.leases.set(tag, lease);
    }
    return lease;
  }

  /** A batch that came through JS: false if the socket could not take it (closed, or finishing a message). */
  send(tag: string, entries: Buffer, count: number, minTime: { sec: number; nsec: number }, maxTime: { sec: number; nsec: number }): boolean {
    const { prefix, packed, withSize } = this.lease(tag);
    return this.socket.send(prefix, packed, withSize, entries, count, minTime.sec, minTime.nsec, maxTime.sec, maxTime.nsec) !== 'closed';
  }

  /** Adds what went through the socket since the last look to the output's counters. */
  collect(): void {
    const now = this.socket.stats();
    this.stats.records_in += now.readerRecords - this.counted.readerRecords;
    this.stats.records_sent += now.sentRecords - this.counted.sentRecords;
    this.stats.bytes_sent += now.sentBytes - this.counted.sentBytes;
    this.counted = { readerRecords: now.readerRecords, sentRecords: now.sentRecords, sentBytes: now.sentBytes };
  }

  /** Takes no new message: true if ended now, false if the socket first finishes the one it holds (onEnd(0) then). */
  release(): boolean {
    this.releasing = true;
    return this.socket.release();
  }

  /** Ends the loan (readers see it closed and hand batches to JS again); returns a batch the socket still held. */
  close(): ReturnedBatch | undefined {
    const kept = this.socket.close();
    this.collect();
    return kept && returnedBatch(kept);
  }
}
