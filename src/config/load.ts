// From a classic config file to AppConfig: which sections and keys
// ebpf-forward takes, their types and defaults, and one clear ConfigError
// (file:line) for anything else.
import { dirname, resolve } from 'node:path';
import { logLevels, type LogLevel } from '../log.js';
import { NamedFileError } from '../outputs/types.js';
import { checkStorageFolder, StorageError, storageFolderName } from '../storage/folder.js';
import { enumParser, integerParser, parseBearerToken, parseBool, parseNonEmpty, secondsParser, sizeParser } from './keys.js';
import { compileMatch } from './match.js';
import { ConfigError, quoteExcerpt, type AppConfig, type ConfigSection, type InputSettings, type KeySpec, type OutputSettings, type ServiceSettings } from './model.js';
import type { ConfigDeps } from './deps.js';
import { loadInput } from './input-section.js';
import type { ParseOptions } from './parser.js';
import { listNames, parseEntry, sectionName, SectionValues, unknownKey } from './section-values.js';
import { parseConfigFile } from './yaml.js';

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
function loadOutput(section: ConfigSection, index: number, deps: ConfigDeps, onlyRoute: boolean, configDir: string): OutputSettings {
  const nameEntry = sectionName(section, '[OUTPUT]');
  const plugin = deps.outputs.get(nameEntry.value.toLowerCase());
  if (!plugin) {
    throw ConfigError.at(nameEntry, `output plugin ${quoteExcerpt(nameEntry.value)} is not supported; supported outputs: ${listNames([...deps.outputs.keys()].sort())}`);
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
    if (first) throw ConfigError.at(item, `instance name ${quoteExcerpt(item.instance)} is already used by the section at ${first.file}:${first.line}: give each an Alias of its own`);
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
