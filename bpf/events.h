/* SPDX-License-Identifier: Apache-2.0 */
/* The head of every record a trace puts in its ring buffer. User space reads
 * its layout from each object's BTF (src/records/head.ts names the members).
 * All fields are explicitly sized and little-endian (the host's order). */
#ifndef EBPF_FORWARD_EVENTS_H
#define EBPF_FORWARD_EVENTS_H

#define TASK_COMM_LEN 16

/* Common head of every record: 64 bytes. */
struct event_header {
	__u64 ts_ns;   /* bpf_ktime_get_ns(): CLOCK_MONOTONIC, converted in user space */
	__u64 seq;     /* per-object sequence number, also taken by lost events */
	__u64 event_id; /* CPU in bits 63..48, that CPU's count of records sent below */
	__u32 pid;     /* thread-group id */
	__u32 tid;     /* thread id */
	__u16 kind;    /* trace-specific record kind */
	__u16 flags;   /* trace-specific */
	__u32 mntns_id; /* mount namespace's inode number (/proc/<pid>/ns/mnt) */
	char comm[TASK_COMM_LEN];
	__u64 cgroup_id; /* cgroup v2 id: the inode number of its cgroup's directory */
};

#endif
