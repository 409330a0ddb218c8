/* SPDX-License-Identifier: Apache-2.0 */
/* trace_bind's records: what bind.bpf.c puts in the ring buffer. User space
 * reads their layout from the object's BTF (src/traces/bind/index.ts names the
 * members); the program's RECORD_TYPE puts each struct there. */
#ifndef EBPF_FORWARD_BIND_H
#define EBPF_FORWARD_BIND_H

#include "events.h"

struct bind_event {
	struct event_header hdr;
	__u32 uid;
	__u32 gid;
	__s32 error_raw;     /* positive errno, 0 on success */
	__u32 bound_dev_if;  /* after the call: SO_BINDTODEVICE or an IPv6 scope id */
	__u16 sock_family;   /* AF_INET or AF_INET6 */
	__u16 protocol;      /* IPPROTO_* of the socket */
	struct inet_address asked; /* the sockaddr passed; its port is the port asked for */
};

#endif
