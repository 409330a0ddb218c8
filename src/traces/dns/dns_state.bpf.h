/* SPDX-License-Identifier: Apache-2.0 */
/* trace_dns's state: its knobs, the sockets known to be DNS (by process and
 * fd), the TCP streams' framing positions, the calls between their entry
 * and exit, the queries waiting for their responses, and the per-CPU
 * scratch a message is parsed in. Included by dns.bpf.c only. */
#ifndef EBPF_FORWARD_DNS_STATE_BPF_H
#define EBPF_FORWARD_DNS_STATE_BPF_H

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

#endif
