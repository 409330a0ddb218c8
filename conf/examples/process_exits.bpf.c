// SPDX-License-Identifier: Apache-2.0
/* process_exits: one record each time a process ends, from the
 * sched:sched_process_exit tracepoint (no kprobes needed).
 *
 * A "bring your own BPF object" example for ebpf-forward (process_exits.conf):
 * it includes nothing of ebpf-forward's, to show what any object needs:
 *   - BTF (the build's clang -g), with the record struct in it;
 *   - a ring buffer map (named by the input's ringbuf_map_name, default events);
 *   - optionally a per-CPU `lost` counter and a `self_tgid` knob, which
 *     ebpf-forward reads and sets when they are there.
 * ebpf-forward sends each record's struct as it is, member by member.
 *
 * Build: node scripts/build.mjs (or by hand:
 *   clang -g -O2 -target bpf -D__TARGET_ARCH_x86 -I bpf/.output \
 *         -c process_exits.bpf.c -o process_exits.bpf.o) */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define TASK_COMM_LEN 16

/* How the process ended. The enumerators are lower case because their
 * names are what the records carry ("how": "killed"). */
enum exit_how {
	exited,      /* returned from main or called exit(): see status */
	killed,      /* ended by a signal: see signal */
	dumped_core, /* ended by a signal, and its core was dumped */
};

struct process_ids {
	__u32 uid;
	__u32 gid;
};

/* The record: explicitly sized members, no holes. Sent as
 * {"ktime_ns": .., "age_ns": .., "pid": .., "ancestors": [..],
 *  "ids": {"uid": .., "gid": ..}, "how": "exited", ...}. */
struct process_exit {
	__u64 ktime_ns;           /* bpf_ktime_get_ns() at the exit: BPF_Time_Field */
	__u64 age_ns;             /* how long the process ran */
	__u32 pid;                /* thread-group id */
	__u32 ancestors[3];       /* parent, grandparent, great-grandparent pids */
	struct process_ids ids;   /* real user and group */
	enum exit_how how;
	__u8 status;              /* exit status (0-255) when how is exited */
	__u8 signal;              /* the signal when killed or dumped_core, else 0 */
	bool failed;              /* a non-zero status or a signal */
	__s8 nice;                /* -20 (favoured) to 19 */
	char comm[TASK_COMM_LEN]; /* task name */
};

/* Only globals' types are sure to be in BTF: this unused pointer puts the
 * record struct there, where ebpf-forward reads its layout. */
const struct process_exit *unused __attribute__((unused));

/* Knobs, set before load with BPF_Set name=value (read-only once loaded,
 * so the verifier drops the branches they turn off). */
const volatile bool failed_only = false;           /* only exits that failed */
const volatile __u32 parent_pid = 0;               /* only children of this pid; 0: any */
const volatile char only_comm[TASK_COMM_LEN] = ""; /* only tasks of this name; "": any */
/* ebpf-forward sets this to its own pid (when an object has it). */
const volatile __u32 self_tgid = 0;

/* Records to user space; ebpf-forward sizes it from ringbuf_size. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} events SEC(".maps");

/* Records the ring had no room for, per CPU: ebpf-forward reports them. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} lost SEC(".maps");

static __always_inline bool comm_matches(const char *comm)
{
	if (!only_comm[0])
		return true;
	for (int i = 0; i < TASK_COMM_LEN; i++) {
		if (comm[i] != only_comm[i])
			return false;
		if (!comm[i])
			break;
	}
	return true;
}

SEC("tracepoint/sched/sched_process_exit")
int handle_exit(void *ctx)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	__u32 pid = bpf_get_current_pid_tgid() >> 32;

	if (pid == self_tgid)
		return 0;
	/* One record per process, when its last thread ends (threads of a
	 * process that lives on are not reported). */
	if (BPF_CORE_READ(task, signal, live.counter) != 0)
		return 0;
	__u32 parent = BPF_CORE_READ(task, real_parent, tgid);
	if (parent_pid && parent != parent_pid)
		return 0;

	/* exit_code is wait(2)'s status: the code in bits 8-15, else the
	 * signal in bits 0-6 and a dumped core in bit 7. */
	int code = BPF_CORE_READ(task, exit_code);
	__u8 signal = code & 0x7f;
	__u8 status = (code >> 8) & 0xff;
	bool failed = signal || status;
	if (failed_only && !failed)
		return 0;

	char comm[TASK_COMM_LEN];
	bpf_get_current_comm(comm, sizeof(comm));
	if (!comm_matches(comm))
		return 0;

	struct process_exit *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		__u32 zero = 0;
		__u64 *n = bpf_map_lookup_elem(&lost, &zero);
		if (n)
			__sync_fetch_and_add(n, 1);
		return 0;
	}
	e->ktime_ns = bpf_ktime_get_ns();
	e->age_ns = e->ktime_ns - BPF_CORE_READ(task, group_leader, start_time);
	e->pid = pid;
	e->ancestors[0] = parent;
	e->ancestors[1] = BPF_CORE_READ(task, real_parent, real_parent, tgid);
	e->ancestors[2] = BPF_CORE_READ(task, real_parent, real_parent, real_parent, tgid);
	e->ids.uid = BPF_CORE_READ(task, cred, uid.val);
	e->ids.gid = BPF_CORE_READ(task, cred, gid.val);
	e->how = !signal ? exited : (code & 0x80) ? dumped_core : killed;
	e->status = status;
	e->signal = signal;
	e->failed = failed;
	e->nice = BPF_CORE_READ(task, static_prio) - 120; /* DEFAULT_PRIO */
	__builtin_memcpy(e->comm, comm, sizeof(comm));
	bpf_ringbuf_submit(e, 0);
	return 0;
}
