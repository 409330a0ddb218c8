/* DNS queries the way real resolvers make them, for the trace_dns tests:
 *
 *   dns-client udp|tcp ADDR PORT [options] NAME:TYPE[:TXID]...
 *     --connect         UDP: connect() first, then send without a destination
 *     --send M          sendto (default), sendmsg, sendmmsg, write, writev
 *     --recv M          recvfrom (default), recvmsg, read, readv
 *     --batch           all queries in one call: sendmmsg (UDP), or one write
 *                       or writev holding every prefix and message (TCP)
 *     --split           TCP: the 2-byte length prefix in a call of its own
 *                       (sending), read on its own before the message (receiving)
 *     --prefix-bytes    TCP, with --split: the prefix sent a byte per call
 *     --gap-ms N        wait between two sends
 *     --replies N       replies to wait for (default: one per query)
 *     --timeout-ms N    how long to wait for each (default 3000), then stop
 *     --nonblock-probe  first a receive that finds nothing (EAGAIN)
 *     --oversize        pad the first query past the largest datagram (EMSGSIZE)
 *     --compress        the first query's name ends in a compression pointer
 *                       that points back at the name itself
 *   dns-client gai NAME
 *     getaddrinfo(NAME) through the C library's resolver
 *
 * writev and readv split each message over two iovecs, the header across
 * the boundary. TYPE is a number (1 A, 28 AAAA, ...); NAME "." is the root.
 * Prints one JSON object: the pid, each query (txid, CLOCK_MONOTONIC just
 * before its send call, in ns as a string) and each reply (txid, rcode, its
 * question, CLOCK_MONOTONIC just after its receive call), and the errno of
 * a failed send or receive.
 * Exits 1 when a call does not behave as the scenario needs. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <resolv.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define MAX_QUERIES 8
#define MAX_MSG 512
#define OVERSIZE 70000

struct query {
	const char *name;
	int type;
	int txid;
	unsigned char msg[MAX_MSG];
	int len;
	unsigned long long sent_ns;
};

static struct query queries[MAX_QUERIES];
static int nqueries;
static int tcp, do_connect, batch, split, gap_ms, replies = -1, timeout_ms = 3000;
static int nonblock_probe, oversize, compress, prefix_bytes;
static const char *send_method = "sendto", *recv_method = "recvfrom";
static struct sockaddr_storage server;
static socklen_t server_len;
static unsigned char big[OVERSIZE];

static void fail(const char *what)
{
	fprintf(stderr, "dns-client: %s: %s\n", what, strerror(errno));
	exit(1);
}

static unsigned long long now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (unsigned long long)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static void parse_server(const char *text, int port)
{
	struct sockaddr_in *in4 = (struct sockaddr_in *)&server;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&server;
	memset(&server, 0, sizeof(server));
	if (inet_pton(AF_INET, text, &in4->sin_addr) == 1) {
		in4->sin_family = AF_INET;
		in4->sin_port = htons(port);
		server_len = sizeof(*in4);
	} else if (inet_pton(AF_INET6, text, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(port);
		server_len = sizeof(*in6);
	} else {
		fprintf(stderr, "dns-client: bad address %s\n", text);
		exit(2);
	}
}

/* The query message, by the C library's res_mkquery; or, with
 * compress, by hand: the name's first label, then a pointer to itself. */
static void build(struct query *q, int with_pointer)
{
	if (with_pointer) {
		static const unsigned char msg[] = {
			0, 0, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, /* header: RD, one question */
			3, 'w', 'w', 'w', 0xc0, 12,              /* "www" + pointer to offset 12 */
			0, 1, 0, 1,                              /* A, IN */
		};
		memcpy(q->msg, msg, sizeof(msg));
		q->len = sizeof(msg);
	} else {
		q->len = res_mkquery(ns_o_query, q->name, ns_c_in, q->type, NULL, 0, NULL, q->msg, sizeof(q->msg));
		if (q->len < 0) {
			fprintf(stderr, "dns-client: res_mkquery %s failed\n", q->name);
			exit(2);
		}
	}
	q->msg[0] = q->txid >> 8;
	q->msg[1] = q->txid & 0xff;
}

