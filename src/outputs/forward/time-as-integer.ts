// Time_as_Integer (Fluentd v0.12 receivers): entries with whole seconds
// instead of EventTime. The one case where the forward output changes a
// chunk's bytes: each entry's 11-byte head becomes 6 bytes, the record's
// bytes are copied as they are. Done once, when the chunk is taken in, into
// a new Buffer (the chunk may go to other outputs too).
import { ENTRY_HEAD_BYTES, type EventChunk } from '../../chunk.js';
import { MalformedChunkError } from '../chunk-decoder.js';
import { skipValue } from './msgpack-skip.js';

/** 0x92 (array of 2), 0xce + u32 seconds: what msgpack_pack_uint64 gives for today's epoch seconds, and what Fluent Bit sends. */
const INTEGER_HEAD_BYTES = 6;

const isMapHead = (b: number | undefined) => b !== undefined && ((b >= 0x80 && b <= 0x8f) || b === 0xde || b === 0xdf);

/** The chunk's entries with integer-second times; MalformedChunkError if they are not `count` [EventTime, map] entries. */
export function integerTimeEntries(chunk: EventChunk): Buffer {
  const { entries, count } = chunk;
  if (entries.length < count * (ENTRY_HEAD_BYTES + 1)) {
    throw new MalformedChunkError(`the chunk says ${count} entries and has only ${entries.length} bytes`);
  }
  const out = Buffer.allocUnsafe(entries.length - count * (ENTRY_HEAD_BYTES - INTEGER_HEAD_BYTES));
  let from = 0;
  let to = 0;
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
    out[to] = 0x92;
    out[to + 1] = 0xce;
    entries.copy(out, to + 2, from + 3, from + 7); // the seconds of EventTime, big-endian as uint32 wants
    entries.copy(out, to + INTEGER_HEAD_BYTES, from + ENTRY_HEAD_BYTES, end);
    to += INTEGER_HEAD_BYTES + end - from - ENTRY_HEAD_BYTES;
    from = end;
  }
  if (from !== entries.length) throw new MalformedChunkError(`the chunk says ${count} entries; ${entries.length - from} bytes follow them`);
  return out;
}
