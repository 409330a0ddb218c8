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
// guessing (noted at each place).
import { readFileSync, realpathSync, statSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, isAbsolute, join, resolve, sep } from 'node:path';
import { globSync } from 'tinyglobby';
import { ConfigError, type ConfigEntry, type ConfigSection, type Located } from './model.js';

export interface ParseOptions {
  /** Told of things that are not errors, e.g. a ${VAR} that is set nowhere. */
  onWarning?(file: string, line: number, message: string): void;
}

type Env = Record<string, string | undefined>;

/** Entries keep their raw value until every @SET (of every file) is known. */
interface PendingEntry {
  entry: ConfigEntry;
  raw: string;
}

interface FileToRead {
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

const isBlank = (c: string | undefined) => c === ' ' || c === '\t';

class ClassicConfigReader {
  readonly sections: ConfigSection[] = [];
  private readonly pending: PendingEntry[] = [];
  private readonly variables = new Map<string, string>();
  /** Every file read so far, with the @INCLUDE that brought it in. */
  private readonly seen = new Map<string, Located | undefined>();
  /** Files being read, outermost first: a repeat here is a cycle. */
  private readonly stack: FileToRead[] = [];

  constructor(
    /** Folder @INCLUDE paths are relative to: the main file's (realpath, as Fluent Bit). */
    private readonly rootDir: string,
  ) {}

  readFile(file: FileToRead, includedFrom?: Located): void {
    const cycleStart = this.stack.findIndex((f) => f.real === file.real);
    if (includedFrom && cycleStart >= 0) {
      const chain = [...this.stack.slice(cycleStart), file].map((f) => f.path).join(' -> ');
      throw new ConfigError(includedFrom.file, includedFrom.line, `include cycle: ${chain}`);
    }
    if (includedFrom && this.seen.has(file.real)) {
      // Fluent Bit refuses to read a file twice, even outside a cycle.
      const first = this.seen.get(file.real);
      const where = first ? ` (first at ${first.file}:${first.line})` : ' (it is the main file)';
      throw new ConfigError(includedFrom.file, includedFrom.line, `${file.path} is already included${where}; a file can be read only once`);
    }
    this.seen.set(file.real, includedFrom);

    let text: string;
    try {
      text = readFileSync(file.path, 'utf8');
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      const why = e.code === 'ENOENT' ? 'no such file' : e.code === 'EISDIR' ? 'it is a folder' : e.code === 'EACCES' ? 'permission denied' : e.message;
      if (includedFrom) throw new ConfigError(includedFrom.file, includedFrom.line, `@INCLUDE: cannot read ${file.path}: ${why}`);
      throw new ConfigError(file.path, 0, `cannot read the configuration file: ${why}`);
    }

    this.stack.push(file);
    // A byte-order mark (some Windows editors write one) is not part of line 1.
    this.readLines(file.path, text.replace(/^\uFEFF/, ''));
    this.stack.pop();
  }

