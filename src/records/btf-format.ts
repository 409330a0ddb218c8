// The BTF format's facts (include/uapi/linux/btf.h): its magic, its kinds,
// a type record as read from the blob, and the check that every type id a
// record names exists.

export const BTF_MAGIC = 0xeb9f;

/** BTF kinds (include/uapi/linux/btf.h). */
export const Kind = {
  INT: 1,
  PTR: 2,
  ARRAY: 3,
  STRUCT: 4,
  UNION: 5,
  ENUM: 6,
  FWD: 7,
  TYPEDEF: 8,
  VOLATILE: 9,
  CONST: 10,
  RESTRICT: 11,
  FUNC: 12,
  FUNC_PROTO: 13,
  VAR: 14,
  DATASEC: 15,
  FLOAT: 16,
  DECL_TAG: 17,
  TYPE_TAG: 18,
  ENUM64: 19,
} as const;

export const INT_SIGNED = 1;
export const INT_BOOL = 4;

export interface RawType {
  kind: number;
  name: string;
  vlen: number;
  kindFlag: boolean;
  /** size for INT, ENUM, STRUCT, UNION, DATASEC, FLOAT; a type id for the rest. */
  sizeOrType: number;
  /** INT: its encoding word. */
  intInfo?: number;
  array?: { type: number; nelems: number };
  members?: { name: string; type: number; offset: number }[];
  enumValues?: { name: string; value: bigint }[];
  /** ARRAY: its index type; FUNC_PROTO: its parameters' types. */
  refs?: number[];
  /** DATASEC: its variables' type ids. */
  sectionVars?: number[];
}

/** A BTF blob that is not what its header says, or is damaged. */
export class BtfError extends Error {}

/** Kinds whose sizeOrType is a type id. */
const REFERRING_KINDS = new Set<number>([Kind.PTR, Kind.TYPEDEF, Kind.VOLATILE, Kind.CONST, Kind.RESTRICT, Kind.FUNC, Kind.FUNC_PROTO, Kind.VAR, Kind.DECL_TAG, Kind.TYPE_TAG]);

/** Kinds libbpf 1.1 looks through, with no bound, for the type under them (skip_mods_and_typedefs). */
const SKIPPED_KINDS = new Set<number>([Kind.TYPEDEF, Kind.VOLATILE, Kind.CONST, Kind.RESTRICT, Kind.TYPE_TAG]);

/**
 * Every type id the BTF names must be one of its types, and no typedef or
 * qualifier may lead back to itself. libbpf 1.1 (Debian 12's) follows an id
 * past the end into memory when it opens the object, and the process dies of
 * SIGSEGV with no word; it follows such a loop for ever, on the main thread,
 * where no signal stops it. Refused here first, in one line (the kernel
 * refuses both too).
 */
export function checkReferences(types: readonly (RawType | undefined)[], source: string): void {
  const last = types.length - 1;
  const named = (id: number) => `type ${id}${types[id]?.name ? ` (${types[id]!.name})` : ''}`;
  // 1: on the chain being followed; 2: leads to a type that is not skipped.
  const state = new Uint8Array(types.length);
  types.forEach((t, id) => {
    if (!t || !SKIPPED_KINDS.has(t.kind) || state[id]) return;
    const chain: number[] = [];
    let at = id;
    while (at <= last && SKIPPED_KINDS.has(types[at]?.kind ?? -1) && state[at] === 0) {
      state[at] = 1;
      chain.push(at);
      at = types[at]!.sizeOrType;
    }
    if (at <= last && state[at] === 1) throw new BtfError(`${source}: its BTF is damaged: ${named(at)} leads back to itself through typedefs and qualifiers; rebuild the object`);
    for (const c of chain) state[c] = 2;
  });
  types.forEach((t, id) => {
    if (!t) return;
    const ids = [
      ...(REFERRING_KINDS.has(t.kind) ? [t.sizeOrType] : []),
      ...(t.array ? [t.array.type] : []),
      ...(t.refs ?? []),
      ...(t.members ?? []).map((m) => m.type),
      ...(t.sectionVars ?? []),
    ];
    const bad = ids.find((ref) => ref > last);
    if (bad !== undefined) throw new BtfError(`${source}: its BTF is damaged: ${named(id)} refers to type ${bad}, past the last one (${last}); rebuild the object`);
  });
}
