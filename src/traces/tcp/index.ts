// trace_tcp: listen(), accept()/accept4() and connect() on TCP sockets, by
// fexit on __sys_listen/__sys_accept4/__sys_connect where the kernel takes
// it, else syscall tracepoints; one record per call, at its exit.
import { attachKey } from '../attach-path.js';
import type { TraceDefinition } from '../types.js';

const errorRaw = { key: 'error_raw', type: 'int', from: { copy: 'error_raw' }, doc: 'positive errno, 0 on success' } as const;

export const trace_tcp: TraceDefinition = {
  name: 'trace_tcp',
  summary: 'TCP listen, accept/accept4 and connect calls with addresses and results',
  object: 'tcp.bpf.o',
  needs: 'syscall tracepoints (syscalls:sys_enter/exit_listen, _accept, _accept4, _connect) and BTF for CO-RE socket reads',
  fentryNeeds: 'fexit (BPF trampolines, Linux 5.5+ on x86-64) on the kernel functions __sys_listen, __sys_accept4 and __sys_connect',
  keys: [attachKey],
  record: {
    by: 'hdr.kind',
    kinds: 'tcp_call',
    cases: {
      CALL_LISTEN: {
        struct: 'listen_event',
        eventType: 'listen',
        fields: [
          { key: 'fd', type: 'int', from: { copy: 'fd' }, doc: 'the socket' },
          { key: 'backlog', type: 'int', from: { copy: 'backlog' }, doc: 'backlog asked for' },
          errorRaw,
        ],
      },
      CALL_ACCEPT: {
        struct: 'accept_event',
        eventType: 'accept',
        fields: [
          { key: 'fd', type: 'int', from: { copy: 'fd' }, doc: 'the listening socket' },
          { key: 'new_fd', type: 'int', from: { copy: 'new_fd' }, doc: 'the new socket, or the negative return' },
          { key: 'peer_port', type: 'uint16', from: { copy: 'peer.port' }, doc: "the peer's port (0 on failure)" },
          { key: 'peer_addr', type: 'string', from: { address: 'peer' }, doc: 'the peer\'s address as text (`""` on failure)' },
          errorRaw,
        ],
      },
      CALL_CONNECT: {
        struct: 'connect_event',
        eventType: 'connect',
        fields: [
          { key: 'fd', type: 'int', from: { copy: 'fd' }, doc: 'the socket' },
          { key: 'remote_port', type: 'uint16', from: { copy: 'remote.port' }, doc: 'port connected to' },
          { key: 'remote_addr', type: 'string', from: { address: 'remote' }, doc: 'address connected to, as text' },
          errorRaw,
        ],
      },
    },
  },
};
