// SPDX-License-Identifier: Apache-2.0
/* trace_dns: one record per DNS message a process sends (a query) or
 * receives (a response), over UDP or TCP, IPv4 or IPv6, from syscall
 * tracepoints only. The message is parsed here: its id, its response code
 * and its first question (the name as dotted text, and its QTYPE).
 *
 * Which traffic is DNS: a message sent to a port of dns_ports (the
 * sockaddr passed to sendto/sendmsg/sendmmsg, else the connected peer), or
 * received from one (the source the kernel reports, else the connected
 * peer). A socket that sent a query or was connect()ed to such a port is
 * remembered by (process, fd): only those fds are looked at in read,
 * write, readv, writev, the receive calls and sends without a destination,
 * and a process that never had one passes them with one load (a bit per
 * pid), no map lookup and no fd table walk.
 *
 * Over TCP, every message is preceded by its 2-byte length. Each direction
 * of a TCP socket keeps where its stream is (prefix, message start, inside
 * a message), so the prefix is found whether it was sent with the message
 * or alone, and several messages in one call (glibc's writev of A and
 * AAAA) are each recorded.
 *
 * A response is matched to its query by socket, id, QTYPE and name (two
 * outstanding queries with one id are told apart by their question), for
 * its latency; queries never answered expire from an LRU map. */
#include "common.bpf.h"
#include "task_filter.bpf.h"
#include "dns.h"

RECORD_TYPE(dns_event);
ENUM_TYPE(dns_transport);
#include "inet_socket.bpf.h"
#include "dns_state.bpf.h"
#include "dns_wire.bpf.h"

static __always_inline struct dns_scratch *scratch_for(struct dns_call *c, const struct inet_address *server,
						      __u32 response)
{
	struct dns_scratch *s = this_cpu_scratch();
	if (!s)
		return NULL;
	s->sk = c->sk;
	s->fd = fd_key_of(c->fd);
	s->ev.server = *server;
	s->ev.transport = c->transport;
	s->ev.response = response;
	s->ev.reserved0 = 0;
	s->ev.reserved1 = 0;
	s->ev.reserved2 = 0;
	return s;
}

static __always_inline void set_data(struct dns_scratch *s, __u64 data, __u64 size, __u32 is_iov)
{
	s->data = data;
	s->data_size = size;
	s->data_is_iov = is_iov;
}

/* Where a call's data is: a msghdr's iovecs (sendmsg, recvmsg: msg read
 * by the caller), an iovec array (writev, readv), or a buffer. */
static __always_inline void set_call_data(struct dns_scratch *s, const struct dns_call *c,
					  const struct user_msghdr *msg)
{
	switch (c->kind) {
	case CALL_SENDMSG:
	case CALL_RECVMSG:
		set_data(s, (__u64)msg->msg_iov, msg->msg_iovlen, 1);
		break;
	case CALL_WRITEV:
	case CALL_READV:
		set_data(s, c->arg[0], c->arg[1], 1);
		break;
	default: /* sendto, write, recvfrom, read: (fd, buf, len, ...) */
		set_data(s, c->arg[0], c->arg[1], 0);
		break;
	}
}

static __always_inline int read_msghdr(__u64 uptr, struct user_msghdr *msg)
{
	__builtin_memset(msg, 0, sizeof(*msg));
	return uptr ? bpf_probe_read_user(msg, sizeof(*msg), (void *)uptr) : -1;
}

/* Keeps the call for its exit. */
static __always_inline void keep_call(struct syscall_trace_enter *ctx, enum dns_call_kind kind, int nargs,
				      struct sock *sk, int transport, const struct inet_address *server)
{
	struct dns_call *c = bpf_task_storage_get(&calls, bpf_get_current_task_btf(), 0,
						  BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!c) {
		drop_event();
		return;
	}
	c->ts = bpf_ktime_get_ns();
	c->sk = (__u64)sk;
	/* one by one: the verifier takes context reads at constant offsets only */
	c->arg[0] = ctx->args[1];
	c->arg[1] = ctx->args[2];
	c->arg[2] = nargs > 3 ? ctx->args[3] : 0;
	c->arg[3] = nargs > 4 ? ctx->args[4] : 0;
	c->arg[4] = nargs > 5 ? ctx->args[5] : 0;
	if (server)
		c->server = *server;
	else
		__builtin_memset(&c->server, 0, sizeof(c->server));
	c->fd = (__s32)ctx->args[0];
	c->kind = kind;
	c->transport = transport;
	c->pending = 1;
}

