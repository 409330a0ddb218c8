/* SPDX-License-Identifier: Apache-2.0 */
/* trace_dns's record: what dns.bpf.c puts in the ring buffer. User space
 * reads its layout from the object's BTF (src/traces/dns/index.ts names the
 * members); the program's RECORD_TYPE puts the struct there. */
#ifndef EBPF_FORWARD_DNS_H
#define EBPF_FORWARD_DNS_H

#include "events.h"

/* The question name, dotted: at most 253 characters ("." for the root). */
#define DNS_NAME_MAX 256

/* event_header.kind */
enum dns_kind {
	DNS_KIND_QUERY = 0,
	DNS_KIND_RESPONSE = 1,
};

/* event_header.flags */
#define DNS_F_BAD_NAME 0x1   /* question name unreadable (compression pointer, truncated, too long): query "" */
#define DNS_F_NO_QUESTION 0x2 /* the message has no question (or could not be read at all) */
#define DNS_F_MATCHED 0x4    /* a response whose query was seen: latency_ns is set */

/* dns_event.transport */
enum dns_transport {
	DNS_UDP = 0,
	DNS_TCP = 1,
};

/* One DNS message sent or received. The first DNS_EVENT_FIXED bytes, then
 * query_len bytes of query (no NUL). */
struct dns_event {
	struct event_header hdr;
	__u64 latency_ns;           /* response: since its query's send; else 0 */
	struct inet_address server; /* destination of a query, source of a response */
	__s32 error_raw;            /* positive errno of a failed send/receive, else 0 */
	__u16 query_type;           /* QTYPE of the first question */
	__u16 txid;                 /* the DNS header's id */
	__u8 response;              /* 0 query, 1 response */
	__u8 rcode;                 /* the response's RCODE; 0 on a query */
	__u8 transport;             /* DNS_UDP, DNS_TCP */
	__u8 reserved0;
	__u16 query_len;            /* bytes of query that follow */
	__u16 reserved1;
	__u32 reserved2;
	char query[DNS_NAME_MAX];
};

#endif
