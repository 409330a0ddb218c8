// SPDX-License-Identifier: Apache-2.0
/* trace_signal: one record per kill/tkill/tgkill call (at its exit, with its
 * result) and one per signal the kernel generates outside those calls
 * (SIGCHLD, SIGSEGV, SIGPIPE...). Syscall and signal tracepoints only. */
#include "common.bpf.h"
#include "task_filter.bpf.h"
#include "signal.h"

RECORD_TYPE(signal_event);

struct pending_kill {
	__u64 ts;   /* 0: no call in progress */
	__s32 sig;
	__s32 target;
};

/* The kill/tkill/tgkill call a thread is in, between its enter and exit.
 * Task storage, not a hash map: no lookup by key and no delete per call. */
struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct pending_kill);
} pending SEC(".maps");

static __always_inline struct pending_kill *pending_of_current(__u64 flags)
{
	return bpf_task_storage_get(&pending, bpf_get_current_task_btf(), 0, flags);
}

static __always_inline int on_enter(__s32 target, __s32 sig)
{
	if (!current_wanted())
		return 0;
	struct pending_kill *p = pending_of_current(BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!p) {
		drop_event(); /* no memory for the call's state: its record is lost */
		return 0;
	}
	p->ts = bpf_ktime_get_ns();
	p->sig = sig;
	p->target = target;
	return 0;
}

static __always_inline int on_exit(long ret)
{
	struct pending_kill *p = pending_of_current(0);
	if (!p || !p->ts)
		return 0;
	struct signal_event *e = reserve_event(struct signal_event, 0, p->ts);
	if (e) {
		e->sig = p->sig;
		e->target = p->target;
		e->tpid = p->target > 0 ? p->target : 0;
		e->error_raw = ret < 0 ? -ret : 0;
		submit_event(e);
	}
	p->ts = 0;
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_kill")
int kill_enter(struct syscall_trace_enter *ctx)
{
	return on_enter((__s32)ctx->args[0], (__s32)ctx->args[1]);
}

SEC("tracepoint/syscalls/sys_exit_kill")
int kill_exit(struct syscall_trace_exit *ctx)
{
	return on_exit(ctx->ret);
}

SEC("tracepoint/syscalls/sys_enter_tkill")
int tkill_enter(struct syscall_trace_enter *ctx)
{
	return on_enter((__s32)ctx->args[0], (__s32)ctx->args[1]);
}

SEC("tracepoint/syscalls/sys_exit_tkill")
int tkill_exit(struct syscall_trace_exit *ctx)
{
	return on_exit(ctx->ret);
}

SEC("tracepoint/syscalls/sys_enter_tgkill")
int tgkill_enter(struct syscall_trace_enter *ctx)
{
	return on_enter((__s32)ctx->args[1], (__s32)ctx->args[2]);
}

SEC("tracepoint/syscalls/sys_exit_tgkill")
int tgkill_exit(struct syscall_trace_exit *ctx)
{
	return on_exit(ctx->ret);
}

/* Signals the kernel generates by itself; those generated inside a traced
 * kill/tkill/tgkill call are that call's record already. */
SEC("tracepoint/signal/signal_generate")
int signal_generate(struct trace_event_raw_signal_generate *ctx)
{
	if (!current_wanted())
		return 0;
	struct pending_kill *p = pending_of_current(0);
	if (p && p->ts)
		return 0;
	struct signal_event *e = reserve_event(struct signal_event, 0, bpf_ktime_get_ns());
	if (!e)
		return 0;
	e->sig = ctx->sig;
	e->tpid = ctx->pid;
	e->target = ctx->pid;
	e->error_raw = 0;
	submit_event(e);
	return 0;
}
