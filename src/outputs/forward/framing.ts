// Forward messages around packed entries (a chunk's entries, as the input
// wrote them): each mode's message is a few header bytes around them, so
// entries are never re-encoded for a message, a resend, a spool file or
// another node. Array and bin headers around pre-encoded bytes are framing
// msgpackr has no API for; the tag, options and handshake messages are
// msgpackr's.
// msgpackr's entry without its native string decoder (msgpackr-extract, 4-6 MB
// resident): packing, and unpacking a few small values, need none of it.
import { Packr } from 'msgpackr/pack';
import { arrayHeader, binHeader } from '../../msgpack/headers.js';
import type { TransportOptions } from './protocol.js';

const packr = new Packr({ useRecords: false, variableMapSize: true });

/** The options map with only the keys that are set, in Fluent Bit's order. */
function optionsBytes(options: TransportOptions): Buffer {
  const ordered: Record<string, unknown> = {};
  if (options.chunk !== undefined) ordered.chunk = options.chunk;
  if (options.size !== undefined) ordered.size = options.size;
  if (options.compressed !== undefined) ordered.compressed = options.compressed;
  return packr.pack(ordered);
}

/**
 * A message as its parts, in order: written together (one corked socket
 * write), so that the entries are sent from the chunk's own bytes, never
 * copied into a message buffer.
 */
export type MessageParts = Buffer[];

/** Bytes of a message in parts. */
export const messageBytes = (parts: MessageParts): number => parts.reduce((n, p) => n + p.length, 0);

/** Forward mode: `[tag, [entries...], options?]`. */
export function encodeForwardMessage(tag: string, entries: Buffer, count: number, options?: TransportOptions): MessageParts {
  const parts = [Buffer.concat([Buffer.from([options ? 0x93 : 0x92]), packr.pack(tag), arrayHeader(count)]), entries];
  if (options) parts.push(optionsBytes(options));
  return parts;
}

/**
 * PackedForward / CompressedPackedForward: `[tag, bin(payload), options?]`,
 * payload being the packed entries or their gzip.
 */
export function encodePackedForwardMessage(tag: string, payload: Buffer, options?: TransportOptions): MessageParts {
  const parts = [Buffer.concat([Buffer.from([options ? 0x93 : 0x92]), packr.pack(tag), binHeader(payload.length)]), payload];
  if (options) parts.push(optionsBytes(options));
  return parts;
}

/** Any small msgpack value (handshake messages), with msgpackr. */
export function encodeValue(value: unknown): Buffer {
  return packr.pack(value);
}
