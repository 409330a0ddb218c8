/* SPDX-License-Identifier: Apache-2.0 */
/* The types every trace's records share: the head of every record a trace
 * puts in its ring buffer, and an address. User space reads
 * its layout from each object's BTF (src/records/head.ts names the members).
 * All fields are explicitly sized and little-endian (the host's order). */
#ifndef EBPF_FORWARD_EVENTS_H
#define EBPF_FORWARD_EVENTS_H

#define TASK_COMM_LEN 16

/* An address as it goes to user space: family AF_INET (addr[0..3]) or
 * AF_INET6 (addr[0..15]), both in network order; port in host order.
 * family 0: no address (none passed, unreadable, or another family). */
struct inet_address {
	__u16 family;
	__u16 port;
	__u8 addr[16];
};

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
