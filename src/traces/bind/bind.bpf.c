// SPDX-License-Identifier: Apache-2.0
/* trace_bind: one record per bind() call on an IPv4/IPv6 socket (any
 * protocol), at its exit, with its result. Fluent Bit uses kprobes on
 * inet_bind/inet6_bind; this works from the bind syscall's tracepoints and
 * reads the socket through the caller's fd table (CO-RE). */
#include "common.bpf.h"
#include "task_filter.bpf.h"
#include "bind.h"
#include "inet_socket.bpf.h"

struct pending_bind {
	__u64 ts;
	struct sock *sk;
	__u32 uid;
	__u32 gid;
	__u16 sock_family;
	__u16 protocol;
	struct inet_address asked;
};

/* bind() calls between enter and exit, by thread. LRU: a thread killed
 * inside the call never reaches the exit, and its entry must not pin a slot. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 10240);
	__type(key, __u32);
	__type(value, struct pending_bind);
} pending SEC(".maps");

SEC("tracepoint/syscalls/sys_enter_bind")
int bind_enter(struct syscall_trace_enter *ctx)
{
	if (!current_wanted())
		return 0;
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct sock *sk = sock_of_fd((long)ctx->args[0]);
	if (!sk || !is_inet_sock(sk)) {
		/* An entry left by a thread killed inside bind() must not match
		 * this call's exit if its tid now names another thread. */
		bpf_map_delete_elem(&pending, &tid);
		return 0;
	}
	__u64 uid_gid = bpf_get_current_uid_gid();
	struct pending_bind p = {
		.ts = bpf_ktime_get_ns(),
		.sk = sk,
		.uid = (__u32)uid_gid,
		.gid = uid_gid >> 32,
		.sock_family = sock_family(sk),
		.protocol = sock_protocol(sk),
	};
	read_user_sockaddr((const void *)ctx->args[1], (__u32)ctx->args[2], &p.asked);
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
	struct sock *sk = p->sk; /* a plain read: BPF_CORE_READ would relocate p->sk too */
	struct bind_event *e = reserve_event(struct bind_event, 0, p->ts);
	if (e) {
		e->uid = p->uid;
		e->gid = p->gid;
		e->error_raw = ctx->ret < 0 ? -ctx->ret : 0;
		/* The caller's fd keeps the socket alive for the whole call. */
		e->bound_dev_if = BPF_CORE_READ(sk, __sk_common.skc_bound_dev_if);
		e->sock_family = p->sock_family;
		e->protocol = p->protocol;
		e->asked = p->asked;
		submit_event(e);
	}
	bpf_map_delete_elem(&pending, &tid);
	return 0;
}
