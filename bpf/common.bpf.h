/* SPDX-License-Identifier: Apache-2.0 */
/* What every trace's BPF program shares: its ring buffer, its loss counter,
 * the self-exclusion knob, and the record header. Include once per .bpf.c. */
#ifndef EBPF_FORWARD_COMMON_BPF_H
#define EBPF_FORWARD_COMMON_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include "events.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Set before load: ebpf-forward's own pid, never traced. */
const volatile __u32 self_tgid = 0;

/* Records to user space. Size set before load from the input's
 * ringbuf_size key; the name matches Fluent Bit's ringbuf_map_name default. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20);
} events SEC(".maps");

/* Records the ring buffer had no room for, per CPU. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} lost SEC(".maps");

/* Next sequence number; lost records take one too, so a gap shows a loss. */
__u64 next_seq = 0;

static __always_inline bool is_self(void)
{
	return (bpf_get_current_pid_tgid() >> 32) == self_tgid;
}

static __always_inline void count_lost(void)
{
	__u32 zero = 0;
	__u64 *n = bpf_map_lookup_elem(&lost, &zero);
	if (n)
		*n += 1;
}

static __always_inline void fill_header(struct event_header *h, __u16 kind, __u64 ts)
{
	__u64 id = bpf_get_current_pid_tgid();
	h->ts_ns = ts;
	h->seq = __sync_fetch_and_add(&next_seq, 1);
	h->pid = id >> 32;
	h->tid = (__u32)id;
	h->kind = kind;
	h->flags = 0;
	h->reserved = 0;
	bpf_get_current_comm(h->comm, sizeof(h->comm));
}

/* Reserves a fixed-size record and fills its header; counts a loss and
 * returns NULL when the ring buffer is full. */
#define reserve_event(type, kind_, ts)                                        \
	({                                                                    \
		type *__e = bpf_ringbuf_reserve(&events, sizeof(type), 0);    \
		if (__e)                                                      \
			fill_header(&__e->hdr, (kind_), (ts));                \
		else {                                                        \
			__sync_fetch_and_add(&next_seq, 1);                   \
			count_lost();                                         \
		}                                                             \
		__e;                                                          \
	})

/* Copies a record built elsewhere (variable size, at most max bytes) into
 * the ring buffer, counting a loss when there is no room. */
static __always_inline int output_event(void *data, __u64 size)
{
	long err = bpf_ringbuf_output(&events, data, size, 0);
	if (err) {
		count_lost();
		return -1;
	}
	return 0;
}

#endif
