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

/** Decodes the header into `into` (reused across a batch: no allocation). */
export function readHeader(data: Buffer, offset: number, into: EventHeader): EventHeader {
  into.tsLow = data.readUInt32LE(offset);
  into.tsHigh = data.readUInt32LE(offset + 4);
  into.seq = data.readUInt32LE(offset + 8) + data.readUInt32LE(offset + 12) * 0x1_0000_0000;
  into.pid = data.readUInt32LE(offset + 16);
  into.tid = data.readUInt32LE(offset + 20);
  into.kind = data.readUInt16LE(offset + 24);
  into.flags = data.readUInt16LE(offset + 26);
  into.comm = readCString(data, offset + 32, 16);
  return into;
}

export function emptyHeader(): EventHeader {
  return { tsHigh: 0, tsLow: 0, seq: 0, pid: 0, tid: 0, kind: 0, flags: 0, comm: '' };
}
