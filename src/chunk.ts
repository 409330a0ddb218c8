// What travels from an input to the outputs: a chunk of Forward entries,
// encoded once. As Fluent Bit keeps chunks of msgpack events, a chunk is the
// entries back to back (each a msgpack `[EventTime, {record}]` array, the
// PackedForward payload), how many there are and their time range. Outputs
// frame the bytes (forward), write them as they are (spool) or decode them
// (stdout); nothing re-encodes a record.
import { skipValue } from './msgpack/skip.js';

/** A Forward EventTime: seconds and nanoseconds since the epoch. */
export interface EventTime {
  sec: number;
  nsec: number;
}

export interface EventChunk {
  /**
   * `count` entries back to back. Each starts with the 11 bytes
   * 0x92 (array of 2), 0xd7 0x00 (fixext 8, EventTime), u32 sec BE, u32 nsec BE,
   * then the record as a msgpack map. The bytes are valid during the
   * write() call that hands the chunk over (inputs reuse their buffers, so
   * that records cost no allocation): an output that keeps them copies them.
   * Nothing writes to them.
   */
  entries: Buffer;
  count: number;
  /** Earliest and latest entry time (entries from different CPUs may be out of order). */
  minTime: EventTime;
  maxTime: EventTime;
  /**
   * Set by an input that keeps the records until the outputs are done with
   * them (storage.type filesystem). An output that holds on to the records
   * past write() calls it there (never later), and calls the function it
   * returns once they are delivered (acked, with acks on), in its own spool,
   * or dropped (counted). The input counts the chunk settled once write()
   * has returned at every output and every hold is let go: an output done
   * with the records within write() (stdout: printed) takes no hold.
   */
  retain?(): () => void;
}

/** Bytes of an entry's head: array header + EventTime. */
export const ENTRY_HEAD_BYTES = 11;

/** Entries that are not what EventChunk says: not `count` [EventTime, map] entries filling the bytes. */
export class MalformedChunkError extends Error {
  override name = 'MalformedChunkError';
}

/** The fewest bytes an entry takes: its head and an empty map. */
export const MIN_ENTRY_BYTES = ENTRY_HEAD_BYTES + 1;

const isMapHead = (b: number | undefined) => b !== undefined && ((b >= 0x80 && b <= 0x8f) || b === 0xde || b === 0xdf);

/**
 * Walks `count` entries, each checked to be [EventTime, map], and checks
 * that they fill `entries` exactly; `visit` gets each entry's start and end.
 * Throws MalformedChunkError. Only a value's length is read, nothing decoded.
 */
export function forEachEntry(entries: Buffer, count: number, visit?: (start: number, end: number) => void): void {
  if (entries.length < count * MIN_ENTRY_BYTES) throw new MalformedChunkError(`the chunk says ${count} entries and has only ${entries.length} bytes`);
  let from = 0;
  for (let i = 0; i < count; i++) {
    if (entries[from] !== 0x92 || entries[from + 1] !== 0xd7 || entries[from + 2] !== 0x00 || !isMapHead(entries[from + ENTRY_HEAD_BYTES])) {
      throw new MalformedChunkError(`entry ${i} (byte ${from}) is not [EventTime, map]`);
    }
    let end: number;
    try {
      end = skipValue(entries, from + ENTRY_HEAD_BYTES);
    } catch (err) {
      throw new MalformedChunkError(`entry ${i}: ${(err as Error).message}`);
    }
    visit?.(from, end);
    from = end;
  }
  if (from !== entries.length) throw new MalformedChunkError(`the chunk says ${count} entries; ${entries.length - from} bytes follow them`);
}
