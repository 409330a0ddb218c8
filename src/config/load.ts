// From a classic config file to AppConfig: which sections and keys
// ebpf-forward takes, their types and defaults, and one clear ConfigError
// (file:line) for anything else.
import { dirname, resolve } from 'node:path';
import { logLevels, type LogLevel } from '../log.js';
import { NamedFileError, type OutputPlugin } from '../outputs/types.js';
import { filterKeys } from '../task-filter/keys.js';
import { FILTER_KINDS, MAX_FILTER_ITEMS } from '../task-filter/filter.js';
import { checkStorageFolder, StorageError, storageFolderName } from '../storage/folder.js';
import type { TraceDefinition } from '../traces/types.js';
import { bpfObjectKeys, bpfObjectSelection } from './bpf-object.js';
import { enumParser, integerParser, MAX_TIMER_SECONDS, parseBearerToken, parseBool, parseNonEmpty, secondsParser, sizeParser } from './keys.js';
import { compileMatch } from './match.js';
import {
  ConfigError,
  quoteExcerpt,
  showText,
  type AppConfig,
  type ConfigEntry,
  type ConfigSection,
  type InputSettings,
  type KeySpec,
  type Located,
  type OutputSettings,
  type ServiceSettings,
  type TraceSelection,
} from './model.js';
import type { ParseOptions } from './parser.js';
import { parseConfigFile } from './yaml.js';

export interface ConfigDeps {
  /** Traces by the name used in `Trace`. */
  traces: ReadonlyMap<string, TraceDefinition>;
  /** Output plugins by the name used in `[OUTPUT] Name`. */
  outputs: ReadonlyMap<string, OutputPlugin>;
  /** Where ${VAR}s come from after @SET; default process.env. */
  env?: Record<string, string | undefined>;
}

function refuseDaemon(value: string): boolean {
  if (parseBool(value)) {
    throw new Error('On is not supported: ebpf-forward stays in the foreground; run it under a supervisor (systemd, a container runtime) instead');
  }
  return false;
}

/** [SERVICE] keys. Later features read the ones not in ServiceSettings from `values`. */
export const serviceKeys: readonly KeySpec[] = [
  { name: 'flush', description: 'seconds between flushes to the outputs (may be fractional)', default: '1', parse: secondsParser({ fractional: true, above: 0 }) },
  { name: 'grace', description: 'seconds given on shutdown to deliver buffered records', default: '5', parse: secondsParser({ min: 0 }) },
  { name: 'log_level', description: `${logLevels.join(', ')}`, default: 'info', parse: enumParser<LogLevel>(logLevels, { warning: 'warn' }) },
  { name: 'daemon', description: 'only Off: run under a supervisor instead', default: 'off', parse: refuseDaemon },
  { name: 'hot_reload', description: 'SIGHUP and POST /api/v2/reload read the -c config again and replace the pipeline (-Y)', default: 'off', parse: parseBool },
  { name: 'http_server', description: 'serve metrics and health over HTTP (see HTTP_Listen, HTTP_Port)', default: 'off', parse: parseBool },
  { name: 'http_listen', description: 'address of the HTTP server (0.0.0.0: every interface, as Fluent Bit; 127.0.0.1 keeps it local)', default: '0.0.0.0', parse: parseNonEmpty },
  { name: 'http_port', description: 'port of the HTTP server', default: '2020', parse: integerParser({ min: 1, max: 65535 }) },
  { name: 'http_reload_allow', description: 'who may POST /api/v2/reload (with Hot_Reload On): loopback (127.0.0.0/8, ::1) or all', default: 'loopback', parse: enumParser(['loopback', 'all']) },
  { name: 'http_reload_token', description: 'when set, POST /api/v2/reload also needs "Authorization: Bearer <token>" (at least 16 characters; e.g. from ${VAR})', parse: parseBearerToken },
  { name: 'health_check', description: 'answer /api/v1/health from the outputs\' errors and retry failures', default: 'off', parse: parseBool },
  { name: 'hc_errors_count', description: 'unhealthy once the outputs\' errors in HC_Period exceed this', default: '5', parse: integerParser({ min: 0 }) },
  { name: 'hc_retry_failure_count', description: 'unhealthy once the outputs\' retry failures in HC_Period exceed this', default: '5', parse: integerParser({ min: 0 }) },
  { name: 'hc_period', description: 'seconds: the window errors and retry failures are counted in', default: '60', parse: integerParser({ min: 1, max: 3600 }) },
  { name: 'storage.path', description: 'folder where outputs may spool records to disk', parse: parseNonEmpty },
  { name: 'storage.sync', description: 'normal or full', default: 'normal', parse: enumParser(['normal', 'full']) },
  { name: 'storage.checksum', description: 'checksum spooled chunks', default: 'off', parse: parseBool },
  { name: 'storage.backlog.mem_limit', description: 'memory for records read back from disk', default: '5M', parse: sizeParser({ min: 0 }) },
  { name: 'scheduler.base', description: 'seconds: least wait before a retry', default: '5', parse: secondsParser({ min: 1 }) },
  { name: 'scheduler.cap', description: 'seconds: most wait before a retry', default: '2000', parse: secondsParser({ min: 1 }) },
];

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
  { name: 'wakeup_ms', description: 'the longest a record waits in the ring buffer before it is read (unless the ring fills past a quarter first): ebpf-forward wakes at most this often while records come; higher costs less CPU at low rates, lower gives lower latency', default: '80', parse: integerParser({ min: 1, max: 10_000 }) },
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

