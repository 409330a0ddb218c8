// SPDX-License-Identifier: Apache-2.0
/* trace_tcp: one record per listen(), accept()/accept4() and connect() call
 * on a TCP socket (IPv4 or IPv6), at the call's exit, with its result; the
 * socket behind each fd is read via CO-RE. Calls on other sockets (UDP
 * connect, Unix sockets...) and on fds that are not sockets are not
 * recorded. Two sets of programs, one loaded (the input's `attach` key,
 * src/inputs/trace-session.ts):
 * - fexit on __sys_listen, __sys_accept4 and __sys_connect, where the kernel
 *   has BPF trampolines (Linux 6.1): one program per call sees its
 *   arguments and its result together, so no per-thread state is kept
 *   while a call blocks (an accept can wait for hours);
 * - the syscalls' tracepoints, everywhere else (this machine's 6.18 refuses
 *   fentry/fexit). */
#include "common.bpf.h"
#include "task_filter.bpf.h"
#include "tcp.h"
#include "inet_socket.bpf.h"

RECORD_TYPE(listen_event);
RECORD_TYPE(accept_event);
RECORD_TYPE(connect_event);
ENUM_TYPE(tcp_call);

struct pending_call {
	__u64 ts;
	__u32 kind;
	__s32 fd;
	__s32 backlog;
	struct inet_address remote;
};

/* Calls between enter and exit, by thread. LRU: a thread killed inside a
 * blocking accept() never reaches the exit, and must not pin a slot. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 10240);
	__type(key, __u32);
	__type(value, struct pending_call);
} pending SEC(".maps");

/* Remembers a call on fd if fd is a TCP socket; returns the entry to fill in. */
static __always_inline int remember(enum tcp_call kind, long fd, struct pending_call *p)
{
	struct sock *sk = sock_of_fd(fd);
	if (!sk || !is_tcp_sock(sk))
		return -1;
	p->ts = bpf_ktime_get_ns();
	p->kind = kind;
	p->fd = (__s32)fd;
	return 0;
}

/* remember() at a syscall's entry, for its tracepoints. */
static __always_inline int remember_at_entry(enum tcp_call kind, long fd, struct pending_call *p)
{
	if (!current_wanted())
		return -1;
	if (remember(kind, fd, p)) {
		/* An entry left by a thread killed inside a traced call must not
		 * match this call's exit if its tid now names another thread. */
		__u32 tid = (__u32)bpf_get_current_pid_tgid();
		bpf_map_delete_elem(&pending, &tid);
		return -1;
	}
	return 0;
}

static __always_inline void store(struct pending_call *p)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	bpf_map_update_elem(&pending, &tid, p, BPF_ANY);
}

/* Takes this thread's pending call if it is of the given kind. */
static __always_inline struct pending_call *take(enum tcp_call kind, __u32 *tid)
{
	*tid = (__u32)bpf_get_current_pid_tgid();
	struct pending_call *p = bpf_map_lookup_elem(&pending, tid);
	if (p && p->kind != kind)
		return NULL;
	return p;
}

static __always_inline __s32 errno_of(long ret)
{
	return ret < 0 ? -ret : 0;
}

/* The records of each call, once its result (ret) is known. */
static __always_inline void record_listen(const struct pending_call *p, long ret)
{
	struct listen_event *e = reserve_event(struct listen_event, CALL_LISTEN, p->ts);
	if (!e)
		return;
	e->fd = p->fd;
	e->backlog = p->backlog;
	e->error_raw = errno_of(ret);
	submit_event(e);
}

static __always_inline void record_accept(const struct pending_call *p, long ret)
{
	struct accept_event *e = reserve_event(struct accept_event, CALL_ACCEPT, p->ts);
	if (!e)
		return;
	e->fd = p->fd;
	e->new_fd = (__s32)ret;
	e->error_raw = errno_of(ret);
	/* From the new socket, not the caller's sockaddr: the caller may
	 * have passed none. */
	struct sock *sk = ret >= 0 ? sock_of_fd(ret) : NULL;
	if (sk)
		read_sock_peer(sk, &e->peer);
	else
		__builtin_memset(&e->peer, 0, sizeof(e->peer));
	submit_event(e);
}

