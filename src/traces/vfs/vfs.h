/* SPDX-License-Identifier: Apache-2.0 */
/* trace_vfs's records: what vfs.bpf.c puts in the ring buffer. User space
 * reads their layout from the object's BTF (src/traces/vfs/index.ts names the
 * members); the program's RECORD_TYPE puts each struct there. */
#ifndef EBPF_FORWARD_VFS_H
#define EBPF_FORWARD_VFS_H

#include "events.h"

#define VFS_PATH_MAX 4096 /* PATH_MAX, the NUL included */

/* What goes to user space: the first VFS_EVENT_FIXED bytes, then path_len
 * bytes of path (no NUL). */
struct vfs_event {
	struct event_header hdr;
	__u32 flags;
	__u32 mode;
	__s32 fd;       /* the syscall's return: an fd, or -errno */
	__u16 path_len; /* bytes of path that follow */
	__u16 reserved;
	char path[VFS_PATH_MAX];
};

#endif
