// Time_as_Integer (Fluentd v0.12 receivers): entries with whole seconds
// instead of EventTime. The one case where the forward output changes a
// chunk's bytes: each entry's 11-byte head becomes 6 bytes, the record's
// bytes are copied as they are. Done once, when the chunk is taken in, into
// a new Buffer (the chunk may go to other outputs too).
import { ENTRY_HEAD_BYTES, forEachEntry, type EventChunk } from '../../chunk.js';

/** 0x92 (array of 2), 0xce + u32 seconds: what msgpack_pack_uint64 gives for today's epoch seconds, and what Fluent Bit sends. */
const INTEGER_HEAD_BYTES = 6;

/** The chunk's entries with integer-second times; MalformedChunkError if they are not `count` [EventTime, map] entries. */
export function integerTimeEntries(chunk: EventChunk): Buffer {
  const { entries, count } = chunk;
  // Every head shrinks by the same bytes (forEachEntry refuses a count the bytes can't hold before this is used).
  const out = Buffer.allocUnsafe(Math.max(0, entries.length - count * (ENTRY_HEAD_BYTES - INTEGER_HEAD_BYTES)));
  let to = 0;
  forEachEntry(entries, count, (from, end) => {
    out[to] = 0x92;
    out[to + 1] = 0xce;
    entries.copy(out, to + 2, from + 3, from + 7); // the seconds of EventTime, big-endian as uint32 wants
    entries.copy(out, to + INTEGER_HEAD_BYTES, from + ENTRY_HEAD_BYTES, end);
    to += INTEGER_HEAD_BYTES + end - from - ENTRY_HEAD_BYTES;
  });
  return out;
}
