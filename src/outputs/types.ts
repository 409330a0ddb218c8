// What an output is to the rest of the program. Outputs know chunks of
// Fluent events and tags, nothing of traces.
import type { EventChunk } from '../chunk.js';
import type { KeySpec, KeyValues, ServiceSettings } from '../config/model.js';
import type { Logger } from '../log.js';
import type { NativeForwardSocket } from '../native/addon.js';

/**
 * An output's socket lent to a ring reader (RingReader.sendTo): the reader
 * writes its batches there as the output's messages, without JS.
 */
export interface SocketLease {
  socket: NativeForwardSocket;
  prefix: Buffer;
  packed: boolean;
  withSize: boolean;
}

export interface OutputContext {
  /** e.g. "forward.0" (or the Alias). */
  instance: string;
  log: Logger;
  service: ServiceSettings;
  /** Folder of the main config file: relative paths (Upstream, tls.*) resolve from here. */
  configDir: string;
}

export interface OutputCounters {
  /** Records handed to the output. */
  records_in: number;
  /** Records written to a receiver (counted once per record, resends apart). */
  records_sent: number;
  /** Records a receiver acknowledged (Require_ack_response). */
  records_acked: number;
  /** Records sent again after a failure or a missing ack. */
  records_retried: number;
  /** Records given up, by reason (e.g. "buffer_full", "retry_limit"). Never silent. */
  records_dropped: Record<string, number>;
  bytes_sent: number;
  /** Chunk-level, as Fluent Bit counts them: failed delivery attempts, retries scheduled, chunks given up at Retry_Limit (outputs that retry). */
  errors?: number;
  retries?: number;
  retries_failed?: number;
  /** Connection state of the output (for several nodes: of the last used). */
  connection: 'connected' | 'connecting' | 'down' | 'n/a';
  /** Bytes buffered in memory now, and the most it has held. */
  buffer_bytes: number;
  buffer_bytes_peak: number;
  /** Outputs with a disk spool: records written to it, records found in it at start, its bytes on disk now. */
  records_spooled?: number;
  records_restored?: number;
  spool_bytes?: number;
}

export interface Output {
  readonly instance: string;
  /** Connects or prepares; resolves when ready to take records (need not be connected). */
  start(): Promise<void>;
  /**
   * Takes a chunk of events for a tag. Never blocks and never throws: what
   * can't be kept is dropped and counted. The same chunk may go to other
   * outputs: its entries are read (or kept, copied), never written to. An
   * output that keeps them past write() calls chunk.retain() there, and lets
   * go once they are delivered, spooled or dropped (see EventChunk): a
   * journaled input then knows not to send them again after a crash.
   */
  write(tag: string, chunk: EventChunk): void;
  /**
   * Undefined while the output takes more records. While it holds about as
   * much as it may: a promise that resolves once it has room again; inputs
   * stop reading until then (the ebpf input leaves records in the kernel's
   * ring buffer, where any loss is counted). Optional: never full.
   */
  whenRoom?(): Promise<void> | undefined;
  /** Optional: the socket ring readers of `tag` may write to themselves, when the output can lend one now. */
  lendSocket?(tag: string): SocketLease | undefined;
  /** Ends the lending: readers hand their batches to write() again. */
  recallSocket?(): void;
  /** Sends everything buffered now; resolves when written (and acked, if acks are on) or given up. */
  flush(): Promise<void>;
  /** Stops: delivers (or spools) what is buffered within graceMs, then closes. */
  close(graceMs: number): Promise<void>;
  counters(): OutputCounters;
}

/** A file a key names that a start could not use: the key, and why. */
export class NamedFileError extends Error {
  constructor(
    /** Lower-case key name ("upstream", "tls.ca_file"). */
    readonly key: string,
    message: string,
  ) {
    super(message);
  }
}

export interface OutputPlugin {
  /** Lower-case plugin name as in `Name forward`. */
  name: string;
  summary: string;
  /** The plugin's own keys (Name, Match, Match_Regex, Alias are common and handled elsewhere). */
  keys: KeySpec[];
  /** Checks combinations of keys that one key's parse can't (e.g. tls.key_file without tls.crt_file); throws Error. */
  validate?(values: KeyValues): void;
  /**
   * Reads the files the keys name (an Upstream file, TLS files) as a start
   * would, when the config is read (so --dry-run tells); throws a
   * NamedFileError naming the key, or a ConfigError of the file itself.
   */
  checkFiles?(values: KeyValues, configDir: string): void;
  create(values: KeyValues, context: OutputContext): Output;
}
