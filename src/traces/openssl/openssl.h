/* SPDX-License-Identifier: Apache-2.0 */
/* trace_openssl's records: what openssl.bpf.c puts in the ring buffer. User
 * space reads their layout from the object's BTF (src/traces/openssl/index.ts
 * names the members); the program's RECORD_TYPE puts the struct there. */
#ifndef EBPF_FORWARD_OPENSSL_H
#define EBPF_FORWARD_OPENSSL_H

#include "events.h"

/* header.kind: the record's event_type. */
enum tls_kind {
	TLS_HANDSHAKE = 0,
	TLS_READ = 1,
	TLS_WRITE = 2,
	TLS_SHUTDOWN = 3,
};

/* The function a record is of (its `function` field). */
enum ssl_function {
	FN_DO_HANDSHAKE = 0,
	FN_READ = 1,
	FN_READ_EX = 2,
	FN_WRITE = 3,
	FN_WRITE_EX = 4,
	FN_SHUTDOWN = 5,
	FN_COUNT = 6,
};

struct openssl_event {
	struct event_header hdr;
	__u64 ssl_ptr;    /* the SSL * passed */
	__s64 latency_ns; /* from entry to return on the same thread */
	__s32 ret;        /* the return; SSL_*_ex: the byte count when they return 1, else 0 */
	__u32 function;   /* enum ssl_function */
};

#endif
