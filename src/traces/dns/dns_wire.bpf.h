/* SPDX-License-Identifier: Apache-2.0 */
/* trace_dns's wire parsing: a message copied from the caller's buffers,
 * its header and first question read (the name as dotted text), its record
 * sent and matched to its query, and TCP's 2-byte length prefixes followed
 * through a stream. Included by dns.bpf.c only, after dns_state.bpf.h. */
#ifndef EBPF_FORWARD_DNS_WIRE_BPF_H
#define EBPF_FORWARD_DNS_WIRE_BPF_H

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

#endif
