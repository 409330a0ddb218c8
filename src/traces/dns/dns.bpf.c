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

#define SOCK_DGRAM 2
#define MSG_PEEK 2
#define EINTR 4
#define EAGAIN 11

#define DNS_EVENT_FIXED __builtin_offsetof(struct dns_event, query)
#define DNS_HEADER_BYTES 12
/* The header, the longest name (255 bytes on the wire), QTYPE and QCLASS. */
#define DNS_QUESTION_BYTES (DNS_HEADER_BYTES + 255 + 4)
#define DNS_NAME_WIRE_MAX 255
#define DNS_LABEL_MAX 63
#define DNS_MAX_LABELS 128

#define MSG_BUF 1024 /* masked offsets (511) plus a masked length stay inside */
#define MSG_MASK 511

#define MAX_IOVS 8          /* iovecs looked at per call */
#define MAX_MMSGS 8         /* messages looked at per sendmmsg */
#define MAX_STREAM_STEPS 8  /* prefixes and messages per TCP call: 4 messages */
#define DNS_MAX_PORTS 16

/* Set before load from the dns_port key. */
const volatile __u16 dns_ports[DNS_MAX_PORTS] = { 53 };
const volatile __u32 dns_port_count = 1;

enum dns_call_kind {
	CALL_SENDTO = 1,
	CALL_SENDMSG,
	CALL_SENDMMSG,
	CALL_WRITE,
	CALL_WRITEV,
	CALL_RECVFROM,
	CALL_RECVMSG,
	CALL_READ,
	CALL_READV,
};

enum direction { SENT = 0, RECEIVED = 1 };

/* Where one direction of a TCP stream is. */
enum stream_state {
	EXPECT_PREFIX = 0, /* the next byte starts a 2-byte length */
	PREFIX_HALF,       /* one byte of the length seen (in prefix_hi) */
	AT_MESSAGE,        /* the next byte starts a message of `need` bytes */
	IN_MESSAGE,        /* `need` bytes of the message are still to come */
};

struct tcp_stream {
	__u16 need;
	__u8 state;
	__u8 prefix_hi;
};

struct fd_key {
	__u32 tgid;
	__s32 fd;
};

/* A socket known to carry DNS. */
struct dns_fd {
	__u64 sk;                  /* the socket behind the fd when it was seen */
	struct inet_address server; /* the last query's destination */
	__u8 transport;
	__u8 reserved[3];
	struct tcp_stream streams[2]; /* by enum direction */
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 8192);
	__type(key, struct fd_key);
	__type(value, struct dns_fd);
} dns_fds SEC(".maps");

struct query_key {
	__u64 sk;
	__u64 name_hash;
	__u16 txid;
	__u16 query_type;
	__u32 reserved;
};

/* Queries sent and not answered yet: their send time. LRU, so that those
 * never answered go when room is needed. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct query_key);
	__type(value, __u64);
} queries SEC(".maps");

/* A send or receive call between its entry and its exit. */
struct dns_call {
	__u64 ts;
	__u64 sk;
	__u64 arg[5]; /* the syscall's arguments after the fd, as passed */
	struct inet_address server; /* a send's destination */
	__s32 fd;
	__u8 kind;
	__u8 transport;
	__u8 pending;
};

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct dns_call);
} calls SEC(".maps");

/* copy_data's walk over iovecs. */
struct iov_copy {
	__u32 skip; /* bytes still to pass over */
	__u32 want; /* bytes still wanted */
	__u32 got;
};

/* parse_message's walk over the question name's labels. */
struct name_read {
	__u32 pos; /* in msg */
	__u32 out; /* in ev.query */
	__u32 n;   /* message bytes in msg */
	__u32 done; /* the name and its QTYPE were read */
};

/* The record being built, the message bytes it is parsed from, and where
 * the call's data is in user memory. The loops' state is kept here, not on
 * the stack: the verifier then checks each loop body once, not every
 * value it could take. */
struct dns_scratch {
	struct dns_event ev;
	__u8 msg[MSG_BUF];
	__u64 data;      /* a buffer, or an iovec array */
	__u64 data_size; /* its bytes, or its iovec count */
	__u64 sk;
	struct fd_key fd;
	__u32 data_is_iov;
	struct iov_copy copy;
	struct name_read name;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct dns_scratch);
} scratch SEC(".maps");

static __always_inline bool is_dns_port(__u16 port)
{
	if (!port)
		return false;
	for (int i = 0; i < DNS_MAX_PORTS; i++) {
		if (i >= dns_port_count)
			break;
		if (dns_ports[i] == port)
			return true;
	}
	return false;
}

