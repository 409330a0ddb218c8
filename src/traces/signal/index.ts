// trace_signal: kill/tkill/tgkill calls and kernel-generated signals.
import type { TraceDefinition } from '../types.js';

export const trace_signal: TraceDefinition = {
  name: 'trace_signal',
  summary: 'signals: kill, tkill, tgkill calls and signals the kernel generates',
  object: 'signal.bpf.o',
  needs: 'syscall tracepoints (syscalls:sys_enter_kill...) and signal:signal_generate',
  record: {
    struct: 'signal_event',
    eventType: 'signal',
    fields: [
      { key: 'signal', type: 'int', from: { copy: 'sig' }, doc: 'signal number (0 for a `kill(pid, 0)` probe)' },
      { key: 'tpid', type: 'uint', from: { copy: 'tpid' }, doc: 'receiver: the pid for kill, the thread for tkill/tgkill; 0 when kill targets a process group' },
      { key: 'error_raw', type: 'int', from: { copy: 'error_raw' }, doc: 'errno of a failed call, else 0' },
    ],
  },
};
