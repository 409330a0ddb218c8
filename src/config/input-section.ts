// The [INPUT] Name ebpf section: its keys (and each trace's), the checks
// that span keys (items in all, a trace's own filter key beside the
// input-wide one), a BPF_Object of one's own, and the input's settings.
import { filterKeys } from '../task-filter/keys.js';
import { FILTER_KINDS, MAX_FILTER_ITEMS } from '../task-filter/filter.js';
import type { TraceDefinition } from '../traces/types.js';
import { DEFAULT_WAKEUP_MS } from '../inputs/session-options.js';
import { bpfObjectKeys, bpfObjectSelection } from './bpf-object.js';
import type { ConfigDeps } from './deps.js';
import { enumParser, integerParser, MAX_TIMER_SECONDS, parseBool, parseNonEmpty, sizeParser } from './keys.js';
import { ConfigError, quoteExcerpt, type ConfigSection, type InputSettings, type KeySpec, type TraceSelection } from './model.js';
import { listNames, sectionName, SectionValues, unknownKey } from './section-values.js';

const RINGBUF_MIN = 4096;
const RINGBUF_MAX = 2 ** 31;

function parseRingbufSize(value: string): number {
  // K/M/G are powers of 1024 here (not Fluent Bit's powers of 1000): the
  // kernel wants a power of two, and "8M" should be one.
  const bytes = sizeParser({ binary: true })(value);
  if (bytes < RINGBUF_MIN || bytes > RINGBUF_MAX || !Number.isInteger(Math.log2(bytes))) {
    throw new Error(`${quoteExcerpt(value)} is ${bytes} bytes: it must be a power of two from 4K to 2G (K, M and G count 1024s here), e.g. 256K or 8M`);
  }
  return bytes;
}

/** [INPUT] Name ebpf keys (Name and Trace are read first; traces add their own keys). */
export const ebpfInputKeys: readonly KeySpec[] = [
  { name: 'trace', description: 'a trace to run (repeat for several)', repeatable: true, parse: parseNonEmpty },
  { name: 'tag', description: 'tag of the records (default ebpf.N)', parse: parseNonEmpty },
  { name: 'alias', description: 'instance name in logs and metrics (default ebpf.N)', parse: parseNonEmpty },
  { name: 'poll_ms', description: "Fluent Bit's ring buffer polling interval; ebpf-forward reads as events come, so it is accepted and kept", default: '1000', parse: integerParser({ min: 1, max: MAX_TIMER_SECONDS * 1000 }) },
  { name: 'wakeup_ms', description: 'the longest a record waits in the ring buffer before it is read (unless the ring fills past a quarter first): ebpf-forward wakes at most this often while records come; higher costs less CPU at low rates, lower gives lower latency', default: String(DEFAULT_WAKEUP_MS), parse: integerParser({ min: 1, max: 10_000 }) },
  { name: 'ringbuf_map_name', description: 'name of the ring buffer map in the BPF objects', default: 'events', parse: parseNonEmpty },
  { name: 'ringbuf_size', description: 'ring buffer size: a power of two from 4K to 2G', default: '8M', parse: parseRingbufSize },
  { name: 'sequence_key', description: 'add the trace\'s sequence number under this key (gaps are records lost in the kernel)', parse: parseNonEmpty },
  { name: 'container_metadata', description: 'end each record of the built-in traces with cgroup_id, container_id (when its cgroup names one) and mntns_id', default: 'on', parse: parseBool },
  { name: 'container_runtime_metadata', description: "add what the node's container runtimes say of a record's container (a CRI pod's kubernetes map; a docker or podman container's container_name and container_image), read from their sockets", default: 'on', parse: parseBool },
  { name: 'kubernetes_annotations', description: "include the pod's annotations in the kubernetes map", default: 'off', parse: parseBool },
  { name: 'cri_socket', description: "a CRI runtime's socket (default: containerd's /run/containerd/containerd.sock and CRI-O's /var/run/crio/crio.sock, where they are)", parse: parseNonEmpty },
  { name: 'docker_socket', description: "the Docker Engine API's socket (default /var/run/docker.sock, where it is)", parse: parseNonEmpty },
  { name: 'podman_socket', description: "podman's API socket (default /run/podman/podman.sock, where it is)", parse: parseNonEmpty },
  { name: 'trace_error', description: 'when a trace cannot attach: continue (log it, run the others) or exit', default: 'continue', parse: enumParser(['continue', 'exit']) },
  { name: 'storage.type', description: 'memory (when unset), or filesystem: each batch is written under storage.path before it is routed and kept until every output has it safe, so a crash loses none (replayed at the next start)', parse: enumParser(['memory', 'filesystem']) },
  ...filterKeys,
  ...bpfObjectKeys,
];

