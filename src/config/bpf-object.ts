// BPF_Object: a user's own BPF object, run by an [INPUT] Name ebpf as one
// more trace whose records are a struct of its BTF sent as it is. All that
// can be known without loading it is checked here, at config load (so
// --dry-run catches it), each problem naming the key's file:line.
import { basename, isAbsolute, resolve } from 'node:path';
import { addon, openBpfObject, type ProgramInfo } from '../native/addon.js';
import { Btf, BPF_MAP_TYPE_RINGBUF, type SectionVariable, type TypeLayout } from '../records/btf.js';
import { memberAt } from '../records/members.js';
import { compileStruct } from '../records/compile-struct.js';
import { RecordLayoutError } from '../records/program-builder.js';
import { describeKnobType, integerRange, isCharArray, knobBytes, type KnobValue } from '../records/knobs.js';
import type { TraceDefinition } from '../traces/types.js';
import { BpfObjectFileError, openBpfObjectFile, type CheckedBpfObjectFile } from './bpf-object-file.js';
import { parseNonEmpty } from './keys.js';
import { ConfigError, quoteExcerpt, showText, type ConfigEntry, type KeySpec, type TraceSelection } from './model.js';

/** A `BPF_Set name=value` as written (checked against the object's BTF later). */
export interface KnobAssignment {
  name: string;
  value: string;
}

function parseKnobAssignment(text: string): KnobAssignment {
  const m = /^([A-Za-z_]\w*)\s*=\s*(.*)$/.exec(text);
  if (!m) throw new Error(`${quoteExcerpt(text)} is not name=value (a global of the object, e.g. BPF_Set parent_pid=1)`);
  return { name: m[1]!, value: m[2]! };
}

function parseIdentifier(text: string): string {
  if (!/^[A-Za-z_]\w*$/.test(text)) throw new Error(`${quoteExcerpt(text)} is not a C name`);
  return text;
}

function parseMemberPath(text: string): string {
  if (!/^[A-Za-z_]\w*(?:\[\d+\])*(?:\.[A-Za-z_]\w*(?:\[\d+\])*)*$/.test(text)) throw new Error(`${quoteExcerpt(text)} is not a member of the record struct (e.g. ts_ns, or hdr.ts_ns)`);
  return text;
}

/** The input keys of a user's BPF object (one per input). */
export const bpfObjectKeys: readonly KeySpec[] = [
  { name: 'bpf_object', description: "a BPF object of your own to run (relative to the config file's folder)", parse: parseNonEmpty },
  { name: 'bpf_record_type', description: 'the struct of its BTF that its ring buffer records are', parse: parseIdentifier },
  { name: 'bpf_time_field', description: "a u64 member of that struct holding bpf_ktime_get_ns(): the record's time", parse: parseMemberPath },
  { name: 'bpf_set', description: 'name=value: sets a global (a const volatile knob) of the object before load; repeatable', repeatable: true, parse: parseKnobAssignment },
];

/** Globals ebpf-forward sets itself when an object has them (src/inputs/trace-session.ts), with the size it writes. */
const ownKnobs: Record<string, { size: number; what: string }> = {
  self_tgid: { size: 4, what: 'to its own pid' },
  wakeup_delay_ns: { size: 8, what: 'for wake-up batching' },
  wakeup_bytes: { size: 8, what: 'from ringbuf_size, for wake-up batching' },
};

/** Sections whose globals BPF_Set can set before load: .rodata (const volatile), .data, .bss and their named variants. */
const isSettableSection = (section: string) => /^\.(?:rodata|data|bss)(?:\..+)?$/.test(section);

/** The few BPF_MAP_TYPE_* numbers worth naming in a message. */
const mapTypeNames: Record<number, string> = {
  1: 'BPF_MAP_TYPE_HASH',
  2: 'BPF_MAP_TYPE_ARRAY',
  4: 'BPF_MAP_TYPE_PERF_EVENT_ARRAY',
  5: 'BPF_MAP_TYPE_PERCPU_HASH',
  6: 'BPF_MAP_TYPE_PERCPU_ARRAY',
};

/** A string, as records read them (src/records/compile.ts): an array of plain char. */
/** A whole number as C writes one: decimal or 0x hex, with an optional sign. */
function parseInteger(text: string): bigint | undefined {
  const m = /^([+-]?)(0x[0-9a-f]+|\d+)$/i.exec(text.trim());
  if (!m) return undefined;
  const n = BigInt(m[2]!);
  return m[1] === '-' ? -n : n;
}

