// Where a msgpack value ends, without decoding it: what chunks, the
// storage's chunk files and the forward output need to know of a record
// (Time_as_Integer rewrites each entry's head and copies the record's bytes
// as they are). Neither msgpack library
// here has a skip, and decoding every record to find its length would be
// the per-record work chunks exist to avoid.

/** Bytes of a value's head and payload for the fixed-size formats 0xc0..0xdf (0: variable, -1: never used). */
const FIXED_SIZE: Record<number, number> = {
  0xc0: 1, // nil
  0xc1: -1,
  0xc2: 1, // false
  0xc3: 1, // true
  0xca: 5, // float32
  0xcb: 9, // float64
  0xcc: 2, // uint8
  0xcd: 3,
  0xce: 5,
  0xcf: 9,
  0xd0: 2, // int8
  0xd1: 3,
  0xd2: 5,
  0xd3: 9,
  0xd4: 3, // fixext 1: type, 1 byte
  0xd5: 4,
  0xd6: 6,
  0xd7: 10,
  0xd8: 18,
};

/** The byte 0xc1, which no msgpack value uses: what follows is not msgpack at all. */
export class ReservedByteError extends RangeError {
  override name = 'ReservedByteError';
}

/**
 * The offset just past the msgpack value at `at` in `bytes`: maps, arrays
 * (any depth: counted, not recursed), str, bin, ext, numbers, bool, nil.
 * Throws RangeError when the value runs past the end (more bytes may complete
 * it), ReservedByteError where it uses the reserved byte 0xc1.
 */
export function skipValue(bytes: Buffer, at: number): number {
  let pos = at;
  // Values still to skip: a map or array adds its elements.
  let pending = 1;
  while (pending > 0) {
    if (pos >= bytes.length) throw new RangeError(`msgpack value at byte ${at} runs past the end (${bytes.length} bytes)`);
    const b = bytes[pos]!;
    pending--;
    if (b <= 0x7f || b >= 0xe0) pos += 1; // positive, negative fixint
    else if (b <= 0x8f) {
      pending += 2 * (b & 0x0f); // fixmap
      pos += 1;
    } else if (b <= 0x9f) {
      pending += b & 0x0f; // fixarray
      pos += 1;
    } else if (b <= 0xbf) pos += 1 + (b & 0x1f); // fixstr
    else {
      // readUInt*BE throw a RangeError past the end themselves.
      switch (b) {
        case 0xc4: // bin 8
        case 0xd9: // str 8
          pos += 2 + bytes.readUInt8(pos + 1);
          break;
        case 0xc5:
        case 0xda:
          pos += 3 + bytes.readUInt16BE(pos + 1);
          break;
        case 0xc6:
        case 0xdb:
          pos += 5 + bytes.readUInt32BE(pos + 1);
          break;
        case 0xc7: // ext 8: length, type, data
          pos += 3 + bytes.readUInt8(pos + 1);
          break;
        case 0xc8:
          pos += 4 + bytes.readUInt16BE(pos + 1);
          break;
        case 0xc9:
          pos += 6 + bytes.readUInt32BE(pos + 1);
          break;
        case 0xdc: // array 16
          pending += bytes.readUInt16BE(pos + 1);
          pos += 3;
          break;
        case 0xdd:
          pending += bytes.readUInt32BE(pos + 1);
          pos += 5;
          break;
        case 0xde: // map 16
          pending += 2 * bytes.readUInt16BE(pos + 1);
          pos += 3;
          break;
        case 0xdf:
          pending += 2 * bytes.readUInt32BE(pos + 1);
          pos += 5;
          break;
        default: {
          const size = FIXED_SIZE[b]!;
          if (size < 0) throw new ReservedByteError(`reserved msgpack byte 0x${b.toString(16)} at byte ${pos}`);
          pos += size;
        }
      }
    }
  }
  if (pos > bytes.length) throw new RangeError(`msgpack value at byte ${at} runs past the end (${bytes.length} bytes)`);
  return pos;
}
