// Reading one section of a config: each entry's value parsed by its key's
// parser, a key that takes one value refused twice, defaults filled, the
// section's Name, and the messages that name the key at its file:line.
import { parseNonEmpty } from './keys.js';
import { ConfigError, quoteExcerpt, showText, type ConfigEntry, type ConfigSection, type KeySpec, type Located } from './model.js';

export const listNames = (names: Iterable<string>) => [...names].join(', ');

/** Runs a parser on an entry's value; its error becomes "file:line: Key: problem". */
export function parseEntry(entry: ConfigEntry, parse: (value: string) => unknown): unknown {
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
export class SectionValues {
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

/** An entry's key as messages show it (a key can be anything up to the first blank). */
export const quoteKey = (entry: ConfigEntry) => showText(entry.key);

export function unknownKey(entry: ConfigEntry, section: string, known: Iterable<string>): ConfigError {
  return ConfigError.at(entry, `unknown key ${quoteExcerpt(entry.key)} in ${section}; known keys: ${listNames(known)}`);
}

export function sectionName(section: ConfigSection, what: string): ConfigEntry {
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
