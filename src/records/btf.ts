// A BPF object's BTF, parsed from the raw blob (the kernel's and libbpf's
// format: header, type section, string section), and the layouts of its
// types: what record layouts are read from, so that no offset is written
// twice. Only what layouts need is kept: integers, floats, enums, arrays,
// structs and unions, pointers; typedefs and qualifiers are seen through
// (their names are kept for messages).
import { addon } from '../native/addon.js';
import { BTF_MAGIC, BtfError, checkReferences, INT_BOOL, INT_SIGNED, Kind, type RawType } from './btf-format.js';

export type TypeLayout =
  | { kind: 'int'; cName: string; size: number; signed: boolean; bool: boolean }
  | { kind: 'float'; cName: string; size: number }
  | { kind: 'enum'; cName: string; size: number; signed: boolean; values: { name: string; value: bigint }[] }
  | { kind: 'array'; cName: string; size: number; element: TypeLayout; length: number }
  | { kind: 'struct' | 'union'; cName: string; size: number; members: MemberLayout[] }
  | { kind: 'pointer'; cName: string; size: number }
  | { kind: 'other'; cName: string; size: number };

export type StructLayout = Extract<TypeLayout, { kind: 'struct' | 'union' }>;

export interface MemberLayout {
  /** "" for an anonymous struct or union member. */
  name: string;
  /** Byte offset in the enclosing struct. */
  offset: number;
  /** Bit-field width, 0 for a whole member. */
  bitSize: number;
  /** Bit offset within the byte at `offset` of a bit-field. */
  bitOffset: number;
  type: TypeLayout;
}

/** A global variable of a data section (.rodata, .data, .bss, .maps, license...). */
export interface SectionVariable {
  name: string;
  /** The DATASEC's name: ".rodata", ".bss", ".maps"... */
  section: string;
  type: TypeLayout;
}

/** BPF_MAP_TYPE_RINGBUF (include/uapi/linux/bpf.h). */
export const BPF_MAP_TYPE_RINGBUF = 27;

/** A map of the .maps section, as its BTF-defined definition says. */
export interface MapDefinition {
  name: string;
  /** Its BPF_MAP_TYPE_* number (`__uint(type, N)`), or undefined where the BTF does not say. */
  type: number | undefined;
}

export class Btf {
  private readonly types: (RawType | undefined)[];
  private readonly layouts = new Map<number, TypeLayout>();

  private constructor(types: (RawType | undefined)[]) {
    this.types = types;
  }

  /**
   * The BTF of an ELF BPF object file (throws a BtfError naming the file when
   * it has none); `shownAs` names it where `path` is another name of it
   * (/proc/self/fd/N).
   */
  static ofObject(path: string, shownAs = path): Btf {
    let raw: Buffer;
    try {
      raw = addon().readBtf(path);
    } catch (err) {
      throw new BtfError(`${shownAs}: ${(err as Error).message.split(path).join(shownAs)}`);
    }
    return Btf.parse(raw, shownAs);
  }