  private readLines(path: string, text: string): void {
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

      if (line[0] === '@') {
        this.directive(line, { file: path, line: lineNo });
        continue;
      }

      if (line[0] === '[') {
        const end = line.indexOf(']');
        if (end < 0) fail(`bad section header ${JSON.stringify(line.trim())}: missing "]"`);
        const name = line.slice(1, end).trim();
        if (!name) fail('empty section name "[]"');
        section = { file: path, line: lineNo, name: name.toLowerCase(), entries: [] };
        this.sections.push(section);
        continue;
      }

      const lead = /^[ \t]*/.exec(line)![0];
      const body = line.slice(lead.length);
      if (!section) fail(`${JSON.stringify(body)} is outside of any section: entries go under a [SECTION] header`);
      if (lead === '') {
        fail(`${JSON.stringify(body)} is not indented: entries of a section must be indented (section headers start at column 1)`);
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
        fail(`${JSON.stringify(body)}: groups inside a section are not supported, and a section header must start at column 1`);
      }
      if (body[0] === '@') fail(`${JSON.stringify(body)}: @INCLUDE and @SET must start at column 1`);

      // Fluent Bit splits at the first space only; a tab works here too.
      const split = /^(\S+)[ \t]+(.*)$/.exec(body);
      if (!split) fail(`key ${JSON.stringify(body)} has no value: write "Key value"`);
      const [, key, rawValue] = split!;
      const raw = rawValue!.trim();
      if (raw === '') fail(`key ${JSON.stringify(key)} has no value: write "Key value"`);

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
      if (!argument) throw new ConfigError(at.file, at.line, '@INCLUDE needs a file name or a glob pattern');
      this.include(argument, at);
    } else if (command === 'SET') {
      const eq = argument.indexOf('=');
      const name = eq > 0 ? argument.slice(0, eq).trim() : '';
      if (!name) throw new ConfigError(at.file, at.line, `@SET expects NAME=VALUE, got ${JSON.stringify(argument)}`);
      // Like Fluent Bit, every @SET is applied before any value is expanded:
      // the last one of a name wins, wherever it is.
      this.variables.set(name, argument.slice(eq + 1).trim());
    } else {
      throw new ConfigError(at.file, at.line, `unknown directive @${match[1]}: the classic format has @INCLUDE and @SET`);
    }
  }

  private include(argument: string, at: Located): void {
    // Fluent Bit only treats a path with "*" as a pattern; relative paths are
    // relative to the main file's folder (Fluent Bit first tries the current
    // directory, which makes a config mean different things from different
    // places; we don't).
    const path = isAbsolute(argument) ? argument : join(this.rootDir, argument);
    if (!argument.includes('*')) {
      this.readFile(this.fileToRead(path, at), at);
      return;
    }
    const matches = this.glob(path);
    if (matches.length === 0) {
      // As in Fluent Bit, a pattern that matches nothing is an error.
      throw new ConfigError(at.file, at.line, `@INCLUDE ${argument}: no file matches ${path}`);
    }
    for (const file of matches) this.readFile(this.fileToRead(file, at), at);
  }

  /** Files matching a glob(3)-style pattern (only *, ? and [...]), sorted. */
  private glob(pattern: string): string[] {
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

  private fileToRead(path: string, at: Located): FileToRead {
    try {
      if (!statSync(path).isFile()) throw new ConfigError(at.file, at.line, `@INCLUDE: ${path} is not a file`);
      return { path, real: realpathSync(path) };
    } catch (err) {
      if (err instanceof ConfigError) throw err;
      const e = err as NodeJS.ErrnoException;
      const why = e.code === 'ENOENT' ? 'no such file' : e.code === 'EACCES' ? 'permission denied' : e.message;
      throw new ConfigError(at.file, at.line, `@INCLUDE: cannot read ${path}: ${why}`);
    }
  }

  /** ${NAME} from @SET, else the environment, else "" (as Fluent Bit, which warns). */
  expandValues(env: Env, onWarning?: ParseOptions['onWarning']): void {
    const lookup = (name: string): string | undefined => {
      const fromSet = this.variables.get(name);
      if (fromSet !== undefined) return fromSet;
      const fromEnv = env[name];
      if (fromEnv) return fromEnv;
      // Fluent Bit presets HOSTNAME, which shells set without exporting.
      if (name === 'HOSTNAME') return hostname();
      return undefined;
    };
    for (const { entry, raw } of this.pending) {
      const unset: string[] = [];
      entry.value = raw.replace(/\$\{([^}]+)\}/g, (_text, name: string) => {
        const value = lookup(name);
        if (value !== undefined) return value;
        unset.push(name);
        return '';
      });
      if (unset.length) {
        entry.unsetVariables = unset;
        for (const name of unset) onWarning?.(entry.file, entry.line, `\${${name}} is not set (no @SET, no environment variable): it expands to ""`);
      }
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
  const reader = new ClassicConfigReader(dirname(real));
  reader.readFile({ path: main, real });
  reader.expandValues(env, options.onWarning);
  return reader.sections;
}
