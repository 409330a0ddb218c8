// The record program: how one ring-buffer record becomes one Forward entry,
// as flat data that the encoder interprets (native/record_encoder.cc, and the
// TypeScript reference in test/support/js-encoder.ts). It is compiled from a
// trace's record declaration and the layout its BPF object's BTF gives
// (src/records/compile.ts); nothing here knows a trace.
//
// A program is `code` (u32 words) and `pool` (bytes: pre-encoded msgpack
// keys, map headers, constant strings). Each instruction is an opcode word
// followed by its arguments, as listed below. Execution starts at word 0 for
// every record and ends at END. Offsets are bytes from the record's start;
// every read is checked against the record's length: a read past its end
// makes the record malformed (not sent, counted), as does MIN_LEN.
//
// Encoding rules (the smallest forms, as Fluent Bit writes them):
// integers in their smallest msgpack form (non-negative values always in the
// unsigned forms: fixint, 0xcc, 0xcd, 0xce, 0xcf; negative: negative fixint,
// 0xd0, 0xd1, 0xd2, 0xd3); strings as fixstr/str8/str16/str32 of valid UTF-8
// (invalid sequences become U+FFFD as Buffer#toString('utf8') does, WHATWG
// "maximal subpart" replacement); floats as float32/float64.

export const Op = {
  /** (): the record is complete. */
  END: 0,
  /** (n): a record shorter than n bytes is malformed. */
  MIN_LEN: 1,
  /**
   * (off): writes the entry head, 0x92 then EventTime (fixext 8, type 0,
   * sec and nsec big-endian u32) of the u64 LE at off, a CLOCK_MONOTONIC time
   * in ns (bpf_ktime_get_ns), plus the clock offset (realtime - monotonic).
   */
  HEAD_KTIME: 2,
  /** (): the entry head with the time the batch was read (wall clock). */
  HEAD_NOW: 3,
  /** (poolOff, len): copies pool bytes (a key, a map header, a constant value). */
  LIT: 4,
  /** (off, size): unsigned LE integer of 1, 2, 4 or 8 bytes. */
  UINT: 5,
  /** (off, size): signed LE integer of 1, 2, 4 or 8 bytes. */
  SINT: 6,
  /** (off, size): signed LE v, written as the errno it carries: v < 0 ? -v : 0 (unsigned). */
  ERRNO: 7,
  /** (off): one byte, true when non-zero. */
  BOOL: 8,
  /** (off, size): IEEE float of 4 (float32) or 8 (float64) bytes. */
  FLOAT: 9,
  /** (off, max): string of the bytes at off up to the first NUL, at most max bytes. */
  CSTR: 10,
  /** (off, lenOff, lenSize): string of n bytes at off, n the unsigned LE at lenOff, cut at the record's end. */
  LSTR: 11,
  /** (off): sets the tail cursor (strings stored back to back after a struct) to off. */
  TAIL: 12,
  /** (lenOff, lenSize): string of n bytes at the cursor (n as in LSTR, cut at the record's end); the cursor moves past them. */
  TSTR: 13,
  /**
   * (lenOff, lenSize, dirfdOff, flagsOff, flagsSize, mask): as TSTR, for a path
   * the kernel names relative to a directory fd. When (flags & mask) == mask
   * and the s32 at dirfdOff is not AT_FDCWD (-100): "/dev/fd/<dirfd>" is
   * written as "", and "/dev/fd/<dirfd>/rest" as "rest"; otherwise as is.
   */
  TSTR_FDPATH: 14,
  /**
   * (familyOff, addrOff): an IP address as text from a u16 LE family and 16
   * bytes (network order): 2 (AF_INET) "a.b.c.d" from the first 4; 10 (AF_INET6)
   * RFC 5952 text as Node's net.SocketAddress gives it ("::1",
   * "::ffff:10.0.0.1"); any other family "".
   */
  INET: 15,
  /**
   * (off, size, signed, n, defPoolOff, defLen, then n times: valueLo, valueHi, poolOff, len):
   * the integer at off written as the pool bytes of its case (pre-encoded
   * strings); a value with no case is written as defPoolOff/defLen, or as the
   * integer itself (as SINT/UINT) when defLen is NO_DEFAULT. Values are 64-bit,
   * split into u32 halves (two's complement for signed).
   */
  ENUM: 16,
  /**
   * (off, size, n, defaultTarget, then n times: value, target): jumps to the
   * code word `target` by the unsigned LE integer at off (a u32 value); with no
   * case, to defaultTarget, or, when that is NO_TARGET, the record is skipped
   * (a kind the trace does not know: counted, not sent).
   */
  SWITCH: 17,
  /**
   * (n): the record's map header for n pairs, in its smallest form (fixmap,
   * map16, map32), remembered as the record's map (the last MAP run) so that
   * CONTAINER_ID can lower its count. Where no pair is ever left out, LIT of
   * a pre-encoded header does the same.
   */
  MAP: 18,
  /**
   * (cgroupIdOff, pidOff, keyPoolOff, keyLen): the container id of the cgroup
   * whose v2 id is the u64 LE at cgroupIdOff (the u32 LE at pidOff is a
   * process that may be in it: its /proc/<pid>/cgroup is read on a cache
   * miss): writes the key (the pool bytes) and the id as a string; when the
   * cgroup names no container, writes nothing and lowers the record's map
   * count by one (a record with no MAP before it is malformed).
   */
  CONTAINER_ID: 19,
  /**
   * (cgroupIdOff, pidOff, annotations): what the runtime of that cgroup's container said
   * of it (src/containers/: container_name and container_image, or a
   * kubernetes map), as pre-encoded msgpack pairs, written as they are,
   * the record's map count raised by their number (its header growing
   * from fixmap to map16 moves the record down); nothing when the cgroup
   * names no container or its runtime said nothing. The cgroup is looked
   * up as CONTAINER_ID does (its answer is reused when CONTAINER_ID ran on
   * the same cgroup). `annotations` 1 takes the form with the pod's
   * annotations (kubernetes_annotations On), 0 the one without. Pairs with
   * no MAP before them make the record malformed.
   */
  CONTAINER_METADATA: 20,
  /**
   * (off, size, keyPoolOff, keyLen): the key (the pool bytes) and the
   * unsigned LE integer of `size` bytes at off, as UINT writes it; when the
   * integer is 0, nothing, and the record's map count lowered by one (a
   * record with no MAP before it is malformed). For a value the kernel
   * could not know, where 0 would be taken for a real one.
   */
  UINT_NONZERO: 21,
} as const;

