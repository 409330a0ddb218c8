// Building a record program: code words, a constant pool with each literal
// once, and the error a declaration that does not fit its BTF gives.
import { packValue } from '../msgpack/values.js';
import type { TypeLayout } from './btf.js';
import { FIXED_ARGS, Op, type Opcode, type RecordProgram } from './program.js';

/** A declaration that does not fit the BTF it is compiled against; the message names both. */
export class RecordLayoutError extends Error {}

/** Programs larger than this are refused (a huge array in a user's struct, say). */
const MAX_CODE_WORDS = 1 << 20;

/** Emits code words and collects the constant pool (identical literals stored once). */
export class ProgramBuilder {
  readonly code: number[] = [];
  private readonly poolParts: Buffer[] = [];
  private poolSize = 0;
  private readonly literals = new Map<string, number>();

  emit(op: Opcode, ...args: number[]): number {
    const at = this.code.length;
    if (args.length < FIXED_ARGS[op]) throw new Error(`opcode ${op} takes ${FIXED_ARGS[op]} arguments`);
    this.code.push(op, ...args);
    if (this.code.length > MAX_CODE_WORDS) throw new RecordLayoutError(`the record program would be larger than ${MAX_CODE_WORDS} words`);
    return at;
  }

  /** [poolOff, len] of these bytes in the pool. */
  constant(bytes: Buffer): [number, number] {
    const hex = bytes.toString('hex');
    let at = this.literals.get(hex);
    if (at === undefined) {
      at = this.poolSize;
      this.poolParts.push(bytes);
      this.poolSize += bytes.length;
      this.literals.set(hex, at);
    }
    return [at, bytes.length];
  }

  literal(bytes: Buffer): void {
    this.emit(Op.LIT, ...this.constant(bytes));
  }

  key(name: string): void {
    this.literal(packValue(name));
  }

  build(): RecordProgram {
    return { code: Uint32Array.from(this.code), pool: Buffer.concat(this.poolParts, this.poolSize) };
  }
}

export function isCharArray(type: TypeLayout): boolean {
  return type.kind === 'array' && type.element.kind === 'int' && type.element.size === 1 && /^(const |volatile )*char$/.test(type.element.cName);
}
