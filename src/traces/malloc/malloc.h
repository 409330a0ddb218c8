/* SPDX-License-Identifier: Apache-2.0 */
/* trace_malloc's records: what malloc.bpf.c puts in the ring buffer. User space
 * reads their layout from the object's BTF (src/traces/malloc/index.ts names the
 * members); the program's RECORD_TYPE puts each struct there. */
#ifndef EBPF_FORWARD_MALLOC_H
#define EBPF_FORWARD_MALLOC_H

#include "events.h"

/* event_header.kind: Fluent Bit's memop numbers (the record's operation). */
enum malloc_op {
	OP_MALLOC = 0,
	OP_FREE = 1,
	OP_CALLOC = 2,
	OP_REALLOC = 3,
};

struct malloc_event {
	struct event_header hdr;
	__u64 address;     /* returned (malloc/calloc/realloc) or passed (free) */
	__u64 size;        /* asked for; calloc: nmemb * size; free: 0 */
	__u64 old_address; /* realloc: the pointer passed; else 0 */
};

#endif
