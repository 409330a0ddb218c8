// Compiles a record declaration, checked against the layout its BPF
// object's BTF gives, into a record program (program.ts): the encoder then
// writes each ring record as a Forward entry with no JS per record. (A
// struct as it is, for one's own objects: compile-struct.ts.)
import { mapHeader } from '../msgpack/headers.js';
import { type Btf, type StructLayout, type TypeLayout } from './btf.js';
import { describeType, memberAt, type ResolvedMember } from './members.js';
import type { FieldDeclaration, FieldType, RecordDeclaration, RecordShape } from './declaration.js';
import { CONTAINER_FIELDS, HEAD_FIELDS, RUNTIME_METADATA_FIELDS, SEQUENCE_MEMBER, TIME_MEMBER } from './head.js';
import { NO_TARGET, Op, type RecordProgram } from './program.js';
import { isCharArray, ProgramBuilder, RecordLayoutError } from './program-builder.js';
import { packValue } from '../msgpack/values.js';

/** The enumerators of `enum name` in the object's BTF; `what` names the use in the message. */
function enumeratorsOf(btf: Btf, name: string, what: string, object: string): ReadonlyMap<string, bigint> {
  const enumerators = btf.enumerators(name);
  if (!enumerators) throw new RecordLayoutError(`${what}: ${object}'s BTF has no enum ${name}; put it there with ENUM_TYPE(${name}) in the .bpf.c`);
  return enumerators;
}

function valueOf(enumerators: ReadonlyMap<string, bigint>, enumerator: string, enumName: string, options: TraceCompileOptions): bigint {
  const value = enumerators.get(enumerator);
  if (value === undefined) throw new RecordLayoutError(`${options.trace}: enum ${enumName} in ${options.object}'s BTF has no enumerator ${enumerator} (it has: ${[...enumerators.keys()].join(', ')})`);
  return value;
}

/** A member's integer view: an int, or an enum (its own size and signedness). */
function integerOf(type: TypeLayout): { size: number; signed: boolean; bool: boolean } | undefined {
  if (type.kind === 'int' && [1, 2, 4, 8].includes(type.size)) return type;
  if (type.kind === 'enum' && [1, 2, 4, 8].includes(type.size)) return { size: type.size, signed: type.signed, bool: false };
  return undefined;
}

/** Whether every value of an integer member fits the documented type. */
function integerFits(field: FieldType, t: { size: number; signed: boolean }): boolean {
  switch (field) {
    case 'int':
      return t.signed ? t.size <= 4 : t.size < 4;
    case 'int64':
      return t.signed ? t.size <= 8 : t.size < 8;
    case 'uint':
    case 'uint32':
      return !t.signed && t.size <= 4;
    case 'uint8':
      return !t.signed && t.size === 1;
    case 'uint16':
      return !t.signed && t.size <= 2;
    case 'uint64':
      return !t.signed && t.size <= 8;
    default:
      return false;
  }
}

interface TraceCompileOptions {
  /** For messages: the trace ("trace_vfs") and its object file. */
  trace: string;
  object: string;
  /** Adds each record's sequence number under this key (the input's sequence_key). */
  sequenceKey?: string;
  /** The common head's fields after event_type (HEAD_FIELDS; records made before a head field existed have fewer). */
  headFields?: readonly FieldDeclaration[];
  /** Whether each record ends with CONTAINER_FIELDS (the input's container_metadata; default true). */
  containerMetadata?: boolean;
  /**
   * Whether each record with container fields ends with what its
   * container's runtime said of it (CONTAINER_METADATA; the input's
   * container_runtime_metadata; default true). Nothing without container fields.
   */
  runtimeMetadata?: boolean;
  /** With runtime metadata, whether a pod's annotations are in its kubernetes map (kubernetes_annotations; default false). */
  kubernetesAnnotations?: boolean;
}