  static parse(raw: Buffer, source = 'BTF'): Btf {
    if (raw.length < 24 || raw.readUInt16LE(0) !== BTF_MAGIC) throw new BtfError(`${source}: not BTF (bad magic)`);
    const hdrLen = raw.readUInt32LE(4);
    const typeOff = hdrLen + raw.readUInt32LE(8);
    const typeLen = raw.readUInt32LE(12);
    const strOff = hdrLen + raw.readUInt32LE(16);
    const strLen = raw.readUInt32LE(20);
    if (typeOff + typeLen > raw.length || strOff + strLen > raw.length) throw new BtfError(`${source}: BTF sections run past its end`);
    const str = (off: number): string => {
      if (off >= strLen) throw new BtfError(`${source}: string offset ${off} out of range`);
      const start = strOff + off;
      const end = raw.indexOf(0, start);
      return raw.toString('utf8', start, end < 0 || end > strOff + strLen ? strOff + strLen : end);
    };
    const types: (RawType | undefined)[] = [undefined]; // id 0 is void
    let at = typeOff;
    const end = typeOff + typeLen;
    while (at < end) {
      if (at + 12 > end) throw new BtfError(`${source}: truncated type at byte ${at - typeOff}`);
      const info = raw.readUInt32LE(at + 4);
      const t: RawType = {
        name: str(raw.readUInt32LE(at)),
        vlen: info & 0xffff,
        kind: (info >>> 24) & 0x1f,
        kindFlag: (info & 0x80000000) !== 0,
        sizeOrType: raw.readUInt32LE(at + 8),
      };
      at += 12;
      const need = (n: number) => {
        if (at + n > end) throw new BtfError(`${source}: truncated type ${types.length}`);
      };
      switch (t.kind) {
        case Kind.INT:
          need(4);
          t.intInfo = raw.readUInt32LE(at);
          at += 4;
          break;
        case Kind.ARRAY:
          need(12);
          t.array = { type: raw.readUInt32LE(at), nelems: raw.readUInt32LE(at + 8) };
          t.refs = [raw.readUInt32LE(at + 4)]; // the index type
          at += 12;
          break;
        case Kind.STRUCT:
        case Kind.UNION:
          need(12 * t.vlen);
          t.members = [];
          for (let i = 0; i < t.vlen; i++, at += 12) {
            t.members.push({ name: str(raw.readUInt32LE(at)), type: raw.readUInt32LE(at + 4), offset: raw.readUInt32LE(at + 8) });
          }
          break;
        case Kind.ENUM:
          need(8 * t.vlen);
          t.enumValues = [];
          for (let i = 0; i < t.vlen; i++, at += 8) {
            const v = t.kindFlag ? raw.readInt32LE(at + 4) : raw.readUInt32LE(at + 4);
            t.enumValues.push({ name: str(raw.readUInt32LE(at)), value: BigInt(v) });
          }
          break;
        case Kind.ENUM64:
          need(12 * t.vlen);
          t.enumValues = [];
          for (let i = 0; i < t.vlen; i++, at += 12) {
            const lo = BigInt(raw.readUInt32LE(at + 4));
            const hi = BigInt(raw.readUInt32LE(at + 8));
            const u = (hi << 32n) | lo;
            t.enumValues.push({ name: str(raw.readUInt32LE(at)), value: t.kindFlag ? BigInt.asIntN(64, u) : u });
          }
          break;
        case Kind.FUNC_PROTO:
          need(8 * t.vlen);
          t.refs = [];
          for (let i = 0; i < t.vlen; i++, at += 8) t.refs.push(raw.readUInt32LE(at + 4));
          break;
        case Kind.VAR:
        case Kind.DECL_TAG:
          need(4);
          at += 4;
          break;
        case Kind.DATASEC:
          need(12 * t.vlen);
          t.sectionVars = [];
          for (let i = 0; i < t.vlen; i++, at += 12) t.sectionVars.push(raw.readUInt32LE(at));
          break;
        case Kind.PTR:
        case Kind.FWD:
        case Kind.TYPEDEF:
        case Kind.VOLATILE:
        case Kind.CONST:
        case Kind.RESTRICT:
        case Kind.FUNC:
        case Kind.FLOAT:
        case Kind.TYPE_TAG:
          break;
        default:
          throw new BtfError(`${source}: unknown BTF kind ${t.kind} (type ${types.length})`);
      }
      types.push(t);
    }
    checkReferences(types, source);
    return new Btf(types);
  }

  /** Global variables (BTF VARs: .rodata knobs, .data, .bss) by name, with their layout. */
  globals(): Map<string, TypeLayout> {
    const out = new Map<string, TypeLayout>();
    this.types.forEach((t, id) => {
      if (t?.kind === Kind.VAR) out.set(t.name, this.layout(id));
    });
    return out;
  }

  /** Every variable of every data section, in BTF order, with the section it is in. */
  sectionVariables(): SectionVariable[] {
    return this.sectionVarIds().map(({ id, section }) => ({ name: this.types[id]!.name, section, type: this.layout(id) }));
  }

  /**
   * The maps of the .maps section and their types. A BTF-defined map is a
   * struct whose `type` member is `int (*)[N]` (`__uint(type, N)`): N is the
   * BPF_MAP_TYPE_*.
   */
  maps(): MapDefinition[] {
    const qualifiers: number[] = [Kind.TYPEDEF, Kind.VOLATILE, Kind.CONST, Kind.RESTRICT, Kind.TYPE_TAG, Kind.VAR];
    const through = (id: number): RawType | undefined => {
      let t = this.types[id];
      for (let depth = 0; t && depth < 32 && qualifiers.includes(t.kind); depth++) t = this.types[t.sizeOrType];
      return t;
    };
    return this.sectionVarIds()
      .filter((v) => v.section === '.maps')
      .map(({ id }) => {
        const def = through(id);
        const member = def?.kind === Kind.STRUCT ? def.members!.find((m) => m.name === 'type') : undefined;
        const pointer = member && through(member.type);
        const array = pointer?.kind === Kind.PTR ? through(pointer.sizeOrType) : undefined;
        return { name: this.types[id]!.name, type: array?.kind === Kind.ARRAY ? array.array!.nelems : undefined };
      });
  }

  /**
   * Named structs that globals are, point to or hold (maps' keys and values
   * too): where an object puts its record struct in BTF, so the likely
   * BPF_Record_Types, without the kernel's own types CO-RE reads pull in.
   */
  globalStructNames(): string[] {
    const names = new Set<string>();
    const seen = new Set<number>();
    const visit = (id: number, depth: number, inMap: boolean): void => {
      const t = this.types[id];
      if (!t || depth > 8 || seen.has(id)) return;
      seen.add(id);
      switch (t.kind) {
        case Kind.VAR:
        case Kind.TYPEDEF:
        case Kind.VOLATILE:
        case Kind.CONST:
        case Kind.RESTRICT:
        case Kind.TYPE_TAG:
        case Kind.PTR:
          visit(t.sizeOrType, depth + 1, inMap);
          return;
        case Kind.ARRAY:
          visit(t.array!.type, depth + 1, inMap);
          return;
        case Kind.STRUCT:
          if (t.name) names.add(t.name);
          // A map definition's members point to its key and value types.
          else if (inMap) for (const m of t.members!) visit(m.type, depth + 1, false);
      }
    };
    for (const { id, section } of this.sectionVarIds()) visit(id, 0, section === '.maps');
    return [...names];
  }

