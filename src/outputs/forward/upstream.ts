// The receivers of one output: the single Host/Port, or the nodes of an
// Upstream file (Fluent Bit's format: one [UPSTREAM] with a Name, then
// [NODE] sections with Name, Host, Port, tls.*, Shared_Key...). Batches go to
// the nodes in turn (round-robin); a node that fails is skipped for a while
// (1 s, doubling to 60 s) and tried again after; when every node is down the
// one due first is tried anyway, so an outage never stops delivery for good.
import { isAbsolute, resolve } from 'node:path';
import { ConfigError, type ConfigSection, type KeySpec, type KeyValues } from '../../config/model.js';
import type { ParseOptions } from '../../config/parser.js';
import { parseUpstreamFile } from '../../config/yaml.js';
import type { Logger } from '../../log.js';
import type { OutputCounters } from '../types.js';
import { ForwardConnection, type Endpoint } from './connection.js';
import { AuthError, ConnectError, ProtocolError, type ForwardError } from './errors.js';
import { checkTlsPair, forwardKeys, nodeKeyNames, readNode, type NodeSettings } from './settings.js';
import { tlsOptions } from './tls.js';

const NODE_RETRY_FIRST_MS = 1000;
const NODE_RETRY_MAX_MS = 60_000;

/** An Endpoint from a node's settings. */
export function endpointOf(name: string, node: NodeSettings, configDir: string): Endpoint {
  return {
    name,
    host: node.host,
    port: node.port,
    tls: tlsOptions(node.tls, configDir),
    credentials:
      node.sharedKey === undefined
        ? undefined
        : { sharedKey: node.sharedKey, selfHostname: node.selfHostname, username: node.username, password: node.password },
  };
}

const specs = new Map<string, KeySpec>(forwardKeys.map((k) => [k.name, k]));
const nodeKeys = new Set<string>(nodeKeyNames);

/**
 * Reads an Upstream file. A [NODE] takes Name, Host and Port (required, as in
 * Fluent Bit) and may set the connection and handshake keys, which win over
 * the [OUTPUT]'s. Keys that change how batches are encoded (Tag, Compress,
 * Time_as_Integer, Require_ack_response...) belong in the [OUTPUT]: a batch
 * is encoded once for every node.
 */
export function readUpstreamFile(
  path: string,
  configDir: string,
  outputValues: KeyValues,
  /** Told of what is not an error, such as a file others may write (it decides where records go). */
  onWarning?: ParseOptions['onWarning'],
): { name: string; nodes: { name: string; settings: NodeSettings }[] } {
  const file = isAbsolute(path) ? path : resolve(configDir, path);
  const sections = parseUpstreamFile(file, process.env, { onWarning });
  const upstream = sections.find((s) => s.name === 'upstream');
  if (!upstream) throw new ConfigError(file, 0, 'no [UPSTREAM] section');
  const upstreamName = upstream.entries.find((e) => e.name === 'name');
  if (!upstreamName) throw ConfigError.at(upstream, '[UPSTREAM] has no Name');
  for (const s of sections) {
    if (s.name !== 'upstream' && s.name !== 'node') throw ConfigError.at(s, `unexpected [${s.name.toUpperCase()}] section in an Upstream file: it holds [UPSTREAM] and [NODE] sections`);
  }
  const nodes = sections.filter((s) => s.name === 'node').map((s, i) => readNodeSection(s, i, outputValues));
  if (nodes.length === 0) throw ConfigError.at(upstream, 'the Upstream file defines no [NODE]');
  return { name: upstreamName.value, nodes };
}

function readNodeSection(section: ConfigSection, index: number, outputValues: KeyValues): { name: string; settings: NodeSettings } {
  const own = new Map<string, unknown>();
  let name: string | undefined;
  for (const entry of section.entries) {
    if (entry.name === 'name') {
      name = entry.value;
      continue;
    }
    const spec = specs.get(entry.name);
    if (!spec || !nodeKeys.has(entry.name)) {
      const hint = spec ? `${entry.key} applies to every node: set it in the [OUTPUT] section` : `known keys: name, ${nodeKeyNames.join(', ')}`;
      throw ConfigError.at(entry, `${entry.key} is not a [NODE] key; ${hint}`);
    }
    try {
      own.set(entry.name, spec.parse(entry.value));
    } catch (err) {
      throw ConfigError.at(entry, `${entry.key}: ${(err as Error).message}`);
    }
  }
  const label = name ?? `#${index + 1}`;
  const fail = (problem: string) => ConfigError.at(section, `[NODE] ${label}: ${problem}`);
  if (name === undefined) throw fail('no Name');
  // Host and Port come from the node only (Fluent Bit requires them there).
  if (!own.has('host')) throw fail('no Host');
  if (!own.has('port')) throw fail('no Port');
  if (own.has('shared_key') && own.get('empty_shared_key') === true) throw fail('set Shared_Key or Empty_Shared_Key on, not both');

  const values = new Map(outputValues);
  // A node's own key choice replaces the [OUTPUT]'s.
  if (own.has('shared_key')) values.set('empty_shared_key', false);
  if (own.get('empty_shared_key') === true) values.delete('shared_key');
  for (const [key, value] of own) values.set(key, value);
  try {
    checkTlsPair(values);
  } catch (err) {
    throw fail((err as Error).message);
  }
  return { name, settings: readNode(values) };
}

