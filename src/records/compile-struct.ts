// Compiles any struct of any BPF object as it is (one's own BPF objects):
// every member under its name, nested structs as maps, enums by name.
import { arrayHeader, mapHeader } from '../msgpack/headers.js';
import { type Btf, type StructLayout, type TypeLayout } from './btf.js';
import { describeType, memberAt } from './members.js';
import { NO_DEFAULT, Op, type RecordProgram } from './program.js';
import { isCharArray, ProgramBuilder, RecordLayoutError } from './program-builder.js';
import { packValue } from '../msgpack/values.js';

export interface StructCompileOptions {
  /** For messages: the object file. */
  object: string;
  /** A u64 member holding bpf_ktime_get_ns(): the entry's time (else the read time). */
  timeField?: string;
  sequenceKey?: never;
}

/**
 * Any struct of any BPF object, as it is: each member under its name in
 * order; integers with their signedness, bool as bool, char arrays as strings
 * up to their NUL, other arrays as arrays, nested structs as maps (anonymous
 * ones merged into their parent), enums by their enumerator's name (a value
 * with none as the integer), floats, pointers as u64.
 */
export function compileStruct(btf: Btf, structName: string, options: StructCompileOptions): RecordProgram {
  const struct = btf.struct(structName);
  if (!struct) {
    const names = btf.structNames();
    throw new RecordLayoutError(`${options.object}'s BTF has no struct ${structName}${names.length ? ` (it has: ${names.slice(0, 20).join(', ')}${names.length > 20 ? ', ...' : ''})` : ''}`);
  }
  const b = new ProgramBuilder();
  b.emit(Op.MIN_LEN, struct.size);
  if (options.timeField !== undefined) {
    const m = memberAt(struct, options.timeField);
    if (!m || m.type.kind !== 'int' || m.type.size !== 8 || m.type.signed || m.bitSize) {
      throw new RecordLayoutError(`BPF_Time_Field ${options.timeField}: struct ${structName} in ${options.object} has ${m ? `it as ${describeType(m.type)}` : 'no such member'}; it must be a u64 holding bpf_ktime_get_ns()`);
    }
    b.emit(Op.HEAD_KTIME, m.offset);
  } else {
    b.emit(Op.HEAD_NOW);
  }
  encodeValue(b, struct, 0, structName, options.object, new MemberMerger(options.object, structName));
  b.emit(Op.END);
  return b.build();
}

interface NamedMember {
  name: string;
  offset: number;
  type: TypeLayout;
}

/** Anonymous structs nested deeper than this are refused (C code nests a few). */
const MAX_ANONYMOUS_DEPTH = 16;
/** Members one struct's merging may look at, in all. */
const MAX_MERGE_STEPS = 1 << 18;

/**
 * The named members of a struct, anonymous members' own merged in (as C
 * reads them), for one compileStruct. The BTF is the user's file, perhaps a
 * hostile one: anonymous members may nest deep, or one be shared by many
 * (2^depth paths to walk), so each struct is merged once, and the nesting
 * and the work are bounded; past them it is refused.
 */
class MemberMerger {
  /** Each struct's named members (offsets from its start) and how deep its anonymous members nest. */
  private readonly merged = new Map<StructLayout, { members: NamedMember[]; nesting: number }>();
  private steps = 0;

  constructor(
    private readonly object: string,
    private readonly struct: string,
  ) {}

  /** The named members of `type` at `base`; `path` names it in messages. */
  namedMembers(type: StructLayout, base: number, path: string): NamedMember[] {
    return this.merge(type, path, 0).members.map((m) => ({ ...m, offset: base + m.offset }));
  }

