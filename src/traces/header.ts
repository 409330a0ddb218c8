// The common head of every ring-buffer record: struct event_header in
// bpf/events.h (48 bytes).
export const HEADER_SIZE = 48;

export interface EventHeader {
  /** CLOCK_MONOTONIC nanoseconds, split to stay exact without BigInt. */
  tsHigh: number;
  tsLow: number;
  seq: number;
  pid: number;
  tid: number;
  kind: number;
  flags: number;
  comm: string;
}

/** Reads a NUL-terminated string from a fixed-size slot (no trailing NULs). */
export function readCString(data: Buffer, offset: number, max: number): string {
  const end = data.indexOf(0, offset);
  const stop = end < 0 || end > offset + max ? offset + max : end;
  return data.toString('utf8', offset, stop);
}

// The 16 comm bytes as four u32 words -> the string, in a small direct-mapped
// cache: under load most records come from a few processes, and decoding the
// name (indexOf + utf8 + a new string) was a third of the input's time.
const COMM_SLOTS = 64;
const commWords = new Uint32Array(COMM_SLOTS * 4);
const commStrings: (string | undefined)[] = new Array<string | undefined>(COMM_SLOTS);

function readComm(data: Buffer, at: number, w0: number, w1: number, w2: number, w3: number): string {
  const slot = ((w0 ^ (w0 >>> 16) ^ w1 ^ w2 ^ w3) & (COMM_SLOTS - 1)) * 4;
  const cached = commStrings[slot >> 2];
  if (cached !== undefined && commWords[slot] === w0 && commWords[slot + 1] === w1 && commWords[slot + 2] === w2 && commWords[slot + 3] === w3) {
    return cached;
  }
  const comm = readCString(data, at, 16);
  commWords[slot] = w0;
  commWords[slot + 1] = w1;
  commWords[slot + 2] = w2;
  commWords[slot + 3] = w3;
  commStrings[slot >> 2] = comm;
  return comm;
}

// A Uint32Array over the batch being read (ring batches are one reused
// buffer, so it is rebuilt rarely): indexed loads are cheaper than
// Buffer#readUInt32LE calls. Headers sit at 8-aligned offsets of the batch.
let wordsOf: ArrayBufferLike | undefined;
let wordsFrom = -1;
let words: Uint32Array = new Uint32Array(0);

/**
 * `data` as u32 words when its memory is 4-aligned (a ring batch always is),
 * else undefined. The view is kept while the same buffer comes back.
 */
export function wordsOfBuffer(data: Buffer): Uint32Array | undefined {
  if (data.buffer === wordsOf && data.byteOffset === wordsFrom && words.length === data.length >> 2) return words;
  if ((data.byteOffset & 3) !== 0) return undefined;
  wordsOf = data.buffer;
  wordsFrom = data.byteOffset;
  words = new Uint32Array(data.buffer, data.byteOffset, data.length >> 2);
  return words;
}

/** Decodes the header into `into` (reused across a batch: no allocation). */
export function readHeader(data: Buffer, offset: number, into: EventHeader): EventHeader {
  const w32 = (offset & 3) === 0 && offset + HEADER_SIZE <= data.length ? wordsOfBuffer(data) : undefined;
  if (!w32) return readHeaderBytes(data, offset, into);
  const w = offset >> 2;
  into.tsLow = w32[w]!;
  into.tsHigh = w32[w + 1]!;
  into.seq = w32[w + 2]! + w32[w + 3]! * 0x1_0000_0000;
  into.pid = w32[w + 4]!;
  into.tid = w32[w + 5]!;
  const kindFlags = w32[w + 6]!;
  into.kind = kindFlags & 0xffff;
  into.flags = kindFlags >>> 16;
  into.comm = readComm(data, offset + 32, w32[w + 8]!, w32[w + 9]!, w32[w + 10]!, w32[w + 11]!);
  return into;
}

/** readHeader for a header at an offset not 4-aligned in memory. */
function readHeaderBytes(data: Buffer, offset: number, into: EventHeader): EventHeader {
  into.tsLow = data.readUInt32LE(offset);
  into.tsHigh = data.readUInt32LE(offset + 4);
  into.seq = data.readUInt32LE(offset + 8) + data.readUInt32LE(offset + 12) * 0x1_0000_0000;
  into.pid = data.readUInt32LE(offset + 16);
  into.tid = data.readUInt32LE(offset + 20);
  into.kind = data.readUInt16LE(offset + 24);
  into.flags = data.readUInt16LE(offset + 26);
  into.comm = readComm(data, offset + 32, data.readUInt32LE(offset + 32), data.readUInt32LE(offset + 36), data.readUInt32LE(offset + 40), data.readUInt32LE(offset + 44));
  return into;
}

export function emptyHeader(): EventHeader {
  return { tsHigh: 0, tsLow: 0, seq: 0, pid: 0, tid: 0, kind: 0, flags: 0, comm: '' };
}
