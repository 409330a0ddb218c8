// A pipeline written on the command line, as Fluent Bit takes it:
//   ebpf-forward -i ebpf -p trace=trace_vfs -t host.ebpf -o forward -p host=127.0.0.1 -m '*' -f 1
// becomes the same sections of located entries a config file gives (file
// "command line", line: the argument's position), so that loadSections
// applies the same keys, checks and errors. A -c file's sections come after
// the command line's, as Fluent Bit reads them.
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { OutputPlugin } from '../outputs/types.js';
import type { TraceDefinition } from '../traces/types.js';
import type { ConfigDeps } from './deps.js';
import { ebpfInputKeys } from './input-section.js';
import { loadConfig, loadSections, warningCollector } from './load.js';
import { ConfigError, type AppConfig, type ConfigEntry, type ConfigSection, type KeySpec } from './model.js';
import { parseConfigFile } from './yaml.js';

/** Where command-line items are said to be, in messages: "command line:5: ...". */
export const COMMAND_LINE = 'command line';

/** Flags as Fluent Bit spells them (src/fluent-bit.c), those ebpf-forward takes. */
const flags = {
  config: { type: 'string', short: 'c' },
  input: { type: 'string', short: 'i', multiple: true },
  output: { type: 'string', short: 'o', multiple: true },
  filter: { type: 'string', short: 'F', multiple: true },
  prop: { type: 'string', short: 'p', multiple: true },
  tag: { type: 'string', short: 't', multiple: true },
  match: { type: 'string', short: 'm', multiple: true },
  flush: { type: 'string', short: 'f', multiple: true },
  storage_path: { type: 'string', short: 'b', multiple: true },
  log_file: { type: 'string', short: 'l', multiple: true },
  parser: { type: 'string', short: 'R', multiple: true },
  daemon: { type: 'boolean', short: 'd', multiple: true },
  http_server: { type: 'boolean', short: 'H', multiple: true },
  http_listen: { type: 'string', short: 'L', multiple: true },
  http_port: { type: 'string', short: 'P', multiple: true },
  'enable-hot-reload': { type: 'boolean', short: 'Y', multiple: true },
  'dry-run': { type: 'boolean', short: 'D' },
  verbose: { type: 'boolean', short: 'v', multiple: true },
  quiet: { type: 'boolean', short: 'q' },
  help: { type: 'boolean', short: 'h', multiple: true },
  'help-json': { type: 'boolean', short: 'J', multiple: true },
  version: { type: 'boolean', short: 'V' },
} as const;

/** [SERVICE] keys that have a flag of their own. */
const serviceFlags: Partial<Record<keyof typeof flags, string>> = {
  flush: 'flush',
  storage_path: 'storage.path',
  daemon: 'daemon',
  http_server: 'http_server',
  http_listen: 'http_listen',
  http_port: 'http_port',
  'enable-hot-reload': 'hot_reload',
};

export interface HelpRequest {
  format: 'text' | 'json';
  /** Position of the flag among the arguments (from 0). */
  index: number;
  /** The plugin named last before -h / -J (Fluent Bit then shows that plugin's keys). */
  plugin?: { kind: 'input' | 'output' | 'either'; name: string; at: ConfigEntry };
}

export interface CommandLine {
  /** -c FILE, as given. */
  configFile?: string;
  /** Sections from -i/-o/-F with their -p/-t/-m, and one [SERVICE] of -f/-b/-d/-H/-L/-P/-Y (when any). */
  sections: ConfigSection[];
  /** -l FILE: where log lines go instead of stderr. */
  logFile?: string;
  dryRun: boolean;
  verbosity: number;
  quiet: boolean;
  version: boolean;
  /** The first -h / -J: Fluent Bit acts on it where it stands, so later arguments don't count. */
  help?: HelpRequest;
}

function entry(key: string, value: string, line: number): ConfigEntry {
  return { file: COMMAND_LINE, line, key, name: key.toLowerCase(), value: value.trim() };
}

/**
 * Reads the arguments in order. Throws ConfigError at the argument
 * ("command line:N: ...") for what Fluent Bit would ignore or misread, and a
 * plain Error for what parseArgs refuses (an unknown flag, a missing value).
 */
