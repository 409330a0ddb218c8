// The forward output's keys, as Fluent Bit's out_forward names them, and the
// typed settings built from their values.
//
// Keys Fluent Bit does not have (documented in docs/forward-output.md):
//   forward_mode           Forward (default) or PackedForward; Compress gzip
//                          gives CompressedPackedForward whatever this says
//   mem_buf_limit          bound of the output's memory buffer (Fluent Bit
//                          has Mem_Buf_Limit on inputs; the name is the one
//                          users know for "memory held before dropping")
//   ack_response_timeout   Fluentd's out_forward key; Fluent Bit waits for an
//                          ack without its own limit
// storage.total_limit_size, retry_limit and net.connect_timeout are Fluent
// Bit's generic output keys.
import type { KeySpec, KeyValues } from '../../config/model.js';
import { enumParser, integerParser, parseBool, parseNonEmpty, secondsParser, sizeParser } from '../../config/keys.js';
import type { ForwardMode } from './protocol.js';
import { parseRetryLimit, type RetryLimit } from './retry.js';

export interface TlsSettings {
  enabled: boolean;
  verify: boolean;
  caFile?: string;
  caPath?: string;
  crtFile?: string;
  keyFile?: string;
  keyPasswd?: string;
  vhost?: string;
}

/** What one receiver needs: where it is, TLS, and the handshake's secrets. */
export interface NodeSettings {
  host: string;
  port: number;
  tls: TlsSettings;
  /** Set when the handshake runs (Shared_Key, or "" with Empty_Shared_Key). */
  sharedKey?: string;
  selfHostname: string;
  username: string;
  password: string;
}

export interface ForwardSettings extends NodeSettings {
  /** Upstream file (several receivers); Host/Port are then not used. */
  upstream?: string;
  /** Tag override for every record sent. */
  tag?: string;
  mode: ForwardMode;
  timeAsInteger: boolean;
  /** Send the options map (size, chunk...); implied by acks and gzip. */
  sendOptions: boolean;
  requireAck: boolean;
  retryLimit: RetryLimit;
  memBufLimit: number;
  /** Bytes the spool may hold on disk; undefined: no limit (Fluent Bit's default). */
  storageLimit?: number;
  ackTimeoutMs: number;
  connectTimeoutMs: number;
}

const text = (value: string) => value;
const duration = secondsParser({ fractional: true, units: true, above: 0 });

/** Keys a [NODE] of an Upstream file may set too (they win over the [OUTPUT]'s). */
export const nodeKeyNames = [
  'host', 'port', 'tls', 'tls.verify', 'tls.ca_file', 'tls.ca_path', 'tls.crt_file', 'tls.key_file', 'tls.key_passwd', 'tls.vhost',
  'shared_key', 'empty_shared_key', 'self_hostname', 'username', 'password',
] as const;

export const forwardKeys: KeySpec[] = [
  { name: 'host', description: 'address of the receiver', default: '127.0.0.1', parse: parseNonEmpty },
  { name: 'port', description: 'TCP port of the receiver', default: '24224', parse: integerParser({ min: 1, max: 65535 }) },
  { name: 'upstream', description: 'file of several receivers ([UPSTREAM] + [NODE] sections), relative to the config file; round-robin with failover', parse: parseNonEmpty },
  { name: 'tag', description: 'send every record with this tag instead of its own', parse: parseNonEmpty },
  { name: 'time_as_integer', description: 'times as whole seconds (Fluentd v0.12) instead of EventTime with nanoseconds', default: 'off', parse: parseBool },
  { name: 'send_options', description: 'send the options map (size) with every batch', default: 'off', parse: parseBool },
  { name: 'require_ack_response', description: 'ask the receiver to ack each batch (chunk id); resend what is not acked', default: 'off', parse: parseBool },
  { name: 'compress', description: 'gzip: send CompressedPackedForward batches; text: no compression', parse: enumParser(['text', 'gzip']) },
  { name: 'forward_mode', description: 'Forward or PackedForward (Compress gzip makes it CompressedPackedForward)', default: 'Forward', parse: enumParser(['Forward', 'PackedForward']) },
  { name: 'shared_key', description: 'key for the HELO/PING/PONG handshake', parse: parseNonEmpty },
  { name: 'empty_shared_key', description: 'run the handshake with an empty key', default: 'off', parse: parseBool },
  { name: 'self_hostname', description: 'our hostname in the handshake (must differ from the receiver\'s)', default: 'localhost', parse: parseNonEmpty },
  { name: 'username', description: 'user for the handshake\'s user authentication', default: '', parse: text },
  { name: 'password', description: 'password for the handshake\'s user authentication', default: '', parse: text },
  { name: 'retry_limit', description: 'retries of a batch before it is dropped: a number, no_limits (or False), no_retries', default: '1', parse: parseRetryLimit },
  { name: 'tls', description: 'connect with TLS', default: 'off', parse: parseBool },
  { name: 'tls.verify', description: 'check the receiver\'s certificate', default: 'on', parse: parseBool },
  { name: 'tls.ca_file', description: 'CA certificate(s) to trust (PEM), relative to the config file', parse: parseNonEmpty },
  { name: 'tls.ca_path', description: 'folder of CA certificates (PEM) to trust', parse: parseNonEmpty },
  { name: 'tls.crt_file', description: 'client certificate (PEM)', parse: parseNonEmpty },
  { name: 'tls.key_file', description: 'client private key (PEM)', parse: parseNonEmpty },
  { name: 'tls.key_passwd', description: 'password of tls.key_file', parse: text },
  { name: 'tls.vhost', description: 'server name for SNI and the certificate check', parse: parseNonEmpty },
  { name: 'mem_buf_limit', description: 'memory the output may hold; beyond it records spill to storage.path or are dropped (counted)', default: '32M', parse: sizeParser({ min: 4096 }) },
  { name: 'storage.total_limit_size', description: 'disk the output\'s spool may use under storage.path; the oldest batches are dropped beyond it', parse: sizeParser({ min: 1 }) },
  { name: 'ack_response_timeout', description: 'time to wait for an ack before resending on a new connection', default: '30s', parse: duration },
  { name: 'net.connect_timeout', description: 'time to wait for a connection (and handshake)', default: '10', parse: duration },
];