/* Whether something came (or an error) within the timeout. */
static int wait_readable(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	int n = poll(&p, 1, timeout_ms);
	if (n < 0)
		fail("poll");
	return n;
}

/* What a send call carries: the TCP length prefix and the message, or the
 * message alone; in iovecs split inside the header for writev. */
static int fill_iov(struct iovec *iov, unsigned char *prefix, const unsigned char *msg, int len, int with_prefix)
{
	int n = 0;
	if (with_prefix) {
		prefix[0] = len >> 8;
		prefix[1] = len & 0xff;
		iov[n++] = (struct iovec){ prefix, 2 };
	}
	iov[n++] = (struct iovec){ (void *)msg, 5 };
	iov[n++] = (struct iovec){ (void *)(msg + 5), len - 5 };
	return n;
}

static ssize_t send_iov(int fd, struct iovec *iov, int n)
{
	if (!strcmp(send_method, "writev"))
		return writev(fd, iov, n);
	/* flatten for the single-buffer calls */
	static unsigned char flat[OVERSIZE + 16];
	size_t len = 0;
	for (int i = 0; i < n; i++) {
		memcpy(flat + len, iov[i].iov_base, iov[i].iov_len);
		len += iov[i].iov_len;
	}
	const struct sockaddr *to = do_connect || tcp ? NULL : (struct sockaddr *)&server;
	socklen_t tolen = to ? server_len : 0;
	if (!strcmp(send_method, "write"))
		return write(fd, flat, len);
	if (!strcmp(send_method, "sendto"))
		return sendto(fd, flat, len, 0, to, tolen);
	if (!strcmp(send_method, "sendmsg")) {
		struct iovec one = { flat, len };
		struct msghdr m = { .msg_name = (void *)to, .msg_namelen = tolen, .msg_iov = &one, .msg_iovlen = 1 };
		return sendmsg(fd, &m, 0);
	}
	fprintf(stderr, "dns-client: unknown send method %s\n", send_method);
	exit(2);
}

static int send_error;

static void sent(ssize_t r, const char *what)
{
	if (r < 0) {
		if (!send_error)
			send_error = errno;
		if (!oversize)
			fail(what);
	}
}

static void send_queries(int fd)
{
	unsigned char prefixes[MAX_QUERIES][2];
	struct iovec iov[MAX_QUERIES * 3];
	if (!strcmp(send_method, "sendmmsg")) {
		struct mmsghdr mm[MAX_QUERIES];
		struct iovec one[MAX_QUERIES];
		memset(mm, 0, sizeof(mm));
		for (int i = 0; i < nqueries; i++) {
			one[i] = (struct iovec){ queries[i].msg, queries[i].len };
			mm[i].msg_hdr.msg_iov = &one[i];
			mm[i].msg_hdr.msg_iovlen = 1;
			if (!do_connect) {
				mm[i].msg_hdr.msg_name = &server;
				mm[i].msg_hdr.msg_namelen = server_len;
			}
		}
		unsigned long long t = now_ns();
		for (int i = 0; i < nqueries; i++)
			queries[i].sent_ns = t;
		int r = sendmmsg(fd, mm, nqueries, 0);
		if (r != nqueries)
			fail("sendmmsg");
		return;
	}
	if (batch) { /* TCP: every prefix and message in one call */
		int n = 0;
		for (int i = 0; i < nqueries; i++)
			n += fill_iov(&iov[n], prefixes[i], queries[i].msg, queries[i].len, 1);
		unsigned long long t = now_ns();
		for (int i = 0; i < nqueries; i++)
			queries[i].sent_ns = t;
		sent(send_iov(fd, iov, n), "batch send");
		return;
	}
	for (int i = 0; i < nqueries; i++) {
		struct query *q = &queries[i];
		if (i && gap_ms)
			usleep(gap_ms * 1000);
		unsigned char *msg = q->msg;
		int len = q->len;
		if (oversize && i == 0) {
			memcpy(big, q->msg, q->len);
			msg = big;
			len = OVERSIZE;
		}
		q->sent_ns = now_ns();
		if (tcp && split) {
			prefixes[i][0] = len >> 8;
			prefixes[i][1] = len & 0xff;
			for (int b = 0; b < 2; b += prefix_bytes ? 1 : 2) {
				iov[0] = (struct iovec){ prefixes[i] + b, prefix_bytes ? 1 : 2 };
				sent(send_iov(fd, iov, 1), "prefix send");
			}
			sent(send_iov(fd, iov, fill_iov(iov, prefixes[i], msg, len, 0)), "send");
		} else {
			sent(send_iov(fd, iov, fill_iov(iov, prefixes[i], msg, len, tcp)), "send");
		}
	}
}

