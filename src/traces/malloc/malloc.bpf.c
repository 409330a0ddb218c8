// SPDX-License-Identifier: Apache-2.0
/* trace_malloc: one record per malloc, free, calloc and realloc call of the
 * C library, from uprobes (entry) and uretprobes (result) attached at run
 * time to every libc that processes map.
 *
 * malloc runs millions of times a second machine-wide, so processes can be
 * narrowed in the kernel by pid and/or comm (the malloc_pid / malloc_comm
 * input keys), checked first thing at each entry.
 *
 * A call is matched with its return by stack pointer: calls the C library
 * makes to itself (realloc(NULL, n) -> malloc, realloc(p, 0) -> free) are
 * part of the outer call, not records of their own, and a uprobe attached
 * twice to the same code gives one record, not two. */
#include "common.bpf.h"
#include "task_filter.bpf.h"
#include "malloc.h"

RECORD_TYPE(malloc_event);
ENUM_TYPE(malloc_op);


/* On return from a call, the stack pointer is this far above its value at
 * the function's first instruction (x86 pops the return address). */
#if defined(__TARGET_ARCH_x86)
#define RETURN_SP_DELTA 8
#else
#define RETURN_SP_DELTA 0
#endif

/* A thread's outermost traced allocation call in progress. */
struct alloc_call {
	__u64 sp; /* at entry; 0: none in progress */
	__u64 ts;
	__u64 size;
	__u64 old_address;
	__u32 op;
};

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct alloc_call);
} calls SEC(".maps");

/* Calls the C library makes inside a traced one come within microseconds of
 * its entry; a call noted longer ago than this lost its return (a longjmp out
 * of it, say) and must not hide the thread's calls from then on. */
#define STALE_NS 1000000000ULL

/* A recent call in progress whose frame is at or above ours is the one we
 * are inside of (or the same call, seen by a second uprobe). */
static __always_inline bool inside(struct alloc_call *c, __u64 sp, __u64 now)
{
	return c->sp && sp <= c->sp && now - c->ts < STALE_NS;
}

static __always_inline int alloc_enter(struct pt_regs *ctx, __u32 op, __u64 size, __u64 old_address)
{
	if (!current_wanted())
		return 0;
	struct alloc_call *c = bpf_task_storage_get(&calls, bpf_get_current_task_btf(), 0,
						    BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!c) {
		drop_event();
		return 0;
	}
	__u64 sp = PT_REGS_SP(ctx);
	__u64 now = bpf_ktime_get_ns();
	if (inside(c, sp, now))
		return 0;
	c->sp = sp;
	c->ts = now;
	c->size = size;
	c->old_address = old_address;
	c->op = op;
	return 0;
}

static __always_inline int alloc_return(struct pt_regs *ctx)
{
	struct alloc_call *c = bpf_task_storage_get(&calls, bpf_get_current_task_btf(), 0, 0);
	if (!c || !c->sp || PT_REGS_SP(ctx) != c->sp + RETURN_SP_DELTA)
		return 0;
	c->sp = 0;
	struct malloc_event *e = reserve_event(struct malloc_event, c->op, c->ts);
	if (!e)
		return 0;
	e->address = PT_REGS_RC(ctx);
	e->size = c->size;
	e->old_address = c->old_address;
	submit_event(e);
	return 0;
}

SEC("uprobe")
int BPF_KPROBE(malloc_entry, __u64 size)
{
	return alloc_enter(ctx, OP_MALLOC, size, 0);
}

SEC("uretprobe")
int BPF_KRETPROBE(malloc_return)
{
	return alloc_return(ctx);
}

SEC("uprobe")
int BPF_KPROBE(calloc_entry, __u64 nmemb, __u64 size)
{
	return alloc_enter(ctx, OP_CALLOC, nmemb * size, 0);
}

SEC("uretprobe")
int BPF_KRETPROBE(calloc_return)
{
	return alloc_return(ctx);
}

SEC("uprobe")
int BPF_KPROBE(realloc_entry, __u64 ptr, __u64 size)
{
	return alloc_enter(ctx, OP_REALLOC, size, ptr);
}

SEC("uretprobe")
int BPF_KRETPROBE(realloc_return)
{
	return alloc_return(ctx);
}

/* free has no result: its record is made at entry, unless it is a free the
 * C library makes inside a traced realloc. */
SEC("uprobe")
int BPF_KPROBE(free_entry, __u64 ptr)
{
	if (!current_wanted())
		return 0;
	__u64 now = bpf_ktime_get_ns();
	struct alloc_call *c = bpf_task_storage_get(&calls, bpf_get_current_task_btf(), 0, 0);
	if (c && inside(c, PT_REGS_SP(ctx), now))
		return 0;
	struct malloc_event *e = reserve_event(struct malloc_event, OP_FREE, now);
	if (!e)
		return 0;
	e->address = ptr;
	e->size = 0;
	e->old_address = 0;
	submit_event(e);
	return 0;
}