class UpstreamNode {
  connection: ForwardConnection | undefined;
  connecting: Promise<ForwardConnection> | undefined;
  failures = 0;
  downUntil = 0;
  /** How it last broke the protocol, logged as an error once (then at debug while it repeats). */
  lastBreak: string | undefined;

  constructor(readonly endpoint: Endpoint) {}

  get connected(): boolean {
    return this.connection !== undefined && !this.connection.closed;
  }
}

export interface UpstreamOptions {
  connectTimeoutMs: number;
  log: Logger;
}

export class Upstream {
  private readonly nodes: UpstreamNode[];
  private next = 0;
  private last: UpstreamNode | undefined;
  private closed = false;
  private readonly abort = new AbortController();

  constructor(
    endpoints: Endpoint[],
    private readonly options: UpstreamOptions,
  ) {
    this.nodes = endpoints.map((e) => new UpstreamNode(e));
  }

  /** A connected (and handshaken) connection to the next node in turn, failing over to the others. */
  async acquire(): Promise<ForwardConnection> {
    const now = Date.now();
    const order = this.nodes.map((_, i) => this.nodes[(this.next + i) % this.nodes.length]!);
    this.next = (this.next + 1) % this.nodes.length;
    const up = order.filter((n) => n.downUntil <= now);
    const candidates = up.length > 0 ? up : [...order].sort((a, b) => a.downUntil - b.downUntil).slice(0, 1);
    const errors: ForwardError[] = [];
    for (const node of candidates) {
      try {
        const connection = await this.connect(node);
        this.last = node;
        return connection;
      } catch (err) {
        errors.push(err as ForwardError);
        this.markDown(node, err as ForwardError);
      }
    }
    if (errors.length === 1) throw errors[0]!;
    const summary = errors.map((e) => e.message).join('; ');
    throw errors.every((e) => e instanceof AuthError) ? new AuthError(summary) : new ConnectError(`no receiver could take the batch: ${summary}`);
  }

  private connect(node: UpstreamNode): Promise<ForwardConnection> {
    if (this.closed) return Promise.reject(new ConnectError('the output is closing'));
    if (node.connected) return Promise.resolve(node.connection!);
    node.connecting ??= ForwardConnection.open(node.endpoint, { ...this.options, signal: this.abort.signal })
      .then((connection) => {
        node.connection = connection;
        node.failures = 0;
        node.downUntil = 0;
        this.options.log.info(`connected to ${node.endpoint.name}${node.endpoint.tls ? ' (TLS)' : ''}`);
        connection.onClose((reason) => {
          if (node.connection === connection) node.connection = undefined;
          if (this.closed) return;
          if (reason instanceof ProtocolError || reason instanceof AuthError) {
            // Dropped for what it sent: said once, and the next batches go to the other nodes.
            this.brokeProtocol(node, reason);
            return;
          }
          this.options.log.info(`connection to ${node.endpoint.name} ended: ${reason.message}`);
        });
        if (this.closed) connection.destroy();
        return connection;
      })
      .finally(() => {
        node.connecting = undefined;
      });
    return node.connecting;
  }

  private brokeProtocol(node: UpstreamNode, reason: ForwardError): void {
    const log = this.options.log;
    if (reason.message !== node.lastBreak) log.error(`${reason.message}: connection dropped`);
    else log.debug(`${reason.message}: connection dropped`);
    node.lastBreak = reason.message;
    reason.logged = true;
    this.markDown(node, reason);
  }

  private markDown(node: UpstreamNode, err: ForwardError): void {
    node.failures++;
    if (this.nodes.length === 1) return; // a lone receiver is tried whenever a batch is due
    const wait = Math.min(NODE_RETRY_FIRST_MS * 2 ** (node.failures - 1), NODE_RETRY_MAX_MS);
    node.downUntil = Date.now() + wait;
    this.options.log.debug(`${node.endpoint.name} skipped for ${wait / 1000}s: ${err.message}`);
  }

  state(): OutputCounters['connection'] {
    if (this.last?.connected) return 'connected';
    if (this.nodes.some((n) => n.connected)) return 'connected';
    if (this.nodes.some((n) => n.connecting)) return 'connecting';
    return 'down';
  }

  /** Per node: name and whether it is connected (for tests and logs). */
  nodeStates(): { name: string; connected: boolean; failures: number }[] {
    return this.nodes.map((n) => ({ name: n.endpoint.name, connected: n.connected, failures: n.failures }));
  }

  /** Closes every connection; what awaits an ack fails (and is spooled or counted by the caller). */
  close(): void {
    this.closed = true;
    this.abort.abort();
    for (const node of this.nodes) node.connection?.destroy();
  }
}
