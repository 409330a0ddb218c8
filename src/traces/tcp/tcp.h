/* SPDX-License-Identifier: Apache-2.0 */
/* trace_tcp's records: what tcp.bpf.c puts in the ring buffer. User space
 * reads their layout from the object's BTF (src/traces/tcp/index.ts names the
 * members); the program's RECORD_TYPE puts each struct there. */
#ifndef EBPF_FORWARD_TCP_H
#define EBPF_FORWARD_TCP_H

#include "events.h"

/* event_header.kind: the call a record is of. */
enum tcp_call {
	CALL_LISTEN = 0,
	CALL_ACCEPT = 1,
	CALL_CONNECT = 2,
};

struct listen_event {
	struct event_header hdr;
	__s32 fd;
	__s32 backlog;
	__s32 error_raw; /* positive errno, 0 on success */
};

struct accept_event {
	struct event_header hdr;
	__s32 fd;        /* the listening socket */
	__s32 new_fd;    /* the return value: the new fd, or -errno */
	__s32 error_raw;
	struct inet_address peer; /* from the new socket; family 0 on failure */
};

struct connect_event {
	struct event_header hdr;
	__s32 fd;
	__s32 error_raw;
	struct inet_address remote; /* the sockaddr passed */
};

#endif
