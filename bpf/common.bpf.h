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

/* Puts a record's struct in the object's BTF, where user space reads its
 * layout (src/records/): clang emits the types of globals, and of little
 * else that is only used on the stack. An unused pointer costs nothing. */
#define RECORD_TYPE(name) const struct name *__record_type_##name __attribute__((unused))

/* Puts an enum of a trace's header in the object's BTF, where a record
 * declaration reads its enumerators (record kinds, names of values). */
#define ENUM_TYPE(name) const enum name *__enum_type_##name __attribute__((unused))

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

/* Records sent from each CPU so far: the low 48 bits of event_id. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} event_ids SEC(".maps");

#define EVENT_ID_CPU_SHIFT 48
#define EVENT_ID_COUNT_MASK ((1ULL << EVENT_ID_CPU_SHIFT) - 1)

/* The next event_id of this CPU: its number in the top 16 bits, its count
 * below. Atomic, since a program can interrupt another on the same CPU (a
 * tracepoint in an interrupt), so an id is never handed out twice. */
static __always_inline __u64 next_event_id(void)
{
	__u32 zero = 0;
	__u64 *n = bpf_map_lookup_elem(&event_ids, &zero);
	__u64 count = n ? __sync_fetch_and_add(n, 1) : 0;
	return ((__u64)bpf_get_smp_processor_id() << EVENT_ID_CPU_SHIFT) | (count & EVENT_ID_COUNT_MASK);
}

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

/* An event seen but not recorded (no ring space, no memory for its state):
 * it takes a sequence number all the same, so the gap shows, and counts. */
static __always_inline void drop_event(void)
{
	__sync_fetch_and_add(&next_seq, 1);
	count_lost();
}

/* A task's container identity (user space turns the cgroup id into a
 * container id): its cgroup v2 id and its mount namespace's inode number.
 * CO-RE reads, so any task pointer will do; 0 where a pointer is gone (an
 * exiting task has no nsproxy). */
static __always_inline __u64 task_cgroup_id(struct task_struct *t)
{
	return BPF_CORE_READ(t, cgroups, dfl_cgrp, kn, id);
}

static __always_inline __u32 task_mntns_id(struct task_struct *t)
{
	return BPF_CORE_READ(t, nsproxy, mnt_ns, ns.inum);
}

/* Fills a header's time, ids, kind, comm and container identity, all of
 * the current task; its sequence number and event_id are left 0 (taken when
 * the record is sent). */
static __always_inline void stamp_header(struct event_header *h, __u16 kind, __u64 ts)
{
	__u64 id = bpf_get_current_pid_tgid();
	h->ts_ns = ts;
	h->seq = 0;
	h->event_id = 0;
	h->pid = id >> 32;
	h->tid = (__u32)id;
	h->kind = kind;
	h->flags = 0;
	h->mntns_id = task_mntns_id((struct task_struct *)bpf_get_current_task());
	bpf_get_current_comm(h->comm, sizeof(h->comm));
	h->cgroup_id = bpf_get_current_cgroup_id();
}

static __always_inline void fill_header(struct event_header *h, __u16 kind, __u64 ts)
{
	stamp_header(h, kind, ts);
	h->seq = __sync_fetch_and_add(&next_seq, 1);
}

/* Wake-up batching. By default the kernel wakes the reader for a record when
 * the reader has caught up, which under load means one wake-up (an irq_work,
 * an epoll round and a call into JS) for every few records. Instead a record
 * wakes the reader when the data waiting crosses wakeup_bytes, or when the
 * wake-up clock is wakeup_delay_ns old; otherwise it waits. The reader bounds
 * the wait of those records: after each read that found records it reads
 * again within wakeup_delay_ns, and sets the clock so that the kernel wakes
 * it only for records that come after that read is due
 * (native/ring_reader.cc): under a steady flow those reads alone take the
 * records, one wake-up per wakeup_delay_ns. Both knobs are set before load
 * by src/inputs/trace-session.ts; 0 keeps the kernel's default. */
const volatile __u64 wakeup_delay_ns = 0;
const volatile __u64 wakeup_bytes = 0;
/* The wake-up clock: when a record last forced a wake-up, or what the reader
 * set (shared by all CPUs; a lost race only costs one extra wake-up). */
__u64 last_wakeup_ns = 0;

/* Wake-up flags for a record of `size` bytes, with `waiting` bytes in the
 * ring counting it. */
static __always_inline __u64 wakeup_flags(__u64 waiting, __u64 size)
{
	if (!wakeup_delay_ns)
		return 0;
	__u64 now = bpf_ktime_get_ns();
	bool crossed = waiting >= wakeup_bytes && waiting - size < wakeup_bytes;
	/* Signed: the reader may set the clock a little ahead of now. */
	if (crossed || (__s64)(now - last_wakeup_ns) >= (__s64)wakeup_delay_ns) {
		last_wakeup_ns = now;
		return BPF_RB_FORCE_WAKEUP;
	}
	return BPF_RB_NO_WAKEUP;
}

/* The ring's own header before each record, and its 8-byte alignment. */
#define RINGBUF_RECORD_BYTES(size) ((((__u64)(size)) + 8 + 7) & ~7ULL)

/* Reserves a fixed-size record and fills its header (its event_id taken
 * now that it has ring space); counts a loss and returns NULL when the ring
 * buffer is full. Send it with submit_event(). */
#define reserve_event(type, kind_, ts)                                        \
	({                                                                    \
		type *__e = bpf_ringbuf_reserve(&events, sizeof(type), 0);    \
		if (__e) {                                                    \
			fill_header(&__e->hdr, (kind_), (ts));                \
			__e->hdr.event_id = next_event_id();                  \
		} else {                                                      \
			drop_event();                                         \
		}                                                             \
		__e;                                                          \
	})

/* Commits a record from reserve_event(), waking the reader as batching says
 * (the reserved record already counts in the ring's waiting data). */
#define submit_event(e)                                                       \
	bpf_ringbuf_submit((e), wakeup_flags(bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA), \
					     RINGBUF_RECORD_BYTES(sizeof(*(e)))))

/* Copies a record built elsewhere (variable size, at most max bytes, its
 * header first) into the ring buffer, counting a loss when there is no room.
 * Its event_id is taken just before: a record the ring then refuses leaves a
 * gap in its CPU's count (sequence numbers are what show losses). */
static __always_inline int output_event(struct event_header *hdr, __u64 size)
{
	__u64 waiting = bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) + RINGBUF_RECORD_BYTES(size);
	hdr->event_id = next_event_id();
	long err = bpf_ringbuf_output(&events, hdr, size, wakeup_flags(waiting, RINGBUF_RECORD_BYTES(size)));
	if (err) {
		count_lost();
		return -1;
	}
	return 0;
}

#endif
