// Reader of Fluent Bit's classic configuration format, following
// src/config_format/flb_cf_fluentbit.c and flb_env.c:
//
//   @SET  name=value          a variable for ${name} (wins over the environment)
//   @INCLUDE path-or-glob     relative to the main file's folder
//   [SECTION]                 at column 1, name case-insensitive
//       Key value with spaces indented; split at the first white space
//       # comment             at column 1 or at the entries' indentation
//
// Where Fluent Bit is lax or surprising we say so in an error instead of
// guessing (noted at each place). A config decides what is traced and where
// every record (command lines included) goes, so files others could change
// are warned about, as sshd and sudo do, and only regular files are read.
import { realpathSync, statSync, type Stats } from 'node:fs';
import { readRegularFile, UnreadableFileError } from './regular-file.js';
import { isUtf8 } from 'node:buffer';
import { createRequire } from 'node:module';
import { hostname } from 'node:os';
import { dirname, isAbsolute, join, resolve, sep } from 'node:path';
import { ConfigError, quoteExcerpt, showText, type ConfigEntry, type ConfigSection, type Located } from './model.js';

export interface ParseOptions {
  /** Told of things that are not errors, e.g. a ${VAR} that is set nowhere. */
  onWarning?(file: string, line: number, message: string): void;
}

export type Env = Record<string, string | undefined>;

/** Entries keep their raw value until every @SET (of every file) is known. */
export interface PendingEntry {
  entry: ConfigEntry;
  raw: string;
}

export interface FileToRead {
  /** The path as the user would recognise it (used in messages). */
  path: string;
  /** realpath: one identity per file, however it was reached. */
  real: string;
}

const describeIndent = (indent: string): string => {
  if (indent === '') return 'no indentation';
  const tabs = [...indent].filter((c) => c === '\t').length;
  const spaces = indent.length - tabs;
  const parts: string[] = [];
  if (spaces) parts.push(`${spaces} space${spaces > 1 ? 's' : ''}`);
  if (tabs) parts.push(`${tabs} tab${tabs > 1 ? 's' : ''}`);
  return parts.join(' + ');
};

/** A config file is text of a few kilobytes; this much is surely not one. */
const MAX_CONFIG_BYTES = 4 << 20;

export type Warn = NonNullable<ParseOptions['onWarning']>;


/** Why others than root (and the user running this) could change or replace `what`, if they could. */
function writableByOthers(st: Stats, what: string): string | undefined {
  const uid = process.geteuid?.() ?? 0;
  if (st.uid !== 0 && st.uid !== uid) return `${what} is owned by uid ${st.uid}`;
  const mode = `mode 0${(st.mode & 0o7777).toString(8)}`;
  // A sticky folder (/tmp) lets others add files, not replace ours.
  if (st.isDirectory() && st.mode & 0o1000) return undefined;
  if (st.mode & 0o002) return `${what} is writable by anyone (${mode})`;
  if (st.mode & 0o020) return `${what} is writable by its group, gid ${st.gid} (${mode})`;
  return undefined;
}

/** Warns, as sshd's StrictModes and sudo do, of a file that others could change or replace. */
function warnIfOthersCanWrite(path: string, real: string, st: Stats, warn: Warn | undefined): void {
  if (!warn) return;
  let problem = writableByOthers(st, 'it');
  for (let dir = dirname(real); !problem; dir = dirname(dir)) {
    problem = writableByOthers(statSync(dir), `its folder ${dir}`);
    if (dir === dirname(dir)) break;
  }
  if (problem) {
    warn(path, 0, `WARNING: ${problem}, so others than root can change what is traced and where every record goes (command lines included): make it root's and not writable by group or others (chown root; chmod go-w)`);
  }
}

/** The file as text; a line that is not UTF-8 is an error, unless it is a comment. */
function decodeText(bytes: Buffer, path: string): string {
  const text = bytes.toString('utf8');
  if (isUtf8(bytes)) return text;
  let start = 0;
  for (const [i, line] of text.split('\n').entries()) {
    const end = bytes.indexOf(0x0a, start);
    const raw = bytes.subarray(start, end < 0 ? bytes.length : end);
    if (!isUtf8(raw) && !/^[ \t]*#/.test(line)) {
      throw new ConfigError(path, i + 1, 'this line is not valid UTF-8: a configuration file is UTF-8 text');
    }
    start = end + 1;
  }
  return text;
}