export type Opcode = (typeof Op)[keyof typeof Op];

/** Argument words of each opcode; ENUM and SWITCH also have their cases after these (4 and 2 words each). */
export const FIXED_ARGS: Readonly<Record<Opcode, number>> = {
  [Op.END]: 0,
  [Op.MIN_LEN]: 1,
  [Op.HEAD_KTIME]: 1,
  [Op.HEAD_NOW]: 0,
  [Op.LIT]: 2,
  [Op.UINT]: 2,
  [Op.SINT]: 2,
  [Op.ERRNO]: 2,
  [Op.BOOL]: 1,
  [Op.FLOAT]: 2,
  [Op.CSTR]: 2,
  [Op.LSTR]: 3,
  [Op.TAIL]: 1,
  [Op.TSTR]: 2,
  [Op.TSTR_FDPATH]: 6,
  [Op.INET]: 2,
  [Op.ENUM]: 6,
  [Op.SWITCH]: 4,
  [Op.MAP]: 1,
  [Op.CONTAINER_ID]: 4,
  [Op.CONTAINER_METADATA]: 3,
  [Op.UINT_NONZERO]: 4,
};


/** ENUM's defLen: no default string, the value is written as an integer. */
export const NO_DEFAULT = 0xffffffff;
/** SWITCH's defaultTarget: a value with no case skips the record. */
export const NO_TARGET = 0xffffffff;
/** The longest container id CONTAINER_ID writes: 64 hex digits. */
export const CONTAINER_ID_MAX = 64;
/** The most bytes of one container's CONTAINER_METADATA pairs (native/cgroup_names.h's kMaxBytes). */
export const CONTAINER_METADATA_MAX = 16384;

export interface RecordProgram {
  code: Uint32Array;
  pool: Buffer;
}