/** The ring buffer map of every built-in trace (bpf/common.bpf.h). */
const BUILT_IN_RING = 'events';

/**
 * Trace keys whose items are bounded in all (kernel-side arrays: at most 64
 * pids, 16 ports...): too many is an error at the key's last line, when the
 * config is read (so --dry-run tells), not a failure at start.
 */
function checkItemCounts(section: ConfigSection, parsed: SectionValues, traces: readonly TraceSelection[]): void {
  for (const key of traces.flatMap((t) => t.trace.keys ?? [])) {
    if (key.maxItems === undefined || !parsed.values.has(key.name)) continue;
    const items = new Set((parsed.values.get(key.name) as unknown[]).flat(2));
    if (items.size <= key.maxItems) continue;
    const last = section.entries.filter((e) => e.name === key.name).at(-1)!;
    throw ConfigError.at(last, `${last.key}: ${items.size} given in all, at most ${key.maxItems}`);
  }
}

/**
 * The filter keys: at most so many items of a kind in all (include and
 * exclude), at the last line that adds some; and a trace's own include key
 * (malloc_pid) not with the input-wide one of its kind (pid), which would
 * leave it unclear which one the trace takes.
 */
function checkFilterKeys(section: ConfigSection, parsed: SectionValues, traces: readonly TraceSelection[]): void {
  for (const kind of FILTER_KINDS) {
    const names = [kind, `exclude_${kind}`];
    const items = new Set(names.flatMap((n) => ((parsed.values.get(n) as unknown[] | undefined) ?? []).flat(2).map((i) => JSON.stringify(i))));
    if (items.size > MAX_FILTER_ITEMS[kind]) {
      const last = section.entries.filter((e) => names.includes(e.name)).at(-1)!;
      throw ConfigError.at(last, `${last.key}: ${items.size} ${kind} items given in all (${names.join(' and ')}), at most ${MAX_FILTER_ITEMS[kind]}`);
    }
  }
  for (const key of traces.flatMap((t) => t.trace.keys ?? [])) {
    const wide = key.filter && parsed.entryOf(key.filter);
    const own = parsed.entryOf(key.name);
    if (!wide || !own) continue;
    const [first, second] = own.line < wide.line ? [own, wide] : [wide, own];
    throw ConfigError.at(second, `${second.key} and ${first.key} (line ${first.line}) both set: ${key.name} narrows its trace alone and ${key.filter} every trace of the input; use one of them`);
  }
}

