/* SPDX-License-Identifier: Apache-2.0 */
/* trace_sched's records: what sched.bpf.c puts in the ring buffer. User space
 * reads their layout from the object's BTF (src/traces/sched/index.ts names the
 * members); the program's RECORD_TYPE puts the struct there. The header's pid, tid and comm
 * are those of the task switched in. */
#ifndef EBPF_FORWARD_SCHED_H
#define EBPF_FORWARD_SCHED_H

#include "events.h"

struct sched_event {
	struct event_header hdr;
	__u64 runq_latency_ns; /* its wake-up to this switch; 0 when not seen */
	__s64 prev_state;      /* raw state word of the task switched out; 0 if preempted */
	__u32 cpu;
	__u32 prev_pid;        /* thread id of the task switched out (0: idle) */
	__u32 next_pid;        /* thread-group id of the task switched in */
	__s32 prev_prio;       /* kernel priorities: 0-99 realtime, 100-139 normal */
	__s32 next_prio;
	bool wakeup_tracked;   /* its wake-up was seen */
	__u8 reserved[3];
};

#endif
