// trace_signal: kill/tkill/tgkill calls and kernel-generated signals.
import type { TraceDefinition } from '../types.js';
import { HEADER_SIZE } from '../header.js';

// struct signal_event after the header: sig, tpid, error_raw, target.
export const trace_signal: TraceDefinition = {
  name: 'trace_signal',
  summary: 'signals: kill, tkill, tgkill calls and signals the kernel generates',
  object: 'signal.bpf.o',
  needs: 'syscall tracepoints (syscalls:sys_enter_kill...) and signal:signal_generate',
  attach: [
    { program: 'kill_enter', kind: 'section' },
    { program: 'kill_exit', kind: 'section' },
    { program: 'tkill_enter', kind: 'section' },
    { program: 'tkill_exit', kind: 'section' },
    { program: 'tgkill_enter', kind: 'section' },
    { program: 'tgkill_exit', kind: 'section' },
    { program: 'signal_generate', kind: 'section' },
  ],
  decode(data, offset, _length, h) {
    const body = offset + HEADER_SIZE;
    return {
      event_type: 'signal',
      pid: h.pid,
      tid: h.tid,
      comm: h.comm,
      signal: data.readInt32LE(body),
      tpid: data.readUInt32LE(body + 4),
      error_raw: data.readInt32LE(body + 8),
    };
  },
};