/* DNS_UDP or DNS_TCP for a UDP or TCP socket over IPv4/IPv6, else -1. */
static __always_inline int transport_of(struct sock *sk)
{
	if (!sk || !is_inet_sock(sk))
		return -1;
	__u16 type = BPF_CORE_READ_BITFIELD_PROBED(sk, sk_type);
	__u16 protocol = sock_protocol(sk);
	if (type == SOCK_STREAM && protocol == IPPROTO_TCP)
		return DNS_TCP;
	if (type == SOCK_DGRAM && protocol == IPPROTO_UDP)
		return DNS_UDP;
	return -1;
}

/* Processes that have had a DNS socket, as bits by pid (pids 65536 apart
 * share one): every other process's read, write, receive and exit passes
 * with one load, before any map lookup. Never cleared: a false hit only
 * costs the lookup. */
#define DNS_PROCESS_BITS 65536
__u64 dns_processes[DNS_PROCESS_BITS / 64] = {};

static __always_inline __u32 process_bit(__u64 *word)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	*word = (tgid / 64) % (DNS_PROCESS_BITS / 64);
	return tgid % 64;
}

static __always_inline bool may_have_dns_fds(void)
{
	__u64 word;
	__u32 bit = process_bit(&word);
	return dns_processes[word] & (1ULL << bit);
}

static __always_inline void note_dns_process(void)
{
	__u64 word;
	__u32 bit = process_bit(&word);
	if (!(dns_processes[word] & (1ULL << bit)))
		__sync_fetch_and_or(&dns_processes[word], 1ULL << bit);
}

static __always_inline struct fd_key fd_key_of(__s32 fd)
{
	struct fd_key key = { .tgid = bpf_get_current_pid_tgid() >> 32, .fd = fd };
	return key;
}

/* The fd's entry if it is a known DNS socket still open as the same socket. */
static __always_inline struct dns_fd *known_dns_fd(__s32 fd, struct sock **sk)
{
	if (!may_have_dns_fds())
		return NULL;
	struct fd_key key = fd_key_of(fd);
	struct dns_fd *f = bpf_map_lookup_elem(&dns_fds, &key);
	if (!f)
		return NULL;
	*sk = sock_of_fd(fd);
	if ((__u64)*sk != f->sk) {
		/* closed, and the number reused for another file */
		bpf_map_delete_elem(&dns_fds, &key);
		return NULL;
	}
	return f;
}

/* Remembers the fd as a DNS socket (its stream state kept if it was known). */
static __always_inline void remember_dns_fd(__s32 fd, struct sock *sk, int transport,
					    const struct inet_address *server)
{
	struct fd_key key = fd_key_of(fd);
	note_dns_process();
	struct dns_fd *f = bpf_map_lookup_elem(&dns_fds, &key);
	if (f && f->sk == (__u64)sk) {
		f->server = *server;
		return;
	}
	struct dns_fd fresh = { .sk = (__u64)sk, .server = *server, .transport = transport };
	bpf_map_update_elem(&dns_fds, &key, &fresh, BPF_ANY);
}

static __always_inline struct dns_scratch *this_cpu_scratch(void)
{
	__u32 zero = 0;
	return bpf_map_lookup_elem(&scratch, &zero);
}

/* One bpf_loop step of copy_data: the i-th iovec. */
static long copy_iovec(__u32 i, void *unused)
{
	struct dns_scratch *s = this_cpu_scratch();
	if (!s)
		return 1;
	struct iov_copy *c = &s->copy;
	struct iovec v;
	if (i >= s->data_size || !c->want ||
	    bpf_probe_read_user(&v, sizeof(v), (void *)(s->data + i * sizeof(v))))
		return 1;
	if (c->skip >= v.iov_len) {
		c->skip -= v.iov_len;
		return 0;
	}
	__u64 n = v.iov_len - c->skip;
	if (n > c->want)
		n = c->want;
	barrier_var(n); /* keeps the mask, which the verifier needs to see */
	if (bpf_probe_read_user(&s->msg[c->got & MSG_MASK], n & MSG_MASK, v.iov_base + c->skip))
		return 1;
	c->got += n;
	c->want -= n;
	c->skip = 0;
	return 0;
}

/* Copies up to `want` bytes of the call's data, from `skip` bytes in, to
 * s->msg; returns the bytes copied. */
