// Whole msgpack values, through @msgpack/msgpack (the one msgpack library at
// run time): a record program's literals (keys, names), a Forward message's
// tag and options, handshake messages, chunk file headers and container
// metadata. Each is small and made once per batch at most; records are
// written by the native encoder (native/msgpack_write.h), and headers
// around bytes encoded elsewhere by headers.ts.
import { decode, Encoder } from '@msgpack/msgpack';

const encoder = new Encoder();

/** A value in its smallest forms (fixstr, fixmap, the smallest int), as Fluent Bit writes them. */
export function packValue(value: unknown): Buffer {
  return Buffer.from(encoder.encodeSharedRef(value));
}

/** One whole value (maps as objects); throws on bytes that are not one. */
export function unpackValue(bytes: Uint8Array): unknown {
  return decode(bytes);
}