export function loadInput(section: ConfigSection, index: number, deps: ConfigDeps, configDir: string, warnings: string[]): InputSettings {
  const nameEntry = sectionName(section, '[INPUT]');
  if (nameEntry.value.toLowerCase() !== 'ebpf') {
    throw ConfigError.at(nameEntry, `input plugin ${quoteExcerpt(nameEntry.value)} is not supported: ebpf-forward's only input is ebpf`);
  }
  const validTraces = () => listNames([...deps.traces.keys()].sort());

  const traces: TraceSelection[] = [];
  for (const entry of section.entries.filter((e) => e.name === 'trace')) {
    const trace = deps.traces.get(entry.value);
    if (!trace) {
      const hint = /[\s,]/.test(entry.value) ? ' (one trace per Trace line)' : '';
      const unset = entry.unsetVariables ? ` (${entry.unsetVariables.map((v) => `\${${v}}`).join(', ')} is not set)` : '';
      throw ConfigError.at(entry, `unknown trace ${quoteExcerpt(entry.value)}${hint}${unset}; valid traces: ${validTraces()}`);
    }
    const twice = traces.find((t) => t.trace === trace);
    if (twice) throw ConfigError.at(entry, `trace ${trace.name} is selected twice in this input (first at line ${twice.line})`);
    traces.push({ trace, file: entry.file, line: entry.line });
  }
  // BPF_* keys make a trace of their own (or say what they lack, below).
  const hasObject = section.entries.some((e) => e.name.startsWith('bpf_'));
  if (traces.length === 0 && !hasObject) {
    throw ConfigError.at(section, `[INPUT] ebpf needs at least one Trace (or a BPF_Object); valid traces: ${validTraces()}`);
  }
  const selected = new Set(traces.map((t) => t.trace));

  // Which traces declare each trace key (two may share a name).
  const keyOwners = new Map<string, TraceDefinition[]>();
  for (const trace of deps.traces.values()) {
    for (const key of trace.keys ?? []) keyOwners.set(key.name, [...(keyOwners.get(key.name) ?? []), trace]);
  }
  const commonSpecs = new Map(ebpfInputKeys.map((s) => [s.name, s]));

  const parsed = new SectionValues();
  for (const entry of section.entries) {
    if (entry.name === 'name') continue;
    const common = commonSpecs.get(entry.name);
    if (common) {
      parsed.set(entry, common);
      continue;
    }
    const owners = keyOwners.get(entry.name);
    if (owners) {
      const keys = owners.filter((t) => selected.has(t)).map((t) => t.keys!.find((k) => k.name === entry.name)!);
      if (keys.length === 0) {
        const names = owners.map((t) => t.name);
        throw ConfigError.at(entry, `${entry.key} is a key of ${names.join(' and ')}, which this input doesn't trace: add "Trace ${names[0]}" or remove ${entry.key}`);
      }
      // Every selected trace that declares the key must accept the value.
      parsed.set(entry, { repeatable: keys[0]!.repeatable, parse: (v) => keys.map((k) => k.parse(v))[0] });
      continue;
    }
    const known = ['name', ...commonSpecs.keys(), ...traces.flatMap((t) => (t.trace.keys ?? []).map((k) => k.name))];
    throw unknownKey(entry, '[INPUT] ebpf', new Set(known));
  }
  parsed.fillDefaults(ebpfInputKeys);
  checkItemCounts(section, parsed, traces);
  checkFilterKeys(section, parsed, traces);

  // A BPF object of the user's own: one more trace, checked against the object now.
  const ringbufMapName = parsed.values.get('ringbuf_map_name') as string;
  const own = bpfObjectSelection({
    object: parsed.entryOf('bpf_object'),
    recordType: parsed.entryOf('bpf_record_type'),
    timeField: parsed.entryOf('bpf_time_field'),
    sets: section.entries.filter((e) => e.name === 'bpf_set'),
    ringbufMapName,
    ringbufEntry: parsed.entryOf('ringbuf_map_name'),
    configDir,
  });
  if (own) {
    const ring = parsed.entryOf('ringbuf_map_name');
    if (traces.length > 0 && ring && ringbufMapName !== BUILT_IN_RING) {
      // The key is the input's: the built-in traces' ring is always "events".
      throw ConfigError.at(ring, `${ring.key} ${ringbufMapName}: the traces of this input (${traces.map((t) => t.trace.name).join(', ')}) have their ring buffer map named ${BUILT_IN_RING}; put the BPF_Object in an [INPUT] of its own, or name its ring buffer map ${BUILT_IN_RING}`);
    }
    const sequence = parsed.entryOf('sequence_key');
    if (sequence) {
      const problem = `${sequence.key}: the records of a BPF_Object carry no sequence number (only the built-in traces number theirs)`;
      if (traces.length === 0) throw ConfigError.at(sequence, `${problem}; remove ${sequence.key}`);
      warnings.push(`${sequence.file}:${sequence.line}: ${problem}, so it is added to the records of ${traces.map((t) => t.trace.name).join(', ')} only`);
    }
    traces.push(own);
  }

  // Fluent Bit names input instances per plugin: ebpf.0, ebpf.1...
  const instanceName = `ebpf.${index}`;
  const tag = (parsed.values.get('tag') as string | undefined) ?? instanceName;
  parsed.values.set('tag', tag);
  return {
    file: section.file,
    line: section.line,
    index,
    tag,
    instance: (parsed.values.get('alias') as string | undefined) ?? instanceName,
    traces,
    values: parsed.values,
  };
}