const outputCommonKeys: readonly KeySpec[] = [
  { name: 'match', description: 'tags to take: a pattern where * is any run of characters', parse: parseNonEmpty },
  { name: 'match_regex', description: 'tags to take: a regular expression tried at the start of the tag', parse: parseNonEmpty },
  { name: 'alias', description: 'instance name in logs and metrics (default <plugin>.N)', parse: parseNonEmpty },
];

const unsupportedSections: Record<string, string> = {
  filter: 'ebpf-forward has no filters: records go from the input to the outputs as the traces make them',
  parser: 'ebpf-forward parses nothing: trace records are structured already',
  multiline_parser: 'ebpf-forward parses nothing: trace records are structured already',
};

const listNames = (names: Iterable<string>) => [...names].join(', ');
const quote = quoteExcerpt;

/** Runs a parser on an entry's value; its error becomes "file:line: Key: problem". */
function parseEntry(entry: ConfigEntry, parse: (value: string) => unknown): unknown {
  try {
    return parse(entry.value);
  } catch (err) {
    let problem = (err as Error).message;
    // A plugin's parser may quote the whole value: only a slice of it goes out.
    const excerpt = quoteExcerpt(entry.value);
    if (excerpt !== JSON.stringify(entry.value)) problem = problem.split(JSON.stringify(entry.value)).join(excerpt).split(`"${entry.value}"`).join(excerpt);
    // Plugins' own parsers may already name their key ("Format must be...").
    const named = problem.toLowerCase().startsWith(entry.name) && !/[\w.]/.test(problem.charAt(entry.name.length));
    if (!named) problem = `${quoteKey(entry)}: ${problem}`;
    if (entry.unsetVariables) problem += ` (${entry.unsetVariables.map((v) => `\${${v}}`).join(', ')} is not set)`;
    throw ConfigError.at(entry, problem);
  }
}

/** Values of one section's keys, refusing a second value for a key that takes one (as Fluent Bit's config map). */
class SectionValues {
  readonly values = new Map<string, unknown>();
  private readonly firstEntry = new Map<string, ConfigEntry>();