__noinline int copy_data(struct dns_scratch *s, __u32 skip, __u32 want)
{
	if (!s)
		return 0;
	if (want > DNS_QUESTION_BYTES)
		want = DNS_QUESTION_BYTES;
	if (s->data_is_iov) {
		s->copy.skip = skip;
		s->copy.want = want;
		s->copy.got = 0;
		bpf_loop(MAX_IOVS, copy_iovec, NULL, 0);
		return s->copy.got;
	}
	if (skip >= s->data_size)
		return 0;
	__u64 n = s->data_size - skip;
	if (n > want)
		n = want;
	barrier_var(n);
	if (bpf_probe_read_user(s->msg, n & MSG_MASK, (void *)(s->data + skip)))
		return 0;
	return n;
}

/* One bpf_loop step of parse_message: the label at r->pos, or the name's
 * end and the QTYPE after it. */
static long read_label(__u32 i, void *unused)
{
	struct dns_scratch *s = this_cpu_scratch();
	if (!s)
		return 1;
	struct name_read *r = &s->name;
	if (r->pos >= r->n)
		return 1;
	__u8 *m = s->msg;
	__u32 pos = r->pos, out = r->out;
	__u32 len = m[pos & MSG_MASK];
	if (len == 0) {
		if (pos + 3 > r->n)
			return 1; /* no QTYPE */
		s->ev.query_type = ((__u16)m[(pos + 1) & MSG_MASK] << 8) | m[(pos + 2) & MSG_MASK];
		if (out == 0)
			s->ev.query[out++] = '.';
		s->ev.query_len = out;
		r->done = 1;
		return 1;
	}
	/* 0xc0: a compression pointer; 0x40, 0x80: extended label types */
	if (len > DNS_LABEL_MAX || pos + 1 + len > r->n || pos - DNS_HEADER_BYTES + 1 + len + 1 > DNS_NAME_WIRE_MAX)
		return 1;
	if (out)
		s->ev.query[out++ & (DNS_NAME_MAX - 1)] = '.';
	barrier_var(len);
	bpf_probe_read_kernel(&s->ev.query[out & (DNS_NAME_MAX - 1)], len & DNS_LABEL_MAX, &m[(pos + 1) & MSG_MASK]);
	r->out = out + len;
	r->pos = pos + 1 + len;
	return 0;
}

/* Reads the header and first question of the n message bytes in s->msg
 * into s->ev. Returns 0 for a DNS message of the direction's kind (a query
 * sent, a response received), -1 otherwise. A question name that can't be
 * read as plain labels (a compression pointer, extended label types, cut
 * short, longer than 255 bytes) gives query "" and query_type 0. */
__noinline int parse_message(struct dns_scratch *s, __u32 n, __u32 response)
{
	if (!s || n < DNS_HEADER_BYTES)
		return -1;
	__u8 *m = s->msg;
	if ((m[2] >> 7) != response)
		return -1;
	s->ev.txid = ((__u16)m[0] << 8) | m[1];
	s->ev.rcode = response ? (m[3] & 0xf) : 0;
	s->ev.query_type = 0;
	s->ev.query_len = 0;
	__builtin_memset(s->ev.query, 0, sizeof(s->ev.query));
	if (((m[4] << 8) | m[5]) == 0) {
		s->ev.hdr.flags |= DNS_F_NO_QUESTION;
		return 0;
	}
	s->name.pos = DNS_HEADER_BYTES;
	s->name.out = 0;
	s->name.n = n;
	s->name.done = 0;
	bpf_loop(DNS_MAX_LABELS, read_label, NULL, 0);
	if (s->name.done)
		return 0;
	__builtin_memset(s->ev.query, 0, sizeof(s->ev.query));
	s->ev.query_type = 0;
	s->ev.query_len = 0;
	s->ev.hdr.flags |= DNS_F_BAD_NAME;
	return 0;
}

