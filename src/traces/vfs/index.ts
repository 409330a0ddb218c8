// trace_vfs: openat, openat2 and open calls with their path and result.
import { sectionSteps, type TraceDefinition, type TraceRecord } from '../types.js';
import { HEADER_SIZE, type EventHeader } from '../header.js';

/** `operation` values (the record header's kind). */
export const VfsOperation = { openat: 0, openat2: 1, open: 2 } as const;

// struct vfs_event in bpf/vfs.bpf.c, after the header: flags u32, mode u32,
// fd s32, path_len u16, reserved u16, then path_len bytes of path (no NUL).
const FLAGS = HEADER_SIZE;
const MODE = HEADER_SIZE + 4;
const FD = HEADER_SIZE + 8;
const PATH_LEN = HEADER_SIZE + 12;
export const VFS_EVENT_FIXED = HEADER_SIZE + 16;

/** Decodes one vfs record; pure, so tests and other inputs can reuse it. */
export function decodeVfs(data: Buffer, offset: number, length: number, h: EventHeader): TraceRecord | null {
  if (length < VFS_EVENT_FIXED) return null;
  // Never read past the record, whatever path_len says.
  const pathLen = Math.min(data.readUInt16LE(offset + PATH_LEN), length - VFS_EVENT_FIXED);
  const pathStart = offset + VFS_EVENT_FIXED;
  const fd = data.readInt32LE(offset + FD);
  return {
    event_type: 'vfs',
    pid: h.pid,
    tid: h.tid,
    comm: h.comm,
    operation: h.kind,
    path: data.toString('utf8', pathStart, pathStart + pathLen),
    flags: data.readUInt32LE(offset + FLAGS),
    mode: data.readUInt32LE(offset + MODE),
    fd,
    error_raw: fd < 0 ? -fd : 0,
  };
}

export const trace_vfs: TraceDefinition = {
  name: 'trace_vfs',
  summary: 'file opens: openat (operation 0), openat2 (1) and open (2) with path, flags, mode and result',
  object: 'vfs.bpf.o',
  needs: 'syscall tracepoints (syscalls:sys_enter_openat/sys_exit_openat) and BPF task storage (Linux 5.11+)',
  attach: [
    // Exits first, so every call whose enter is seen also has its exit seen.
    ...sectionSteps(['openat_exit', 'openat_enter']),
    // openat2 (Linux 5.6+) and open (absent on arm64, riscv...) where the kernel has them.
    ...sectionSteps(['openat2_exit', 'openat2_enter', 'open_exit', 'open_enter'], { optional: true }),
  ],
  decode: decodeVfs,
};