  private sectionVarIds(): { id: number; section: string }[] {
    const out: { id: number; section: string }[] = [];
    for (const sec of this.types) {
      if (sec?.kind !== Kind.DATASEC) continue;
      for (const id of sec.sectionVars!) if (this.types[id]?.kind === Kind.VAR) out.push({ id, section: sec.name });
    }
    return out;
  }

  /** The names of every named enum in the BTF (its own and the kernel types' it took). */
  enumNames(): string[] {
    return this.types.filter((t): t is RawType => (t?.kind === Kind.ENUM || t?.kind === Kind.ENUM64) && t.name !== '').map((t) => t.name);
  }

  /** The names of every struct in the BTF, for messages. */
  structNames(): string[] {
    return this.types.filter((t): t is RawType => t?.kind === Kind.STRUCT && t.name !== '').map((t) => t.name);
  }

  /**
   * The enumerators of `enum name` and their values, or undefined when the
   * BTF has no such enum (a trace's .bpf.c puts it there with ENUM_TYPE).
   */
  enumerators(name: string): ReadonlyMap<string, bigint> | undefined {
    const t = this.types.find((t) => (t?.kind === Kind.ENUM || t?.kind === Kind.ENUM64) && t.name === name);
    return t ? new Map(t.enumValues!.map(({ name, value }) => [name, value])) : undefined;
  }

  /** The layout of `struct name`, or undefined when the BTF has no such struct. */
  struct(name: string): StructLayout | undefined {
    const id = this.types.findIndex((t) => t?.kind === Kind.STRUCT && t.name === name);
    if (id < 0) return undefined;
    return this.layout(id) as StructLayout;
  }

  private layout(id: number, depth = 0): TypeLayout {
    const cached = this.layouts.get(id);
    if (cached) return cached;
    if (depth > 64) throw new BtfError(`BTF type ${id} nests too deep`);
    const t = this.types[id];
    if (!t) return { kind: 'other', cName: 'void', size: 0 };
    let layout: TypeLayout;
    switch (t.kind) {
      case Kind.INT: {
        const encoding = (t.intInfo! >>> 24) & 0xf;
        layout = { kind: 'int', cName: t.name, size: t.sizeOrType, signed: (encoding & INT_SIGNED) !== 0, bool: (encoding & INT_BOOL) !== 0 };
        break;
      }
      case Kind.FLOAT:
        layout = { kind: 'float', cName: t.name, size: t.sizeOrType };
        break;
      case Kind.ENUM:
      case Kind.ENUM64:
        layout = { kind: 'enum', cName: `enum ${t.name}`.trim(), size: t.sizeOrType, signed: t.kindFlag, values: t.enumValues! };
        break;
      case Kind.PTR:
        layout = { kind: 'pointer', cName: 'pointer', size: 8 };
        break;
      case Kind.ARRAY: {
        const element = this.layout(t.array!.type, depth + 1);
        layout = { kind: 'array', cName: `${element.cName}[${t.array!.nelems}]`, size: element.size * t.array!.nelems, element, length: t.array!.nelems };
        break;
      }
      case Kind.STRUCT:
      case Kind.UNION: {
        const kind = t.kind === Kind.STRUCT ? 'struct' : 'union';
        const members = t.members!.map((m) => {
          const bitSize = t.kindFlag ? m.offset >>> 24 : 0;
          const bits = t.kindFlag ? m.offset & 0xffffff : m.offset;
          return { name: m.name, offset: Math.floor(bits / 8), bitOffset: bits % 8, bitSize, type: this.layout(m.type, depth + 1) };
        });
        layout = { kind, cName: `${kind} ${t.name}`.trim(), size: t.sizeOrType, members };
        break;
      }
      case Kind.VAR:
      case Kind.TYPEDEF:
      case Kind.VOLATILE:
      case Kind.CONST:
      case Kind.RESTRICT:
      case Kind.TYPE_TAG: {
        const inner = this.layout(t.sizeOrType, depth + 1);
        // A typedef's name is what the C source says (__u32), kept for messages.
        layout = t.kind === Kind.TYPEDEF ? ({ ...inner, cName: t.name } as TypeLayout) : inner;
        break;
      }
      default:
        layout = { kind: 'other', cName: t.name || `BTF kind ${t.kind}`, size: 0 };
    }
    this.layouts.set(id, layout);
    return layout;
  }
}
