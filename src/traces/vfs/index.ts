// trace_vfs: openat, openat2 and open calls with their path and result, by
// fexit on the syscalls' functions where the kernel takes it (x86-64), else
// their tracepoints.
import { attachKey } from '../attach-path.js';
import type { TraceDefinition } from '../types.js';

/** `operation` values (the record header's kind). */
export const VfsOperation = { openat: 0, openat2: 1, open: 2 } as const;

export const trace_vfs: TraceDefinition = {
  name: 'trace_vfs',
  summary: 'file opens: openat (operation 0), openat2 (1) and open (2) with path, flags, mode and result',
  object: 'vfs.bpf.o',
  needs: 'syscall tracepoints (syscalls:sys_enter_openat/sys_exit_openat) and BPF task storage (Linux 5.11+)',
  fentryNeeds: "fexit (BPF trampolines, Linux 5.5+) on x86-64's syscall functions __x64_sys_openat, __x64_sys_openat2 and __x64_sys_open, and BPF task storage (Linux 5.11+)",
  keys: [attachKey],
  record: {
    struct: 'vfs_event',
    eventType: 'vfs',
    fields: [
      { key: 'operation', type: 'int', from: { copy: 'hdr.kind' }, doc: '0 openat, 1 openat2, 2 open' },
      { key: 'path', type: 'string', from: { string: 'path', length: 'path_len' }, doc: 'the path as passed (up to 4095 bytes)' },
      { key: 'flags', type: 'uint', from: { copy: 'flags' }, doc: 'open flags' },
      { key: 'mode', type: 'uint', from: { copy: 'mode' }, doc: 'mode argument' },
      { key: 'fd', type: 'int', from: { copy: 'fd' }, doc: 'returned fd, or the negative return on failure' },
      { key: 'error_raw', type: 'int', from: { errno: 'fd' }, doc: 'positive errno (2 ENOENT...), 0 on success' },
    ],
  },
  // openat2 (Linux 5.6+) and open (absent on arm64, riscv...) where the kernel has them.
  optional: ['openat2_exit', 'openat2_enter', 'open_exit', 'open_enter'],
};
