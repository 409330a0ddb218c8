// Hand-built record programs (src/records/program.ts) and ring-format
// batches, for the encoder tests (test/records/encoder.test.ts) and the ring
// reader's (test/native/).
import { encode } from '@msgpack/msgpack';
import { NO_DEFAULT, NO_TARGET, Op } from '../../src/records/program.js';

type Word = number | { label: string };

export class ProgramBuilder {
  private readonly words: Word[] = [];
  private readonly pool: number[] = [];
  private readonly labels = new Map<string, number>();

  /** The raw words of one instruction (any opcode, any arguments: for invalid programs too). */
  op(...words: Word[]): this {
    this.words.push(...words);
    return this;
  }

  /** Marks the next instruction as the target `name` of a SWITCH. */
  label(name: string): this {
    this.labels.set(name, this.words.length);
    return this;
  }

  /** Pool bytes' offset (added once per call). */
  poolBytes(bytes: Uint8Array | number[]): number {
    const at = this.pool.length;
    this.pool.push(...bytes);
    return at;
  }

  lit(bytes: Uint8Array | number[]): this {
    const at = this.poolBytes(bytes);
    return this.op(Op.LIT, at, bytes.length);
  }

  /** A msgpack value as a literal (a key, a constant). */
  value(v: unknown): this {
    return this.lit(encode(v));
  }

  map(n: number): this {
    return this.lit(n < 16 ? [0x80 | n] : [0xde, n >> 8, n & 0xff]);
  }

  minLen(n: number): this {
    return this.op(Op.MIN_LEN, n);
  }
  headKtime(off: number): this {
    return this.op(Op.HEAD_KTIME, off);
  }
  headNow(): this {
    return this.op(Op.HEAD_NOW);
  }
  uint(off: number, size: number): this {
    return this.op(Op.UINT, off, size);
  }
  sint(off: number, size: number): this {
    return this.op(Op.SINT, off, size);
  }
  errno(off: number, size: number): this {
    return this.op(Op.ERRNO, off, size);
  }
  bool(off: number): this {
    return this.op(Op.BOOL, off);
  }
  float(off: number, size: number): this {
    return this.op(Op.FLOAT, off, size);
  }
  cstr(off: number, max: number): this {
    return this.op(Op.CSTR, off, max);
  }
  lstr(off: number, lenOff: number, lenSize: number): this {
    return this.op(Op.LSTR, off, lenOff, lenSize);
  }
  tail(off: number): this {
    return this.op(Op.TAIL, off);
  }
  tstr(lenOff: number, lenSize: number): this {
    return this.op(Op.TSTR, lenOff, lenSize);
  }
  fdpath(lenOff: number, lenSize: number, dirfdOff: number, flagsOff: number, flagsSize: number, mask: number): this {
    return this.op(Op.TSTR_FDPATH, lenOff, lenSize, dirfdOff, flagsOff, flagsSize, mask);
  }
  inet(familyOff: number, addrOff: number): this {
    return this.op(Op.INET, familyOff, addrOff);
  }

  /** ENUM: cases as [value, string]; def a string, or null for the integer itself. */
  enumOf(off: number, size: number, signed: boolean, cases: [bigint | number, string][], def: string | null): this {
    const defBytes = def === null ? undefined : encode(def);
    const defOff = defBytes ? this.poolBytes(defBytes) : 0;
    const words: Word[] = [Op.ENUM, off, size, signed ? 1 : 0, cases.length, defOff, defBytes ? defBytes.length : NO_DEFAULT];
    for (const [value, text] of cases) {
      const v = BigInt.asUintN(64, BigInt(value));
      const bytes = encode(text);
      words.push(Number(v & 0xffffffffn), Number(v >> 32n), this.poolBytes(bytes), bytes.length);
    }
    return this.op(...words);
  }

  /** SWITCH: cases as [value, label]; def a label, or null to skip the record. */
  switchOn(off: number, size: number, cases: [number, string][], def: string | null): this {
    const words: Word[] = [Op.SWITCH, off, size, cases.length, def === null ? NO_TARGET : { label: def }];
    for (const [value, label] of cases) words.push(value, { label });
    return this.op(...words);
  }

  /** MAP: the record's map header, which CONTAINER_ID may lower. */
  mapOp(n: number): this {
    return this.op(Op.MAP, n);
  }
  /** CONTAINER_ID: its key (a string), written with the id or not at all. */
  containerId(cgroupIdOff: number, pidOff: number, key: string): this {
    const bytes = encode(key);
    return this.op(Op.CONTAINER_ID, cgroupIdOff, pidOff, this.poolBytes(bytes), bytes.length);
  }

  uintNonzero(off: number, size: number, key: string): this {
    const bytes = encode(key);
    return this.op(Op.UINT_NONZERO, off, size, this.poolBytes(bytes), bytes.length);
  }

  end(): this {
    return this.op(Op.END);
  }

  build(): { code: Uint32Array; pool: Buffer } {
    const code = this.words.map((w) => {
      if (typeof w === 'number') return w;
      const at = this.labels.get(w.label);
      if (at === undefined) throw new Error(`no label ${w.label}`);
      return at;
    });
    return { code: Uint32Array.from(code), pool: Buffer.from(this.pool) };
  }
}

export function program(): ProgramBuilder {
  return new ProgramBuilder();
}

/** Records in the ring's batch format: [u32 length][u32 0][bytes] at 8-aligned offsets. */
export function batchOf(records: readonly Uint8Array[]): Buffer {
  let size = 0;
  for (const r of records) size = (size + 8 + r.length + 7) & ~7;
  const batch = Buffer.alloc(size);
  let at = 0;
  for (const r of records) {
    batch.writeUInt32LE(r.length, at);
    batch.set(r, at + 8);
    at = (at + 8 + r.length + 7) & ~7;
  }
  return batch;
}
