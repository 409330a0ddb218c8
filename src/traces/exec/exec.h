/* SPDX-License-Identifier: Apache-2.0 */
/* trace_exec's records: what exec.bpf.c puts in the ring buffer. User space
 * reads their layout from the object's BTF (src/traces/exec/index.ts names the
 * members); the program's RECORD_TYPE puts each struct there. */
#ifndef EBPF_FORWARD_EXEC_H
#define EBPF_FORWARD_EXEC_H

#include "events.h"

/* event_header.kind */
enum exec_stage {
	EXEC_STAGE_ENTER = 0,
	EXEC_STAGE_EXIT = 1,
};

/* event_header.flags: bits */
enum exec_flag {
	EXEC_F_EXECVEAT = 0x1,   /* the call was execveat */
	EXEC_F_FROM_IMAGE = 0x2, /* strings read from the new program's stack */
	EXEC_F_AT_EXIT = 0x4,    /* strings read from the caller at syscall exit */
	EXEC_F_INCOMPLETE = 0x8, /* a read failed: some strings empty, argc maybe short */
};

struct exec_event {
	struct event_header hdr;
	__u32 ppid;
	__u32 argc;
	__s32 error_raw;
	__s32 dirfd; /* execveat's dirfd (the kernel names such a file /dev/fd/<dirfd>/...) */
	/* byte lengths (no NUL) of filename, argv[0], argv[1], argv[2],
	 * argv_last, stored back to back after this struct */
	__u16 len[5];
	__u16 reserved[3];
};

#endif