export function parseCommandLine(argv: string[]): CommandLine {
  const { tokens } = parseArgs({ args: argv, options: flags, strict: true, allowPositionals: true, tokens: true });
  const result: CommandLine = { sections: [], dryRun: false, verbosity: 0, quiet: false, version: false };
  const service: ConfigSection = { file: COMMAND_LINE, line: 0, name: 'service', entries: [] };
  let last: ConfigSection | undefined;

  const lastPlugin = (flag: string, line: number, wanted?: 'input' | 'output'): ConfigSection => {
    const what = wanted === 'input' ? 'an input (-i)' : wanted === 'output' ? 'an output (-o)' : 'a plugin (-i or -o)';
    if (!last) throw new ConfigError(COMMAND_LINE, line, `${flag} applies to the plugin named last, and no plugin is named before it: put ${what} first`);
    if (wanted && last.name !== wanted) {
      const name = last.entries[0]!.value;
      throw new ConfigError(COMMAND_LINE, line, `${flag} applies to ${what}, and the plugin named last is the ${last.name} ${name} (argument ${last.line})`);
    }
    return last;
  };

  let previous: (typeof tokens)[number] | undefined;
  for (const token of tokens) {
    const before = previous;
    previous = token;
    if (token.kind === 'option-terminator') continue;
    const line = token.index + 1;
    if (token.kind === 'positional') {
      // "-h ebpf", "-J forward": the plugin whose keys to show, besides Fluent Bit's "-i ebpf -h".
      const helpFlag = before?.kind === 'option' && (before.name === 'help' || before.name === 'help-json');
      if (!helpFlag || !result.help || result.help.plugin || before.index !== result.help.index) {
        throw new ConfigError(COMMAND_LINE, line, `unexpected argument ${JSON.stringify(token.value)}: flags take one value each (-p key=value), and a config file comes with -c FILE`);
      }
      const at = entry('Name', token.value, line);
      result.help.plugin = { kind: 'either', name: at.value.toLowerCase(), at };
      continue;
    }
    const value = token.value ?? '';
    const name = token.name as keyof typeof flags;
    switch (name) {
      case 'config':
        result.configFile = value;
        break;
      case 'input':
      case 'output':
      case 'filter':
        last = { file: COMMAND_LINE, line, name: name, entries: [entry('Name', value, line)] };
        result.sections.push(last);
        break;
      case 'prop': {
        const section = lastPlugin(`-p ${value}`, line);
        const equals = value.indexOf('=');
        if (equals <= 0) throw new ConfigError(COMMAND_LINE, line, `-p takes key=value (e.g. -p trace=trace_exec), not ${JSON.stringify(value)}`);
        section.entries.push(entry(value.slice(0, equals).trim(), value.slice(equals + 1), line));
        break;
      }
      case 'tag':
        lastPlugin('-t', line, 'input').entries.push(entry('Tag', value, line));
        break;
      case 'match':
        lastPlugin('-m', line, 'output').entries.push(entry('Match', value, line));
        break;
      case 'log_file':
        result.logFile = value;
        break;
      case 'parser':
        throw new ConfigError(COMMAND_LINE, line, '-R takes a parsers file, and ebpf-forward parses nothing: trace records are structured already');
      case 'dry-run':
        result.dryRun = true;
        break;
      case 'verbose':
        result.verbosity++;
        break;
      case 'quiet':
        result.quiet = true;
        break;
      case 'version':
        result.version = true;
        break;
      case 'help':
      case 'help-json':
        if (result.help) break;
        result.help = { format: name === 'help' ? 'text' : 'json', index: token.index };
        if (last && (last.name === 'input' || last.name === 'output')) {
          const at = last.entries[0]!;
          result.help.plugin = { kind: last.name, name: at.value.toLowerCase(), at };
        }
        break;
      default: {
        const key = serviceFlags[name]!;
        if (service.entries.length === 0) service.line = line;
        service.entries.push(entry(key, token.value ?? 'on', line));
      }
    }
  }
  if (service.entries.length > 0) result.sections.unshift(service);
  return result;
}

/**
 * The AppConfig of a command line, merged with its -c file where both are
 * given: the command line's inputs and outputs first (ebpf.0 is the first
 * -i), then the file's, all checked together as one config.
 */
export function loadCommandLine(commandLine: CommandLine, deps: ConfigDeps, cwd = process.cwd()): AppConfig {
  const { configFile, sections } = commandLine;
  if (configFile && sections.length === 0) return loadConfig(resolve(cwd, configFile), deps);
  if (!configFile) {
    // A -F is refused by the loader, with its own message.
    if (!sections.some((s) => s.name === 'input' || s.name === 'filter')) {
      throw new ConfigError(COMMAND_LINE, 0, 'no input: give a config file (-c FILE) or a pipeline, e.g. -i ebpf -p trace=trace_exec -o stdout');
    }
    // Relative paths (BPF_Object, tls.*) resolve from the working folder.
    return loadSections(sections, join(cwd, COMMAND_LINE), deps);
  }
  const file = resolve(cwd, configFile);
  const warnings: string[] = [];
  const fileSections = parseConfigFile(file, deps.env ?? process.env, { onWarning: warningCollector(warnings) });
  return loadSections([...sections, ...fileSections], file, deps, warnings);
}

