/* SPDX-License-Identifier: Apache-2.0 */
/* What traces of library calls (uprobes and uretprobes) share: narrowing to
 * some processes, checked first thing in each probe, by thread-group id
 * and/or comm (knobs set before load from the input's <trace>_pid /
 * <trace>_comm keys, src/traces/process-filter.ts); and where a call's
 * return finds the stack pointer, to match it with its entry.
 * Include after common.bpf.h. */
#ifndef EBPF_FORWARD_UPROBES_BPF_H
#define EBPF_FORWARD_UPROBES_BPF_H

/* A count of 0 lets everyone through. */
#define MAX_FILTER_PIDS 64
#define MAX_FILTER_COMMS 16
const volatile __u32 filter_pid_count = 0;
const volatile __u32 filter_pids[MAX_FILTER_PIDS] = {};
const volatile __u32 filter_comm_count = 0;
const volatile char filter_comms[MAX_FILTER_COMMS][TASK_COMM_LEN] = {};

static __always_inline bool comm_matches(const char *comm, __u32 i)
{
	const volatile char *want = filter_comms[i];
	for (int k = 0; k < TASK_COMM_LEN; k++) {
		if (comm[k] != want[k])
			return false;
		if (comm[k] == 0)
			return true;
	}
	return true;
}

/* Is this process one the input asked for (and not ebpf-forward itself)? */
static __always_inline bool wanted(void)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	if (tgid == self_tgid)
		return false;
	if (filter_pid_count) {
		bool found = false;
		for (__u32 i = 0; i < MAX_FILTER_PIDS && i < filter_pid_count; i++) {
			if (filter_pids[i] == tgid) {
				found = true;
				break;
			}
		}
		if (!found)
			return false;
	}
	if (filter_comm_count) {
		char comm[TASK_COMM_LEN] = {};
		bpf_get_current_comm(comm, sizeof(comm));
		for (__u32 i = 0; i < MAX_FILTER_COMMS && i < filter_comm_count; i++)
			if (comm_matches(comm, i))
				return true;
		return false;
	}
	return true;
}

/* On return from a call, the stack pointer is this far above its value at
 * the function's first instruction (x86 pops the return address). */
#if defined(__TARGET_ARCH_x86)
#define RETURN_SP_DELTA 8
#else
#define RETURN_SP_DELTA 0
#endif

#endif
