// Chunks decoded back into events, for outputs that need values rather than
// bytes (stdout). The forward output never decodes a chunk: it frames the
// bytes as they are.
import { Decoder, ExtensionCodec } from '@msgpack/msgpack';
import { MalformedChunkError, type EventChunk, type EventTime } from '../chunk.js';
import { EVENT_TIME_EXT_TYPE } from './forward/protocol.js';

export { MalformedChunkError };

export interface DecodedEvent {
  time: EventTime;
  /** Integers beyond 32 bits (msgpack int64/uint64) are bigints; nested maps are objects. */
  record: Record<string, unknown>;
}

const codec = new ExtensionCodec();
codec.register({
  type: EVENT_TIME_EXT_TYPE,
  encode: () => null, // decoding only
  decode: (data: Uint8Array): EventTime => {
    if (data.length !== 8) throw new MalformedChunkError(`EventTime of ${data.length} bytes (8 expected)`);
    const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
    return { sec: view.getUint32(0), nsec: view.getUint32(4) };
  },
});
const decoder = new Decoder({ extensionCodec: codec, useBigInt64: true });

const isEventTime = (v: unknown): v is EventTime => typeof v === 'object' && v !== null && 'sec' in v && 'nsec' in v;
const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array);

/** The chunk's entries as events, in order; throws MalformedChunkError if they are not `count` [EventTime, map] entries. */
export function decodeChunk(chunk: EventChunk): DecodedEvent[] {
  const events: DecodedEvent[] = [];
  try {
    for (const entry of decoder.decodeMulti(chunk.entries)) {
      if (!Array.isArray(entry) || entry.length !== 2 || !isEventTime(entry[0]) || !isRecord(entry[1])) {
        throw new MalformedChunkError(`entry ${events.length} is not [EventTime, map]`);
      }
      events.push({ time: entry[0], record: entry[1] });
    }
  } catch (err) {
    if (err instanceof MalformedChunkError) throw err;
    throw new MalformedChunkError(`entry ${events.length} cannot be read: ${(err as Error).message}`);
  }
  if (events.length !== chunk.count) throw new MalformedChunkError(`the chunk says ${chunk.count} entries and holds ${events.length}`);
  return events;
}
