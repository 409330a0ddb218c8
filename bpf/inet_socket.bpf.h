/* SPDX-License-Identifier: Apache-2.0 */
/* IPv4/IPv6 sockets seen from syscall tracepoints (trace_bind, trace_tcp):
 * the socket behind a file descriptor of the current task, read via CO-RE
 * (no kprobes needed), and socket addresses copied from user memory.
 * Include after common.bpf.h (struct inet_address is in events.h). */
#ifndef EBPF_FORWARD_INET_SOCKET_BPF_H
#define EBPF_FORWARD_INET_SOCKET_BPF_H

#include <bpf/bpf_endian.h>

/* vmlinux.h carries types, not macros. */
#define AF_INET 2
#define AF_INET6 10
#define SOCK_STREAM 1
#define S_IFMT 00170000
#define S_IFSOCK 0140000
/* The kernel takes IPv6 sockaddrs without sin6_scope_id (RFC 2133 size). */
#define SIN6_LEN_RFC2133 24

/* The struct sock behind fd in the current task, or NULL when fd is not
 * open or not a socket. Checking the inode type first matters: a non-socket
 * file's private_data is something else entirely. */
static __always_inline struct sock *sock_of_fd(long fd)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
	struct file **files;
	struct file *file = NULL;
	struct socket *socket;

	if (!fdt || fd < 0 || fd >= BPF_CORE_READ(fdt, max_fds))
		return NULL;
	files = BPF_CORE_READ(fdt, fd);
	if (bpf_probe_read_kernel(&file, sizeof(file), &files[fd]) || !file)
		return NULL;
	if ((BPF_CORE_READ(file, f_inode, i_mode) & S_IFMT) != S_IFSOCK)
		return NULL;
	socket = BPF_CORE_READ(file, private_data);
	if (!socket)
		return NULL;
	return BPF_CORE_READ(socket, sk);
}

static __always_inline __u16 sock_family(struct sock *sk)
{
	return BPF_CORE_READ(sk, __sk_common.skc_family);
}

static __always_inline bool is_inet_sock(struct sock *sk)
{
	__u16 family = sock_family(sk);
	return family == AF_INET || family == AF_INET6;
}

/* sk_type and sk_protocol were bitfields before Linux 5.6: read them the
 * way that works for both layouts. */
static __always_inline __u16 sock_protocol(struct sock *sk)
{
	return BPF_CORE_READ_BITFIELD_PROBED(sk, sk_protocol);
}

static __always_inline bool is_tcp_sock(struct sock *sk)
{
	return is_inet_sock(sk) && BPF_CORE_READ_BITFIELD_PROBED(sk, sk_type) == SOCK_STREAM &&
	       sock_protocol(sk) == IPPROTO_TCP;
}

/* Copies a sockaddr the caller passed (user memory, addrlen bytes long). */
static __always_inline void read_user_sockaddr(const void *uaddr, __u32 addrlen,
					       struct inet_address *out)
{
	__builtin_memset(out, 0, sizeof(*out));
	if (!uaddr || addrlen < sizeof(sa_family_t))
		return;
	__u16 family = 0;
	if (bpf_probe_read_user(&family, sizeof(family), uaddr))
		return;
	if (family == AF_INET && addrlen >= sizeof(struct sockaddr_in)) {
		struct sockaddr_in in4 = {};
		if (bpf_probe_read_user(&in4, sizeof(in4), uaddr))
			return;
		out->port = bpf_ntohs(in4.sin_port);
		__builtin_memcpy(out->addr, &in4.sin_addr.s_addr, 4);
		out->family = AF_INET;
	} else if (family == AF_INET6 && addrlen >= SIN6_LEN_RFC2133) {
		struct sockaddr_in6 in6 = {};
		if (bpf_probe_read_user(&in6, SIN6_LEN_RFC2133, uaddr))
			return;
		out->port = bpf_ntohs(in6.sin6_port);
		__builtin_memcpy(out->addr, &in6.sin6_addr, 16);
		out->family = AF_INET6;
	}
}

/* The connected peer of a socket (an accepted one: known whether or not the
 * caller asked accept() for it). AF_INET6 sockets hold IPv4 peers as
 * IPv4-mapped addresses (::ffff:a.b.c.d). */
static __always_inline void read_sock_peer(struct sock *sk, struct inet_address *out)
{
	__builtin_memset(out, 0, sizeof(*out));
	__u16 family = sock_family(sk);
	out->port = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	if (family == AF_INET) {
		__be32 daddr = BPF_CORE_READ(sk, __sk_common.skc_daddr);
		__builtin_memcpy(out->addr, &daddr, 4);
		out->family = AF_INET;
	} else if (family == AF_INET6) {
		BPF_CORE_READ_INTO(&out->addr, sk, __sk_common.skc_v6_daddr);
		out->family = AF_INET6;
	}
}

#endif
