// trace_exec: execve and execveat, an "enter" record at the call and an
// "exit" record with the result (exec.bpf.c).
import { sectionSteps, type TraceDefinition, type TraceRecord } from '../types.js';
import type { EventHeader } from '../header.js';
import { HEADER_SIZE } from '../header.js';

// struct exec_event after the header: ppid u32, argc u32, error_raw s32,
// dirfd s32, five u16 string lengths, 3 u16 reserved (80 bytes with the
// header); then the strings back to back.
const FIXED_SIZE = 32;
const LENGTHS_AT = 16;
const AT_FDCWD = -100;
const STRING_SLOTS = 5;

/** event_header.flags of an exec record (EXEC_F_* in exec.bpf.c). */
export const ExecFlags = {
  /** The call was execveat. */
  execveat: 0x1,
  /** Strings read from the new program's stack after a successful exec. */
  fromImage: 0x2,
  /** Strings read from the caller again at the syscall's exit. */
  atExit: 0x4,
  /** A read failed: some strings are empty and argc may be short. */
  incomplete: 0x8,
} as const;

const STAGES = ['enter', 'exit'] as const;

/** Where an exec record's strings were read (for diagnostics and tests). */
export type ExecStringSource = 'call' | 'image' | 'exit';

export function execStringSource(header: Pick<EventHeader, 'flags'>): ExecStringSource {
  if (header.flags & ExecFlags.fromImage) return 'image';
  if (header.flags & ExecFlags.atExit) return 'exit';
  return 'call';
}

/** Decodes one exec record; pure, so tests and other outputs can reuse it. */
export function decodeExecRecord(data: Buffer, offset: number, length: number, h: EventHeader): TraceRecord {
  const body = offset + HEADER_SIZE;
  const end = offset + length;
  const strings: string[] = [];
  let at = body + FIXED_SIZE;
  for (let i = 0; i < STRING_SLOTS; i++) {
    // A length past the record's end would be a bug in the BPF side: clamp, never read a neighbour.
    const stop = Math.min(at + data.readUInt16LE(body + LENGTHS_AT + 2 * i), end);
    strings.push(data.toString('utf8', at, stop));
    at = stop;
  }
  let filename = strings[0]!;
  if (h.flags & ExecFlags.fromImage && h.flags & ExecFlags.execveat) {
    filename = pathAsPassed(filename, data.readInt32LE(body + 12));
  }
  return {
    event_type: 'execve',
    pid: h.pid,
    tid: h.tid,
    comm: h.comm,
    stage: STAGES[h.kind] ?? 'unknown',
    ppid: data.readUInt32LE(body),
    filename,
    argv: strings[1]!,
    argv1: strings[2]!,
    argv2: strings[3]!,
    argv_last: strings[4]!,
    argc: data.readUInt32LE(body + 4),
    error_raw: data.readInt32LE(body + 8),
  };
}

/**
 * The kernel's name for a file execveat() found relative to a directory fd
 * is "/dev/fd/<dirfd>/<path>" ("/dev/fd/<dirfd>" with AT_EMPTY_PATH); read
 * from the new program, that is what we get. Give back the path as passed.
 */
function pathAsPassed(kernelName: string, dirfd: number): string {
  if (dirfd === AT_FDCWD) return kernelName;
  const prefix = `/dev/fd/${dirfd}`;
  if (kernelName === prefix) return '';
  if (kernelName.startsWith(prefix + '/')) return kernelName.slice(prefix.length + 1);
  return kernelName;
}

export const trace_exec: TraceDefinition = {
  name: 'trace_exec',
  summary: 'program executions: execve and execveat, at the call and with their result',
  object: 'exec.bpf.o',
  needs:
    'syscall tracepoints (syscalls:sys_enter_execve...), sched:sched_process_exec, ' +
    'and Linux 6.1+ (bpf_loop, non-preallocated hash maps in tracepoint programs)',
  attach: sectionSteps(['execve_enter', 'execve_exit', 'execveat_enter', 'execveat_exit', 'process_exec']),
  decode(data, offset, length, h) {
    if (length < HEADER_SIZE + FIXED_SIZE) return null;
    return decodeExecRecord(data, offset, length, h);
  },
};
