// trace_openssl: OpenSSL's TLS calls (handshake, read, write, shutdown) with
// their latency and result, from uprobes on the libssl files processes
// really map; narrowed in the kernel by the input's filters (and
// openssl_pid, openssl_comm). No data is read.
import type { FieldDeclaration, RecordShape } from '../../records/declaration.js';
import { includedPids, processFilterKeys } from '../../task-filter/keys.js';
import type { LibraryUprobe, SharedLibrary, TraceDefinition } from '../types.js';

/** The record header's kind (enum tls_kind in openssl.h): its event_type, and its `trace` field. */
const KINDS = {
  handshake: 'TLS_HANDSHAKE',
  read: 'TLS_READ',
  write: 'TLS_WRITE',
  shutdown: 'TLS_SHUTDOWN',
} as const;
const TRACE_NAMES = Object.fromEntries(Object.entries(KINDS).map(([kind, enumerator]) => [enumerator, `openssl_tls_${kind}`]));
/** The `function` field's names, by enum ssl_function in openssl.h. */
const FUNCTION_NAMES = {
  FN_DO_HANDSHAKE: 'SSL_do_handshake',
  FN_READ: 'SSL_read',
  FN_READ_EX: 'SSL_read_ex',
  FN_WRITE: 'SSL_write',
  FN_WRITE_EX: 'SSL_write_ex',
  FN_SHUTDOWN: 'SSL_shutdown',
};

/**
 * OpenSSL's libssl as processes map it: libssl.so.3, libssl.so.1.1, a
 * bundled libssl-<hash>.so.3 (Python wheels)... Not NSS's libssl3.so, which
 * has none of these functions.
 */
export const OPENSSL_LIBRARY: SharedLibrary = {
  name: 'OpenSSL library (libssl)',
  file: /\/libssl(?:-[0-9a-f]{8})?\.so(?:\.[\d.]+)?$/,
};

const FILTER = 'openssl';

/**
 * struct openssl_event in openssl.h: every kind has the same fields, their
 * meanings said for the functions of that kind.
 */
function shape(kind: keyof typeof KINDS, functions: readonly string[], ret: string): RecordShape {
  const fields: FieldDeclaration[] = [
    { key: 'trace', type: 'string', from: { names: TRACE_NAMES, enum: 'tls_kind', of: 'hdr.kind', otherwise: 'openssl_tls_unknown' }, doc: `\`${TRACE_NAMES[KINDS[kind]]}\`` },
    { key: 'ssl_ptr', type: 'uint64', from: { copy: 'ssl_ptr' }, doc: 'address of the SSL object in the process: one connection within one process' },
    { key: 'latency_ns', type: 'int64', from: { copy: 'latency_ns' }, doc: "from the call's entry to its return on the same thread (time blocked on the socket included)" },
    { key: 'ret', type: 'int', from: { copy: 'ret' }, doc: ret },
    {
      key: 'function',
      type: 'string',
      from: { names: FUNCTION_NAMES, enum: 'ssl_function', of: 'function', otherwise: 'unknown' },
      doc: `further field: the function called, ${functions.map((f) => `\`${f}\``).join(' or ')}${functions.length > 1 ? ' (what `ret` counts)' : ''}`,
    },
  ];
  return { struct: 'openssl_event', eventType: `tls_${kind}`, fields };
}

export const trace_openssl: TraceDefinition = {
  name: 'trace_openssl',
  summary: 'OpenSSL TLS calls: handshake, read, write and shutdown with their SSL object, latency and result (no data)',
  object: 'openssl.bpf.o',
  needs: 'uprobes on the OpenSSL library (CONFIG_UPROBE_EVENTS) and BPF task storage (Linux 5.11+)',
  record: {
    by: 'hdr.kind',
    kinds: 'tls_kind',
    cases: {
      [KINDS.handshake]: shape('handshake', ['SSL_do_handshake'], 'its return: 1 done, 0 failed (shut down cleanly by the peer), <0 error or would block'),
      [KINDS.read]: shape('read', ['SSL_read', 'SSL_read_ex'], 'SSL_read: its return (bytes, or <=0); SSL_read_ex: the byte count when it returns 1, else 0'),
      [KINDS.write]: shape('write', ['SSL_write', 'SSL_write_ex'], 'SSL_write: its return (bytes, or <=0); SSL_write_ex: the byte count when it returns 1, else 0'),
      [KINDS.shutdown]: shape('shutdown', ['SSL_shutdown'], "its return: 1 done (both close_notify alerts), 0 ours sent and the peer's not yet read, <0 error or would block"),
    },
  },
  // Return probes are attached first (the session sorts them).
  uprobes: (
    [
      ['handshake', 'SSL_do_handshake'],
      ['read', 'SSL_read'],
      ['read_ex', 'SSL_read_ex'],
      ['write', 'SSL_write'],
      ['write_ex', 'SSL_write_ex'],
      ['shutdown', 'SSL_shutdown'],
    ] as const
  ).flatMap(([program, symbol]): LibraryUprobe[] =>
    [true, false].map((retprobe) => ({
      program: `${program}_${retprobe ? 'return' : 'entry'}`,
      library: OPENSSL_LIBRARY,
      symbol,
      retprobe,
      onlyPids: includedPids,
    })),
  ),
  // openssl_pid and openssl_comm: the input's pid and comm filters, for this trace alone.
  keys: processFilterKeys(FILTER),
};
