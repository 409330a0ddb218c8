// Msgpack container headers for bytes encoded elsewhere: the forward output's
// framing around a chunk's entries, and the record programs' map and array
// heads. The msgpack library has no API for a header alone.

/** The header of a container of n items: the fix form, then 16 and 32 bits. */
function containerHeader(n: number, fix: number, fixLimit: number, code16: number): Buffer {
  if (n < fixLimit) return Buffer.from([fix | n]);
  if (n < 0x10000) return Buffer.from([code16, n >> 8, n & 0xff]);
  const b = Buffer.allocUnsafe(5);
  b[0] = code16 + 1;
  b.writeUInt32BE(n, 1);
  return b;
}

/** Msgpack array header for n elements. */
export const arrayHeader = (n: number): Buffer => containerHeader(n, 0x90, 16, 0xdc);

/** Msgpack map header for n entries. */
export const mapHeader = (n: number): Buffer => containerHeader(n, 0x80, 16, 0xde);

/** Msgpack bin header for n bytes (bin 8, 16, 32: there is no fix form). */
export function binHeader(n: number): Buffer {
  if (n < 0x100) return Buffer.from([0xc4, n]);
  return containerHeader(n, 0, 0, 0xc5);
}
