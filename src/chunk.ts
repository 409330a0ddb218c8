// What travels from an input to the outputs: a chunk of Forward entries,
// encoded once. As Fluent Bit keeps chunks of msgpack events, a chunk is the
// entries back to back (each a msgpack `[EventTime, {record}]` array, the
// PackedForward payload), how many there are and their time range. Outputs
// frame the bytes (forward), write them as they are (spool) or decode them
// (stdout); nothing re-encodes a record.

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
}

/** Bytes of an entry's head: array header + EventTime. */
export const ENTRY_HEAD_BYTES = 11;
