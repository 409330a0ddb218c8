// SPDX-License-Identifier: Apache-2.0
/* trace_sched: one record per context switch on a CPU, except a switch to
 * the idle task, for the task switched in (the record's pid, tid and comm),
 * with the task switched out, and how long the task switched in waited on
 * the run queue since its wake-up.
 *
 * BTF tracepoints (tp_btf): they hand over the task_structs themselves, read
 * directly (CO-RE relocated loads, no helper call per field), and the
 * scheduler's own prev_state and preempt arguments.
 *
 * A wake-up is noted in the woken task's BPF task storage, which the kernel
 * frees with the task, and cleared when the task is next switched in, so it
 * can only count for the switch that ends that wait. A wake-up of a task
 * that is on a CPU (it was woken before it could block) ends no wait, and is
 * not noted: else a later switch-in after a preemption would take it.
 *
 * This is the busiest kernel event after malloc, so everything that decides
 * whether a switch is recorded (idle, ebpf-forward itself, the input's
 * filters, sched_min_runq_latency) is checked before ring space
 * is reserved. */
#include "common.bpf.h"
#include "task_filter.bpf.h"
#include "sched.h"

RECORD_TYPE(sched_event);

/* Only switches whose run-queue latency is at least this (0: all). */
const volatile __u64 min_runq_latency_ns = 0;

struct wakeup {
	__u64 ts; /* bpf_ktime_get_ns() of the wake-up; 0: none pending */
};

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct wakeup);
} wakeups SEC(".maps");

/* The filters (task_filter.bpf.h) and ebpf-forward's own exclusion apply to
 * the task switched in, and to the woken one. */

static __always_inline int note_wakeup(struct task_struct *p)
{
	if (p->on_cpu || !task_wanted_quietly(p))
		return 0;
	struct wakeup *w = bpf_task_storage_get(&wakeups, p, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (w)
		w->ts = bpf_ktime_get_ns();
	/* No memory for it: the switch that ends this wait says it was not seen. */
	return 0;
}

SEC("tp_btf/sched_wakeup")
int BPF_PROG(sched_wakeup, struct task_struct *p)
{
	return note_wakeup(p);
}

SEC("tp_btf/sched_wakeup_new")
int BPF_PROG(sched_wakeup_new, struct task_struct *p)
{
	return note_wakeup(p);
}

SEC("tp_btf/sched_switch")
int BPF_PROG(sched_switch, bool preempt, struct task_struct *prev, struct task_struct *next,
	     unsigned int prev_state)
{
	__u32 next_tid = next->pid;
	if (next_tid == 0)
		return 0; /* to the idle task */
	__u64 now = bpf_ktime_get_ns();
	__u64 latency = 0;
	bool tracked = false;
	/* Taken whether or not this switch is recorded (a switch from
	 * ebpf-forward, say): the wait of that wake-up ends here. */
	struct wakeup *w = bpf_task_storage_get(&wakeups, next, 0, 0);
	if (w && w->ts) {
		latency = now - w->ts;
		tracked = true;
		w->ts = 0;
	}
	if (is_self_task(prev) || is_self_task(next))
		return 0;
	if (latency < min_runq_latency_ns || !task_wanted(next))
		return 0;
	struct sched_event *e = reserve_event(struct sched_event, 0, now);
	if (!e)
		return 0;
	/* The header names the task switched in, not the current one (prev). */
	e->hdr.pid = next->tgid;
	e->hdr.tid = next_tid;
	bpf_probe_read_kernel(e->hdr.comm, sizeof(e->hdr.comm), next->comm);
	e->hdr.cgroup_id = task_cgroup_id(next);
	e->hdr.mntns_id = task_mntns_id(next);
	e->runq_latency_ns = latency;
	/* A preempted task is still runnable, whatever its state word was about to say. */
	e->prev_state = preempt ? 0 : prev_state;
	e->cpu = bpf_get_smp_processor_id();
	e->prev_pid = prev->pid;
	e->next_pid = next->tgid;
	e->prev_prio = prev->prio;
	e->next_prio = next->prio;
	e->wakeup_tracked = tracked;
	e->reserved[0] = e->reserved[1] = e->reserved[2] = 0;
	submit_event(e);
	return 0;
}
