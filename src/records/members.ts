// Members of a layout by their path ("hdr.kind", "peer.addr", "len[2]"),
// looked through anonymous structs and unions as C does, and how a member's
// type reads in a message.
import type { TypeLayout } from './btf.js';

export interface ResolvedMember {
  /** Byte offset from the start of the outermost struct. */
  offset: number;
  type: TypeLayout;
  bitSize: number;
}

/**
 * A member by its path in a struct: "fd", "hdr.kind", "peer.addr", "len[2]".
 * Anonymous struct/union members are looked through, as C does.
 */
export function memberAt(layout: TypeLayout, path: string): ResolvedMember | undefined {
  let offset = 0;
  let type = layout;
  let bitSize = 0;
  for (const part of path.split('.')) {
    const m = /^(\w+)((?:\[\d+\])*)$/.exec(part);
    if (!m) return undefined;
    const found = findMember(type, m[1]!);
    if (!found) return undefined;
    offset += found.offset;
    type = found.type;
    bitSize = found.bitSize;
    for (const index of m[2]!.match(/\d+/g) ?? []) {
      if (type.kind !== 'array' || Number(index) >= type.length) return undefined;
      offset += Number(index) * type.element.size;
      type = type.element;
    }
  }
  return { offset, type, bitSize };
}

type FoundMember = { offset: number; type: TypeLayout; bitSize: number };

/**
 * findMember's answers by struct layout and name. Layouts are shared per BTF
 * type id, and a hostile BTF can share one anonymous member among many
 * (a DAG): without this, a name that is not there is looked for along every
 * path, 2^depth of them.
 */
const foundMembers = new WeakMap<TypeLayout, Map<string, FoundMember | null>>();

function findMember(type: TypeLayout, name: string): FoundMember | undefined {
  if (type.kind !== 'struct' && type.kind !== 'union') return undefined;
  let known = foundMembers.get(type);
  if (!known) foundMembers.set(type, (known = new Map()));
  const cached = known.get(name);
  if (cached !== undefined) return cached ?? undefined;
  let found: FoundMember | null = null;
  for (const m of type.members) {
    if (m.name === name) {
      found = { offset: m.offset, type: m.type, bitSize: m.bitSize };
      break;
    }
    if (m.name === '') {
      const inner = findMember(m.type, name);
      if (inner) {
        found = { ...inner, offset: m.offset + inner.offset };
        break;
      }
    }
  }
  known.set(name, found);
  return found ?? undefined;
}

/** How a member's C type reads in a message: "__s32 (signed, 4 bytes)". */
export function describeType(type: TypeLayout): string {
  switch (type.kind) {
    case 'int':
      return `${type.cName} (${type.bool ? 'bool' : type.signed ? 'signed' : 'unsigned'}, ${type.size} bytes)`;
    case 'array':
      return `${type.cName} (an array of ${type.length})`;
    default:
      return `${type.cName} (${type.kind}, ${type.size} bytes)`;
  }
}
