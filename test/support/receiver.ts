// Forward receivers for end-to-end tests: @fluent-org/logger's FluentServer,
// reached through a tee that also decodes the raw bytes on the wire with an
// independent msgpack library (@msgpack/msgpack), so that each test checks
// both what a Fluentd-like server accepts and what was really sent.
import { createServer, connect, type Server, type Socket } from 'node:net';
import { gunzipSync } from 'node:zlib';
import { Decoder, ExtensionCodec, decodeMulti } from '@msgpack/msgpack';
import { FluentServer } from '@fluent-org/logger';

export interface WireTime {
  sec: number;
  nsec: number;
}

/** One entry as decoded from the wire. */
export interface WireEntry {
  tag: string;
  time: WireTime | number;
  /** The record but its event_id (set apart: tests compare a trace's own fields). */
  record: Record<string, unknown>;
  /** The record's event_id, if it had one. */
  eventId?: number | bigint;
  /** Its container identity (cgroup_id, container_id when any, mntns_id), set apart too, if it had one. */
  container?: Record<string, unknown>;
  /** Raw msgpack type of each record value: "uint", "int", "str", "float"... */
  types: Record<string, string>;
  /** Keys in the order they were on the wire (to catch a key sent twice). */
  keys: string[];
}

export interface ServerEntry {
  tag: string;
  time: { epoch: number; nano: number } | number;
  record: Record<string, unknown>;
  eventId?: number | bigint;
  container?: Record<string, unknown>;
}

const CONTAINER_KEYS = ['cgroup_id', 'container_id', 'mntns_id'];

/**
 * A record, its event_id and its container fields, apart (`keys` and `types`
 * still show them where they were on the wire): tests compare a trace's own
 * fields, and test/containers/ the container identity.
 */
function eventIdApart(record: Record<string, unknown>): { record: Record<string, unknown>; eventId?: number | bigint; container?: Record<string, unknown> } {
  const rest: Record<string, unknown> = {};
  const container: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(record)) {
    if (k === 'event_id') continue;
    (CONTAINER_KEYS.includes(k) ? container : rest)[k] = v;
  }
  return {
    record: rest,
    ...('event_id' in record && { eventId: record.event_id as number | bigint }),
    ...(Object.keys(container).length > 0 && { container }),
  };
}

const codec = new ExtensionCodec();
codec.register({
  type: 0,
  encode: () => null,
  decode: (data: Uint8Array): WireTime => {
    const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
    return { sec: view.getUint32(0), nsec: view.getUint32(4) };
  },
});

/** The msgpack type of the value starting at `at` (first byte). */
function typeAt(bytes: Uint8Array, at: number): string {
  const b = bytes[at]!;
  if (b <= 0x7f || b === 0xcc || b === 0xcd || b === 0xce || b === 0xcf) return 'uint';
  if (b >= 0xe0 || b === 0xd0 || b === 0xd1 || b === 0xd2 || b === 0xd3) return 'int';
  if ((b >= 0xa0 && b <= 0xbf) || b === 0xd9 || b === 0xda || b === 0xdb) return 'str';
  if (b === 0xca || b === 0xcb) return 'float';
  if (b === 0xc2 || b === 0xc3) return 'bool';
  if (b === 0xc0) return 'nil';
  if (b === 0xc4 || b === 0xc5 || b === 0xc6) return 'bin';
  return `0x${b.toString(16)}`;
}

/**
 * Walks one msgpack map at `at` and returns its keys and each value's wire
 * type, and the offset after it. Only what records hold is handled.
 */
function walkRecord(bytes: Uint8Array, at: number): { keys: string[]; types: Record<string, string> } {
  const keys: string[] = [];
  const types: Record<string, string> = {};
  const dec = new Decoder();
  let n: number;
  const b = bytes[at]!;
  if (b >= 0x80 && b <= 0x8f) {
    n = b & 0x0f;
    at += 1;
  } else if (b === 0xde) {
    n = (bytes[at + 1]! << 8) | bytes[at + 2]!;
    at += 3;
  } else {
    throw new Error(`record is not a map (0x${b.toString(16)})`);
  }
  for (let i = 0; i < n; i++) {
    const keyLen = msgpackLength(bytes, at);
    const key = dec.decode(bytes.subarray(at, at + keyLen)) as string;
    at += keyLen;
    // A value may be a map (a pod's kubernetes map): skipped whole.
    const valueLen = skipValue(bytes, at) - at;
    keys.push(key);
    types[key] = typeAt(bytes, at);
    at += valueLen;
  }
  return { keys, types };
}

/** Byte length of the scalar msgpack value at `at`. */
function msgpackLength(bytes: Uint8Array, at: number): number {
  const b = bytes[at]!;
  const u8 = () => bytes[at + 1]!;
  const u16 = () => (bytes[at + 1]! << 8) | bytes[at + 2]!;
  const u32 = () => ((bytes[at + 1]! << 24) >>> 0) + (bytes[at + 2]! << 16) + (bytes[at + 3]! << 8) + bytes[at + 4]!;
  if (b <= 0x7f || b >= 0xe0 || b === 0xc0 || b === 0xc2 || b === 0xc3) return 1;
  if (b >= 0xa0 && b <= 0xbf) return 1 + (b & 0x1f);
  switch (b) {
    case 0xcc: case 0xd0: return 2;
    case 0xcd: case 0xd1: return 3;
    case 0xce: case 0xd2: case 0xca: return 5;
    case 0xcf: case 0xd3: case 0xcb: return 9;
    case 0xd9: case 0xc4: return 2 + u8();
    case 0xda: case 0xc5: return 3 + u16();
    case 0xdb: case 0xc6: return 5 + u32();
    case 0xd7: return 10;
    case 0xd6: return 6;
    case 0xc7: return 3 + u8();
  }
  throw new Error(`unexpected msgpack type 0x${b.toString(16)} in a record`);
}