/** Compiles a trace's declaration against its object's BTF. Throws RecordLayoutError naming both on a mismatch. */
export function compileTrace(declaration: RecordDeclaration, btf: Btf, options: TraceCompileOptions): RecordProgram {
  const b = new ProgramBuilder();
  if (!('by' in declaration)) {
    new ShapeCompiler(b, btf, declaration, options).compile();
    return b.build();
  }
  // The kind is read from the header, the same in every shape: take it from the first.
  const kinds = enumeratorsOf(btf, declaration.kinds, `${options.trace}'s record kinds`, options.object);
  const shapes = Object.entries(declaration.cases).map(([enumerator, shape]) => ({ value: valueOf(kinds, enumerator, declaration.kinds, options), shape }));
  if (shapes.length === 0) throw new RecordLayoutError(`${options.trace}: a record declaration with no cases`);
  const first = new ShapeCompiler(b, btf, shapes[0]!.shape, options);
  const by = first.member(declaration.by, `the kind member ${declaration.by}`);
  const kind = integerOf(by.type);
  if (!kind || kind.signed || kind.size > 4) throw first.mismatch(`the kind member ${declaration.by}`, 'an unsigned integer of at most 4 bytes', by.type);
  b.emit(Op.MIN_LEN, by.offset + kind.size);
  const outOfRange = shapes.find(({ value }) => value < 0n || value >= 1n << BigInt(8 * kind.size));
  if (outOfRange) throw new RecordLayoutError(`${options.trace}: a record kind of enum ${declaration.kinds} is ${outOfRange.value}, which ${declaration.by} (${kind.size} bytes, unsigned) can't hold`);
  const switchAt = b.emit(Op.SWITCH, by.offset, kind.size, shapes.length, NO_TARGET, ...shapes.flatMap(({ value }) => [Number(value), 0]));
  const targets = [...shapes.map(({ shape }, i) => ({ shape, word: switchAt + 5 + 2 * i + 1 })), ...(declaration.otherwise ? [{ shape: declaration.otherwise, word: switchAt + 4 }] : [])];
  // A shape shared by several kinds is compiled once.
  const compiled = new Map<RecordShape, number>();
  for (const { shape, word } of targets) {
    const done = compiled.get(shape);
    if (done !== undefined) {
      b.code[word] = done;
      continue;
    }
    b.code[word] = b.code.length;
    compiled.set(shape, b.code.length);
    const compiler = new ShapeCompiler(b, btf, shape, options);
    const other = compiler.member(declaration.by, `the kind member ${declaration.by}`);
    if (other.offset !== by.offset || other.type.size !== by.type.size) {
      throw new RecordLayoutError(`${options.trace}: ${declaration.by} is at offset ${other.offset} in ${shape.struct} but at ${by.offset} in ${shapes[0]!.shape.struct} (${options.object})`);
    }
    compiler.compile();
  }
  return b.build();
}

class ShapeCompiler {
  private readonly struct: StructLayout;
  /** Largest end of a fixed-offset read: must lie within MIN_LEN. */
  private fixedEnd = 0;
  /** Where the variable-length part starts (a string slot read by its length), if any. */
  private variableFrom: number | undefined;
  private nextTail = 0;

  constructor(
    private readonly b: ProgramBuilder,
    private readonly btf: Btf,
    private readonly shape: RecordShape,
    private readonly options: TraceCompileOptions,
  ) {
    const struct = btf.struct(shape.struct);
    if (!struct) {
      throw new RecordLayoutError(`${options.trace}: its record struct ${shape.struct} is not in ${options.object}'s BTF (has: ${btf.structNames().filter((n) => n.endsWith('_event')).join(', ') || 'no *_event structs'}); declare it with RECORD_TYPE(${shape.struct}) in the .bpf.c`);
    }
    this.struct = struct;
  }

  member(path: string, what: string): ResolvedMember {
    const m = memberAt(this.struct, path);
    if (!m) throw new RecordLayoutError(`${this.options.trace}: ${what} reads ${this.shape.struct}.${path}, which ${this.options.object}'s BTF does not have`);
    if (m.bitSize) throw new RecordLayoutError(`${this.options.trace}: ${what} reads ${this.shape.struct}.${path}, a bit-field (not supported)`);
    return m;
  }

  mismatch(what: string, wanted: string, type: TypeLayout, path?: string): RecordLayoutError {
    return new RecordLayoutError(`${this.options.trace}: ${what} needs ${wanted}, but ${this.options.object}'s BTF has ${this.shape.struct}${path ? `.${path}` : ''} as ${describeType(type)}`);
  }

  /** A fixed-offset read of `size` bytes at `offset`. */
  private fixed(offset: number, size: number): void {
    this.fixedEnd = Math.max(this.fixedEnd, offset + size);
  }