/* One receive call of the chosen kind into buf; returns its result. */
static ssize_t receive(int fd, unsigned char *buf, size_t len)
{
	struct sockaddr_storage from;
	socklen_t fromlen = sizeof(from);
	if (!strcmp(recv_method, "recvfrom"))
		return recvfrom(fd, buf, len, 0, (struct sockaddr *)&from, &fromlen);
	if (!strcmp(recv_method, "read"))
		return read(fd, buf, len);
	struct iovec iov[2] = { { buf, 5 }, { buf + 5, len - 5 } };
	if (len <= 5)
		iov[0].iov_len = len;
	int n = len <= 5 ? 1 : 2;
	if (!strcmp(recv_method, "readv"))
		return readv(fd, iov, n);
	if (!strcmp(recv_method, "recvmsg")) {
		struct msghdr m = { .msg_name = &from, .msg_namelen = sizeof(from), .msg_iov = iov, .msg_iovlen = n };
		return recvmsg(fd, &m, 0);
	}
	fprintf(stderr, "dns-client: unknown receive method %s\n", recv_method);
	exit(2);
}

static ssize_t receive_all(int fd, unsigned char *buf, size_t len)
{
	size_t got = 0;
	while (got < len) {
		ssize_t r = receive(fd, buf + got, len - got);
		if (r <= 0)
			return r;
		got += r;
	}
	return got;
}

/* A reply's id, code and question (read by the C library's dn_expand;
 * name null when that refuses it), and when it was received. */
static void print_reply(int *first, const unsigned char *msg, int len, unsigned long long t)
{
	char name[NS_MAXDNAME];
	int n = len > 12 && ((msg[4] << 8) | msg[5]) ? dn_expand(msg, msg + len, msg + 12, name, sizeof(name)) : -1;
	int type = n > 0 && 12 + n + 2 <= len ? (msg[12 + n] << 8) | msg[12 + n + 1] : 0;
	printf("%s{\"txid\":%d,\"rcode\":%d,\"name\":", *first ? "" : ",", (msg[0] << 8) | msg[1], msg[3] & 0xf);
	if (n > 0)
		printf("\"%s\"", name[0] ? name : ".");
	else
		printf("null");
	printf(",\"type\":%d,\"received_ns\":\"%llu\"}", type, t);
	*first = 0;
}

static int timed_out;

/* Receives the replies, printing each; returns the errno of a failed receive. */
static int receive_replies(int fd)
{
	static unsigned char buf[65536];
	int first = 1, error = 0;
	for (int i = 0; i < replies; i++) {
		if (!wait_readable(fd)) {
			timed_out = 1;
			break;
		}
		if (!tcp) {
			ssize_t r = receive(fd, buf, sizeof(buf));
			unsigned long long t = now_ns();
			if (r < 0) {
				error = errno;
				break;
			}
			if (r < 12)
				fail("short reply");
			print_reply(&first, buf, r, t);
		} else if (split) {
			ssize_t r = receive_all(fd, buf, 2);
			if (r != 2)
				fail("reply prefix");
			int len = (buf[0] << 8) | buf[1];
			r = receive_all(fd, buf, len);
			unsigned long long t = now_ns();
			if (r != len)
				fail("reply");
			print_reply(&first, buf, len, t);
		} else {
			/* one receive: a prefix and its message, maybe more than one */
			ssize_t r = receive(fd, buf, sizeof(buf));
			unsigned long long t = now_ns();
			if (r < 14)
				fail("tcp reply");
			for (ssize_t off = 0; off + 14 <= r;) {
				int len = (buf[off] << 8) | buf[off + 1];
				print_reply(&first, buf + off + 2, len, t);
				off += 2 + len;
				if (off < r)
					i++;
			}
		}
	}
	return error;
}

