// Reader of Fluent Bit's YAML configuration format (src/config_format/
// flb_cf_yaml.c), into the same sections of located entries as the classic
// format, so that one loader (load.ts) gives both the same keys and checks:
//
//   env:        NAME: value          variables for ${NAME} (win over the environment)
//   includes:   [path-or-glob, ...]  relative to the including file's folder
//   service:    key: value
//   pipeline:
//     inputs:   [{name: ebpf, trace: [trace_signal, trace_vfs], ...}]
//     outputs:  [{name: forward, match: '*', ...}]
//
// A list value is the key written once per item (Fluent Bit turns both into
// one list), and a key written twice in a map is kept twice, so the loader
// refuses it where the key takes one value. Values are the text as written
// (YAML's failsafe schema: `1.50` stays "1.50", `on` stays "on").
import { realpathSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import type { Document, Node, Pair } from 'yaml';
import { ConfigError, quoteExcerpt, showText, type ConfigEntry, type ConfigSection, type Located } from './model.js';
import { ConfigFiles, expandVariables, globConfigFiles, parseClassicConfig, type Env, type FileToRead, type ParseOptions, type PendingEntry, type Warn } from './parser.js';

// The yaml package (9 MB of RSS) is loaded when a YAML file is read, not by
// classic configs. Configs are read synchronously (a reload too), hence
// require: the package is CommonJS under Node either way.
const requireHere = createRequire(import.meta.url);
let yamlModule: typeof import('yaml') | undefined;
const yamlLibrary = () => (yamlModule ??= requireHere('yaml') as typeof import('yaml'));

/** Top-level keys of Fluent Bit's schema that ebpf-forward has no use for, and why. */
const unsupportedTopLevel: Record<string, string> = {
  customs: 'ebpf-forward has no custom plugins',
  parsers: 'ebpf-forward parses nothing: trace records are structured already',
  multiline_parsers: 'ebpf-forward parses nothing: trace records are structured already',
  plugins: 'ebpf-forward loads no plugins: its inputs and outputs are built in',
  stream_processor: 'ebpf-forward has no stream processor',
};

/** What a file is read for: the main config, or an Upstream file a forward output names. */
type Purpose = 'config' | 'upstream';
const topLevelKeys: Record<Purpose, string[]> = {
  config: ['env', 'includes', 'service', 'pipeline'],
  upstream: ['env', 'includes', 'upstream_servers'],
};
/** pipeline: lists and the classic section each item becomes. */
const pipelineLists: Record<string, string> = { inputs: 'input', outputs: 'output', filters: 'filter' };

/** Every top-level key of Fluent Bit's schema, known or not to ebpf-forward. */
const schemaKeys = new Set([...topLevelKeys.config, ...topLevelKeys.upstream, ...Object.keys(unsupportedTopLevel)]);

/** Whether a document is empty, or a map with at least one top-level key of Fluent Bit's schema. */
function isConfigShaped(doc: Document): boolean {
  const root = doc.contents;
  if (root === null || (yamlLibrary().isScalar(root) && root.value === '')) return true;
  return yamlLibrary().isMap(root) && root.items.some((pair) => yamlLibrary().isScalar(pair.key) && schemaKeys.has(String(pair.key.value).toLowerCase()));
}

/** One YAML file being read: its path, and where its nodes are (line:column). */
class YamlFile {
  readonly lines = new (yamlLibrary().LineCounter)();
  constructor(readonly path: string) {}

  at(node: unknown, fallback?: Located): Located {
    const offset = yamlLibrary().isNode(node) ? node.range?.[0] : undefined;
    if (offset === undefined) return fallback ?? { file: this.path, line: 0 };
    return this.atOffset(offset);
  }

  atOffset(offset: number): Located {
    const { line, col } = this.lines.linePos(offset);
    return { file: this.path, line, column: col };
  }
}

class YamlConfigReader {
  readonly sections: ConfigSection[] = [];
  readonly pending: PendingEntry[] = [];
  readonly variables = new Map<string, string>();
  private readonly files: ConfigFiles;

  constructor(
    private readonly warn: Warn | undefined,
    private readonly purpose: Purpose,
  ) {
    this.files = new ConfigFiles('includes', warn);
  }

  readFile(file: FileToRead, includedFrom?: Located): void {
    this.files.read(file, includedFrom, (text) => this.readText(file, text, includedFrom));
  }

  private readText(file: FileToRead, text: string, includedFrom: Located | undefined): void {
    const yaml = new YamlFile(file.path);
    const doc = yamlLibrary().parseDocument(text, { lineCounter: yaml.lines, schema: 'failsafe', uniqueKeys: false, prettyErrors: false });
    // An included file that is some other file (includes: [/etc/shadow]) is
    // said to be so, quoting nothing of it, not parsed as a config with typos.
    if (includedFrom && !isConfigShaped(doc)) {
      throw ConfigError.at(includedFrom, `includes: ${file.path} is not a configuration file (not a YAML map of ${topLevelKeys[this.purpose].join(', ')}); nothing of it is shown`);
    }
    const [error] = doc.errors;
    if (error) {
      const at = yaml.atOffset(error.pos[0]);
      // The library's advice names its own API; the user needs ours.
      const problem = error.code === 'MULTIPLE_DOCS' ? 'a configuration is one YAML document: remove the "---" separating documents' : error.message;
      throw ConfigError.at(at, `YAML syntax: ${problem}`);
    }
    for (const warning of doc.warnings) {
      const at = yaml.atOffset(warning.pos[0]);
      this.warn?.(file.path, at.line, `YAML: ${warning.message}`);
    }

    this.readTopLevel(yaml, doc);
  }

  private readTopLevel(yaml: YamlFile, doc: Document): void {
    const root = doc.contents;
    // An empty file (or only comments) holds nothing; the loader says what is missing.
    if (root === null || (yamlLibrary().isScalar(root) && root.value === '')) return;
    for (const pair of this.mapPairs(yaml, root, 'a configuration file', { file: yaml.path, line: 1, column: 1 })) {
      const key = this.keyOf(yaml, pair);
      const at = yaml.at(pair.key);
      const value = this.resolve(doc, pair.value);
      const known = topLevelKeys[this.purpose];
      if (!known.includes(key.toLowerCase())) {
        const why = unsupportedTopLevel[key.toLowerCase()];
        if (why) throw ConfigError.at(at, `${showText(key)}: ${why}`);
        if (this.purpose === 'config' && key.toLowerCase() === 'upstream_servers') {
          // Fluent Bit's forward output reads its nodes from the file its Upstream key names.
          throw ConfigError.at(at, 'upstream_servers go in the Upstream file a forward output names (upstream: servers.yaml), as Fluent Bit\'s forward output reads them from there');
        }
        const unknown = this.purpose === 'config' ? `unknown top-level key ${quoteExcerpt(key)}` : `unknown key ${quoteExcerpt(key)} in an Upstream file`;
        throw ConfigError.at(at, `${unknown}; known keys: ${known.join(', ')}`);
      }
      switch (key.toLowerCase()) {
        case 'env':
          for (const variable of this.mapPairs(yaml, value, 'env', at)) {
            const name = this.keyOf(yaml, variable);
            // As @SET: the last definition of a name wins, wherever it is.
            this.variables.set(name, this.scalarText(yaml, doc, variable.value, `env: ${name}`, yaml.at(variable.key)));
          }
          break;
        case 'includes':
          for (const item of this.listItems(yaml, doc, value, 'includes', at)) {
            const where = yaml.at(item.node, at);
            this.include(this.scalarText(yaml, doc, item.node, 'an item of includes', where), where);
          }
          break;
        case 'service':
          this.sections.push(this.section(yaml, doc, 'service', value, 'service', at));
          break;
        case 'pipeline':
          this.readPipeline(yaml, doc, value, at);
          break;
        case 'upstream_servers':
          this.readUpstreamServers(yaml, doc, value, at);
          break;
      }
    }
  }

  private readPipeline(yaml: YamlFile, doc: Document, value: Node | null, at: Located): void {
    for (const pair of this.mapPairs(yaml, value, 'pipeline', at)) {
      const key = this.keyOf(yaml, pair);
      const listAt = yaml.at(pair.key);
      const sectionName = pipelineLists[key.toLowerCase()];
      if (!sectionName) {
        throw ConfigError.at(listAt, `unknown pipeline component ${quoteExcerpt(key)}: pipeline holds inputs and outputs`);
      }
      const what = key.toLowerCase();
      for (const item of this.listItems(yaml, doc, this.resolve(doc, pair.value), what, listAt)) {
        // The section is where its "- " is; the loader reports a missing Name there.
        this.sections.push(this.section(yaml, doc, sectionName, item.node, `an item of ${what}`, yaml.at(item.node, listAt)));
      }
    }
  }

  /**
   * Each group as the classic Upstream file has it: an [UPSTREAM] section
   * (its keys but nodes), then a [NODE] section per item of its nodes.
   */
  private readUpstreamServers(yaml: YamlFile, doc: Document, value: Node | null, at: Located): void {
    for (const group of this.listItems(yaml, doc, value, 'upstream_servers', at)) {
      const groupAt = yaml.at(group.node, at);
      const pairs = this.mapPairs(yaml, group.node, 'an item of upstream_servers', groupAt);
      const nodes = pairs.find((p) => yamlLibrary().isScalar(p.key) && String(p.key.value).toLowerCase() === 'nodes');
      const upstream = this.section(yaml, doc, 'upstream', group.node, 'an item of upstream_servers', groupAt, nodes ? [nodes] : []);
      this.sections.push(upstream);
      const nodesAt = nodes ? yaml.at(nodes.key) : groupAt;
      for (const node of this.listItems(yaml, doc, this.resolve(doc, nodes?.value), 'nodes', nodesAt)) {
        this.sections.push(this.section(yaml, doc, 'node', node.node, 'an item of nodes', yaml.at(node.node, nodesAt)));
      }
    }
  }

  /** A map of key: value (or key: [values]) as a section of entries, in order. */
  private section(yaml: YamlFile, doc: Document, name: string, value: Node | null, what: string, at: Located, skip: Pair[] = []): ConfigSection {
    const section: ConfigSection = { ...at, name, entries: [] };
    for (const pair of this.mapPairs(yaml, value, what, at)) {
      if (skip.includes(pair)) continue;
      const key = this.keyOf(yaml, pair);
      const keyAt = yaml.at(pair.key);
      const node = this.resolve(doc, pair.value);
      if (key.toLowerCase() === 'processors') {
        throw ConfigError.at(keyAt, `${showText(key)}: ebpf-forward has no processors: records go from the input to the outputs as the traces make them`);
      }
      if (yamlLibrary().isSeq(node)) {
        const items = this.listItems(yaml, doc, node, key, keyAt);
        if (items.length === 0) throw ConfigError.at(keyAt, `${showText(key)} has an empty list: give it at least one value, or remove it`);
        for (const item of items) {
          const itemAt = yaml.at(item.node, keyAt);
          this.addEntry(section, key, this.scalarText(yaml, doc, item.node, `an item of ${key}`, itemAt), itemAt);
        }
      } else {
        this.addEntry(section, key, this.scalarText(yaml, doc, node, key, keyAt), keyAt);
      }
    }
    return section;
  }

  private addEntry(section: ConfigSection, key: string, raw: string, at: Located): void {
    if (raw === '') throw ConfigError.at(at, `key ${quoteExcerpt(key)} has no value: write "${key}: value"`);
    const entry: ConfigEntry = { ...at, key, name: key.toLowerCase(), value: raw };
    section.entries.push(entry);
    this.pending.push({ entry, raw });
  }

  private include(argument: string, at: Located): void {
    // Relative to the including file's folder, as flb_cf_yaml.c does.
    const base = dirname(this.files.current!.real);
    const path = isAbsolute(argument) ? argument : join(base, argument);
    if (!argument.includes('*')) {
      this.readFile(this.files.named(path, at), at);
      return;
    }
    const matches = globConfigFiles(path);
    if (matches.length === 0) throw ConfigError.at(at, `includes: ${showText(argument)}: no file matches ${quoteExcerpt(path)}`);
    for (const file of matches) this.readFile(this.files.named(file, at), at);
  }

  /** Anchors (&a) and aliases (*a) are YAML's; an alias stands for its anchor's node. */
  private resolve(doc: Document, node: unknown): Node | null {
    if (yamlLibrary().isAlias(node)) return (node.resolve(doc) as Node | undefined) ?? null;
    return (node as Node | null) ?? null;
  }

  private mapPairs(yaml: YamlFile, value: Node | null, what: string, at: Located): Pair[] {
    if (yamlLibrary().isMap(value)) return value.items as Pair[];
    // "service:" with nothing under it: an empty map.
    if (value === null || (yamlLibrary().isScalar(value) && value.value === '' && !value.type?.startsWith('QUOTE'))) return [];
    throw ConfigError.at(yaml.at(value, at), `${what} must be a map of key: value, not ${describeNode(value)}`);
  }

  private listItems(yaml: YamlFile, doc: Document, value: Node | null, what: string, at: Located): { node: Node | null }[] {
    if (yamlLibrary().isSeq(value)) return value.items.map((item) => ({ node: this.resolve(doc, item) }));
    if (value === null) return [];
    throw ConfigError.at(yaml.at(value, at), `${what} must be a list (items starting with "- "), not ${describeNode(value)}`);
  }

  private keyOf(yaml: YamlFile, pair: Pair): string {
    if (yamlLibrary().isScalar(pair.key) && pair.key.value !== '') return String(pair.key.value);
    throw ConfigError.at(yaml.at(pair.key as Node), `a key must be a plain name, not ${describeNode(pair.key as Node)}`);
  }

  /** The value as the classic format would have it: the text, trimmed. */
  private scalarText(yaml: YamlFile, doc: Document, node: unknown, what: string, at: Located): string {
    const value = this.resolve(doc, node);
    if (value === null) return '';
    if (yamlLibrary().isScalar(value)) return String(value.value).trim();
    throw ConfigError.at(yaml.at(value, at), `${what} must be a single value, not ${describeNode(value)}`);
  }
}

function describeNode(node: Node | null): string {
  if (yamlLibrary().isMap(node)) return 'a map';
  if (yamlLibrary().isSeq(node)) return 'a list';
  return 'a value';
}

/**
 * Reads a YAML config (Fluent Bit's schema) and the files it includes into
 * sections, in the order they appear. Values have their ${VAR}s expanded from
 * env: (of every file), then `env`. Throws ConfigError
 * ("file:line:column: problem") on the first problem.
 */
export function parseYamlConfig(path: string, env: Env = process.env, options: ParseOptions = {}): ConfigSection[] {
  return readYaml(path, 'config', env, options);
}

/**
 * Reads a YAML Upstream file (`upstream_servers:`, with env: and includes:)
 * into the sections of a classic one: [UPSTREAM] with the group's keys, then
 * a [NODE] per node, in order.
 */
export function parseYamlUpstreamFile(path: string, env: Env = process.env, options: ParseOptions = {}): ConfigSection[] {
  return readYaml(path, 'upstream', env, options);
}

function readYaml(path: string, purpose: Purpose, env: Env, options: ParseOptions): ConfigSection[] {
  const main = resolve(path);
  let real = main;
  try {
    real = realpathSync(main);
  } catch {
    // readFile reports the unreadable file.
  }
  const reader = new YamlConfigReader(options.onWarning, purpose);
  reader.readFile({ path: main, real });
  expandVariables(reader.pending, reader.variables, env, 'env:', options.onWarning);
  return reader.sections;
}

/** Fluent Bit picks the format by the file name's extension. */
export const isYamlConfig = (path: string): boolean => /\.ya?ml$/i.test(path);

/** A config's sections, read in its format (YAML by the extension, as Fluent Bit chooses; else classic). */
export function parseConfigFile(path: string, env: Env = process.env, options: ParseOptions = {}): ConfigSection[] {
  return (isYamlConfig(path) ? parseYamlConfig : parseClassicConfig)(path, env, options);
}

/** An Upstream file's [UPSTREAM] and [NODE] sections, in its format. */
export function parseUpstreamFile(path: string, env: Env = process.env, options: ParseOptions = {}): ConfigSection[] {
  return (isYamlConfig(path) ? parseYamlUpstreamFile : parseClassicConfig)(path, env, options);
}