/** The text of a config file: a regular file of reasonable size (readRegularFile), UTF-8. */
export function readConfigFile({ path, real }: FileToRead, warn: Warn | undefined): { text: string } | { problem: string } {
  try {
    const bytes = readRegularFile(path, MAX_CONFIG_BYTES, { what: 'a configuration file', inspect: (st) => warnIfOthersCanWrite(path, real, st, warn) });
    return { text: decodeText(bytes, path) };
  } catch (err) {
    if (err instanceof UnreadableFileError) return { problem: err.message };
    throw err;
  }
}

// tinyglobby (4 MB of RSS) is loaded by the first include with a wildcard;
// configs are read synchronously, hence require (it ships CommonJS too).
const requireHere = createRequire(import.meta.url);

/** Files matching a glob(3)-style pattern (only *, ? and [...]), sorted. */
export function globConfigFiles(pattern: string): string[] {
  const { globSync } = requireHere('tinyglobby') as typeof import('tinyglobby');
  const parts = pattern.split(sep);
  const firstDynamic = parts.findIndex((p) => /[*?[]/.test(p));
  const base = parts.slice(0, firstDynamic).join(sep) || sep;
  const rest = parts.slice(firstDynamic).join('/');
  const found = globSync(rest, {
    cwd: base,
    absolute: true,
    onlyFiles: true,
    dot: false,
    braceExpansion: false,
    extglob: false,
    globstar: false,
    expandDirectories: false,
  });
  // glob(3) is called with GLOB_NOSORT; a stable order is worth more.
  return found.map((f) => resolve(f)).sort();
}

/**
 * The files of one config as they are read, main file first: each is read
 * once (Fluent Bit refuses a second reading, even outside a cycle), an
 * include cycle is an error at the include, and an include names a file.
 * `directive` names the include in messages (@INCLUDE, includes).
 */
export class ConfigFiles {
  /** Every file read so far, with the include that brought it in. */
  private readonly seen = new Map<string, Located | undefined>();
  /** Files being read, outermost first: a repeat here is a cycle. */
  private readonly stack: FileToRead[] = [];

  constructor(
    private readonly directive: string,
    private readonly warn: Warn | undefined,
  ) {}

  /** The file being read now (the innermost). */
  get current(): FileToRead | undefined {
    return this.stack.at(-1);
  }

  /** Reads `file` (regular, UTF-8, checked as readConfigFile does) and hands its text to `parse`. */
  read(file: FileToRead, includedFrom: Located | undefined, parse: (text: string) => void): void {
    const cycleStart = this.stack.findIndex((f) => f.real === file.real);
    if (includedFrom && cycleStart >= 0) {
      const chain = [...this.stack.slice(cycleStart), file].map((f) => f.path).join(' -> ');
      throw ConfigError.at(includedFrom, `include cycle: ${chain}`);
    }
    if (includedFrom && this.seen.has(file.real)) {
      const first = this.seen.get(file.real);
      const where = first ? ` (first at ${first.file}:${first.line})` : ' (it is the main file)';
      throw ConfigError.at(includedFrom, `${file.path} is already included${where}; a file can be read only once`);
    }
    this.seen.set(file.real, includedFrom);

    const read = readConfigFile(file, this.warn);
    if ('problem' in read) {
      if (includedFrom) throw ConfigError.at(includedFrom, `${this.directive}: cannot read ${file.path}: ${read.problem}`);
      throw new ConfigError(file.path, 0, `cannot read the configuration file: ${read.problem}`);
    }
    this.stack.push(file);
    try {
      // A byte-order mark (some Windows editors write one) is not part of line 1.
      parse(read.text.replace(/^\uFEFF/, ''));
    } finally {
      this.stack.pop();
    }
  }

  /** The file an include names, which must be a file. */
  named(path: string, at: Located): FileToRead {
    try {
      if (!statSync(path).isFile()) throw ConfigError.at(at, `${this.directive}: ${path} is not a file`);
      return { path, real: realpathSync(path) };
    } catch (err) {
      if (err instanceof ConfigError) throw err;
      const e = err as NodeJS.ErrnoException;
      const why = e.code === 'ENOENT' ? 'no such file' : e.code === 'EACCES' ? 'permission denied' : e.message;
      throw ConfigError.at(at, `${this.directive}: cannot read ${path}: ${why}`);
    }
  }
}


class ClassicConfigReader {
  readonly sections: ConfigSection[] = [];
  private readonly pending: PendingEntry[] = [];
  private readonly variables = new Map<string, string>();
  private readonly files: ConfigFiles;

  constructor(
    /** Folder @INCLUDE paths are relative to: the main file's (realpath, as Fluent Bit). */
    private readonly rootDir: string,
    warn: Warn | undefined,
  ) {
    this.files = new ConfigFiles('@INCLUDE', warn);
  }

  readFile(file: FileToRead, includedFrom?: Located): void {
    this.files.read(file, includedFrom, (text) => this.readLines(file.path, text, includedFrom));
  }

  private readLines(path: string, text: string, includedFrom: Located | undefined): void {
    // Indentation is set by the file's first entry and holds for the whole
    // file; each file has its own (as in Fluent Bit).
    let indent: { text: string; line: number } | undefined;
    let section: ConfigSection | undefined;
    const lines = text.split('\n');
    if (lines.at(-1) === '') lines.pop();

    for (let i = 0; i < lines.length; i++) {
      const lineNo = i + 1;
      const fail = (problem: string): never => {
        throw new ConfigError(path, lineNo, problem);
      };
      let line = lines[i]!;
      if (line.endsWith('\r')) line = line.slice(0, -1);

      // Fluent Bit rejects a white-space-only line whose blanks don't match the
      // indentation; nobody means anything by one, so it is a blank line here.
      if (line.trim() === '' || line[0] === '#') continue;

      // A config's first entry is a section header, a directive, or (a
      // forgotten header) an indented key. Anything else is some other file
      // (@INCLUDE /etc/shadow): said without quoting any of it.
      if (!indent && !section && !/^[[@ \t]/.test(line)) {
        if (includedFrom) throw ConfigError.at(includedFrom, `@INCLUDE: ${path} is not a configuration file (it does not start with a [SECTION] header, @INCLUDE or @SET); nothing of it is shown`);
        fail('this is not a configuration file (it does not start with a [SECTION] header, @INCLUDE or @SET); nothing of it is shown');
      }

      if (line[0] === '@') {
        this.directive(line, { file: path, line: lineNo });
        continue;
      }

      if (line[0] === '[') {
        const end = line.indexOf(']');
        if (end < 0) fail(`bad section header ${quoteExcerpt(line.trim())}: missing "]"`);
        const name = line.slice(1, end).trim();
        if (!name) fail('empty section name "[]"');
        // Fluent Bit ignores what follows the "]"; nobody writes it meaning nothing.
        const after = line.slice(end + 1).trim();
        if (after) fail(`${quoteExcerpt(after)} after the section header [${quoteExcerpt(name).slice(1, -1)}]: a header line holds only [NAME] (entries go on the lines below, indented)`);
        section = { file: path, line: lineNo, name: name.toLowerCase(), entries: [] };
        this.sections.push(section);
        continue;
      }

      const lead = /^[ \t]*/.exec(line)![0];
      const body = line.slice(lead.length);
      if (!section) fail(`${quoteExcerpt(body)} is outside of any section: entries go under a [SECTION] header`);
      if (lead === '') {
        fail(`${quoteExcerpt(body)} is not indented: entries of a section must be indented (section headers start at column 1)`);
      }
      if (!indent) {
        indent = { text: lead, line: lineNo };
      } else if (lead !== indent.text) {
        const expected = `this file indents entries with ${describeIndent(indent.text)} (line ${indent.line})`;
        if (lead.startsWith(indent.text)) fail(`indented deeper than the other entries: ${expected}, this line with ${describeIndent(lead)}`);
        if (indent.text.startsWith(lead)) fail(`indented less than the other entries: ${expected}, this line with ${describeIndent(lead)}`);
        fail(`inconsistent use of tabs and spaces: ${expected}, this line with ${describeIndent(lead)}`);
      }

      if (body[0] === '#') continue;
      if (body[0] === '[') {
        fail(`${quoteExcerpt(body)}: groups inside a section are not supported, and a section header must start at column 1`);
      }
      if (body[0] === '@') fail(`${quoteExcerpt(body)}: @INCLUDE and @SET must start at column 1`);

      // Fluent Bit splits at the first space only; a tab works here too.
      const split = /^(\S+)[ \t]+(.*)$/.exec(body);
      if (!split) fail(`key ${quoteExcerpt(body)} has no value: write "Key value"`);
      const [, key, rawValue] = split!;
      const raw = rawValue!.trim();
      if (raw === '') fail(`key ${quoteExcerpt(key!)} has no value: write "Key value"`);

      const entry: ConfigEntry = { file: path, line: lineNo, key: key!, name: key!.toLowerCase(), value: raw };
      section!.entries.push(entry);
      this.pending.push({ entry, raw });
    }
  }

  private directive(line: string, at: Located): void {
    const match = /^@(\S+)(?:[ \t]+(.*))?$/.exec(line)!;
    const command = match[1]!.toUpperCase();
    const argument = (match[2] ?? '').trim();
    if (command === 'INCLUDE') {
      if (!argument) throw ConfigError.at(at, '@INCLUDE needs a file name or a glob pattern');
      this.include(argument, at);
    } else if (command === 'SET') {
      const eq = argument.indexOf('=');
      const name = eq > 0 ? argument.slice(0, eq).trim() : '';
      if (!name) throw ConfigError.at(at, `@SET expects NAME=VALUE, got ${quoteExcerpt(argument)}`);
      // Like Fluent Bit, every @SET is applied before any value is expanded:
      // the last one of a name wins, wherever it is.
      this.variables.set(name, argument.slice(eq + 1).trim());
    } else {
      throw ConfigError.at(at, `unknown directive ${showText(`@${match[1]}`)}: the classic format has @INCLUDE and @SET`);
    }
  }

  private include(argument: string, at: Located): void {
    // Fluent Bit only treats a path with "*" as a pattern; relative paths are
    // relative to the main file's folder (Fluent Bit first tries the current
    // directory, which makes a config mean different things from different
    // places; we don't).
    const path = isAbsolute(argument) ? argument : join(this.rootDir, argument);
    if (!argument.includes('*')) {
      this.readFile(this.files.named(path, at), at);
      return;
    }
    const matches = globConfigFiles(path);
    if (matches.length === 0) {
      // As in Fluent Bit, a pattern that matches nothing is an error.
      const shown = showText(argument);
      throw ConfigError.at(at, `@INCLUDE ${shown}: no file matches ${shown === argument ? path : quoteExcerpt(path)}`);
    }
    for (const file of matches) this.readFile(this.files.named(file, at), at);
  }

  /** ${NAME} from @SET, else the environment, else "" (as Fluent Bit, which warns). */
  expandValues(env: Env, onWarning?: ParseOptions['onWarning']): void {
    expandVariables(this.pending, this.variables, env, '@SET', onWarning);
  }
}

/**
 * Expands each pending entry's ${NAME}s: from `variables` (the file's own,
 * named `definedBy` in warnings), else the environment, else "" (as Fluent
 * Bit, which warns).
 */
export function expandVariables(pending: readonly PendingEntry[], variables: ReadonlyMap<string, string>, env: Env, definedBy: string, onWarning?: ParseOptions['onWarning']): void {
  const lookup = (name: string): string | undefined => {
    const fromFile = variables.get(name);
    if (fromFile !== undefined) return fromFile;
    const fromEnv = env[name];
    if (fromEnv) return fromEnv;
    // Fluent Bit presets HOSTNAME, which shells set without exporting.
    if (name === 'HOSTNAME') return hostname();
    return undefined;
  };
  for (const { entry, raw } of pending) {
    const unset: string[] = [];
    entry.value = raw.replace(/\$\{([^}]+)\}/g, (_text, name: string) => {
      const value = lookup(name);
      // Node turns bytes of the environment that are not UTF-8 into U+FFFD.
      if (value?.includes('\uFFFD') && !variables.has(name)) {
        throw ConfigError.at(entry, `\${${quoteExcerpt(name).slice(1, -1)}}: the environment variable is not valid UTF-8`);
      }
      if (value !== undefined) return value;
      unset.push(name);
      return '';
    });
    if (unset.length) {
      entry.unsetVariables = unset;
      for (const name of unset) onWarning?.(entry.file, entry.line, `\${${name}} is not set (no ${definedBy}, no environment variable): it expands to ""`);
    }
  }
}

/**
 * Reads a classic-format file and the files it includes into sections, in
 * the order they appear (an included file's sections where the @INCLUDE is).
 * Values have their ${VAR}s expanded from @SET variables, then `env`.
 * Throws ConfigError ("file:line: problem") on the first problem.
 */
export function parseClassicConfig(path: string, env: Env = process.env, options: ParseOptions = {}): ConfigSection[] {
  const main = resolve(path);
  let real = main;
  try {
    real = realpathSync(main);
  } catch {
    // readFile reports the unreadable file.
  }
  const reader = new ClassicConfigReader(dirname(real), options.onWarning);
  reader.readFile({ path: main, real });
  reader.expandValues(env, options.onWarning);
  return reader.sections;
}