/** Whether BPF_Set can set a global of this type. */
function isSettable(type: TypeLayout): boolean {
  return ((type.kind === 'int' || type.kind === 'enum') && [1, 2, 4, 8].includes(type.size)) || isCharArray(type);
}

/**
 * The value a knob of this C type takes for BPF_Set's `text`, checked by the
 * one writer (knobBytes) that writes it at load; throws an Error ("is <C
 * type>...: why not") saying what the type takes.
 */
export function knobValue(type: TypeLayout, text: string): KnobValue {
  const value = knobText(type, text);
  knobBytes(type, value);
  return value;
}

function knobText(type: TypeLayout, text: string): KnobValue {
  const takes = () => describeKnobType(type);
  if (!isSettable(type)) throw new Error(`is ${type.cName}, which BPF_Set can't set: it sets integers, bools, enums and char arrays`);
  if (type.kind === 'int' && type.bool) {
    const lower = text.toLowerCase();
    if (lower === 'on' || lower === 'true') return true;
    if (lower === 'off' || lower === 'false') return false;
    throw new Error(`is ${takes()}: ${quoteExcerpt(text)} is neither`);
  }
  if (type.kind === 'int') {
    const n = parseInteger(text);
    if (n === undefined) throw new Error(`is ${takes()}: ${quoteExcerpt(text)} is not a whole number`);
    return n;
  }
  if (type.kind === 'enum') {
    const n = type.values.find((v) => v.name === text)?.value ?? parseInteger(text);
    if (n === undefined) throw new Error(`is ${takes()}: ${quoteExcerpt(text)} is none of them`);
    const [min, max] = integerRange(type.size, type.signed);
    if (n < min || n > max) throw new Error(`is ${type.cName}, ${type.size} bytes ${type.signed ? 'signed' : 'unsigned'} (${min} to ${max}): ${n} does not fit`);
    return n;
  }
  const bytes = Buffer.byteLength(text, 'utf8');
  if (type.kind === 'array' && bytes > type.length - 1) throw new Error(`is ${takes()}: ${quoteExcerpt(text)} is ${bytes} bytes`);
  return text;
}

/** What loadInput hands over: the section's BPF_* entries and the input's ring buffer name. */
export interface BpfObjectEntries {
  object?: ConfigEntry;
  recordType?: ConfigEntry;
  timeField?: ConfigEntry;
  sets: ConfigEntry[];
  /** The input's ringbuf_map_name and the entry that set it (absent: the default). */
  ringbufMapName: string;
  ringbufEntry?: ConfigEntry;
  /** The main config file's folder: relative BPF_Object paths start there (as tls.* paths do). */
  configDir: string;
}

/** Where ebpf-forward attaches a program by its SEC() name; undefined if it can, else why not. */
function unattachable(program: ProgramInfo): string | undefined {
  const [kind = '', ...rest] = program.section.split('/');
  const target = rest.join('/');
  const byName = /^(?:tracepoint|tp|raw_tracepoint|raw_tp|raw_tracepoint\.w|raw_tp\.w|tp_btf|kprobe|kretprobe|ksyscall|kretsyscall|kprobe\.multi|kretprobe\.multi|uprobe|uretprobe|uprobe\.s|uretprobe\.s|usdt|fentry|fexit|fmod_ret|fentry\.s|fexit\.s|fmod_ret\.s|lsm|lsm\.s|iter|iter\.s)$/;
  if (byName.test(kind)) return target ? undefined : `names no ${kind === 'uprobe' || kind === 'uretprobe' ? 'binary:function' : 'hook'} to attach to`;
  // Network and cgroup programs attach to an interface, a socket or a cgroup: a SEC() name does not say which.
  if (/^(?:xdp|tc|tcx|classifier|action|socket|sk_|sockops|cgroup|flow_dissector|lwt_|netfilter|netkit|struct_ops|perf_event|syscall|sk_lookup|sk_msg|sk_skb|sk_reuseport)/.test(kind)) {
    return 'is not a tracing program: it attaches to an interface, socket or cgroup that its SEC() name does not say';
  }
  return undefined;
}

/**
 * The trace of an input's BPF_Object, checked against the object: the file
 * is there, readable, and only root's to change (bpf-object-file.ts); it opens, has BTF, programs that attach by their
 * SEC() names, the record struct (every member sendable), a u64 time field,
 * the ring buffer map; every BPF_Set names a settable global and fits its
 * C type. Undefined when the input has no BPF_* keys.
 */