/* This thread's call of that kind, taken. */
static __always_inline struct dns_call *take_call(enum dns_call_kind kind)
{
	if (!may_have_dns_fds()) /* calls are kept only on DNS sockets */
		return NULL;
	struct dns_call *c = bpf_task_storage_get(&calls, bpf_get_current_task_btf(), 0, 0);
	if (!c || !c->pending)
		return NULL;
	c->pending = 0;
	return c->kind == kind ? c : NULL;
}

/* The sockaddr a send names, if any: *addr 0 for none. */
static __always_inline void named_sockaddr(struct syscall_trace_enter *ctx, enum dns_call_kind kind,
					   __u64 *addr, __u32 *addrlen)
{
	struct user_msghdr msg;
	*addr = 0;
	*addrlen = 0;
	switch (kind) {
	case CALL_SENDTO:
		*addr = ctx->args[4];
		*addrlen = ctx->args[5];
		break;
	case CALL_SENDMSG:
	case CALL_SENDMMSG: /* the first message's; each is checked at the exit */
		if (!read_msghdr(ctx->args[1], &msg)) {
			*addr = (__u64)msg.msg_name;
			*addrlen = msg.msg_namelen;
		}
		break;
	default:
		break;
	}
}

/* The port of an IPv4 or IPv6 sockaddr in user memory (both have it at
 * offset 2), or 0: one small read decides for every non-DNS send. */
static __always_inline __u16 user_sockaddr_port(__u64 addr, __u32 addrlen)
{
	__u16 head[2];
	if (!addr || addrlen < sizeof(struct sockaddr_in) || bpf_probe_read_user(head, sizeof(head), (void *)addr))
		return 0;
	if (head[0] != AF_INET && head[0] != AF_INET6)
		return 0;
	return bpf_ntohs(head[1]);
}

static __always_inline int send_enter(struct syscall_trace_enter *ctx, enum dns_call_kind kind, int nargs)
{
	if (!current_wanted())
		return 0;
	__s32 fd = (__s32)ctx->args[0];
	struct inet_address dest;
	struct sock *sk;
	int transport;

	__u64 addr;
	__u32 addrlen;
	named_sockaddr(ctx, kind, &addr, &addrlen);
	__u16 port = user_sockaddr_port(addr, addrlen);
	if (port) {
		if (!is_dns_port(port))
			return 0;
		read_user_sockaddr((void *)addr, addrlen, &dest);
		sk = sock_of_fd(fd);
		transport = transport_of(sk);
		if (transport < 0)
			return 0;
		if (transport == DNS_TCP) /* a connected stream goes to its peer whatever is named */
			read_sock_peer(sk, &dest);
	} else {
		/* A connected socket: only those known to carry DNS. */
		struct dns_fd *f = known_dns_fd(fd, &sk);
		if (!f)
			return 0;
		transport = f->transport;
		read_sock_peer(sk, &dest);
		if (!is_dns_port(dest.port))
			return 0; /* connected elsewhere since */
	}
	remember_dns_fd(fd, sk, transport, &dest);
	keep_call(ctx, kind, nargs, sk, transport, &dest);
	return 0;
}

/* Each message sendmmsg sent (or the first, which failed), to its own
 * destination. */
static __always_inline void record_mmsgs(struct dns_scratch *s, struct dns_call *c, long ret)
{
	for (int i = 0; i < MAX_MMSGS; i++) {
		if (ret >= 0 && i >= ret)
			break;
		struct mmsghdr mm;
		if (bpf_probe_read_user(&mm, sizeof(mm), (void *)(c->arg[0] + i * sizeof(mm))))
			break;
		struct inet_address dest;
		read_user_sockaddr(mm.msg_hdr.msg_name, mm.msg_hdr.msg_namelen, &dest);
		if (!dest.family || c->transport == DNS_TCP)
			dest = c->server;
		if (is_dns_port(dest.port)) {
			s->ev.server = dest;
			set_data(s, (__u64)mm.msg_hdr.msg_iov, mm.msg_hdr.msg_iovlen, 1);
			record_data(s, c->transport, ret < 0 ? ret : mm.msg_len, SENT, c->ts);
		}
		if (ret < 0)
			break;
	}
}

static __always_inline int send_exit(struct syscall_trace_exit *ctx, enum dns_call_kind kind)
{
	struct dns_call *c = take_call(kind);
	if (!c)
		return 0;
	struct dns_scratch *s = scratch_for(c, &c->server, SENT);
	if (!s)
		return 0;
	if (kind == CALL_SENDMMSG) {
		record_mmsgs(s, c, ctx->ret);
		return 0;
	}
	struct user_msghdr msg = {};
	if (kind == CALL_SENDMSG && read_msghdr(c->arg[0], &msg))
		return 0;
	set_call_data(s, c, &msg);
	record_data(s, c->transport, ctx->ret, SENT, c->ts);
	return 0;
}

