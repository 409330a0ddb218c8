// SPDX-License-Identifier: Apache-2.0
/* trace_bind: one record per bind() call on an IPv4/IPv6 socket (any
 * protocol), at its exit, with its result. Fluent Bit uses kprobes on
 * inet_bind/inet6_bind; this has two sets of programs, one loaded (the
 * input's `attach` key, src/inputs/trace-session.ts):
 * - fexit on __sys_bind, where the kernel has BPF trampolines (Linux 6.1):
 *   one program sees the call's arguments and its result together, so no
 *   per-thread state is kept between an entry and an exit;
 * - the bind syscall's tracepoints, everywhere else (this machine's 6.18
 *   refuses fentry/fexit).
 * Either way the socket is read through the caller's fd table (CO-RE), and
 * the record is the same. */
#include "common.bpf.h"
#include "task_filter.bpf.h"
#include "bind.h"
#include "inet_socket.bpf.h"

RECORD_TYPE(bind_event);

/* A call as seen at its entry (or, by fexit, at its return). */
struct pending_bind {
	__u64 ts;
	struct sock *sk;
	__u32 uid;
	__u32 gid;
	__u16 sock_family;
	__u16 protocol;
	struct inet_address asked;
};

/* bind() calls between enter and exit, by thread (tracepoints only). LRU: a
 * thread killed inside the call never reaches the exit, and its entry must
 * not pin a slot. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 10240);
	__type(key, __u32);
	__type(value, struct pending_bind);
} pending SEC(".maps");

/* Fills p for a bind on fd if fd is an IPv4/IPv6 socket: 0, else -1. */
static __always_inline int gather_bind(long fd, const void *uaddr, __u32 addrlen, struct pending_bind *p)
{
	struct sock *sk = sock_of_fd(fd);
	if (!sk || !is_inet_sock(sk))
		return -1;
	__u64 uid_gid = bpf_get_current_uid_gid();
	p->ts = bpf_ktime_get_ns();
	p->sk = sk;
	p->uid = (__u32)uid_gid;
	p->gid = uid_gid >> 32;
	p->sock_family = sock_family(sk);
	p->protocol = sock_protocol(sk);
	read_user_sockaddr(uaddr, addrlen, &p->asked);
	return 0;
}

/* The record of a call, once its result (ret: 0 or -errno) is known. */
static __always_inline void record_bind(const struct pending_bind *p, long ret)
{
	struct sock *sk = p->sk; /* a plain read: BPF_CORE_READ would relocate p->sk too */
	struct bind_event *e = reserve_event(struct bind_event, 0, p->ts);
	if (!e)
		return;
	e->uid = p->uid;
	e->gid = p->gid;
	e->error_raw = ret < 0 ? -ret : 0;
	/* The caller's fd keeps the socket alive for the whole call. */
	e->bound_dev_if = BPF_CORE_READ(sk, __sk_common.skc_bound_dev_if);
	e->sock_family = p->sock_family;
	e->protocol = p->protocol;
	e->asked = p->asked;
	submit_event(e);
}

SEC("tracepoint/syscalls/sys_enter_bind")
int bind_enter(struct syscall_trace_enter *ctx)
{
	if (!current_wanted())
		return 0;
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct pending_bind p = {};
	if (gather_bind((long)ctx->args[0], (const void *)ctx->args[1], (__u32)ctx->args[2], &p)) {
		/* An entry left by a thread killed inside bind() must not match
		 * this call's exit if its tid now names another thread. */
		bpf_map_delete_elem(&pending, &tid);
		return 0;
	}
	bpf_map_update_elem(&pending, &tid, &p, BPF_ANY);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_bind")
int bind_exit(struct syscall_trace_exit *ctx)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct pending_bind *p = bpf_map_lookup_elem(&pending, &tid);
	if (!p)
		return 0;
	record_bind(p, ctx->ret);
	bpf_map_delete_elem(&pending, &tid);
	return 0;
}

/* __sys_bind(fd, umyaddr, addrlen): what the bind syscall calls (and the
 * 32-bit socketcall(2), which the syscall tracepoints do not show). At its
 * return the fd still names the socket and the caller's sockaddr is as it
 * was passed. */
SEC("fexit/__sys_bind")
int BPF_PROG(bind_fexit, int fd, void *umyaddr, int addrlen, int ret)
{
	if (!current_wanted())
		return 0;
	struct pending_bind p = {};
	if (gather_bind(fd, umyaddr, (__u32)addrlen, &p))
		return 0;
	record_bind(&p, ret);
	return 0;
}