  private merge(type: StructLayout, path: string, depth: number): { members: NamedMember[]; nesting: number } {
    const known = this.merged.get(type);
    if (depth + (known?.nesting ?? 0) > MAX_ANONYMOUS_DEPTH) {
      throw new RecordLayoutError(`struct ${this.struct} in ${this.object} nests anonymous structs more than ${MAX_ANONYMOUS_DEPTH} deep (in ${path}): ebpf-forward refuses it rather than walk them`);
    }
    if (known) return known;
    const members: NamedMember[] = [];
    const names = new Set<string>();
    let nesting = 0;
    const add = (m: NamedMember) => {
      if (names.has(m.name)) throw new RecordLayoutError(`${path} in ${this.object} has two members named ${m.name} (through its anonymous members), which C does not allow`);
      names.add(m.name);
      members.push(m);
    };
    for (const m of type.members) {
      this.spend(1, path);
      if (m.bitSize) throw new RecordLayoutError(`${path}.${m.name || '(anonymous)'} in ${this.object} is a bit-field, which ebpf-forward can't send`);
      if (m.name === '' && (m.type.kind === 'struct' || m.type.kind === 'union')) {
        if (m.type.kind === 'union') throw new RecordLayoutError(`${path} in ${this.object} has an anonymous union: ebpf-forward can't tell which member holds the value`);
        const inner = this.merge(m.type, path, depth + 1);
        nesting = Math.max(nesting, inner.nesting + 1);
        this.spend(inner.members.length, path);
        for (const x of inner.members) add({ ...x, offset: m.offset + x.offset });
      } else {
        add({ name: m.name, offset: m.offset, type: m.type });
      }
    }
    const done = { members, nesting };
    this.merged.set(type, done);
    return done;
  }

  private spend(steps: number, path: string): void {
    this.steps += steps;
    if (this.steps > MAX_MERGE_STEPS) {
      throw new RecordLayoutError(`struct ${this.struct} in ${this.object} has more members through its anonymous structs than ebpf-forward looks at (${MAX_MERGE_STEPS}, past ${path}): it refuses it rather than walk them`);
    }
  }
}

function encodeValue(b: ProgramBuilder, type: TypeLayout, offset: number, path: string, object: string, merger: MemberMerger): void {
  switch (type.kind) {
    case 'int':
      if (type.bool && type.size === 1) b.emit(Op.BOOL, offset);
      else if ([1, 2, 4, 8].includes(type.size)) b.emit(type.signed ? Op.SINT : Op.UINT, offset, type.size);
      else throw new RecordLayoutError(`${path} in ${object} is a ${type.size}-byte integer (${type.cName}); ebpf-forward sends integers of 1, 2, 4 or 8 bytes`);
      return;
    case 'enum': {
      if (![1, 2, 4, 8].includes(type.size)) throw new RecordLayoutError(`${path} in ${object} is a ${type.size}-byte enum`);
      const cases = type.values.flatMap((v) => {
        const u = BigInt.asUintN(64, v.value);
        return [Number(u & 0xffffffffn), Number(u >> 32n), ...b.constant(packValue(v.name))];
      });
      b.emit(Op.ENUM, offset, type.size, type.signed ? 1 : 0, type.values.length, 0, NO_DEFAULT, ...cases);
      return;
    }
    case 'float':
      if (type.size !== 4 && type.size !== 8) throw new RecordLayoutError(`${path} in ${object} is a ${type.size}-byte float`);
      b.emit(Op.FLOAT, offset, type.size);
      return;
    case 'pointer':
      b.emit(Op.UINT, offset, 8);
      return;
    case 'array':
      if (isCharArray(type)) {
        b.emit(Op.CSTR, offset, type.length);
        return;
      }
      b.literal(arrayHeader(type.length));
      for (let i = 0; i < type.length; i++) encodeValue(b, type.element, offset + i * type.element.size, `${path}[${i}]`, object, merger);
      return;
    case 'struct': {
      const members = merger.namedMembers(type, offset, path);
      b.literal(mapHeader(members.length));
      for (const m of members) {
        b.key(m.name);
        encodeValue(b, m.type, m.offset, `${path}.${m.name}`, object, merger);
      }
      return;
    }
    case 'union':
      throw new RecordLayoutError(`${path} in ${object} is a union: ebpf-forward can't tell which member holds the value`);
    default:
      throw new RecordLayoutError(`${path} in ${object} is ${type.cName}, which has no value to send`);
  }
}