  set(entry: ConfigEntry, spec: { repeatable?: boolean; parse(value: string): unknown }): void {
    const first = this.firstEntry.get(entry.name);
    if (first && !spec.repeatable) {
      const where = first.file === entry.file ? `line ${first.line}` : `${first.file}:${first.line}`;
      throw ConfigError.at(entry, `${quoteKey(entry)} is set twice (first at ${where}); it takes one value`);
    }
    const value = parseEntry(entry, spec.parse);
    if (spec.repeatable) {
      const list = (this.values.get(entry.name) as unknown[] | undefined) ?? [];
      list.push(value);
      this.values.set(entry.name, list);
    } else {
      this.values.set(entry.name, value);
    }
    if (!first) this.firstEntry.set(entry.name, entry);
  }

  entryOf(name: string): ConfigEntry | undefined {
    return this.firstEntry.get(name);
  }

  /** Where each key set was first written. */
  locations(): ReadonlyMap<string, Located> {
    return new Map([...this.firstEntry].map(([name, e]) => [name, { file: e.file, line: e.line, ...(e.column !== undefined && { column: e.column }) }]));
  }

  fillDefaults(specs: readonly KeySpec[]): void {
    for (const spec of specs) {
      if (spec.default === undefined || this.values.has(spec.name)) continue;
      const value = spec.parse(spec.default);
      this.values.set(spec.name, spec.repeatable ? [value] : value);
    }
  }
}

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

/** An entry's key as messages show it (a key can be anything up to the first blank). */
const quoteKey = (entry: ConfigEntry) => showText(entry.key);

function unknownKey(entry: ConfigEntry, section: string, known: Iterable<string>): ConfigError {
  return ConfigError.at(entry, `unknown key ${quote(entry.key)} in ${section}; known keys: ${listNames(known)}`);
}

function loadService(sections: ConfigSection[]): ServiceSettings {
  // Fluent Bit merges every [SERVICE] into one, a later value winning; a key
  // set twice is refused here, as in [INPUT] and [OUTPUT].
  const specs = new Map(serviceKeys.map((s) => [s.name, s]));
  const parsed = new SectionValues();
  for (const section of sections) {
    for (const entry of section.entries) {
      const spec = specs.get(entry.name);
      if (!spec) throw unknownKey(entry, '[SERVICE]', specs.keys());
      parsed.set(entry, spec);
    }
  }
  parsed.fillDefaults(serviceKeys);
  const values = parsed.values;
  const base = values.get('scheduler.base') as number;
  const cap = values.get('scheduler.cap') as number;
  if (cap < base) {
    const at = parsed.entryOf('scheduler.cap') ?? parsed.entryOf('scheduler.base')!;
    throw ConfigError.at(at, `scheduler.cap (${cap}s) is less than scheduler.base (${base}s): the most wait before a retry can't be shorter than the least`);
  }
  return {
    flushSeconds: values.get('flush') as number,
    graceSeconds: values.get('grace') as number,
    logLevel: values.get('log_level') as LogLevel,
    storagePath: values.get('storage.path') as string | undefined,
    values,
    where: parsed.locations(),
  };
}

/** The one Name of a section, lower-cased, or an error at the section's line. */
function sectionName(section: ConfigSection, what: string): ConfigEntry {
  const names = section.entries.filter((e) => e.name === 'name');
  if (names.length === 0) throw ConfigError.at(section, `${what} has no Name`);
  if (names.length > 1) {
    const [first, second] = names as [ConfigEntry, ConfigEntry];
    throw ConfigError.at(second, `${second.key} is set twice (first at line ${first.line}); it takes one value`);
  }
  const name = names[0]!;
  parseEntry(name, parseNonEmpty);
  return name;
}

