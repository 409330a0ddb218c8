// How a trace declares its record: which struct of its BPF object, and each
// field of the Fluent record in documented key order, copied from a member or
// derived from members. Offsets and sizes are not written here: they come
// from the object's BTF (src/records/btf.ts). One declaration serves the
// encoder (compile.ts), docs/traces.md's field tables and the tests' expected
// types (field-types.ts).

/** A field's type as documented (docs/traces.md). */
export type FieldType = 'int' | 'int64' | 'uint' | 'uint8' | 'uint16' | 'uint32' | 'uint64' | 'string' | 'bool';

/** Where a field's value comes from; members are named by path ("fd", "hdr.kind", "peer.port", "len[2]"). */
export type FieldSource =
  /** The member as it is: an integer (its own signedness), a bool, or a char array as a C string (up to its NUL). */
  | { copy: string }
  /** An unsigned integer member as it is; the key is left out when it is 0 (a value the kernel did not have). */
  | { nonzero: string }
  /** The `length` member's count of bytes at the `string` member (a variable-length tail slot). */
  | { string: string; length: string }
  /** The n-th of the strings stored back to back after the struct (lengths in the shape's tailLengths). */
  | { tail: number }
  /** The positive errno of a signed return value: v < 0 ? -v : 0. */
  | { errno: string }
  /** An IP address as text, from a struct with `family` (u16) and `addr` (16 bytes). */
  | { address: string }
  /**
   * An integer member as a name: the name given for the enumerator of
   * `enum` (in the trace's header, put in BTF by ENUM_TYPE) whose value it
   * has, or `otherwise` for any other value. The values come from the BTF.
   */
  | { names: Readonly<Record<string, string>>; enum: string; of: string; otherwise: string }
  /**
   * The n-th tail string, a path the kernel may have named relative to a
   * directory fd ("/dev/fd/<dirfd>/..."), given back as passed when every
   * flag of `allOf` (enumerators of `enum`, bits, their values from the
   * BTF) is set in the `flags` member.
   */
  | { pathAsPassed: number; dirfd: string; flags: string; enum: string; allOf: readonly string[] }
  /**
   * The container id of the cgroup whose v2 id is the u64 `cgroupId` member,
   * found from the path of that cgroup (the u32 `pid` member's process helps
   * find it); the key is left out when the cgroup names no container.
   */
  | { containerOf: string; pid: string };

export interface FieldDeclaration {
  key: string;
  type: FieldType;
  from: FieldSource;
  /** What the field means, for docs/traces.md. */
  doc: string;
}

/** One kind of record: its struct and its fields after the common head. */
export interface RecordShape {
  struct: string;
  /** The record's event_type. */
  eventType: string;
  fields: readonly FieldDeclaration[];
  /** The array member holding the byte lengths of the strings stored after the struct, if any. */
  tailLengths?: string;
}

/**
 * A trace's records: one shape, or one per value of a header member (the
 * record's kind), each case named by an enumerator of `kinds` (an enum of
 * the trace's header, put in BTF by ENUM_TYPE; the values come from the
 * BTF); a kind with no case takes `otherwise`, or is skipped (counted, not
 * sent) when there is none.
 */
export type RecordDeclaration = RecordShape | KindedDeclaration;

export interface KindedDeclaration {
  by: string;
  kinds: string;
  cases: Readonly<Record<string, RecordShape>>;
  otherwise?: RecordShape;
}

export function shapesOf(declaration: RecordDeclaration): RecordShape[] {
  if (!('by' in declaration)) return [declaration];
  return [...Object.values(declaration.cases), ...(declaration.otherwise ? [declaration.otherwise] : [])];
}