  compile(): void {
    const { b, shape, options } = this;
    const fields = [...(options.headFields ?? HEAD_FIELDS), ...shape.fields, ...(options.containerMetadata === false ? [] : CONTAINER_FIELDS)];
    const keys = ['event_type', ...fields.map((f) => f.key), ...(options.sequenceKey !== undefined ? [options.sequenceKey] : [])];
    const withMetadata = options.runtimeMetadata !== false && fields.some((f) => 'containerOf' in f.from);
    // The runtime's keys are not counted in the map header (CONTAINER_METADATA adds them), but may not be taken.
    const taken = withMetadata ? [...keys, ...RUNTIME_METADATA_FIELDS.map((f) => f.key)] : keys;
    const twice = taken.find((k, i) => taken.indexOf(k) !== i);
    if (twice !== undefined) throw new RecordLayoutError(`${options.trace}: the key ${twice} would be in its records twice`);

    const minLenAt = b.emit(Op.MIN_LEN, 0);
    const time = this.member(TIME_MEMBER, 'the record time');
    if (time.type.kind !== 'int' || time.type.size !== 8 || time.type.signed) throw this.mismatch('the record time', 'a u64', time.type, TIME_MEMBER);
    this.fixed(time.offset, 8);
    b.emit(Op.HEAD_KTIME, time.offset);
    // A field that may be left out needs a map header it can lower.
    if (fields.some((f) => 'containerOf' in f.from || 'nonzero' in f.from)) b.emit(Op.MAP, keys.length);
    else b.literal(mapHeader(keys.length));
    b.key('event_type');
    b.literal(packValue(shape.eventType));
    for (const field of fields) {
      // CONTAINER_ID and UINT_NONZERO write their own key, or nothing.
      if (!('containerOf' in field.from) && !('nonzero' in field.from)) b.key(field.key);
      this.field(field);
    }
    const container = fields.find((f) => 'containerOf' in f.from);
    if (withMetadata && container && 'containerOf' in container.from) {
      // Members checked by the container_id field above.
      const cgroup = this.member(container.from.containerOf, 'container runtime metadata');
      const pid = this.member(container.from.pid, 'container runtime metadata');
      b.emit(Op.CONTAINER_METADATA, cgroup.offset, pid.offset, options.kubernetesAnnotations ? 1 : 0);
    }
    if (options.sequenceKey !== undefined) {
      b.key(options.sequenceKey);
      const seq = this.member(SEQUENCE_MEMBER, `sequence_key ${options.sequenceKey}`);
      this.fixed(seq.offset, 8);
      b.emit(Op.UINT, seq.offset, 8);
    }
    b.emit(Op.END);

    const minLen = this.variableFrom ?? this.struct.size;
    if (this.fixedEnd > minLen) {
      throw new RecordLayoutError(`${options.trace}: ${shape.struct} reads members up to byte ${this.fixedEnd}, past the start of its variable part at ${minLen}`);
    }
    b.code[minLenAt + 1] = minLen;
  }