/* The question's name as a key part (the zero-padded name, folded). */
static __always_inline __u64 name_hash(struct dns_scratch *s)
{
	__u64 h = 0xcbf29ce484222325ULL;
	__u64 *words = (__u64 *)s->ev.query;
	for (int i = 0; i < DNS_NAME_MAX / 8; i++) {
		h ^= words[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

static __always_inline void send_record(struct dns_scratch *s, __u16 kind, __u64 ts)
{
	__u16 flags = s->ev.hdr.flags;
	fill_header(&s->ev.hdr, kind, ts);
	s->ev.hdr.flags = flags;
	output_event(&s->ev.hdr, DNS_EVENT_FIXED + (s->ev.query_len & (DNS_NAME_MAX - 1)));
}

/* Records the parsed message: a query is remembered (if it was sent) for
 * its response's latency; a response takes its query's send time. */
static __always_inline void record_parsed(struct dns_scratch *s, __u32 response, __u64 ts)
{
	struct query_key key = {
		.sk = s->sk,
		.name_hash = name_hash(s),
		.txid = s->ev.txid,
		.query_type = s->ev.query_type,
	};
	if (!response) {
		if (!s->ev.error_raw)
			bpf_map_update_elem(&queries, &key, &ts, BPF_ANY);
		send_record(s, DNS_KIND_QUERY, ts);
		return;
	}
	__u64 *sent = bpf_map_lookup_elem(&queries, &key);
	if (sent) {
		s->ev.latency_ns = ts - *sent;
		s->ev.hdr.flags |= DNS_F_MATCHED;
		bpf_map_delete_elem(&queries, &key);
	}
	send_record(s, DNS_KIND_RESPONSE, ts);
}

/* The message that starts `skip` bytes into the call's data, of which
 * `avail` bytes are there: recorded if it is one. Returns 0 if it was.
 * A global function, verified once rather than at each of its calls. */
__noinline int record_message(struct dns_scratch *s, __u32 skip, __u32 avail, __u32 response, __u64 ts)
{
	if (!s)
		return -1;
	s->ev.hdr.flags = 0;
	s->ev.latency_ns = 0;
	int n = copy_data(s, skip, avail);
	if (parse_message(s, n, response))
		return -1;
	record_parsed(s, response, ts);
	return 0;
}

/* A failed call's record: a send's message as far as it can be read (from
 * `skip` bytes in; none if skip < 0). */
static __always_inline void record_failure(struct dns_scratch *s, int skip, __u32 response, __u64 ts)
{
	if (!response && skip >= 0 && !record_message(s, skip, DNS_QUESTION_BYTES, response, ts))
		return;
	s->ev.hdr.flags = DNS_F_NO_QUESTION;
	s->ev.latency_ns = 0;
	s->ev.txid = 0;
	s->ev.rcode = 0;
	s->ev.query_type = 0;
	s->ev.query_len = 0;
	send_record(s, response ? DNS_KIND_RESPONSE : DNS_KIND_QUERY, ts);
}

/* n more bytes of one direction of a TCP stream: records each message
 * that starts in them. */
static __always_inline void walk_stream(struct dns_scratch *s, struct tcp_stream *st, __u32 n,
					__u32 response, __u64 ts)
{
	__u32 off = 0;
	for (int i = 0; i < MAX_STREAM_STEPS; i++) {
		if (off >= n)
			break;
		__u32 left = n - off;
		if (st->state == EXPECT_PREFIX || st->state == PREFIX_HALF) {
			__u32 want = st->state == EXPECT_PREFIX && left >= 2 ? 2 : 1;
			if (copy_data(s, off, want) != want)
				break;
			off += want;
			if (st->state == EXPECT_PREFIX && want == 1) {
				st->prefix_hi = s->msg[0];
				st->state = PREFIX_HALF;
				continue;
			}
			__u16 len = want == 2 ? ((__u16)s->msg[0] << 8) | s->msg[1]
					      : ((__u16)st->prefix_hi << 8) | s->msg[0];
			st->need = len;
			st->state = len ? AT_MESSAGE : EXPECT_PREFIX;
			continue;
		}
		__u32 used = left < st->need ? left : st->need;
		if (st->state == AT_MESSAGE)
			record_message(s, off, used, response, ts);
		st->need -= used;
		off += used;
		st->state = st->need ? IN_MESSAGE : EXPECT_PREFIX;
	}
}

/* Where a failed TCP call's message would start: -1 if not at one. */
static __always_inline int stream_message_offset(const struct tcp_stream *st)
{
	if (st->state == EXPECT_PREFIX)
		return 2;
	if (st->state == AT_MESSAGE)
		return 0;
	return -1;
}

/* The call's data: ret bytes of one message (UDP) or of the fd's stream
 * (TCP); or the call failed with -ret. A global function, as
 * record_message. */
__noinline int record_data(struct dns_scratch *s, int transport, long ret, __u32 response, __u64 ts)
{
	if (!s)
		return 0;
	s->ev.error_raw = ret < 0 ? -ret : 0;
	if (transport == DNS_UDP) {
		if (ret < 0)
			record_failure(s, 0, response, ts);
		else
			record_message(s, 0, ret, response, ts);
		return 0;
	}
	/* The key copied to the stack: in a global function s is plain memory,
	 * which 6.1's verifier does not take as a map key. */
	struct fd_key key = s->fd;
	struct dns_fd *f = bpf_map_lookup_elem(&dns_fds, &key);
	if (!f) {
		if (ret < 0)
			record_failure(s, -1, response, ts);
		return 0;
	}
	struct tcp_stream *st = &f->streams[response & 1];
	if (ret < 0)
		record_failure(s, stream_message_offset(st), response, ts);
	else
		walk_stream(s, st, ret, response, ts);
	return 0;
}

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