// --- help: the plugins and each one's keys with defaults, as -h PLUGIN and -J show them.

export interface PluginKeyHelp {
  name: string;
  description: string;
  default?: string;
  repeatable?: boolean;
}

export interface PluginHelp {
  type: 'input' | 'output';
  name: string;
  description: string;
  properties: PluginKeyHelp[];
  /** ebpf only: the traces, each with the keys it adds to its input. */
  traces?: { name: string; description: string; properties: PluginKeyHelp[] }[];
}

const EBPF_DESCRIPTION = 'traces kernel events with eBPF (as in_ebpf) and makes each a Fluent record';
/** Keys every [OUTPUT] takes besides its plugin's own (handled by the loader). */
const OUTPUT_COMMON_KEYS: PluginKeyHelp[] = [
  { name: 'match', description: 'tags to take: a pattern where * is any run of characters' },
  { name: 'match_regex', description: 'tags to take: a regular expression tried at the start of the tag' },
  { name: 'alias', description: 'instance name in logs and metrics (default <plugin>.N)' },
];

const keyHelp = (spec: Pick<KeySpec, 'name' | 'description' | 'default' | 'repeatable'>): PluginKeyHelp => ({
  name: spec.name,
  description: spec.description,
  ...(spec.default !== undefined && { default: spec.default }),
  ...(spec.repeatable && { repeatable: true }),
});

export function ebpfInputHelp(traces: ReadonlyMap<string, TraceDefinition>): PluginHelp {
  return {
    type: 'input',
    name: 'ebpf',
    description: EBPF_DESCRIPTION,
    properties: ebpfInputKeys.map(keyHelp),
    traces: [...traces.values()]
      .sort((a, b) => (a.name < b.name ? -1 : 1))
      .map((t) => ({ name: t.name, description: t.summary, properties: (t.keys ?? []).map(keyHelp) })),
  };
}

export function outputHelp(plugin: OutputPlugin): PluginHelp {
  return { type: 'output', name: plugin.name, description: plugin.summary, properties: [...OUTPUT_COMMON_KEYS, ...plugin.keys.map(keyHelp)] };
}

/** The help of the plugin -h / -J came after, or a ConfigError at its -i/-o if there is no such plugin. */
export function pluginHelp(plugin: NonNullable<HelpRequest['plugin']>, deps: ConfigDeps): PluginHelp {
  if (plugin.kind !== 'output' && plugin.name === 'ebpf') return ebpfInputHelp(deps.traces);
  const outputs = [...deps.outputs.keys()].sort().join(', ');
  if (plugin.kind === 'either' && !deps.outputs.has(plugin.name)) {
    throw ConfigError.at(plugin.at, `no plugin named ${JSON.stringify(plugin.at.value)}; inputs: ebpf; outputs: ${outputs}`);
  }
  if (plugin.kind === 'input') {
    throw ConfigError.at(plugin.at, `input plugin ${JSON.stringify(plugin.at.value)} is not supported: ebpf-forward's only input is ebpf`);
  }
  const output = deps.outputs.get(plugin.name);
  if (output) return outputHelp(output);
  throw ConfigError.at(plugin.at, `output plugin ${JSON.stringify(plugin.at.value)} is not supported; supported outputs: ${outputs}`);
}

/** Every plugin's help, for -J alone (Fluent Bit's JSON schema of all plugins). */
export function allPluginsHelp(version: string, deps: ConfigDeps): { 'ebpf-forward': { version: string }; inputs: PluginHelp[]; outputs: PluginHelp[] } {
  return {
    'ebpf-forward': { version },
    inputs: [ebpfInputHelp(deps.traces)],
    outputs: [...deps.outputs.values()].map(outputHelp),
  };
}

function keyLines(properties: PluginKeyHelp[], indent: string): string[] {
  const width = Math.max(...properties.map((p) => p.name.length)) + 2;
  return properties.map((p) => {
    const notes = [p.default !== undefined && `default: ${p.default}`, p.repeatable && 'repeatable'].filter(Boolean);
    return `${indent}${p.name.padEnd(width)}${p.description}${notes.length ? ` (${notes.join(', ')})` : ''}`;
  });
}

/** A plugin's help as text: its description, its keys with defaults, and (ebpf) each trace's keys. */
export function pluginHelpText(help: PluginHelp): string {
  const lines = [`${help.name} ${help.type} plugin: ${help.description}`, '', 'Keys:', ...keyLines(help.properties, '  ')];
  for (const trace of help.traces ?? []) {
    lines.push('', `Trace ${trace.name}: ${trace.description}`);
    if (trace.properties.length > 0) lines.push(...keyLines(trace.properties, '  '));
  }
  return `${lines.join('\n')}\n`;
}
