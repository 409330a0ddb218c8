// Fluentd Forward Protocol v1 written down as types: what the forward output
// sends and what a receiver answers. Spec:
// https://github.com/fluent/fluentd/wiki/Forward-Protocol-Specification-v1
//
// Client → server (transport):
//   Forward                  [tag, [[time, record], ...], options?]
//   PackedForward            [tag, bin(entries...), options?]
//   CompressedPackedForward  [tag, bin(gzip(entries...)), {compressed: "gzip", ...}]
// Server → client (handshake, then acks):
//   HELO ["HELO", {nonce, auth?, keepalive?}]   nonce/auth: str (Fluent Bit) or bin (Fluentd)
//   PING ["PING", self_hostname, shared_key_salt, sha512_hex(salt+hostname+nonce+key), username, sha512_hex(auth+username+password)]
//   PONG ["PONG", ok, reason, server_hostname, sha512_hex(salt+server_hostname+nonce+key)]
//   ack  {ack: chunk}
import type { EventTime } from '../../chunk.js';
import { ProtocolError } from './errors.js';

/** Msgpack ext type of EventTime: 8 bytes, seconds then nanoseconds, big-endian u32s. */
export const EVENT_TIME_EXT_TYPE = 0;

/** How batches travel: Forward (default), PackedForward, CompressedPackedForward. */
export type ForwardMode = 'forward' | 'packed' | 'compressed';

/** The transport options map, in the order Fluent Bit writes its keys. */
export interface TransportOptions {
  /** Asks for an ack carrying this id. */
  chunk?: string;
  /** Number of entries in the message. */
  size?: number;
  compressed?: 'gzip';
}

export type ForwardMessage = [tag: string, entries: [EventTime | number, Record<string, unknown>][], options?: TransportOptions];
export type PackedForwardMessage = [tag: string, entries: Uint8Array, options?: TransportOptions];

export interface Helo {
  kind: 'HELO';
  /** Raw bytes, whether the server sent a str or a bin: the digest is over these bytes. */
  nonce: Uint8Array;
  /** Salt for Username/Password; empty when the server does not ask for users. */
  auth: Uint8Array;
  keepalive: boolean;
}

export type Ping = [kind: 'PING', selfHostname: string, sharedKeySalt: string, sharedKeyDigest: string, username: string, passwordDigest: string];

export interface Pong {
  kind: 'PONG';
  ok: boolean;
  reason: string;
  serverHostname: string;
  sharedKeyDigest: string;
}

export interface Ack {
  kind: 'ack';
  chunk: string;
}

export type ServerMessage = Helo | Pong | Ack;

const text = (v: unknown): string | undefined =>
  typeof v === 'string' ? v : v instanceof Uint8Array ? Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('utf8') : undefined;
const bytes = (v: unknown): Uint8Array | undefined =>
  v instanceof Uint8Array ? v : typeof v === 'string' ? Buffer.from(v, 'utf8') : undefined;

/**
 * Checks and names one decoded server message. Strings may arrive as raw
 * bytes (the decoder keeps str values raw so that a str nonce is not mangled
 * by UTF-8 decoding).
 */
export function parseServerMessage(value: unknown): ServerMessage {
  if (Array.isArray(value)) {
    const kind = text(value[0]);
    if (kind === 'HELO' && value.length >= 2 && typeof value[1] === 'object' && value[1] !== null) {
      const options = value[1] as Record<string, unknown>;
      const nonce = bytes(options.nonce);
      if (!nonce) throw new ProtocolError('HELO without a nonce');
      return {
        kind: 'HELO',
        nonce,
        auth: bytes(options.auth) ?? new Uint8Array(0),
        keepalive: options.keepalive !== false,
      };
    }
    if (kind === 'PONG' && value.length >= 4 && typeof value[1] === 'boolean') {
      return {
        kind: 'PONG',
        ok: value[1],
        reason: text(value[2]) ?? '',
        serverHostname: text(value[3]) ?? '',
        sharedKeyDigest: text(value[4]) ?? '',
      };
    }
    throw new ProtocolError(`unexpected message ${kind ? `"${kind}"` : 'array'} from the receiver`);
  }
  if (typeof value === 'object' && value !== null && 'ack' in value) {
    const chunk = text((value as { ack: unknown }).ack);
    if (chunk !== undefined) return { kind: 'ack', chunk };
  }
  throw new ProtocolError(`unexpected ${value === null ? 'nil' : typeof value} from the receiver`);
}