/** Checks key combinations one key can't (called with defaults filled in). */
export function validateForwardValues(values: KeyValues): void {
  if (values.get('compress') === 'gzip' && values.get('time_as_integer') === true) {
    throw new Error('Compress gzip is incompatible with Time_as_Integer on (as in Fluent Bit)');
  }
  if (values.has('shared_key') && values.get('empty_shared_key') === true) {
    throw new Error('set Shared_Key or Empty_Shared_Key on, not both');
  }
  const handshake = values.has('shared_key') || values.get('empty_shared_key') === true;
  if (!handshake && (values.get('username') !== '' || values.get('password') !== '')) {
    throw new Error('Username/Password are sent in the handshake, which runs only with Shared_Key (or Empty_Shared_Key on)');
  }
  checkTlsPair(values);
}

export function checkTlsPair(values: KeyValues): void {
  if (values.has('tls.key_file') !== values.has('tls.crt_file')) {
    throw new Error('tls.crt_file and tls.key_file go together: set both or neither');
  }
}

const str = (values: KeyValues, key: string) => values.get(key) as string | undefined;

export function readTls(values: KeyValues): TlsSettings {
  return {
    enabled: values.get('tls') === true,
    verify: values.get('tls.verify') !== false,
    caFile: str(values, 'tls.ca_file'),
    caPath: str(values, 'tls.ca_path'),
    crtFile: str(values, 'tls.crt_file'),
    keyFile: str(values, 'tls.key_file'),
    keyPasswd: str(values, 'tls.key_passwd'),
    vhost: str(values, 'tls.vhost'),
  };
}

export function readNode(values: KeyValues): NodeSettings {
  return {
    host: values.get('host') as string,
    port: values.get('port') as number,
    tls: readTls(values),
    sharedKey: values.get('empty_shared_key') === true ? '' : str(values, 'shared_key'),
    selfHostname: values.get('self_hostname') as string,
    username: values.get('username') as string,
    password: values.get('password') as string,
  };
}

export function readForwardSettings(values: KeyValues): ForwardSettings {
  const compress = values.get('compress') === 'gzip';
  const requireAck = values.get('require_ack_response') === true;
  return {
    ...readNode(values),
    upstream: str(values, 'upstream'),
    tag: str(values, 'tag'),
    mode: compress ? 'compressed' : values.get('forward_mode') === 'PackedForward' ? 'packed' : 'forward',
    timeAsInteger: values.get('time_as_integer') === true,
    // Fluent Bit: acks and gzip imply the options map.
    sendOptions: values.get('send_options') === true || requireAck || compress,
    requireAck,
    retryLimit: values.get('retry_limit') as RetryLimit,
    memBufLimit: values.get('mem_buf_limit') as number,
    storageLimit: values.get('storage.total_limit_size') as number | undefined,
    ackTimeoutMs: (values.get('ack_response_timeout') as number) * 1000,
    connectTimeoutMs: (values.get('net.connect_timeout') as number) * 1000,
  };
}
