/* SPDX-License-Identifier: Apache-2.0 */
/* trace_tcp's records: what tcp.bpf.c puts in the ring buffer. User space
 * reads their layout from the object's BTF (src/traces/tcp/index.ts names the
 * members); RECORD_TYPE puts each struct there. */
#ifndef EBPF_FORWARD_TCP_H
#define EBPF_FORWARD_TCP_H

#include "common.bpf.h"
#include "inet_socket.bpf.h"

struct listen_event {
	struct event_header hdr;
	__s32 fd;
	__s32 backlog;
	__s32 error_raw; /* positive errno, 0 on success */
};
RECORD_TYPE(listen_event);

struct accept_event {
	struct event_header hdr;
	__s32 fd;        /* the listening socket */
	__s32 new_fd;    /* the return value: the new fd, or -errno */
	__s32 error_raw;
	struct inet_address peer; /* from the new socket; family 0 on failure */
};
RECORD_TYPE(accept_event);

struct connect_event {
	struct event_header hdr;
	__s32 fd;
	__s32 error_raw;
	struct inet_address remote; /* the sockaddr passed */
};
RECORD_TYPE(connect_event);

#endif