static __always_inline void record_connect(const struct pending_call *p, long ret)
{
	struct connect_event *e = reserve_event(struct connect_event, CALL_CONNECT, p->ts);
	if (!e)
		return;
	e->fd = p->fd;
	e->error_raw = errno_of(ret);
	e->remote = p->remote;
	submit_event(e);
}

SEC("tracepoint/syscalls/sys_enter_listen")
int listen_enter(struct syscall_trace_enter *ctx)
{
	struct pending_call p = {};
	if (remember_at_entry(CALL_LISTEN, (long)ctx->args[0], &p))
		return 0;
	p.backlog = (__s32)ctx->args[1];
	store(&p);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_listen")
int listen_exit(struct syscall_trace_exit *ctx)
{
	__u32 tid;
	struct pending_call *p = take(CALL_LISTEN, &tid);
	if (!p)
		return 0;
	record_listen(p, ctx->ret);
	bpf_map_delete_elem(&pending, &tid);
	return 0;
}

static __always_inline int accept_enter(struct syscall_trace_enter *ctx)
{
	struct pending_call p = {};
	if (remember_at_entry(CALL_ACCEPT, (long)ctx->args[0], &p))
		return 0;
	store(&p);
	return 0;
}

static __always_inline int accept_exit(struct syscall_trace_exit *ctx)
{
	__u32 tid;
	struct pending_call *p = take(CALL_ACCEPT, &tid);
	if (!p)
		return 0;
	record_accept(p, ctx->ret);
	bpf_map_delete_elem(&pending, &tid);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_accept")
int accept_enter_tp(struct syscall_trace_enter *ctx)
{
	return accept_enter(ctx);
}

SEC("tracepoint/syscalls/sys_exit_accept")
int accept_exit_tp(struct syscall_trace_exit *ctx)
{
	return accept_exit(ctx);
}

SEC("tracepoint/syscalls/sys_enter_accept4")
int accept4_enter_tp(struct syscall_trace_enter *ctx)
{
	return accept_enter(ctx);
}

SEC("tracepoint/syscalls/sys_exit_accept4")
int accept4_exit_tp(struct syscall_trace_exit *ctx)
{
	return accept_exit(ctx);
}

SEC("tracepoint/syscalls/sys_enter_connect")
int connect_enter(struct syscall_trace_enter *ctx)
{
	struct pending_call p = {};
	if (remember_at_entry(CALL_CONNECT, (long)ctx->args[0], &p))
		return 0;
	read_user_sockaddr((const void *)ctx->args[1], (__u32)ctx->args[2], &p.remote);
	store(&p);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_connect")
int connect_exit(struct syscall_trace_exit *ctx)
{
	__u32 tid;
	struct pending_call *p = take(CALL_CONNECT, &tid);
	if (!p)
		return 0;
	record_connect(p, ctx->ret);
	bpf_map_delete_elem(&pending, &tid);
	return 0;
}

/* The kernel functions the syscalls call (and the 32-bit socketcall(2),
 * which the syscall tracepoints do not show). At their return the fds
 * still name the sockets and the caller's sockaddr is as it was passed. */
SEC("fexit/__sys_listen")
int BPF_PROG(listen_fexit, int fd, int backlog, int ret)
{
	struct pending_call p = {};
	if (!current_wanted() || remember(CALL_LISTEN, fd, &p))
		return 0;
	p.backlog = backlog;
	record_listen(&p, ret);
	return 0;
}

/* accept() and accept4() both. */
SEC("fexit/__sys_accept4")
int BPF_PROG(accept_fexit, int fd, void *upeer_sockaddr, int *upeer_addrlen, int flags, int ret)
{
	struct pending_call p = {};
	if (!current_wanted() || remember(CALL_ACCEPT, fd, &p))
		return 0;
	record_accept(&p, ret);
	return 0;
}

SEC("fexit/__sys_connect")
int BPF_PROG(connect_fexit, int fd, void *uservaddr, int addrlen, int ret)
{
	struct pending_call p = {};
	if (!current_wanted() || remember(CALL_CONNECT, fd, &p))
		return 0;
	read_user_sockaddr(uservaddr, (__u32)addrlen, &p.remote);
	record_connect(&p, ret);
	return 0;
}