static int gai(const char *name)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_DGRAM }, *res;
	int r = getaddrinfo(name, NULL, &hints, &res);
	printf("{\"pid\":%d,\"gai\":%d,\"addresses\":[", getpid(), r);
	if (r == 0) {
		int first = 1;
		for (struct addrinfo *a = res; a; a = a->ai_next) {
			char text[INET6_ADDRSTRLEN];
			const void *addr = a->ai_family == AF_INET ? (void *)&((struct sockaddr_in *)a->ai_addr)->sin_addr
								   : (void *)&((struct sockaddr_in6 *)a->ai_addr)->sin6_addr;
			inet_ntop(a->ai_family, addr, text, sizeof(text));
			printf("%s\"%s\"", first ? "" : ",", text);
			first = 0;
		}
		freeaddrinfo(res);
	}
	printf("]}\n");
	return 0;
}

int main(int argc, char **argv)
{
	if (argc >= 3 && !strcmp(argv[1], "gai"))
		return gai(argv[2]);
	if (argc < 5) {
		fprintf(stderr, "usage: dns-client udp|tcp ADDR PORT [options] NAME:TYPE[:TXID]...\n");
		return 2;
	}
	tcp = !strcmp(argv[1], "tcp");
	parse_server(argv[2], atoi(argv[3]));
	for (int i = 4; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "--connect")) do_connect = 1;
		else if (!strcmp(a, "--send")) send_method = argv[++i];
		else if (!strcmp(a, "--recv")) recv_method = argv[++i];
		else if (!strcmp(a, "--batch")) batch = 1;
		else if (!strcmp(a, "--split")) split = 1;
		else if (!strcmp(a, "--prefix-bytes")) prefix_bytes = 1;
		else if (!strcmp(a, "--gap-ms")) gap_ms = atoi(argv[++i]);
		else if (!strcmp(a, "--replies")) replies = atoi(argv[++i]);
		else if (!strcmp(a, "--timeout-ms")) timeout_ms = atoi(argv[++i]);
		else if (!strcmp(a, "--nonblock-probe")) nonblock_probe = 1;
		else if (!strcmp(a, "--oversize")) oversize = 1;
		else if (!strcmp(a, "--compress")) compress = 1;
		else if (nqueries < MAX_QUERIES) {
			static char names[MAX_QUERIES][256];
			struct query *q = &queries[nqueries];
			int type = 1, txid = (getpid() + nqueries * 7919) & 0xffff;
			if (sscanf(a, "%255[^:]:%d:%d", names[nqueries], &type, &txid) < 1) {
				fprintf(stderr, "dns-client: bad query %s\n", a);
				return 2;
			}
			q->name = names[nqueries];
			q->type = type;
			q->txid = txid;
			build(q, compress && nqueries == 0);
			nqueries++;
		}
	}
	if (replies < 0)
		replies = nqueries;

	int fd = socket(server.ss_family, tcp ? SOCK_STREAM : SOCK_DGRAM, 0);
	if (fd < 0)
		fail("socket");
	if ((tcp || do_connect) && connect(fd, (struct sockaddr *)&server, server_len))
		fail("connect");
	int probe_error = 0;
	if (nonblock_probe) {
		unsigned char b[16];
		if (recv(fd, b, sizeof(b), MSG_DONTWAIT) != -1 || errno != EAGAIN)
			fail("the non-blocking probe found something");
		probe_error = errno;
	}
	send_queries(fd);
	printf("{\"pid\":%d,\"send_error\":%d,\"probe_error\":%d,\"queries\":[", getpid(), send_error, probe_error);
	for (int i = 0; i < nqueries; i++)
		printf("%s{\"name\":\"%s\",\"type\":%d,\"txid\":%d,\"sent_ns\":\"%llu\"}", i ? "," : "", queries[i].name,
		       queries[i].type, queries[i].txid, queries[i].sent_ns);
	printf("],\"replies\":[");
	int recv_error = receive_replies(fd);
	printf("],\"recv_error\":%d,\"timed_out\":%s}\n", recv_error, timed_out ? "true" : "false");
	close(fd);
	return 0;
}