export function bpfObjectSelection(entries: BpfObjectEntries): TraceSelection | undefined {
  const { object, recordType, timeField, sets } = entries;
  if (!object) {
    const orphan = recordType ?? timeField ?? sets[0];
    if (orphan) throw ConfigError.at(orphan, `${orphan.key} needs a BPF_Object (the BPF object file to run) in this input`);
    return undefined;
  }
  if (!recordType) throw ConfigError.at(object, `${object.key} needs a BPF_Record_Type: the struct of its BTF that its ring buffer records are`);

  const path = isAbsolute(object.value) ? object.value : resolve(entries.configDir, object.value);
  const shown = path === object.value ? path : `${object.value} (${path})`;
  const objectProblem = (problem: string) => ConfigError.at(object, `${object.key} ${shown}: ${problem}`);
  let file: CheckedBpfObjectFile;
  try {
    file = openBpfObjectFile(path);
  } catch (err) {
    if (err instanceof BpfObjectFileError) throw objectProblem(err.message);
    throw err;
  }
  try {
    return checkObject(entries, path, file.path, objectProblem);
  } finally {
    file.close();
  }
}

/** bpfObjectSelection's checks of the object, read through `source` (its checked descriptor). */
function checkObject(entries: BpfObjectEntries, path: string, source: string, objectProblem: (problem: string) => ConfigError): TraceSelection {
  const object = entries.object!;
  const recordType = entries.recordType!;
  const { timeField, sets } = entries;
  addon(); // a missing addon is its own message, not this object's
  let btf: Btf;
  try {
    btf = Btf.ofObject(source, path);
  } catch (err) {
    const message = (err as Error).message;
    if (/has no BTF/.test(message)) throw objectProblem('it has no BTF, where ebpf-forward reads its record layout: build it with clang -g');
    throw objectProblem(`not a BPF object ebpf-forward can read (${message.split('\n')[0]!.replace(`${path}: `, '').replace(`reading the BTF of ${path}: `, '')})`);
  }

  let programs: ProgramInfo[];
  try {
    const opened = openBpfObject(source, path);
    try {
      programs = opened.programs();
    } finally {
      opened.close();
    }
  } catch (err) {
    const lines = (err as Error).message.split(source).join(path).split('\n');
    const reason = /: ([^:]+ \(errno \d+\))$/.exec(lines[0]!)?.[1] ?? lines[0]!;
    throw objectProblem(`libbpf can't open it: ${[reason, ...lines.slice(1).slice(-1)].join('; ')}`);
  }
  if (programs.length === 0) throw objectProblem('it has no BPF programs (functions with a SEC("tracepoint/...") or other hook)');
  for (const program of programs) {
    const why = unattachable(program);
    if (why) throw objectProblem(`its program ${program.name} is SEC("${program.section}"), which ${why}; ebpf-forward attaches each program by its SEC() name, e.g. SEC("tracepoint/sched/sched_process_exit")`);
  }

  // The ring buffer: BTF-defined maps say their type (`__uint(type, BPF_MAP_TYPE_RINGBUF)`).
  const ringName = entries.ringbufMapName;
  const ringKey = entries.ringbufEntry ? `ringbuf_map_name ${ringName} (${entries.ringbufEntry.file}:${entries.ringbufEntry.line})` : `ringbuf_map_name (default ${ringName})`;
  const maps = btf.maps();
  const ring = maps.find((m) => m.name === ringName);
  const rings = maps.filter((m) => m.type === BPF_MAP_TYPE_RINGBUF).map((m) => m.name);
  const otherRings = rings.length ? `its ring buffer maps: ${rings.join(', ')}; set ringbuf_map_name to one` : 'it has no ring buffer map: declare one with __uint(type, BPF_MAP_TYPE_RINGBUF) in SEC(".maps")';
  if (!ring) throw objectProblem(`it has no map named ${ringName}, which ${ringKey} names (${otherRings})`);
  if (ring.type !== undefined && ring.type !== BPF_MAP_TYPE_RINGBUF) {
    const kind = mapTypeNames[ring.type] ?? `map type ${ring.type}`;
    const hint = ring.type === 4 ? '; ebpf-forward reads ring buffers, not perf buffers: use BPF_MAP_TYPE_RINGBUF and bpf_ringbuf_output()' : '';
    throw objectProblem(`its map ${ringName}, which ${ringKey} names, is a ${kind}, not a BPF_MAP_TYPE_RINGBUF${rings.length ? ` (${otherRings})` : ''}${hint}`);
  }

  // The record: the struct, its time field, and every member's type (compiled now, as the start will).
  const structName = recordType.value;
  const struct = btf.struct(structName);
  if (!struct) {
    const names = btf.globalStructNames();
    const has = names.length ? `structs its globals use: ${names.slice(0, 12).join(', ')}${names.length > 12 ? ', ...' : ''}` : 'no global uses a struct';
    throw ConfigError.at(recordType, `${recordType.key} ${structName}: ${basename(path)}'s BTF has no struct ${structName} (${has}); a struct is in BTF when a global uses it, e.g. const struct ${structName} *unused __attribute__((unused));`);
  }
  if (timeField) {
    const m = memberAt(struct, timeField.value);
    const isU64 = m && m.type.kind === 'int' && m.type.size === 8 && !m.type.signed && !m.type.bool && !m.bitSize;
    if (!isU64) {
      const has = m ? `it is ${m.type.cName} (${m.type.kind === 'int' ? `${m.type.signed ? 'signed' : 'unsigned'}, ${m.type.size * 8} bits` : m.type.kind})` : `struct ${structName} has no member ${timeField.value} (its members: ${struct.members.map((x) => x.name || '(anonymous)').join(', ')})`;
      throw ConfigError.at(timeField, `${timeField.key} ${timeField.value}: ${has}; the time field must be a u64 holding bpf_ktime_get_ns()`);
    }
  }
  try {
    compileStruct(btf, structName, { object: basename(path), timeField: timeField?.value });
  } catch (err) {
    if (err instanceof RecordLayoutError) throw ConfigError.at(recordType, `${recordType.key} ${structName}: ${err.message}`);
    throw err;
  }

  // The knobs: each a settable global whose C type takes the value.
  const globals = new Map<string, SectionVariable>();
  for (const v of btf.sectionVariables()) if (isSettableSection(v.section)) globals.set(v.name, v);
  // The ones ebpf-forward sets must have the size it writes.
  for (const [name, { size }] of Object.entries(ownKnobs)) {
    const knob = globals.get(name);
    if (knob && (knob.type.kind !== 'int' || knob.type.size !== size || knob.type.bool)) {
      throw objectProblem(`its global ${name} is ${knob.type.cName}, but ebpf-forward sets ${name} as a __u${size * 8}: declare it const volatile __u${size * 8} ${name} = 0;`);
    }
  }
  const knobs = new Map<string, { value: KnobValue; entry: ConfigEntry }>();
  for (const entry of sets) {
    const { name, value } = parseKnobAssignment(entry.value);
    const problem = (text: string) => ConfigError.at(entry, `${entry.key} ${showText(entry.value)}: ${text}`);
    const first = knobs.get(name);
    if (first) throw problem(`${name} is set twice (first at ${first.entry.file === entry.file ? `line ${first.entry.line}` : `${first.entry.file}:${first.entry.line}`})`);
    const own = ownKnobs[name];
    if (own) throw problem(`ebpf-forward sets ${name} itself, ${own.what}`);
    const knob = globals.get(name);
    if (!knob) {
      const settable = [...globals.values()].filter((g) => !ownKnobs[g.name] && isSettable(g.type)).map((g) => g.name);
      throw problem(`${basename(path)} has no global ${name} in .rodata, .data or .bss (${settable.length ? `what BPF_Set can set: ${settable.join(', ')}` : 'it has none BPF_Set can set'})`);
    }
    try {
      knobs.set(name, { value: knobValue(knob.type, value), entry });
    } catch (err) {
      throw problem(`${name} ${(err as Error).message}`);
    }
  }

  const hooks = [...new Set(programs.map((p) => p.section))];
  const trace: TraceDefinition = {
    name: `bpf_object ${basename(path)}`,
    summary: `records of struct ${structName} from ${path}`,
    object: path,
    // Ends the start errors' "; <name> needs ...": an attach that failed, or a verifier that refused.
    needs: `a kernel that has the hooks its programs name (${hooks.join(', ')}) and whose verifier accepts them`,
    record: { asIs: structName, timeField: timeField?.value },
    configure(objectKnobs) {
      for (const [name, { value }] of knobs) objectKnobs.set(name, value);
    },
  };
  return { trace, file: object.file, line: object.line };
}