/** Offset just past the msgpack value at `at` (any type). */
function skipValue(bytes: Uint8Array, at: number): number {
  const b = bytes[at]!;
  if ((b >= 0x90 && b <= 0x9f) || b === 0xdc || b === 0xdd) {
    const n = b <= 0x9f ? b & 0x0f : b === 0xdc ? (bytes[at + 1]! << 8) | bytes[at + 2]! : new DataView(bytes.buffer, bytes.byteOffset + at + 1, 4).getUint32(0);
    let p = at + (b <= 0x9f ? 1 : b === 0xdc ? 3 : 5);
    for (let i = 0; i < n; i++) p = skipValue(bytes, p);
    return p;
  }
  if ((b >= 0x80 && b <= 0x8f) || b === 0xde || b === 0xdf) {
    const n = b <= 0x8f ? b & 0x0f : b === 0xde ? (bytes[at + 1]! << 8) | bytes[at + 2]! : new DataView(bytes.buffer, bytes.byteOffset + at + 1, 4).getUint32(0);
    let p = at + (b <= 0x8f ? 1 : b === 0xde ? 3 : 5);
    for (let i = 0; i < 2 * n; i++) p = skipValue(bytes, p);
    return p;
  }
  return at + msgpackLength(bytes, at);
}

/** Decodes a stream of [time, record] entries (PackedForward) keeping wire types. */
function decodeEntryStream(tag: string, bytes: Uint8Array, out: WireEntry[]): void {
  let at = 0;
  while (at < bytes.length) {
    const end = skipValue(bytes, at);
    const one = bytes.subarray(at, end);
    const [time, record] = [...decodeMulti(one, { extensionCodec: codec })][0] as [WireTime | number, Record<string, unknown>];
    const recordAt = skipValue(one, 1); // after the 2-element array header and the time
    out.push({ tag, time, ...eventIdApart(record), ...walkRecord(one, recordAt) });
    at = end;
  }
}

/** Decodes one whole Forward-protocol message from the client. */
export function decodeForwardMessage(bytes: Uint8Array, out: WireEntry[]): void {
  const message = [...decodeMulti(bytes, { extensionCodec: codec, useBigInt64: true })][0] as unknown[];
  const tag = message[0] as string;
  const second = message[1];
  if (Array.isArray(second)) {
    // Forward mode: re-walk each entry's raw bytes for wire types.
    let at = skipValue(bytes, 1); // past the tag
    const b = bytes[at]!;
    at += b <= 0x9f ? 1 : b === 0xdc ? 3 : 5;
    for (const entry of second as [WireTime | number, Record<string, unknown>][]) {
      const end = skipValue(bytes, at);
      const recordAt = skipValue(bytes, at + 1);
      out.push({ tag, time: entry[0], ...eventIdApart(entry[1]), ...walkRecord(bytes, recordAt) });
      at = end;
    }
  } else if (second instanceof Uint8Array || typeof second === 'string') {
    let packed = typeof second === 'string' ? Buffer.from(second, 'binary') : second;
    const options = (message[2] ?? {}) as Record<string, unknown>;
    if (options.compressed === 'gzip') packed = gunzipSync(packed);
    decodeEntryStream(tag, packed, out);
  } else {
    // Message mode: [tag, time, record, options?]
    const recordAt = skipValue(bytes, skipValue(bytes, 1));
    out.push({ tag, time: second as WireTime, ...eventIdApart(message[2] as Record<string, unknown>), ...walkRecord(bytes, recordAt) });
  }
}

export interface Receivers {
  /** Port the program under test should send to (the tee). */
  port: number;
  /** Entries FluentServer accepted. */
  server: ServerEntry[];
  /** Entries decoded independently from the bytes on the wire. */
  wire: WireEntry[];
  /** Raw client→server bytes. */
  bytes(): Buffer;
  close(): Promise<void>;
}

/** FluentServer on an ephemeral loopback port, behind a decoding tee. */
export async function startReceivers(): Promise<Receivers> {
  const fluent = new FluentServer({ listenOptions: { host: '127.0.0.1', port: 0 } });
  const server: ServerEntry[] = [];
  fluent.on('entry', (tag: string, time: ServerEntry['time'], record: Record<string, unknown>) => server.push({ tag, time, ...eventIdApart(record) }));
  await fluent.listen();
  const wire: WireEntry[] = [];
  const chunks: Buffer[] = [];
  const sockets = new Set<Socket>();
  const tee: Server = createServer((client) => {
    sockets.add(client);
    const upstream = connect(fluent.port!, '127.0.0.1');
    sockets.add(upstream);
    let pending = Buffer.alloc(0);
    client.on('data', (data: Buffer) => {
      chunks.push(data);
      upstream.write(data);
      pending = Buffer.concat([pending, data]);
      // Decode every complete top-level message.
      for (;;) {
        let end: number;
        try {
          end = skipValue(pending, 0);
        } catch {
          break;
        }
        if (end > pending.length) break;
        decodeForwardMessage(pending.subarray(0, end), wire);
        pending = pending.subarray(end);
      }
    });
    upstream.on('data', (d) => client.write(d));
    const end = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('close', end);
    upstream.on('close', end);
    client.on('error', end);
    upstream.on('error', end);
  });
  await new Promise<void>((resolve) => tee.listen(0, '127.0.0.1', resolve));
  const address = tee.address();
  return {
    port: typeof address === 'object' && address ? address.port : 0,
    server,
    wire,
    bytes: () => Buffer.concat(chunks),
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => tee.close(() => resolve()));
      await fluent.close();
    },
  };
}
