// trace_signal: kill/tkill/tgkill calls and kernel-generated signals.
import { sectionSteps, type TraceDefinition } from '../types.js';
import { HEADER_SIZE } from '../header.js';

// struct signal_event after the header: sig, tpid, error_raw, target.
export const trace_signal: TraceDefinition = {
  name: 'trace_signal',
  summary: 'signals: kill, tkill, tgkill calls and signals the kernel generates',
  object: 'signal.bpf.o',
  needs: 'syscall tracepoints (syscalls:sys_enter_kill...) and signal:signal_generate',
  attach: sectionSteps(['kill_enter', 'kill_exit', 'tkill_enter', 'tkill_exit', 'tgkill_enter', 'tgkill_exit', 'signal_generate']),
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
