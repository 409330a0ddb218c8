// An object's knobs (its `const volatile` globals, set before load) are
// written from their BTF types, by one writer: the traces' own knobs, the
// filters' and the session's, and a user's BPF_Set alike. Sizes, signedness
// and array lengths are the object's, never written down in TypeScript.
import type { NativeBpfObject } from '../native/addon.js';
import type { Btf, TypeLayout } from './btf.js';

/** An integer (bool, enum), a string (char array, with room for its NUL), raw bytes (a char array read by a length kept apart), or an array of these. */
export type KnobValue = number | bigint | boolean | string | Buffer | readonly (number | bigint | string | Buffer)[];

export function isCharArray(type: TypeLayout): boolean {
  return type.kind === 'array' && type.element.kind === 'int' && type.element.size === 1 && !type.element.bool && /^(?:(?:const|volatile) )*char$/.test(type.element.cName);
}

export function integerRange(size: number, signed: boolean): [bigint, bigint] {
  const bits = BigInt(size * 8);
  return signed ? [-(1n << (bits - 1n)), (1n << (bits - 1n)) - 1n] : [0n, (1n << bits) - 1n];
}

/** What a knob's C type takes, for messages: "__u32, an unsigned 4-byte integer (0 to 4294967295)". */
export function describeKnobType(type: TypeLayout): string {
  switch (type.kind) {
    case 'int': {
      if (type.bool) return `${type.cName}, a bool (on/off or true/false)`;
      const [min, max] = integerRange(type.size, type.signed);
      return `${type.cName}, ${type.signed ? 'a signed' : 'an unsigned'} ${type.size}-byte integer (${min} to ${max})`;
    }
    case 'enum':
      return `${type.cName} (${type.values.map((v) => v.name).join(', ')}, or a number)`;
    case 'array':
      if (isCharArray(type)) return `${type.cName}, a string of at most ${type.length - 1} bytes (and its NUL)`;
      return `${type.cName}, ${type.length} of ${describeKnobType(type.element)}`;
    default:
      return `${type.cName} (${type.kind})`;
  }
}

/**
 * The bytes `value` is as a global of this BTF type. Throws an Error
 * ("is <C type>...: why not") saying what the type takes.
 */
export function knobBytes(type: TypeLayout, value: KnobValue): Buffer {
  const takes = () => describeKnobType(type);
  switch (type.kind) {
    case 'int':
    case 'enum': {
      if (![1, 2, 4, 8].includes(type.size)) throw new Error(`is ${type.cName}, a ${type.size}-byte ${type.kind}, which can't be set`);
      if (type.kind === 'int' && type.bool) {
        if (typeof value !== 'boolean') throw new Error(`is ${takes()}: ${String(value)} is not a bool`);
        return Buffer.of(value ? 1 : 0);
      }
      if (typeof value !== 'number' && typeof value !== 'bigint') throw new Error(`is ${takes()}: ${String(value)} is not a whole number`);
      if (typeof value === 'number' && !Number.isInteger(value)) throw new Error(`is ${takes()}: ${value} is not a whole number`);
      const n = BigInt(value);
      const [min, max] = integerRange(type.size, type.signed);
      if (n < min || n > max) throw new Error(`is ${takes()}: ${n} does not fit`);
      const out = Buffer.alloc(type.size);
      const u = BigInt.asUintN(type.size * 8, n);
      for (let i = 0; i < type.size; i++) out[i] = Number((u >> BigInt(8 * i)) & 0xffn);
      return out;
    }
    case 'array': {
      if (isCharArray(type) && Buffer.isBuffer(value)) {
        if (value.length > type.length) throw new Error(`is ${type.cName}, ${type.length} bytes: ${value.length} given`);
        const out = Buffer.alloc(type.length);
        value.copy(out);
        return out;
      }
      if (isCharArray(type)) {
        if (typeof value !== 'string') throw new Error(`is ${takes()}: not a string`);
        const bytes = Buffer.from(value, 'utf8');
        if (bytes.length > type.length - 1) throw new Error(`is ${takes()}: ${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}...` : value)} is ${bytes.length} bytes`);
        const out = Buffer.alloc(type.length);
        bytes.copy(out);
        return out;
      }
      if (!Array.isArray(value)) throw new Error(`is ${takes()}: not a list`);
      const items = value as readonly (number | bigint | string | Buffer)[];
      if (items.length > type.length) throw new Error(`holds at most ${type.length} items: ${items.length} given`);
      const element = type.element.size;
      const out = Buffer.alloc(type.size);
      items.forEach((item, i) => knobBytes(type.element, item).copy(out, i * element));
      return out;
    }
  }
  throw new Error(`is ${type.cName}, which can't be set: knobs are integers, bools, enums, char arrays and arrays of them`);
}

/** A knob that can't take a value; the message names the object and the knob. */
export class KnobError extends Error {}

/** One object's knobs, before load, and the constants (enumerators) they take. */
export class Knobs {
  private readonly globals: ReadonlyMap<string, TypeLayout>;

  constructor(
    private readonly object: Pick<NativeBpfObject, 'setGlobal'>,
    private readonly btf: Pick<Btf, 'globals' | 'enumerators'>,
    /** How messages name the object ("dns.bpf.o"). */
    private readonly objectName: string,
  ) {
    this.globals = btf.globals();
  }

  /** The value of an enumerator of one of the object's enums (put in its BTF by ENUM_TYPE). */
  enumerator(enumName: string, name: string): number {
    const value = this.btf.enumerators(enumName)?.get(name);
    if (value === undefined) throw new KnobError(`${this.objectName}'s BTF has no enumerator ${name} of enum ${enumName}: rebuild it with this version's bpf/ headers`);
    return Number(value);
  }

  has(name: string): boolean {
    return this.globals.has(name);
  }

  /** The element count of an array knob, from its BTF type. */
  length(name: string): number {
    const type = this.typeOf(name);
    if (type.kind !== 'array') throw new KnobError(`${this.objectName}: ${name} is ${type.cName}, not an array`);
    return type.length;
  }

  /** Writes the knob; throws KnobError when it has no such global or the value does not fit its type. */
  set(name: string, value: KnobValue): void {
    const type = this.typeOf(name);
    let bytes: Buffer;
    try {
      bytes = knobBytes(type, value);
    } catch (err) {
      throw new KnobError(`${this.objectName}: ${name} ${(err as Error).message}`);
    }
    this.object.setGlobal(name, bytes);
  }

  /** Writes the knob when the object has it (a user's object may lack the session's knobs). */
  setIfPresent(name: string, value: KnobValue): void {
    if (this.has(name)) this.set(name, value);
  }

  private typeOf(name: string): TypeLayout {
    const type = this.globals.get(name);
    if (!type) throw new KnobError(`${this.objectName} has no global ${name}`);
    return type;
  }
}
