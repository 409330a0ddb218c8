// SPDX-License-Identifier: Apache-2.0
/* trace_openssl: one record per SSL_do_handshake (which SSL_connect and
 * SSL_accept call), SSL_read, SSL_read_ex, SSL_write, SSL_write_ex and
 * SSL_shutdown call, made at its return, with the call's latency and
 * result; from uprobes (entry) and uretprobes (return) attached at run time
 * to every libssl that processes map. No data is read.
 *
 * A call is matched with its return per thread and per function, by stack
 * pointer: each thread keeps, per function, the calls in progress (a call
 * made inside another of the same function, from a callback, is one more
 * level). Calls whose return was never seen do not block later ones: a
 * thread's storage goes with the thread (one killed in a call), and a call
 * whose frame is not above a new call's is over (a longjmp out of it). No
 * time limit: a read blocked for hours is matched all the same. */
#include "common.bpf.h"
#include "task_filter.bpf.h"
#include "openssl.h"

RECORD_TYPE(openssl_event);
ENUM_TYPE(tls_kind);
ENUM_TYPE(ssl_function);

/* On return from a call, the stack pointer is this far above its value at
 * the function's first instruction (x86's ret pops the return address). */
#if defined(__TARGET_ARCH_x86)
#define RETURN_SP_DELTA 8
#else
#define RETURN_SP_DELTA 0
#endif

/* Calls of one function in progress on one thread, nested: enough for a
 * callback calling the function again, three deep (a power of two). */
#define CALL_DEPTH 4

struct ssl_call {
	__u64 sp;  /* at entry */
	__u64 ts;  /* entry time */
	__u64 ssl; /* the SSL * */
	__u64 out; /* SSL_*_ex: the size_t * that gets the byte count */
};

struct thread_calls {
	struct ssl_call calls[FN_COUNT][CALL_DEPTH];
	__u32 depth[FN_COUNT];
};

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct thread_calls);
} threads SEC(".maps");

static __always_inline int call_enter(struct pt_regs *ctx, enum ssl_function fn, __u64 ssl, __u64 out)
{
	if (!current_wanted())
		return 0;
	struct thread_calls *t = bpf_task_storage_get(&threads, bpf_get_current_task_btf(), 0,
						      BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!t) {
		drop_event();
		return 0;
	}
	__u64 sp = PT_REGS_SP(ctx);
	__u32 n = t->depth[fn];
	/* Calls in progress are kept outermost first (highest frame first).
	 * One whose frame is not above ours has ended unseen (a longjmp out
	 * of it, say): ours takes its place. */
	__u32 keep = 0;
	for (__u32 i = 0; i < CALL_DEPTH; i++) {
		if (i >= n || t->calls[fn][i].sp <= sp)
			break;
		keep = i + 1;
	}
	if (keep >= CALL_DEPTH) {
		t->depth[fn] = CALL_DEPTH; /* nested deeper than kept: counted, not recorded */
		drop_event();
		return 0;
	}
	struct ssl_call *c = &t->calls[fn][keep & (CALL_DEPTH - 1)];
	c->sp = sp;
	c->ts = bpf_ktime_get_ns();
	c->ssl = ssl;
	c->out = out;
	t->depth[fn] = keep + 1;
	return 0;
}

static __always_inline int call_return(struct pt_regs *ctx, enum ssl_function fn, __u16 kind)
{
	struct thread_calls *t = bpf_task_storage_get(&threads, bpf_get_current_task_btf(), 0, 0);
	if (!t)
		return 0;
	__u64 sp = PT_REGS_SP(ctx) - RETURN_SP_DELTA;
	__u32 n = t->depth[fn];
	__u32 found = CALL_DEPTH;
	for (__u32 i = 0; i < CALL_DEPTH; i++) {
		if (i < n && t->calls[fn][i].sp == sp)
			found = i;
	}
	if (found >= CALL_DEPTH)
		return 0;
	struct ssl_call c = t->calls[fn][found & (CALL_DEPTH - 1)];
	/* It is over, and so is any call inside it whose return was not seen. */
	t->depth[fn] = found;

	__s32 rc = (__s32)PT_REGS_RC(ctx);
	__s32 ret = rc;
	if (fn == FN_READ_EX || fn == FN_WRITE_EX) {
		/* 1 with the byte count in *out, else 0. */
		__u64 bytes = 0;
		if (rc == 1 && c.out)
			bpf_probe_read_user(&bytes, sizeof(bytes), (const void *)c.out);
		ret = rc == 1 ? (bytes > 0x7fffffff ? 0x7fffffff : (__s32)bytes) : 0;
	}
	struct openssl_event *e = reserve_event(struct openssl_event, kind, c.ts);
	if (!e)
		return 0;
	e->ssl_ptr = c.ssl;
	e->latency_ns = bpf_ktime_get_ns() - c.ts;
	e->ret = ret;
	e->function = fn;
	submit_event(e);
	return 0;
}

/* A function's two programs, <name>_entry and <name>_return (attached by
 * src/traces/openssl/index.ts). `out` is the entry's size_t * out-parameter
 * holding the byte count at the return, or 0. */
#define SSL_CALL_PROBES(name, fn, kind, out)                                   \
	SEC("uprobe")                                                          \
	int name##_entry(struct pt_regs *ctx)                                  \
	{                                                                      \
		return call_enter(ctx, fn, PT_REGS_PARM1(ctx), out);           \
	}                                                                      \
	SEC("uretprobe")                                                       \
	int name##_return(struct pt_regs *ctx)                                 \
	{                                                                      \
		return call_return(ctx, fn, kind);                             \
	}

/* int SSL_do_handshake(SSL *s) */
SSL_CALL_PROBES(handshake, FN_DO_HANDSHAKE, TLS_HANDSHAKE, 0)
/* int SSL_read(SSL *s, void *buf, int num) */
SSL_CALL_PROBES(read, FN_READ, TLS_READ, 0)
/* int SSL_read_ex(SSL *s, void *buf, size_t num, size_t *readbytes) */
SSL_CALL_PROBES(read_ex, FN_READ_EX, TLS_READ, PT_REGS_PARM4(ctx))
/* int SSL_write(SSL *s, const void *buf, int num) */
SSL_CALL_PROBES(write, FN_WRITE, TLS_WRITE, 0)
/* int SSL_write_ex(SSL *s, const void *buf, size_t num, size_t *written) */
SSL_CALL_PROBES(write_ex, FN_WRITE_EX, TLS_WRITE, PT_REGS_PARM4(ctx))
/* int SSL_shutdown(SSL *s) */
SSL_CALL_PROBES(shutdown, FN_SHUTDOWN, TLS_SHUTDOWN, 0)
