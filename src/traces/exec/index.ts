// trace_exec: execve and execveat, an "enter" record at the call and an
// "exit" record with the result (exec.bpf.c).
import type { RecordShape } from '../../records/declaration.js';
import type { TraceDefinition } from '../types.js';

// struct exec_event, then its five strings back to back, their byte lengths in len[].
export const execRecord: RecordShape = {
  struct: 'exec_event',
  eventType: 'execve',
  tailLengths: 'len',
  fields: [
    { key: 'stage', type: 'string', from: { names: { EXEC_STAGE_ENTER: 'enter', EXEC_STAGE_EXIT: 'exit' }, enum: 'exec_stage', of: 'hdr.kind', otherwise: 'unknown' }, doc: '`enter` (at the call, with the call\'s time) or `exit` (with the result)' },
    { key: 'ppid', type: 'uint', from: { copy: 'ppid' }, doc: "parent's pid" },
    // Read from the new program, an execveat's file relative to a dirfd is
    // named "/dev/fd/<dirfd>/<path>" by the kernel: given back as passed.
    {
      key: 'filename',
      type: 'string',
      from: { pathAsPassed: 0, dirfd: 'dirfd', flags: 'hdr.flags', enum: 'exec_flag', allOf: ['EXEC_F_EXECVEAT', 'EXEC_F_FROM_IMAGE'] },
      doc: 'the path as passed (up to 4095 bytes)',
    },
    { key: 'argv', type: 'string', from: { tail: 1 }, doc: 'argv[0] (`""` where absent; up to 1023 bytes)' },
    { key: 'argv1', type: 'string', from: { tail: 2 }, doc: 'argv[1]' },
    { key: 'argv2', type: 'string', from: { tail: 3 }, doc: 'argv[2]' },
    { key: 'argv_last', type: 'string', from: { tail: 4 }, doc: 'the last argument when argc > 3, else `""`' },
    { key: 'argc', type: 'uint', from: { copy: 'argc' }, doc: 'number of arguments (counted exactly, up to 1,048,576)' },
    { key: 'error_raw', type: 'int', from: { copy: 'error_raw' }, doc: 'positive errno on the exit stage (2 for a missing file), 0 otherwise' },
  ],
};

export const trace_exec: TraceDefinition = {
  name: 'trace_exec',
  summary: 'program executions: execve and execveat, at the call and with their result',
  object: 'exec.bpf.o',
  needs:
    'syscall tracepoints (syscalls:sys_enter_execve...), sched:sched_process_exec, ' +
    'and Linux 6.1+ (bpf_loop, non-preallocated hash maps in tracepoint programs)',
  record: execRecord,
};
