/* SPDX-License-Identifier: Apache-2.0 */
/* Narrowing a trace to some processes in the kernel, by thread-group id
 * and/or comm: knobs set before load from the input's <trace>_pid and
 * <trace>_comm keys (src/traces/process-filter.ts). Include after
 * common.bpf.h. */
#ifndef EBPF_FORWARD_PROCESS_FILTER_BPF_H
#define EBPF_FORWARD_PROCESS_FILTER_BPF_H

/* A count of 0 lets everyone through. */
#define MAX_FILTER_PIDS 64
#define MAX_FILTER_COMMS 16
const volatile __u32 filter_pid_count = 0;
const volatile __u32 filter_pids[MAX_FILTER_PIDS] = {};
const volatile __u32 filter_comm_count = 0;
const volatile char filter_comms[MAX_FILTER_COMMS][TASK_COMM_LEN] = {};

/* Does a process of this thread-group id pass the pid filter? */
static __always_inline bool pid_wanted(__u32 tgid)
{
	if (!filter_pid_count)
		return true;
	for (__u32 i = 0; i < MAX_FILTER_PIDS && i < filter_pid_count; i++)
		if (filter_pids[i] == tgid)
			return true;
	return false;
}

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

/* Does a task of this comm pass the comm filter? */
static __always_inline bool comm_wanted(const char *comm)
{
	if (!filter_comm_count)
		return true;
	for (__u32 i = 0; i < MAX_FILTER_COMMS && i < filter_comm_count; i++)
		if (comm_matches(comm, i))
			return true;
	return false;
}

/* Is the current process one the input asked for (and not ebpf-forward
 * itself)? Its comm is read only when a comm filter is set. */
static __always_inline bool current_wanted(void)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	if (tgid == self_tgid || !pid_wanted(tgid))
		return false;
	if (!filter_comm_count)
		return true;
	char comm[TASK_COMM_LEN] = {};
	bpf_get_current_comm(comm, sizeof(comm));
	return comm_wanted(comm);
}

#endif