static __always_inline int recv_enter(struct syscall_trace_enter *ctx, enum dns_call_kind kind, int nargs)
{
	if (!current_wanted())
		return 0;
	struct sock *sk;
	struct dns_fd *f = known_dns_fd((__s32)ctx->args[0], &sk);
	if (!f)
		return 0;
	__u64 flags = kind == CALL_RECVFROM ? ctx->args[3] : kind == CALL_RECVMSG ? ctx->args[2] : 0;
	if (flags & MSG_PEEK)
		return 0; /* the data stays for the next receive, which is recorded */
	keep_call(ctx, kind, nargs, sk, f->transport, NULL);
	return 0;
}

/* Where a received message came from: the source the kernel reported, else
 * the connected peer, else the last query's destination. */
static __always_inline void reply_source(struct dns_call *c, const struct user_msghdr *msg, long ret,
					 struct inet_address *src)
{
	__builtin_memset(src, 0, sizeof(*src));
	if (ret < 0) {
		/* nothing was received, nor a source reported */
	} else if (c->kind == CALL_RECVFROM && c->arg[3] && c->arg[4]) {
		__u32 len = 0;
		if (!bpf_probe_read_user(&len, sizeof(len), (void *)c->arg[4]))
			read_user_sockaddr((void *)c->arg[3], len, src);
	} else if (c->kind == CALL_RECVMSG && msg->msg_name) {
		read_user_sockaddr(msg->msg_name, msg->msg_namelen, src);
	}
	if (src->family && c->transport == DNS_UDP)
		return;
	read_sock_peer((struct sock *)c->sk, src);
	if (src->port)
		return;
	struct fd_key key = fd_key_of(c->fd);
	struct dns_fd *f = bpf_map_lookup_elem(&dns_fds, &key);
	if (f)
		*src = f->server;
}

static __always_inline int recv_exit(struct syscall_trace_exit *ctx, enum dns_call_kind kind)
{
	struct dns_call *c = take_call(kind);
	long ret = ctx->ret;
	if (!c || ret == 0 || ret == -EAGAIN || ret == -EINTR)
		return 0; /* nothing received, nothing failed */
	struct user_msghdr msg = {};
	if (kind == CALL_RECVMSG && read_msghdr(c->arg[0], &msg))
		return 0;
	struct inet_address src;
	reply_source(c, &msg, ret, &src);
	if (!is_dns_port(src.port))
		return 0;
	struct dns_scratch *s = scratch_for(c, &src, RECEIVED);
	if (!s)
		return 0;
	set_call_data(s, c, &msg);
	record_data(s, c->transport, ret, RECEIVED, bpf_ktime_get_ns());
	return 0;
}

/* connect() to a DNS port: the fd carries DNS (Go and glibc connect a UDP
 * socket, then write or send without a destination). */
SEC("tracepoint/syscalls/sys_enter_connect")
int connect_enter(struct syscall_trace_enter *ctx)
{
	if (is_self())
		return 0;
	struct inet_address dest;
	read_user_sockaddr((void *)ctx->args[1], (__u32)ctx->args[2], &dest);
	if (!dest.family || !is_dns_port(dest.port))
		return 0;
	struct sock *sk = sock_of_fd(ctx->args[0]);
	int transport = transport_of(sk);
	if (transport >= 0)
		remember_dns_fd((__s32)ctx->args[0], sk, transport, &dest);
	return 0;
}

/* One send or receive syscall of nargs arguments: its entry and exit,
 * handled by send_enter/send_exit or recv_enter/recv_exit (side). */
#define DNS_CALL(call, kind, nargs, side)                              \
	SEC("tracepoint/syscalls/sys_enter_" #call)                    \
	int call##_enter(struct syscall_trace_enter *ctx)              \
	{                                                              \
		return side##_enter(ctx, kind, nargs);                 \
	}                                                              \
	SEC("tracepoint/syscalls/sys_exit_" #call)                     \
	int call##_exit(struct syscall_trace_exit *ctx)                \
	{                                                              \
		return side##_exit(ctx, kind);                         \
	}

DNS_CALL(sendto, CALL_SENDTO, 6, send)
DNS_CALL(sendmsg, CALL_SENDMSG, 3, send)
DNS_CALL(sendmmsg, CALL_SENDMMSG, 4, send)
DNS_CALL(write, CALL_WRITE, 3, send)
DNS_CALL(writev, CALL_WRITEV, 3, send)
DNS_CALL(recvfrom, CALL_RECVFROM, 6, recv)
DNS_CALL(recvmsg, CALL_RECVMSG, 3, recv)
DNS_CALL(read, CALL_READ, 3, recv)
DNS_CALL(readv, CALL_READV, 3, recv)
