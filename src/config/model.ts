// What a configuration is once read: sections of located key/value entries
// (the classic format's structure), and the typed settings built from them.
import type { LogLevel } from '../log.js';
import type { TraceDefinition } from '../traces/types.js';

export interface Located {
  /** Absolute path of the file the item was read from. */
  file: string;
  /** 1-based line number. */
  line: number;
  /** 1-based column, where the format tells it (YAML). */
  column?: number;
}

export interface ConfigEntry extends Located {
  /** The key as written (e.g. "Log_Level"). */
  key: string;
  /** The key lower-cased, for lookups (Fluent Bit's keys are case-insensitive). */
  name: string;
  /** The value with ${VAR}s expanded and surrounding white space trimmed. */
  value: string;
  /** Variables the value used that are set nowhere (they expanded to ""), for error hints. */
  unsetVariables?: string[];
}

export interface ConfigSection extends Located {
  /** The section name lower-cased: "service", "input", "output", "upstream", "node"... */
  name: string;
  entries: ConfigEntry[];
}

/**
 * At most this many characters of a config's own text go into a message: the
 * file given may be a secret one (`-c /etc/shadow`) or a huge one.
 */
const EXCERPT_CHARACTERS = 24;

/** Text from a config file as messages quote it: in JSON quotes, cut to a short slice. */
export function quoteExcerpt(text: string): string {
  const characters = [...text];
  if (characters.length <= EXCERPT_CHARACTERS) return JSON.stringify(text);
  return `${JSON.stringify(characters.slice(0, EXCERPT_CHARACTERS).join(''))}... (${characters.length} characters)`;
}

/** Config text shown bare when it is a short word or name=value, else as quoteExcerpt does. */
export function showText(text: string): string {
  return /^[\w.=:/*@-]{1,40}$/.test(text) ? text : quoteExcerpt(text);
}

/**
 * A problem in a configuration file; the message starts with "file:line: ".
 * Line 0 means the file as a whole (it can't be read, it lacks a section):
 * the message is then "file: problem".
 */
export class ConfigError extends Error {
  constructor(
    readonly file: string,
    readonly line: number,
    readonly problem: string,
    readonly column?: number,
  ) {
    super(line > 0 ? `${file}:${line}${column ? `:${column}` : ''}: ${problem}` : `${file}: ${problem}`);
    this.name = 'ConfigError';
  }

  /** An error at a config item: its file, line and (YAML) column. */
  static at(where: Located, problem: string): ConfigError {
    return new ConfigError(where.file, where.line, problem, where.column);
  }
}

/** One `Key value` an input or output understands. */
export interface KeySpec {
  /** Lower-case name, as Fluent Bit documents it (e.g. "retry_limit", "tls.verify"). */
  name: string;
  description: string;
  /** Default value as it would be written in the config; absent: no default. */
  default?: string;
  /** May appear several times; its value is then an array, in order. */
  repeatable?: boolean;
  /** Checks and converts a value; throws an Error whose message is shown to the user. */
  parse(value: string): unknown;
}

/** Parsed values of a section's keys by lower-case name (defaults filled in). */
export type KeyValues = ReadonlyMap<string, unknown>;

export interface ServiceSettings {
  /** Seconds between flushes of buffered records to outputs (Fluent Bit's Flush, may be fractional). */
  flushSeconds: number;
  /** Seconds given on shutdown to deliver what is buffered (Fluent Bit's Grace). */
  graceSeconds: number;
  logLevel: LogLevel;
  /** storage.path: where outputs may spool records to disk; absent: memory only. */
  storagePath?: string;
  /** All of [SERVICE]'s values by key name, for later features. */
  values: KeyValues;
  /** Where each key set was written (keys left to their defaults are absent): a failure at start names it. */
  where?: ReadonlyMap<string, Located>;
}

export interface TraceSelection extends Located {
  trace: TraceDefinition;
}

export interface InputSettings extends Located {
  /** Position among the [INPUT] Name ebpf sections, from 0 ("ebpf.0"). */
  index: number;
  tag: string;
  /** Alias or "ebpf.N": the instance name in logs and metrics. */
  instance: string;
  traces: TraceSelection[];
  values: KeyValues;
}

export interface OutputSettings extends Located {
  /** Plugin name, lower-case: "forward", "stdout". */
  plugin: string;
  /**
   * Alias or "<plugin>.N". N counts every [OUTPUT] from 0 whatever its plugin,
   * as Fluent Bit numbers output instances (stdout.0 then forward.1).
   */
  instance: string;
  /** Match pattern (Fluent Bit wildcards) or Match_Regex. */
  match: { kind: 'wildcard' | 'regex'; pattern: string };
  /** The plugin's own keys, parsed by its KeySpecs. */
  values: KeyValues;
}

export interface AppConfig {
  /** The main file's absolute path; relative paths in it are relative to its folder. */
  file: string;
  service: ServiceSettings;
  inputs: InputSettings[];
  /** May be empty: the caller decides what runs without an [OUTPUT] (the CLI prints to stdout). */
  outputs: OutputSettings[];
  /** Things worth a warning that are not errors (e.g. "file:line: ${X} is not set"). */
  warnings?: string[];
}