function loadInput(section: ConfigSection, index: number, deps: ConfigDeps, configDir: string, warnings: string[]): InputSettings {
  const nameEntry = sectionName(section, '[INPUT]');
  if (nameEntry.value.toLowerCase() !== 'ebpf') {
    throw ConfigError.at(nameEntry, `input plugin ${quote(nameEntry.value)} is not supported: ebpf-forward's only input is ebpf`);
  }
  const validTraces = () => listNames([...deps.traces.keys()].sort());

  const traces: TraceSelection[] = [];
  for (const entry of section.entries.filter((e) => e.name === 'trace')) {
    const trace = deps.traces.get(entry.value);
    if (!trace) {
      const hint = /[\s,]/.test(entry.value) ? ' (one trace per Trace line)' : '';
      const unset = entry.unsetVariables ? ` (${entry.unsetVariables.map((v) => `\${${v}}`).join(', ')} is not set)` : '';
      throw ConfigError.at(entry, `unknown trace ${quote(entry.value)}${hint}${unset}; valid traces: ${validTraces()}`);
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

function loadOutput(section: ConfigSection, index: number, deps: ConfigDeps, onlyRoute: boolean, configDir: string): OutputSettings {
  const nameEntry = sectionName(section, '[OUTPUT]');
  const plugin = deps.outputs.get(nameEntry.value.toLowerCase());
  if (!plugin) {
    throw ConfigError.at(nameEntry, `output plugin ${quote(nameEntry.value)} is not supported; supported outputs: ${listNames([...deps.outputs.keys()].sort())}`);
  }
  const common = new Map(outputCommonKeys.map((s) => [s.name, s]));
  const own = new Map(plugin.keys.map((s) => [s.name, s]));

  const commonValues = new SectionValues();
  const parsed = new SectionValues();
  for (const entry of section.entries) {
    if (entry.name === 'name') continue;
    const commonSpec = common.get(entry.name);
    if (commonSpec) commonValues.set(entry, commonSpec);
    else if (own.has(entry.name)) parsed.set(entry, own.get(entry.name)!);
    else throw unknownKey(entry, `[OUTPUT] ${plugin.name}`, ['name', ...common.keys(), ...own.keys()]);
  }
  parsed.fillDefaults(plugin.keys);

  const wildcard = commonValues.entryOf('match');
  const regex = commonValues.entryOf('match_regex');
  let match: OutputSettings['match'];
  if (wildcard && regex) {
    const later = wildcard.line > regex.line ? wildcard : regex;
    const earlier = later === wildcard ? regex : wildcard;
    throw ConfigError.at(later, `set Match or Match_Regex, not both (${earlier.key} is at line ${earlier.line})`);
  } else if (regex) {
    match = { kind: 'regex', pattern: regex.value };
    parseEntry(regex, (pattern) => compileMatch({ kind: 'regex', pattern }));
  } else if (wildcard) {
    match = { kind: 'wildcard', pattern: wildcard.value };
  } else if (onlyRoute) {
    // Fluent Bit's router connects a lone input to a lone output as "Match *".
    match = { kind: 'wildcard', pattern: '*' };
  } else {
    throw ConfigError.at(section, `[OUTPUT] ${plugin.name} has no Match or Match_Regex (Fluent Bit only assumes "Match *" when there is one input and one output)`);
  }

  if (plugin.validate) {
    try {
      plugin.validate(parsed.values);
    } catch (err) {
      throw ConfigError.at(section, `[OUTPUT] ${plugin.name}: ${(err as Error).message}`);
    }
  }
  if (plugin.checkFiles) {
    try {
      plugin.checkFiles(parsed.values, configDir);
    } catch (err) {
      if (!(err instanceof NamedFileError)) throw err;
      // At the key that named the file (a node's tls.* key in an Upstream file: at the [OUTPUT]).
      const entry = section.entries.find((e) => e.name === err.key);
      throw ConfigError.at(entry ?? section, err.message);
    }
  }

  return {
    file: section.file,
    line: section.line,
    plugin: plugin.name,
    // Fluent Bit numbers outputs across plugins: stdout.0, then forward.1.
    instance: (commonValues.values.get('alias') as string | undefined) ?? `${plugin.name}.${index}`,
    match,
    values: parsed.values,
  };
}

/**
 * storage.path as the start will use it (the forward outputs' spools, the
 * journals of storage.type filesystem), checked without creating anything:
 * a folder start would refuse is an error at the key.
 */
function checkStorage(service: ServiceSettings, sections: ConfigSection[], inputs: InputSettings[], outputs: OutputSettings[]): void {
  if (!service.storagePath) return;
  const names = [
    ...inputs.filter((i) => i.values.get('storage.type') === 'filesystem').map((i) => storageFolderName(i.instance)),
    ...outputs.filter((o) => o.plugin === 'forward').map((o) => storageFolderName(o.instance)),
  ];
  try {
    checkStorageFolder(service.storagePath, names);
  } catch (err) {
    if (!(err instanceof StorageError)) throw err;
    const entry = sections.flatMap((s) => s.entries).find((e) => e.name === 'storage.path')!;
    throw ConfigError.at(entry, err.message);
  }
}

function refuseDuplicateInstances(items: (InputSettings | OutputSettings)[]): void {
  const byName = new Map<string, InputSettings | OutputSettings>();
  for (const item of items) {
    const first = byName.get(item.instance);
    if (first) throw ConfigError.at(item, `instance name ${quote(item.instance)} is already used by the section at ${first.file}:${first.line}: give each an Alias of its own`);
    byName.set(item.instance, item);
  }
}

/**
 * Reads and checks a config: YAML when the file name ends in .yaml or .yml
 * (as Fluent Bit chooses), else the classic format. Needs at least one
 * [INPUT]; zero [OUTPUT]s is allowed and left to the caller (the CLI then
 * prints records to stdout), since a config made only to trace is a fair use.
 */
/** Parser warnings as the config's warnings: "file:line: message". */
export function warningCollector(warnings: string[]): NonNullable<ParseOptions['onWarning']> {
  return (f, line, message) => warnings.push(line > 0 ? `${f}:${line}: ${message}` : `${f}: ${message}`);
}

export function loadConfig(path: string, deps: ConfigDeps): AppConfig {
  const file = resolve(path);
  const warnings: string[] = [];
  const sections = parseConfigFile(file, deps.env ?? process.env, { onWarning: warningCollector(warnings) });
  return loadSections(sections, file, deps, warnings);
}

/**
 * The one model behind every way of writing a config (classic file, YAML,
 * command line): sections of entries, each with where it was written, become
 * the AppConfig with the same keys, checks and errors. `file` is the main
 * config (relative paths resolve from its folder); `warnings` so far are kept.
 */
export function loadSections(sections: ConfigSection[], file: string, deps: ConfigDeps, warnings: string[] = []): AppConfig {
  const byKind: Record<'service' | 'input' | 'output', ConfigSection[]> = { service: [], input: [], output: [] };
  for (const section of sections) {
    if (section.name === 'service' || section.name === 'input' || section.name === 'output') {
      byKind[section.name].push(section);
      continue;
    }
    const header = `[${section.name.toUpperCase()}]`;
    const why = unsupportedSections[section.name] ?? 'ebpf-forward reads [SERVICE], [INPUT] and [OUTPUT] sections';
    throw ConfigError.at(section, `${header} sections are not supported: ${why}`);
  }

  const service = loadService(byKind.service);
  const inputs = byKind.input.map((s, i) => loadInput(s, i, deps, dirname(file), warnings));
  for (const [i, input] of inputs.entries()) {
    if (input.values.get('storage.type') !== 'filesystem' || service.storagePath) continue;
    const entry = byKind.input[i]!.entries.find((e) => e.name === 'storage.type')!;
    throw ConfigError.at(entry, `${entry.key} filesystem keeps records under storage.path: set storage.path in [SERVICE]`);
  }
  if (inputs.length === 0) {
    throw new ConfigError(file, 0, 'no [INPUT] section: add one with "Name ebpf" and at least one "Trace"');
  }
  const onlyRoute = byKind.input.length === 1 && byKind.output.length === 1;
  const outputs = byKind.output.map((s, i) => loadOutput(s, i, deps, onlyRoute, dirname(file)));
  refuseDuplicateInstances(inputs);
  refuseDuplicateInstances(outputs);
  checkStorage(service, byKind.service, inputs, outputs);

  return { file, service, inputs, outputs, warnings };
}