  private field(field: FieldDeclaration): void {
    const { b, shape } = this;
    const from = field.from;
    const what = `field ${field.key} (declared ${field.type})`;
    if ('copy' in from) {
      const m = this.member(from.copy, what);
      if (field.type === 'string') {
        if (!isCharArray(m.type)) throw this.mismatch(what, 'a char array', m.type, from.copy);
        this.fixed(m.offset, m.type.size);
        b.emit(Op.CSTR, m.offset, m.type.size);
        return;
      }
      const int = integerOf(m.type);
      if (field.type === 'bool') {
        if (!int || int.size !== 1) throw this.mismatch(what, 'a bool (1 byte)', m.type, from.copy);
        this.fixed(m.offset, 1);
        b.emit(Op.BOOL, m.offset);
        return;
      }
      if (!int || !integerFits(field.type, int)) throw this.mismatch(what, `an integer that fits ${field.type}`, m.type, from.copy);
      this.fixed(m.offset, int.size);
      b.emit(int.signed ? Op.SINT : Op.UINT, m.offset, int.size);
      return;
    }
    if ('nonzero' in from) {
      const m = this.member(from.nonzero, what);
      const int = integerOf(m.type);
      if (!int || int.signed || !integerFits(field.type, int)) throw this.mismatch(what, `an unsigned integer that fits ${field.type}`, m.type, from.nonzero);
      this.fixed(m.offset, int.size);
      b.emit(Op.UINT_NONZERO, m.offset, int.size, ...b.constant(packValue(field.key)));
      return;
    }
    if ('containerOf' in from) {
      const cgroup = this.member(from.containerOf, what);
      const pid = this.member(from.pid, what);
      if (field.type !== 'string') throw new RecordLayoutError(`${this.options.trace}: ${what}: a container id must be declared string`);
      if (cgroup.type.kind !== 'int' || cgroup.type.size !== 8 || cgroup.type.signed) throw this.mismatch(what, 'a u64 cgroup id', cgroup.type, from.containerOf);
      if (pid.type.kind !== 'int' || pid.type.size !== 4 || pid.type.signed) throw this.mismatch(what, 'a u32 pid', pid.type, from.pid);
      this.fixed(cgroup.offset, 8);
      this.fixed(pid.offset, 4);
      b.emit(Op.CONTAINER_ID, cgroup.offset, pid.offset, ...b.constant(packValue(field.key)));
      return;
    }
    if (field.type !== 'string' && !('errno' in from)) throw new RecordLayoutError(`${this.options.trace}: ${what}: a derived text field must be declared string`);
    if ('string' in from) {
      const m = this.member(from.string, what);
      if (!isCharArray(m.type)) throw this.mismatch(what, 'a char array', m.type, from.string);
      const len = this.lengthMember(from.length, what);
      if (this.variableFrom !== undefined && this.variableFrom !== m.offset) throw new RecordLayoutError(`${this.options.trace}: ${shape.struct} has two variable-length parts`);
      if (m.offset + m.type.size !== this.struct.size) throw new RecordLayoutError(`${this.options.trace}: ${what}: ${shape.struct}.${from.string} is not the struct's last member, so it can't be sent by its length`);
      this.variableFrom = m.offset;
      b.emit(Op.LSTR, m.offset, len.offset, len.size);
      return;
    }
    if ('errno' in from) {
      const m = this.member(from.errno, what);
      const int = integerOf(m.type);
      if (!int || !int.signed || field.type !== 'int') throw this.mismatch(what, 'a signed integer (a return value), declared int', m.type, from.errno);
      this.fixed(m.offset, int.size);
      b.emit(Op.ERRNO, m.offset, int.size);
      return;
    }
    if ('address' in from) {
      const family = this.member(`${from.address}.family`, what);
      const addr = this.member(`${from.address}.addr`, what);
      if (family.type.kind !== 'int' || family.type.size !== 2) throw this.mismatch(what, 'a u16 family', family.type, `${from.address}.family`);
      if (addr.type.kind !== 'array' || addr.type.size !== 16) throw this.mismatch(what, '16 address bytes', addr.type, `${from.address}.addr`);
      this.fixed(family.offset, 2);
      this.fixed(addr.offset, 16);
      b.emit(Op.INET, family.offset, addr.offset);
      return;
    }
    if ('names' in from) {
      const m = this.member(from.of, what);
      const int = integerOf(m.type);
      if (!int) throw this.mismatch(what, 'an integer', m.type, from.of);
      this.fixed(m.offset, int.size);
      const enumerators = enumeratorsOf(this.btf, from.enum, what, this.options.object);
      const cases = Object.entries(from.names).map(([enumerator, name]) => {
        const value = valueOf(enumerators, enumerator, from.enum, this.options);
        return [Number(BigInt.asUintN(32, value)), Number(BigInt.asUintN(32, value >> 32n)), ...b.constant(packValue(name))];
      });
      const [defOff, defLen] = b.constant(packValue(from.otherwise));
      b.emit(Op.ENUM, m.offset, int.size, int.signed ? 1 : 0, cases.length, defOff, defLen, ...cases.flat());
      return;
    }
    // The strings after the struct, in order.
    const index = 'tail' in from ? from.tail : from.pathAsPassed;
    if (index !== this.nextTail) throw new RecordLayoutError(`${this.options.trace}: ${what} is tail string ${index}, but tail strings must be declared in their order (next: ${this.nextTail})`);
    if (!shape.tailLengths) throw new RecordLayoutError(`${this.options.trace}: ${what} is a tail string, but ${shape.struct}'s declaration names no tailLengths`);
    const len = this.lengthMember(`${shape.tailLengths}[${index}]`, what);
    if (index === 0) b.emit(Op.TAIL, this.struct.size);
    this.nextTail++;
    if ('tail' in from) {
      b.emit(Op.TSTR, len.offset, len.size);
      return;
    }
    const dirfd = this.member(from.dirfd, what);
    const flags = this.member(from.flags, what);
    const dirfdInt = integerOf(dirfd.type);
    const flagsInt = integerOf(flags.type);
    if (!dirfdInt || dirfdInt.size !== 4 || !dirfdInt.signed) throw this.mismatch(what, 'an s32 dirfd', dirfd.type, from.dirfd);
    if (!flagsInt || flagsInt.signed || flagsInt.size > 4) throw this.mismatch(what, 'unsigned flags', flags.type, from.flags);
    this.fixed(dirfd.offset, 4);
    this.fixed(flags.offset, flagsInt.size);
    const enumerators = enumeratorsOf(this.btf, from.enum, what, this.options.object);
    const mask = from.allOf.reduce((bits, enumerator) => bits | valueOf(enumerators, enumerator, from.enum, this.options), 0n);
    if (mask <= 0n || mask > 0xffffffffn) throw new RecordLayoutError(`${this.options.trace}: ${what}: flags ${from.allOf.join(' | ')} of enum ${from.enum} are not bits of a u32`);
    b.emit(Op.TSTR_FDPATH, len.offset, len.size, dirfd.offset, flags.offset, flagsInt.size, Number(mask));
  }

  private lengthMember(path: string, what: string): { offset: number; size: number } {
    const m = this.member(path, what);
    const int = integerOf(m.type);
    if (!int || int.signed) throw this.mismatch(what, 'an unsigned length', m.type, path);
    this.fixed(m.offset, int.size);
    return { offset: m.offset, size: int.size };
  }
}
