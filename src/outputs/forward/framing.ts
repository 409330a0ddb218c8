// Forward messages around packed entries (a chunk's entries, as the input
// wrote them): each mode's message is a few header bytes around them, so
// entries are never re-encoded for a message, a resend, a spool file or
// another node. Array and bin headers around pre-encoded bytes are framing
// the msgpack library has no API for (src/msgpack/headers.ts); the tag,
// options and handshake messages are whole values (src/msgpack/values.ts).
import { arrayHeader, binHeader } from '../../msgpack/headers.js';
import { packValue } from '../../msgpack/values.js';
import type { TransportOptions } from './protocol.js';

/** The options map with only the keys that are set, in Fluent Bit's order. */
function optionsBytes(options: TransportOptions): Buffer {
  const ordered: Record<string, unknown> = {};
  if (options.chunk !== undefined) ordered.chunk = options.chunk;
  if (options.size !== undefined) ordered.size = options.size;
  if (options.compressed !== undefined) ordered.compressed = options.compressed;
  return packValue(ordered);
}

/**
 * A message as its parts, in order: written together (one corked socket
 * write), so that the entries are sent from the chunk's own bytes, never
 * copied into a message buffer.
 */
export type MessageParts = Buffer[];

/** Bytes of a message in parts. */
export const messageBytes = (parts: MessageParts): number => parts.reduce((n, p) => n + p.length, 0);

/** A tag's msgpack bytes, kept: a node's few tags are encoded once, not once a batch. */
const tagBytesCache = new Map<string, Buffer>();
const TAG_CACHE_MAX = 256;
function tagBytes(tag: string): Buffer {
  let bytes = tagBytesCache.get(tag);
  if (!bytes) {
    if (tagBytesCache.size >= TAG_CACHE_MAX) tagBytesCache.clear();
    bytes = packValue(tag);
    tagBytesCache.set(tag, bytes);
  }
  return bytes;
}

/** A message's first bytes: its array header (with or without options) and the tag. */
export function messagePrefix(tag: string, withOptions: boolean): Buffer {
  return Buffer.concat([Buffer.from([withOptions ? 0x93 : 0x92]), tagBytes(tag)]);
}

/** Forward mode: `[tag, [entries...], options?]`. */
export function encodeForwardMessage(tag: string, entries: Buffer, count: number, options?: TransportOptions): MessageParts {
  const parts = [Buffer.concat([messagePrefix(tag, options !== undefined), arrayHeader(count)]), entries];
  if (options) parts.push(optionsBytes(options));
  return parts;
}

/**
 * PackedForward / CompressedPackedForward: `[tag, bin(payload), options?]`,
 * payload being the packed entries or their gzip.
 */
export function encodePackedForwardMessage(tag: string, payload: Buffer, options?: TransportOptions): MessageParts {
  const parts = [Buffer.concat([messagePrefix(tag, options !== undefined), binHeader(payload.length)]), payload];
  if (options) parts.push(optionsBytes(options));
  return parts;
}
