#!/usr/bin/env node
// The fuzz driver of scripts/fuzz.sh, run under node with the sanitizers'
// runtimes preloaded: it loads the sanitizer build of the addon by path and
// drives every entry point that takes outside bytes, with inputs from a
// seeded generator, until its time is up:
//   records  record declarations (the traces' own, mutated, and random ones)
//            compiled against the real objects' BTF, mutated raw programs, and
//            random and mutated records encoded by whatever the addon accepts;
//   btf      objects whose .BTF (or .BTF.ext, or any byte) is mutated, read
//            by readBtf and opened by BpfObject (never loaded: no kernel);
//   cgroups  random and mutated cgroup paths to the container-id parser, and
//            ids (real and not) to the container-id cache.
// Each iteration draws from its own generator, seeded by (seed, iteration),
// and writes its number to --state first: after a crash, fuzz.sh reads it
// and says how to run that iteration alone (--case). The addon's own errors
// are expected (its inputs are hostile); only the sanitizers (which abort)
// or a crash fail a run.
import { createRequire } from 'node:module';
import { existsSync, openSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const fromDist = (path) => import(pathToFileURL(join(root, 'dist', path)).href);
const { Btf } = await fromDist('records/btf.js');
const { compileTrace } = await fromDist('records/compile.js');
const { compileStruct } = await fromDist('records/compile-struct.js');
const { FIXED_ARGS, NO_DEFAULT, NO_TARGET, Op } = await fromDist('records/program.js');
const { HEAD_FIELDS } = await fromDist('records/head.js');
const { traces } = await fromDist('traces/registry.js');

const { values: args } = parseArgs({
  options: {
    addon: { type: 'string' },
    seconds: { type: 'string', default: '60' },
    seed: { type: 'string' },
    case: { type: 'string' },
    state: { type: 'string' },
    object: { type: 'string' },
    'open-unchecked': { type: 'boolean', default: false },
  },
});
if (!args.addon || args.seed === undefined) {
  process.stderr.write('usage: driver.mjs --addon PATH --seed S [--seconds N] [--case K] [--state FILE] [--object FILE]\n');
  process.exit(2);
}
const native = createRequire(import.meta.url)(resolve(args.addon));
const seed = Number(args.seed) >>> 0;
const seconds = Number(args.seconds);

// ---- the generator ----------------------------------------------------------

/** mulberry32, seeded from (seed, iteration) by a splitmix step so that neighbours differ. */
function generator(seed, iteration) {
  let s = Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(iteration + 1, 0xc2b2ae35);
  const next = () => {
    s = (s + 0x6d2b79f5) | 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const r = {
    next,
    int: (n) => Math.floor(next() * n),
    chance: (p) => next() < p,
    pick: (list) => list[Math.floor(next() * list.length)],
    u32: () => (next() * 4294967296) >>> 0,
    /** A value near an edge: 0, 1, powers of two and their neighbours, all ones. */
    edge32: () => r.pick(EDGES_32),
    edge64: () => r.pick(EDGES_64),
    bytes: (n) => {
      const b = Buffer.allocUnsafe(n);
      for (let i = 0; i < n; i++) b[i] = (next() * 256) | 0;
      return b;
    },
  };
  return r;
}

const EDGES_32 = [0, 1, 2, 3, 4, 7, 8, 15, 16, 17, 31, 32, 63, 64, 100, 127, 128, 255, 256, 1023, 1024, 4095, 4096, 4097,
  0x7fff, 0x8000, 0xffff, 0x10000, 0xfffff, 0x7fffffff, 0x80000000, 0xfffffff8, 0xfffffffe, 0xffffffff];
const EDGES_64 = [0n, 1n, 0x7fn, 0x80n, 0xffn, 0x7fffn, 0x8000n, 0xffffn, 0x7fffffffn, 0x80000000n, 0xffffffffn, 0x100000000n,
  (1n << 63n) - 1n, 1n << 63n, (1n << 64n) - 1n, (1n << 64n) - 100n, 1_700_000_000_000_000_000n, 4_294_967_296_000_000_000n];
const INT64_MIN = -(1n << 63n);
const UINT64_LIMIT = 1n << 64n;

// Bytes that test a UTF-8 decoder: overlong, surrogate, too large, cut short, NUL, 0xff.
const UTF8_EDGES = [[0xc0, 0x80], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0xe2, 0x82], [0xf0, 0x9f, 0x98, 0x80],
  [0xf0, 0x9f, 0x98], [0xff], [0x00], [0xc3, 0xa9], [0x80], [0xef, 0xbf, 0xbd], [0x2f, 0x2f], [0x41]];

function text(r, max) {
  const parts = [];
  const n = r.int(max + 1);
  for (let len = 0; len < n; ) {
    const part = r.chance(0.5) ? r.pick(UTF8_EDGES) : [0x20 + r.int(95)];
    parts.push(...part);
    len += part.length;
  }
  return Buffer.from(parts.slice(0, n));
}

// ---- what the fuzzing starts from ------------------------------------------

/** The ELF sections of a 64-bit little-endian object, by name: [offset, size]. */
function elfSections(elf) {
  const sections = new Map();
  if (elf.length < 64 || elf.readUInt32BE(0) !== 0x7f454c46 || elf[4] !== 2 || elf[5] !== 1) return sections;
  const shoff = Number(elf.readBigUInt64LE(0x28));
  const shentsize = elf.readUInt16LE(0x3a);
  const shnum = elf.readUInt16LE(0x3c);
  const shstrndx = elf.readUInt16LE(0x3e);
  const header = (i) => shoff + i * shentsize;
  const strtab = Number(elf.readBigUInt64LE(header(shstrndx) + 0x18));
  for (let i = 0; i < shnum; i++) {
    const at = header(i);
    const nameAt = strtab + elf.readUInt32LE(at);
    const name = elf.toString('latin1', nameAt, elf.indexOf(0, nameAt));
    sections.set(name, [Number(elf.readBigUInt64LE(at + 0x18)), Number(elf.readBigUInt64LE(at + 0x20))]);
  }
  return sections;
}

/** Every path a declaration can name in a struct: members, nested members, array elements (a few). */
function memberPaths(layout, prefix = '', out = []) {
  if (layout.kind !== 'struct' && layout.kind !== 'union') return out;
  for (const m of layout.members) {
    // Anonymous members are looked through: their members are named as the parent's.
    const path = m.name === '' ? prefix : prefix ? `${prefix}.${m.name}` : m.name;
    if (m.name !== '') out.push(path);
    if (m.type.kind === 'array' && m.name !== '') {
      for (const i of [0, 1, m.type.length - 1, m.type.length]) if (i >= 0) out.push(`${path}[${i}]`);
    }
    if (out.length < 400) memberPaths(m.type, path.replace(/^\.|\.$/g, ''), out);
  }
  return out;
}

/** Integer members (with offset and size) of a layout, for records with chosen values. */
function integerLeaves(layout, base = 0, out = []) {
  if (layout.kind !== 'struct' && layout.kind !== 'union') return out;
  for (const m of layout.members) {
    const t = m.type;
    if ((t.kind === 'int' || t.kind === 'enum') && [1, 2, 4, 8].includes(t.size)) out.push({ offset: base + m.offset, size: t.size });
    else if (t.kind === 'struct' || t.kind === 'union') integerLeaves(t, base + m.offset, out);
    else if (t.kind === 'array' && t.element.kind === 'int' && t.element.size > 1 && t.length <= 16) {
      for (let i = 0; i < t.length; i++) out.push({ offset: base + m.offset + i * t.element.size, size: t.element.size });
    }
  }
  return out;
}

const objectDirs = [join(root, 'bpf', '.output'), join(root, 'conf', 'examples')];
const objects = objectDirs.flatMap((dir) => (existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.bpf.o')).map((f) => join(dir, f)) : []))
  .sort()
  .map((path) => {
    const elf = readFileSync(path);
    const btf = Btf.parse(native.readBtf(path), path);
    const structs = new Map();
    for (const name of btf.structNames()) structs.set(name, btf.struct(name));
    const globals = [...btf.globals().keys()];
    const enums = btf.enumNames().map((name) => ({ name, enumerators: [...btf.enumerators(name).keys()] }));
    return { path, elf, sections: elfSections(elf), btf, structs, globals, enums };
  });
if (objects.length === 0) {
  process.stderr.write(`fuzz: no BPF objects in ${objectDirs.join(' or ')}; run: npm run build\n`);
  process.exit(2);
}
const objectOf = new Map(objects.map((o) => [o.path.split('/').pop(), o]));

const declared = [...traces.values()].filter((t) => !('asIs' in t.record) && objectOf.has(t.object))
  .map((t) => ({ trace: t, object: objectOf.get(t.object) }));

// The layouts records are made for: each object's structs that are records (they have `hdr`) or globals' types.
const recordStructs = objects.flatMap((o) => [...o.structs].filter(([, s]) => s.size > 0 && s.size < 65536)
  .map(([name, layout]) => ({ object: o, name, layout, paths: memberPaths(layout), ints: integerLeaves(layout) })));

/** The programs the real declarations compile to: what raw mutations start from. */
const basePrograms = [];
for (const { trace, object } of declared) {
  for (const containerMetadata of [true, false]) {
    const program = compileTrace(trace.record, object.btf, { trace: trace.name, object: trace.object, containerMetadata, sequenceKey: containerMetadata ? 'seq' : undefined });
    basePrograms.push({ program, layouts: shapesOf(trace.record).map((s) => object.structs.get(s.struct)) });
  }
}

function shapesOf(declaration) {
  return 'by' in declaration ? [...Object.values(declaration.cases), ...(declaration.otherwise ? [declaration.otherwise] : [])] : [declaration];
}

// ---- counters -----------------------------------------------------------------

const count = {
  iterations: 0,
  declarations: 0, // declarations compiled (real, mutated, random) and structs compiled as they are
  programs: 0, // programs handed to the addon
  accepted: 0, // ... that it took
  refusedCompiled: 0, // programs compileTrace/compileStruct made that the addon refused (should be none)
  encodes: 0, // encode() calls
  records: 0, // records in them
  btfs: 0, // mutated objects
  readBtf: 0, // readBtf calls that gave BTF back
  opened: 0, // BpfObjects opened from them
  unopenable: 0, // not opened: their BTF refers to types it lacks, or loops (see unopenableBtf)
  paths: 0, // cgroup paths parsed
  lookups: 0, // container-id lookups
};
const refusedExamples = [];

// ---- records --------------------------------------------------------------------

/** Records in the ring format: [u32 length][u32 0][bytes] at 8-aligned offsets. */
function batchOf(records) {
  let size = 0;
  for (const rec of records) size = (size + 8 + rec.length + 7) & ~7;
  const batch = Buffer.alloc(size);
  let at = 0;
  for (const rec of records) {
    batch.writeUInt32LE(rec.length, at);
    rec.copy(batch, at + 8);
    at = (at + 8 + rec.length + 7) & ~7;
  }
  return batch;
}

function writeLE(buf, offset, size, value) {
  let v = BigInt.asUintN(size * 8, value);
  for (let i = 0; i < size && offset + i < buf.length; i++, v >>= 8n) buf[offset + i] = Number(v & 0xffn);
}

/**
 * A record for `shape` (a struct layout, or none: any bytes): its members at
 * edges or random, strings after it; the cgroup ids the program reads
 * (`cgroupAt`) mostly ones the cache knows.
 */
function recordFor(r, shape, kinds, cgroupAt) {
  const size = shape ? shape.layout.size : r.int(256);
  const tail = r.chance(0.6) ? text(r, r.chance(0.9) ? 300 : 5000) : Buffer.alloc(0);
  let rec = Buffer.concat([r.chance(0.3) ? r.bytes(size) : Buffer.alloc(size), tail]);
  if (shape) {
    for (const leaf of shape.ints) {
      if (r.chance(0.5)) continue;
      const v = r.chance(0.5) ? r.edge64() : r.chance(0.5) ? BigInt(r.int(64)) : BigInt(r.u32());
      writeLE(rec, leaf.offset, leaf.size, v);
    }
    // The header's kind at a value a SWITCH knows; lengths of strings that exist.
    if (kinds && r.chance(0.7)) writeLE(rec, kinds.offset, kinds.size, BigInt(r.pick(kinds.values)));
  }
  for (let i = r.int(4); i > 0; i--) if (rec.length) rec[r.int(rec.length)] = r.int(256);
  for (const at of cgroupAt) writeLE(rec, at, 8, cgroupId(r));
  if (r.chance(0.15)) rec = rec.subarray(0, r.int(rec.length + 1));
  return rec;
}

/** Encodes batches of records with an accepted program; lengths, counts and clocks at edges too. */
function encodeWith(r, program, shapes, kinds, cgroupAt) {
  const batches = 1 + r.int(3);
  for (let b = 0; b < batches; b++) {
    const records = Array.from({ length: 1 + r.int(r.chance(0.1) ? 200 : 16) }, () => recordFor(r, shapes.length ? r.pick(shapes) : undefined, kinds, cgroupAt));
    const batch = batchOf(records);
    let n = records.length;
    // A count past the batch, or a header whose length runs past it: a RangeError, never a read beyond.
    if (r.chance(0.05)) n += 1 + r.int(3);
    if (r.chance(0.1)) {
      // Mostly the last record's, a few bytes past the end: the read that a wrong bound check lets through.
      const i = r.chance(0.5) ? records.length - 1 : r.int(records.length);
      let at = 0;
      for (let j = 0; j < i; j++) at = (at + 8 + records[j].length + 7) & ~7;
      const rest = batch.length - at - 8;
      batch.writeUInt32LE(r.chance(0.7) ? Math.max(0, rest + r.int(33) - 8) : r.edge32(), at);
    }
    const clockOffset = r.chance(0.7) ? 1_700_000_000_000_000_000n + BigInt(r.u32()) : BigInt.asIntN(64, r.edge64());
    const now = r.chance(0.7) ? 1_700_000_000_000_000_000n : r.edge64();
    // The ranges TypeScript checks before the addon is called (src/native/addon.ts).
    if (clockOffset < INT64_MIN || clockOffset >= -INT64_MIN || now < 0n || now >= UINT64_LIMIT) continue;
    count.encodes++;
    try {
      const out = timingWalks(() => program.encode(batch, n, clockOffset, now));
      count.records += out.count + out.malformed + out.skipped;
    } catch (err) {
      if (!(err instanceof RangeError)) throw err;
    }
  }
}

/** Where a valid program's CONTAINER_IDs read their cgroup ids. */
function containerIdOffsets(code) {
  const offsets = [];
  for (let w = 0; w < code.length; ) {
    const op = code[w];
    if (op === Op.CONTAINER_ID) offsets.push(code[w + 1]);
    w += 1 + FIXED_ARGS[op] + (op === Op.ENUM ? 4 * code[w + 4] : op === Op.SWITCH ? 2 * code[w + 3] : 0);
  }
  return offsets;
}

/** Hands a program to the addon; encodes with it if taken. `compiled`: made by the compiler, so it must be taken. */
function tryProgram(r, program, shapes, kinds, compiled) {
  count.programs++;
  let handle;
  try {
    handle = new native.RecordProgram(program.code, program.pool);
  } catch (err) {
    if (compiled) {
      count.refusedCompiled++;
      if (refusedExamples.length < 3) refusedExamples.push(err.message);
    }
    return;
  }
  count.accepted++;
  encodeWith(r, handle, shapes, kinds, containerIdOffsets(program.code));
}

const FIELD_TYPES = ['int', 'int64', 'uint', 'uint8', 'uint16', 'uint32', 'uint64', 'string', 'bool'];
const ODD_PATHS = ['', 'nope', 'hdr', 'hdr.', '.hdr', 'len[99]', 'hdr.comm[16]', 'hdr.comm[0][0]', 'a.b.c', '0', 'x'.repeat(300), 'hdr..pid'];

function key(r) {
  switch (r.int(8)) {
    case 0:
      return '';
    case 1:
      return 'k'.repeat(r.pick([31, 32, 255, 256, 65535, 65536]));
    case 2:
      return '\u00e9\u{1f600}\ud800';
    default:
      return `k${r.int(40)}`;
  }
}

/** An enum of the object (or, now and then, one it lacks) and a few of its enumerators (or made-up ones). */
function randomEnum(r, object) {
  const known = object.enums.length && r.chance(0.9) ? r.pick(object.enums) : { name: key(r), enumerators: [] };
  const enumerator = () => (known.enumerators.length && r.chance(0.9) ? r.pick(known.enumerators) : key(r).toUpperCase());
  return { name: known.name, enumerator };
}

function randomSource(r, paths, object) {
  const path = () => (r.chance(0.9) && paths.length ? r.pick(paths) : r.pick(ODD_PATHS));
  switch (r.int(8)) {
    case 0:
      return { copy: path() };
    case 1:
      return { string: path(), length: path() };
    case 2:
      return { tail: r.chance(0.8) ? r.int(6) : r.edge32() };
    case 3:
      return { errno: path() };
    case 4:
      return { address: path().replace(/\.(family|addr)$/, '') };
    case 5:
      const e = randomEnum(r, object);
      const names = Object.fromEntries(Array.from({ length: r.int(8) }, () => [e.enumerator(), key(r)]));
      return { names, enum: e.name, of: path(), otherwise: key(r) };
    case 6: {
      const flags = randomEnum(r, object);
      return { pathAsPassed: r.int(6), dirfd: path(), flags: path(), enum: flags.name, allOf: Array.from({ length: r.int(4) }, () => flags.enumerator()) };
    }
    default:
      return { containerOf: path(), pid: path() };
  }
}

function randomField(r, paths, object) {
  return { key: key(r), type: r.pick(FIELD_TYPES), from: randomSource(r, paths, object), doc: '' };
}

/** A shape with some of its fields changed, dropped, repeated, moved or added. */
function mutateShape(r, shape, object) {
  const struct = r.chance(0.1) ? r.pick([...object.structs.keys()]) : shape.struct;
  const layout = object.structs.get(struct);
  const paths = layout ? memberPaths(layout) : [];
  const fields = [...shape.fields];
  for (let i = 1 + r.int(4); i > 0; i--) {
    const at = r.int(fields.length + 1);
    switch (r.int(7)) {
      case 0:
        if (fields[at]) fields[at] = { ...fields[at], type: r.pick(FIELD_TYPES) };
        break;
      case 1:
        if (fields[at]) fields[at] = { ...fields[at], from: randomSource(r, paths, object) };
        break;
      case 2:
        fields.splice(at, 1);
        break;
      case 3:
        if (fields[at]) fields.splice(r.int(fields.length), 0, r.chance(0.5) ? fields[at] : { ...fields[at], key: key(r) });
        break;
      case 4:
        fields.splice(at, 0, randomField(r, paths, object));
        break;
      case 5:
        if (fields[at]) fields[at] = { ...fields[at], key: key(r) };
        break;
      default: {
        const other = r.int(fields.length);
        [fields[at], fields[other]] = [fields[other], fields[at]];
        if (fields[at] === undefined) fields.splice(at, 1);
        if (fields[other] === undefined) fields.splice(other, 1);
      }
    }
  }
  const tailLengths = r.chance(0.1) ? (r.chance(0.5) ? undefined : r.pick(paths.length ? paths : ODD_PATHS)) : shape.tailLengths;
  return { struct, eventType: r.chance(0.1) ? key(r) : shape.eventType, fields: fields.filter(Boolean), tailLengths };
}

function mutateDeclaration(r, declaration, object) {
  if (!('by' in declaration)) return mutateShape(r, declaration, object);
  const cases = { ...declaration.cases };
  for (let i = 1 + r.int(3); i > 0; i--) {
    const v = r.pick(Object.keys(cases));
    switch (r.int(4)) {
      case 0:
        cases[v] = mutateShape(r, cases[v], object);
        break;
      case 1:
        if (Object.keys(cases).length > 1) delete cases[v];
        break;
      case 2:
        cases[key(r).toUpperCase()] = cases[v];
        break;
      default:
        cases[randomEnum(r, object).enumerator()] = mutateShape(r, cases[v], object);
    }
  }
  const otherwise = r.chance(0.3) ? (r.chance(0.5) ? undefined : mutateShape(r, cases[r.pick(Object.keys(cases))], object)) : declaration.otherwise;
  const by = r.chance(0.1) ? r.pick([...memberPaths(object.structs.get(cases[Object.keys(cases)[0]].struct) ?? { kind: 'other' }), ...ODD_PATHS]) : declaration.by;
  const kinds = r.chance(0.05) ? randomEnum(r, object).name : declaration.kinds;
  return { by, kinds, cases, otherwise };
}

function randomDeclaration(r, object) {
  const structs = [...object.structs.keys()];
  const shape = () => {
    const struct = r.pick(structs);
    const paths = memberPaths(object.structs.get(struct));
    return { struct, eventType: key(r), fields: Array.from({ length: r.int(12) }, () => randomField(r, paths, object)), tailLengths: r.chance(0.3) ? r.pick(paths) : undefined };
  };
  if (r.chance(0.7)) return shape();
  const cases = {};
  const kinds = randomEnum(r, object);
  for (let i = 1 + r.int(4); i > 0; i--) cases[kinds.enumerator()] = shape();
  return { by: r.pick(['hdr.kind', 'hdr.pid', ...ODD_PATHS]), kinds: kinds.name, cases, otherwise: r.chance(0.3) ? shape() : undefined };
}

/** What records for a declaration look like: its shapes' layouts, and the kind member's values when it has cases. */
function recordShapesOf(declaration, object) {
  const shapes = shapesOf(declaration).map((s) => recordStructs.find((rs) => rs.object === object && rs.name === s.struct)).filter(Boolean);
  let kinds;
  if ('by' in declaration && shapes.length) {
    const m = shapes[0].paths.includes(declaration.by) ? findMember(shapes[0].layout, declaration.by) : undefined;
    // The kind enum's values (those with a case and those without), from the object's BTF.
    const values = [...(object.btf.enumerators(declaration.kinds)?.values() ?? [])].map(Number);
    if (m && values.length) kinds = { ...m, values };
  }
  return { shapes, kinds };
}

function findMember(layout, path) {
  let offset = 0;
  let type = layout;
  for (const part of path.split('.')) {
    const m = /^(\w+)$/.exec(part) && type.members?.find((x) => x.name === part);
    if (!m) return undefined;
    offset += m.offset;
    type = m.type;
  }
  return [1, 2, 4, 8].includes(type.size) ? { offset, size: type.size } : undefined;
}

/** A declaration (a trace's own, mutated, or random) compiled against an object's BTF, run by the addon. */
function fuzzDeclaration(r) {
  const { trace, object: own } = r.pick(declared);
  const object = r.chance(0.1) ? r.pick(objects) : own;
  const roll = r.next();
  const declaration = roll < 0.15 ? trace.record : roll < 0.85 ? mutateDeclaration(r, trace.record, object) : randomDeclaration(r, object);
  const options = {
    trace: trace.name,
    object: object.path,
    containerMetadata: r.chance(0.7),
    sequenceKey: r.chance(0.3) ? key(r) : undefined,
    headFields: r.chance(0.8) ? undefined : HEAD_FIELDS.filter(() => r.chance(0.5)),
  };
  let program;
  try {
    program = compileTrace(declaration, object.btf, options);
  } catch {
    return; // RecordLayoutError, mostly: a mutation the compiler refuses
  }
  count.declarations++;
  const { shapes, kinds } = recordShapesOf(declaration, object);
  tryProgram(r, program, shapes, kinds, true);
}

/** Any struct of an object as it is (BPF_Object, BPF_Record_Type), with or without a time member. */
function fuzzStruct(r) {
  const shape = r.pick(recordStructs);
  let program;
  try {
    program = compileStruct(shape.object.btf, shape.name, { object: shape.object.path, timeField: r.chance(0.5) ? undefined : r.pick([...shape.paths, 'hdr.ts_ns', 'nope']) });
  } catch {
    return;
  }
  count.declarations++;
  tryProgram(r, program, [shape], undefined, true);
}

/** A random program: opcodes (and some that are none) with arguments near the edges. */
function randomProgram(r) {
  const code = [];
  const pool = r.bytes(r.int(r.chance(0.9) ? 64 : 300));
  const arg = () => (r.chance(0.6) ? r.int(r.chance(0.5) ? 24 : 300) : r.chance(0.5) ? r.pick([1, 2, 4, 8, 3, 0, 16]) : r.edge32());
  for (let n = r.int(30); n > 0; n--) {
    const op = r.chance(0.97) ? r.int(20) : r.pick([20, 21, 255, 0xffffffff]);
    code.push(op);
    for (let i = FIXED_ARGS[op] ?? r.int(4); i > 0; i--) code.push(arg());
    if (op === Op.ENUM) {
      const n = code.length - 3; // the case count word
      code[n] = r.chance(0.9) ? r.int(5) : r.edge32();
      if (r.chance(0.5)) code[n + 2] = NO_DEFAULT;
      for (let i = 0; i < Math.min(code[n], 8); i++) code.push(r.u32(), r.chance(0.5) ? 0 : r.u32(), r.int(pool.length + 2), r.int(8));
    } else if (op === Op.SWITCH) {
      const n = code.length - 2;
      code[n] = r.chance(0.9) ? r.int(5) : r.edge32();
      if (r.chance(0.5)) code[n + 1] = NO_TARGET;
      for (let i = 0; i < Math.min(code[n], 8); i++) code.push(r.int(8), r.int(code.length + 40));
    }
  }
  if (r.chance(0.9)) code.push(Op.END);
  return { code: Uint32Array.from(code), pool };
}

/** A compiled program with words and pool bytes changed, words put in or taken out. */
function mutateProgram(r, { code, pool }) {
  const words = [...code];
  let bytes = Buffer.from(pool);
  for (let i = 1 + r.int(4); i > 0; i--) {
    const at = r.int(words.length);
    switch (r.int(7)) {
      case 0:
        words[at] = r.edge32();
        break;
      case 1:
        words[at] = r.int(24);
        break;
      case 2:
        words[at] = (words[at] + r.pick([1, -1, 8, -8, 4096])) >>> 0;
        break;
      case 3:
        words.splice(at, 1 + r.int(3));
        break;
      case 4:
        words.splice(at, 0, ...Array.from({ length: 1 + r.int(3) }, () => r.int(24)));
        break;
      case 5:
        if (bytes.length) bytes[r.int(bytes.length)] = r.int(256);
        break;
      default:
        bytes = r.chance(0.5) ? bytes.subarray(0, r.int(bytes.length + 1)) : Buffer.concat([bytes, r.bytes(1 + r.int(16))]);
    }
  }
  if (r.chance(0.1)) words.length = r.int(words.length + 1);
  return { code: Uint32Array.from(words), pool: bytes };
}

/** Raw programs: compiled ones mutated, and random ones. */
function fuzzProgram(r) {
  if (r.chance(0.7)) {
    const base = r.pick(basePrograms);
    const shapes = base.layouts.map((l) => recordStructs.find((rs) => rs.layout === l)).filter(Boolean);
    tryProgram(r, mutateProgram(r, base.program), shapes, undefined, false);
  } else {
    tryProgram(r, randomProgram(r), [], undefined, false);
  }
}

// ---- BTF and objects ------------------------------------------------------------

// Kept after the run: when a mutated object crashes the addon, it is the reproducer.
const mutatedObject = args.object ?? join(tmpdir(), `ebpf-forward-fuzz-${process.pid}.bpf.o`);
if (!args.object) process.on('exit', () => rmSync(mutatedObject, { force: true }));

/** An object with its .BTF (mostly), .BTF.ext or any bytes changed. */
function mutateObject(r, object) {
  const elf = Buffer.from(object.elf);
  const roll = r.next();
  const section = roll < 0.65 ? '.BTF' : roll < 0.85 ? '.BTF.ext' : '';
  const [start, size] = object.sections.get(section) ?? [0, elf.length];
  if (size === 0) return elf;
  // BTF's header (magic, lengths, offsets) first, most often: where a parser trusts what it reads.
  const headerOnly = section !== '' && r.chance(0.25);
  const span = headerOnly ? Math.min(size, 32) : size;
  for (let i = 1 + r.int(8); i > 0; i--) {
    const at = start + r.int(span);
    switch (r.int(5)) {
      case 0:
        elf[at] ^= 1 << r.int(8);
        break;
      case 1:
        elf[at] = r.int(256);
        break;
      case 2:
        if (at + 4 <= start + size) elf.writeUInt32LE(r.edge32(), at & ~3);
        break;
      case 3: {
        // A run of bytes copied from elsewhere in the section (a type record over another).
        const from = start + r.int(size);
        const n = Math.min(1 + r.int(24), start + size - at, start + size - from);
        elf.copy(elf, at, from, from + n);
        break;
      }
      default:
        elf.fill(r.chance(0.5) ? 0 : 0xff, at, Math.min(start + size, at + 1 + r.int(16)));
    }
  }
  return elf;
}

/**
 * Why libbpf 1.1 (Debian 12's libbpf1) would crash or hang opening an
 * object with this BTF, or undefined: a type that refers to a type id past
 * the table, or a typedef or qualifier that leads back to itself. libbpf
 * checks the first itself from 1.3 on (btf_sanity_check); 1.1's
 * bpf_object__open follows such an id into memory that is not a type (a
 * SIGSEGV), and such a loop for ever (skip_mods_and_typedefs). The CLI
 * refuses both before libbpf sees them (src/records/btf-format.ts,
 * checkReferences); this reads the raw types itself, so that objects Btf.parse
 * refuses for other reasons are screened too. Such objects are read (readBtf
 * copes) but not opened, unless --open-unchecked: what fuzzing a libbpf (or
 * an addon) that checks needs.
 */
function unopenableBtf(raw) {
  if (raw.length < 24) return undefined;
  const hdrLen = raw.readUInt32LE(4);
  const start = hdrLen + raw.readUInt32LE(8);
  const end = Math.min(raw.length, start + raw.readUInt32LE(12));
  const refs = [];
  // Typedefs and qualifiers (what libbpf looks through): type id -> the type under it.
  const under = new Map();
  let count = 0;
  for (let at = start; at + 12 <= end; count++) {
    const info = raw.readUInt32LE(at + 4);
    const kind = (info >>> 24) & 0x1f;
    const vlen = info & 0xffff;
    const sizeOrType = raw.readUInt32LE(at + 8);
    if ([8, 9, 10, 11, 18].includes(kind)) under.set(count + 1, sizeOrType);
    at += 12;
    switch (kind) {
      case 2: case 8: case 9: case 10: case 11: case 12: case 18: // PTR, TYPEDEF, qualifiers, FUNC, TYPE_TAG
        refs.push(sizeOrType);
        break;
      case 14: case 17: // VAR, DECL_TAG
        refs.push(sizeOrType);
        at += 4;
        break;
      case 1: // INT
        at += 4;
        break;
      case 3: // ARRAY: element and index types
        if (at + 8 <= end) refs.push(raw.readUInt32LE(at), raw.readUInt32LE(at + 4));
        at += 12;
        break;
      case 4: case 5: // STRUCT, UNION: members' types
        for (let i = 0; i < vlen && at + 12 <= end; i++, at += 12) refs.push(raw.readUInt32LE(at + 4));
        break;
      case 13: // FUNC_PROTO: return and parameter types
        refs.push(sizeOrType);
        for (let i = 0; i < vlen && at + 8 <= end; i++, at += 8) refs.push(raw.readUInt32LE(at + 4));
        break;
      case 15: // DATASEC: its variables
        for (let i = 0; i < vlen && at + 12 <= end; i++, at += 12) refs.push(raw.readUInt32LE(at));
        break;
      case 6:
        at += 8 * vlen;
        break;
      case 19:
        at += 12 * vlen;
        break;
      default:
        break; // FWD, FLOAT; an unknown kind libbpf refuses
    }
  }
  const dangling = refs.find((id) => id > count);
  if (dangling !== undefined) return `refers to type ${dangling} of ${count}`;
  for (const first of under.keys()) {
    const seen = new Set();
    for (let id = first; under.has(id); id = under.get(id)) {
      if (seen.has(id)) return `type ${id} leads back to itself through typedefs and qualifiers`;
      seen.add(id);
    }
  }
  return undefined;
}

function fuzzObject(r) {
  const object = r.pick(objects);
  writeFileSync(mutatedObject, mutateObject(r, object));
  count.btfs++;
  let raw;
  try {
    raw = native.readBtf(mutatedObject);
    count.readBtf++;
  } catch {
    // libbpf refused it
  }
  if (raw) {
    // What libbpf took, read by TypeScript and compiled as the records would be.
    let btf;
    try {
      btf = Btf.parse(raw, 'mutated');
    } catch {
      // BtfError, or worse: TypeScript's business, not the addon's
    }
    if (btf) {
      for (let i = r.int(3); i >= 0; i--) {
        const names = (() => {
          try {
            return btf.structNames();
          } catch {
            return [];
          }
        })();
        if (!names.length) break;
        const name = r.pick(names);
        let program;
        try {
          program = compileStruct(btf, name, { object: 'mutated' });
        } catch {
          continue;
        }
        count.declarations++;
        const layout = btf.struct(name);
        tryProgram(r, program, [{ layout, ints: integerLeaves(layout) }], undefined, true);
      }
    }
  }
  if (raw && !args['open-unchecked'] && unopenableBtf(raw)) {
    count.unopenable++;
    return;
  }
  let opened;
  try {
    // The name messages use (and libbpf's object name is made from), as the config gives it.
    const shownAs = r.chance(0.7) ? undefined : r.pick(['', '/', '.', 'a.b.c.bpf.o', '/etc/x/', '/x/.hidden.o', key(r)]);
    opened = new native.BpfObject(mutatedObject, shownAs);
    count.opened++;
  } catch {
    return;
  }
  try {
    // What the inputs do between open and load: programs, knobs, map sizes, autoload.
    const programs = opened.programs();
    for (let i = r.int(4); i > 0; i--) {
      const name = r.chance(0.8) && object.globals.length ? r.pick(object.globals) : key(r);
      try {
        opened.setGlobal(name, r.bytes(r.pick([0, 1, 4, 8, 16, 64])));
      } catch {}
    }
    for (const name of ['events', 'task_state', key(r)]) {
      try {
        opened.setMapMaxEntries(name, r.edge32());
      } catch {}
    }
    for (const p of programs) {
      try {
        if (r.chance(0.3)) opened.setAutoload(p.name, r.chance(0.5));
      } catch {}
    }
  } finally {
    opened.close();
  }
}

// ---- cgroups ----------------------------------------------------------------------

const HEX = '0123456789abcdef';
const hexId = (r, n = 64) => Array.from({ length: n }, () => HEX[r.int(16)]).join('');
const SCOPES = ['docker-', 'cri-containerd-', 'crio-', 'libpod-'];

function pathComponent(r) {
  switch (r.int(10)) {
    case 0:
      return hexId(r);
    case 1:
      return `${r.pick(SCOPES)}${hexId(r)}.scope`;
    case 2:
      return `${r.pick(SCOPES)}${hexId(r, r.pick([63, 65, 0]))}${r.pick(['.scope', '.scop', '.scope.', ''])}`;
    case 3:
      return hexId(r, r.pick([63, 65, 128])).toUpperCase();
    case 4:
      return r.pick(['', '.', '..', 'system.slice', 'kubepods', 'burstable', 'pod1234-5678', 'user.slice', 'docker', 'init.scope']);
    case 5:
      return text(r, 80).toString('latin1');
    case 6:
      return String.fromCharCode(...Array.from({ length: r.int(12) }, () => r.pick([0, 0xd800, 0xdfff, 0xfffd, 0xe9, 0x2f, 0x2e, r.int(0x10000)])));
    default:
      return `c${r.int(1000)}`;
  }
}

function cgroupPath(r) {
  const parts = Array.from({ length: r.int(r.chance(0.95) ? 8 : 400) }, () => pathComponent(r));
  let path = (r.chance(0.8) ? '/' : '') + parts.join(r.chance(0.9) ? '/' : '//');
  // Character-level mutations of a well-formed one.
  for (let i = r.chance(0.4) ? 1 + r.int(4) : 0; i > 0 && path.length; i--) {
    const at = r.int(path.length);
    const c = r.pick(['/', '', '0', 'g', '.', '\0', 'é', path[r.int(path.length)]]);
    path = r.chance(0.5) ? path.slice(0, at) + c + path.slice(at + 1) : path.slice(0, at) + c + path.slice(at);
  }
  return path;
}

/** Ids of the cgroups there are (their directories' inode numbers), for lookups that find something. */
const cgroupIds = [];
const cgroupRoot = native.containerNames.root;
(function walk(dir, depth) {
  if (!cgroupRoot || depth > 6 || cgroupIds.length > 2000) return;
  try {
    cgroupIds.push(statSync(dir, { bigint: true }).ino);
    for (const e of readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) walk(join(dir, e.name), depth + 1);
  } catch {}
})(cgroupRoot, 0);

/**
 * A cgroup id for a lookup: one that exists, one the cache already answered,
 * or now and then a new one. A new id is a miss, and a miss walks the whole
 * cgroup tree (costly where it has thousands of cgroups): new ids get at
 * most a tenth of the run's time. The generator is drawn from the same way
 * either way, so a seed's cases stay the same.
 */
const knownIds = [0n, 1n, 2n, 0xffffffffn, (1n << 63n) - 1n, 1n << 63n, (1n << 64n) - 1n];
let walkMs = 0;
const runStarted = Date.now();
function cgroupId(r) {
  const fresh = r.chance(0.5) ? r.edge64() ^ BigInt(r.u32()) : BigInt(r.u32());
  if (r.chance(0.05) && walkMs < 0.1 * (Date.now() - runStarted)) {
    knownIds.push(fresh);
    return fresh;
  }
  return r.chance(0.6) && cgroupIds.length ? r.pick(cgroupIds) : r.pick(knownIds);
}

/** Runs fn, adding its time to walkMs if it walked the cgroup tree. */
function timingWalks(fn) {
  const walks = native.containerNames.stats().walks;
  const t = performance.now();
  try {
    return fn();
  } finally {
    if (native.containerNames.stats().walks !== walks) walkMs += performance.now() - t;
  }
}

function lookup(id, pid) {
  timingWalks(() => native.containerNames.lookup(id, pid));
  count.lookups++;
}

function fuzzCgroups(r) {
  for (let i = 0; i < 50; i++) {
    native.containerNames.parse(cgroupPath(r));
    count.paths++;
  }
  // Misses walk the cgroup tree: a few per iteration.
  for (let i = r.int(4); i > 0; i--) lookup(cgroupId(r), r.pick([process.pid, 1, 0, 0xffffffff, r.u32() % 4194304]));
  if (r.chance(0.01)) native.containerNames.stats();
}

// ---- the run ----------------------------------------------------------------------

const areas = [
  { name: 'declarations', weight: 30, run: fuzzDeclaration },
  { name: 'structs', weight: 10, run: fuzzStruct },
  { name: 'programs', weight: 30, run: fuzzProgram },
  { name: 'btf', weight: 10, run: fuzzObject },
  { name: 'cgroups', weight: 20, run: fuzzCgroups },
];
const totalWeight = areas.reduce((s, a) => s + a.weight, 0);

const stateFd = args.state ? openSync(args.state, 'w') : undefined;
function runIteration(i) {
  const r = generator(seed, i);
  let roll = r.int(totalWeight);
  const area = areas.find((a) => (roll -= a.weight) < 0);
  if (stateFd !== undefined) writeSync(stateFd, `${i} ${area.name}\n`.padEnd(32), 0);
  area.run(r);
  count.iterations++;
}

const started = process.hrtime.bigint();
if (args.case !== undefined) {
  runIteration(Number(args.case));
} else {
  const end = Date.now() + seconds * 1000;
  for (let i = 0; Date.now() < end; i++) runIteration(i);
}
const elapsed = Number(process.hrtime.bigint() - started) / 1e9;

console.log(`fuzz: seed ${seed}, ${elapsed.toFixed(1)} s, ${count.iterations} iterations: ` +
  `${count.declarations} declarations compiled, ${count.programs} programs to the addon (${count.accepted} taken), ` +
  `${count.encodes} encodes of ${count.records} records, ${count.btfs} mutated BTFs (${count.readBtf} read, ${count.opened} opened, ${count.unopenable} not opened: dangling type ids or typedef loops), ` +
  `${count.paths} cgroup paths, ${count.lookups} lookups`);
if (count.refusedCompiled) {
  console.log(`fuzz: the addon refused ${count.refusedCompiled} programs the compiler made, e.g.: ${refusedExamples.join(' | ')}`);
}
