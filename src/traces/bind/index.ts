// trace_bind: bind() calls on IPv4/IPv6 sockets, by fexit on __sys_bind
// where the kernel takes it, else the bind syscall's tracepoints (Fluent Bit
// needs kprobes on inet_bind/inet6_bind); docs/kernels.md says what fexit gains.
import { attachKey } from '../attach-path.js';
import type { TraceDefinition } from '../types.js';

export const trace_bind: TraceDefinition = {
  name: 'trace_bind',
  summary: 'bind() calls on IPv4/IPv6 sockets: port asked for, device bound to, result',
  object: 'bind.bpf.o',
  needs: 'syscall tracepoints (syscalls:sys_enter_bind, syscalls:sys_exit_bind) and BTF for CO-RE socket reads',
  fentryNeeds: 'fexit (BPF trampolines, Linux 5.5+ on x86-64) on the kernel function __sys_bind',
  keys: [attachKey],
  record: {
    struct: 'bind_event',
    eventType: 'bind',
    fields: [
      { key: 'uid', type: 'uint', from: { copy: 'uid' }, doc: 'user id of the calling process' },
      { key: 'gid', type: 'uint', from: { copy: 'gid' }, doc: 'group id of the calling process' },
      { key: 'port', type: 'uint16', from: { copy: 'asked.port' }, doc: 'port asked for, host order (0 = any)' },
      { key: 'bound_dev_if', type: 'uint', from: { copy: 'bound_dev_if' }, doc: 'interface index the socket is bound to (SO_BINDTODEVICE), 0 if none' },
      { key: 'error_raw', type: 'int', from: { copy: 'error_raw' }, doc: 'positive errno (98 EADDRINUSE, 13 EACCES...), 0 on success' },
      // Further fields (not in Fluent Bit's record):
      { key: 'address', type: 'string', from: { address: 'asked' }, doc: 'further field: the address asked for as text (`""` if none)' },
      { key: 'family', type: 'uint', from: { copy: 'sock_family' }, doc: 'further field: 2 (AF_INET) or 10 (AF_INET6)' },
      { key: 'protocol', type: 'uint', from: { copy: 'protocol' }, doc: 'further field: 6 TCP, 17 UDP...' },
    ],
  },
};
