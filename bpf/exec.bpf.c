// SPDX-License-Identifier: Apache-2.0
/* trace_exec: two records per execve/execveat call, "enter" (time of the
 * call) and "exit" (with the result). Syscall and sched tracepoints only.
 *
 * A tracepoint program cannot fault pages in: bpf_probe_read_user fails on a
 * page that is not resident, which is what a forked child calling execl()
 * on strings it never touched looks like. So the enter record is built at
 * the call only when every read succeeds; otherwise the call is remembered
 * (time, user pointers, caller's identity) and the record is built later:
 *  - on success, at sched:sched_process_exec: the filename is in the
 *    tracepoint's kernel memory and the arguments in the new program's
 *    stack, which the kernel has just written (so resident);
 *  - on failure, at the syscall's exit: the kernel has faulted the
 *    filename in, so the caller's pointers are read again. */
#include "common.bpf.h"

#define EXEC_STAGE_ENTER 0
#define EXEC_STAGE_EXIT 1

/* event_header.flags */
#define EXEC_F_EXECVEAT   0x1 /* the call was execveat */
#define EXEC_F_FROM_IMAGE 0x2 /* strings read from the new program's stack */
#define EXEC_F_AT_EXIT    0x4 /* strings read from the caller at syscall exit */
#define EXEC_F_INCOMPLETE 0x8 /* a read failed: some strings empty, argc maybe short */

#define FILENAME_BYTES 4096 /* PATH_MAX, with its NUL */
#define ARG_BYTES 1024      /* per argument kept, with its NUL */
#define STR_AREA 8192       /* >= FILENAME_BYTES + 4 * ARG_BYTES; a power of two */

/* argv pointers are counted in chunks of up to 64 (one read each), for at
 * most ARGC_CHUNKS chunks: at least 1,048,576 arguments on 8-aligned argv,
 * more than the kernel's 6 MiB argument limit allows. */
#define ARGV_CHUNK 64
#define ARGC_CHUNKS (1 << 14)

struct exec_event {
	struct event_header hdr;
	__u32 ppid;
	__u32 argc;
	__s32 error_raw;
	__s32 dirfd; /* execveat's dirfd (the kernel names such a file /dev/fd/<dirfd>/...) */
	/* byte lengths (no NUL) of filename, argv[0], argv[1], argv[2],
	 * argv_last, stored back to back after this struct */
	__u16 len[5];
	__u16 reserved[3];
};
_Static_assert(sizeof(struct exec_event) == 80, "src/traces/exec/index.ts reads this layout");

/* Records are built here and sent sized to their strings. */
struct exec_scratch {
	struct exec_event ev;
	char str[STR_AREA + ARG_BYTES]; /* slack: masked offset + bounded size stays inside */
	__u64 ptrs[ARGV_CHUNK];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct exec_scratch);
} scratch SEC(".maps");

/* An execve between its enter and exit, by thread id at the call (moved to
 * the new tid when a non-leader thread execs). */
struct exec_call {
	__u64 ts;
	__u64 filename; /* user pointers as passed */
	__u64 argv;
	__u32 pid;
	__u32 tid;
	__u32 ppid;
	__s32 dirfd;
	__u16 flags;   /* EXEC_F_EXECVEAT */
	__u8 pending;  /* enter record not sent yet (caller's pages not resident) */
	__u8 exec_done; /* sched_process_exec seen: the caller's memory is gone */
	char comm[TASK_COMM_LEN];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 10240);
	__type(key, __u32);
	__type(value, struct exec_call);
} calls SEC(".maps");

/* Set before load. 0 sends the enter record at the call whatever could be
 * read (what Fluent Bit does); only tests turn it off, to show the
 * deferral is what fills the fields. */
const volatile __u8 defer_unreadable = 1;

static __always_inline __u32 current_ppid(void)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	return BPF_CORE_READ(task, real_parent, tgid);
}

/* Appends a string to the record at *off; returns 0, or -1 if unreadable
 * (the slot is then empty). */
static __always_inline int append_str(struct exec_scratch *s, __u32 *off, int slot,
				      const void *src, __u32 size, bool user)
{
	__u32 at = *off & (STR_AREA - 1);
	long n;

	if (user)
		n = bpf_probe_read_user_str(&s->str[at], size, src);
	else
		n = bpf_probe_read_kernel_str(&s->str[at], size, src);
	if (n <= 0) {
		s->ev.len[slot] = 0;
		return -1;
	}
	s->ev.len[slot] = n - 1;
	*off = at + n - 1; /* the next string overwrites this NUL */
	return 0;
}

static __always_inline int append_empty(struct exec_scratch *s, int slot)
{
	s->ev.len[slot] = 0;
	return 0;
}

/* Reads argv[i] (a user pointer) from the array at argv. */
static __always_inline int read_argv_ptr(__u64 argv, __u32 i, __u64 *ptr)
{
	return bpf_probe_read_user(ptr, sizeof(*ptr), (void *)(argv + (__u64)i * 8)) ? -1 : 0;
}

struct argc_scan {
	__u64 argv;
	__u32 argc;
	__u8 done;
	__u8 failed;
};

/* One bpf_loop step: reads up to ARGV_CHUNK pointers, never across a 4 KiB
 * boundary (so a failure means that page is not resident), and counts
 * until the NULL that ends argv. */
static long scan_argv_chunk(__u32 index, void *data)
{
	struct argc_scan *scan = data;
	__u32 zero = 0;
	struct exec_scratch *s = bpf_map_lookup_elem(&scratch, &zero);
	if (!s) {
		scan->failed = 1;
		return 1;
	}
	__u64 addr = scan->argv + (__u64)scan->argc * 8;
	__u32 room = (4096 - (addr & 4095)) / 8;
	if (room == 0) /* misaligned argv: one pointer straddles the boundary */
		room = 1;
	if (room > ARGV_CHUNK)
		room = ARGV_CHUNK;
	if (bpf_probe_read_user(s->ptrs, room * 8, (void *)addr)) {
		scan->failed = 1;
		return 1;
	}
	for (__u32 j = 0; j < ARGV_CHUNK; j++) {
		if (j >= room)
			break;
		if (s->ptrs[j] == 0) {
			scan->done = 1;
			return 1;
		}
		scan->argc++;
	}
	return 0;
}

/* Fills filename, argv strings and argc from the caller's memory; returns
 * 0 when everything was read, -1 when something was not. */
static __always_inline int fill_from_caller(struct exec_scratch *s, const struct exec_call *call)
{
	__u32 off = 0;
	int failed = 0;
	__u64 ptr;

	if (append_str(s, &off, 0, (void *)call->filename, FILENAME_BYTES, true))
		failed = 1;

	struct argc_scan scan = { .argv = call->argv };
	if (call->argv) {
		bpf_loop(ARGC_CHUNKS, scan_argv_chunk, &scan, 0);
		if (!scan.done)
			failed = 1; /* unreadable, or past the bound: argc is short */
	}
	s->ev.argc = scan.argc;

	for (int i = 0; i < 3; i++) {
		if (i < scan.argc && read_argv_ptr(call->argv, i, &ptr) == 0) {
			if (append_str(s, &off, 1 + i, (void *)ptr, ARG_BYTES, true))
				failed = 1;
		} else {
			append_empty(s, 1 + i);
			if (i < scan.argc)
				failed = 1;
		}
	}
	if (scan.argc > 3) {
		if (read_argv_ptr(call->argv, scan.argc - 1, &ptr) ||
		    append_str(s, &off, 4, (void *)ptr, ARG_BYTES, true))
			failed = 1;
	} else {
		append_empty(s, 4);
	}
	return failed ? -1 : 0;
}

/* Fills argv strings and argc from the new program's stack, as the ELF
 * loader lays it out: argc at mm->start_stack, then the argv pointers,
 * argv[0] pointing at mm->arg_start. filename_in_image: also take the
 * filename the kernel copied there (it begins at mm->env_end); else the
 * caller has put it at off already. Returns 0, or -1 if a read failed. */
static __always_inline int fill_from_image(struct exec_scratch *s, __u32 off, bool filename_in_image)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct mm_struct *mm = BPF_CORE_READ(task, mm);
	__u64 stack = BPF_CORE_READ(mm, start_stack);
	__u64 arg_start = BPF_CORE_READ(mm, arg_start);
	__u64 env_end = BPF_CORE_READ(mm, env_end);
	__u64 argc = 0, ptr = 0;
	int failed = 0;

	if (filename_in_image && append_str(s, &off, 0, (void *)env_end, FILENAME_BYTES, true))
		failed = 1;

	if (bpf_probe_read_user(&argc, sizeof(argc), (void *)stack) ||
	    (argc > 0 && (read_argv_ptr(stack + 8, 0, &ptr) || ptr != arg_start)) ||
	    argc > 0xffffffff) {
		/* not the ELF layout: only argv[0] is known */
		s->ev.argc = 0;
		append_str(s, &off, 1, (void *)arg_start, ARG_BYTES, true);
		append_empty(s, 2);
		append_empty(s, 3);
		append_empty(s, 4);
		return -1;
	}
	s->ev.argc = argc;
	for (int i = 0; i < 3; i++) {
		if (i < argc && read_argv_ptr(stack + 8, i, &ptr) == 0) {
			if (append_str(s, &off, 1 + i, (void *)ptr, ARG_BYTES, true))
				failed = 1;
		} else {
			append_empty(s, 1 + i);
			if (i < argc)
				failed = 1;
		}
	}
	if (argc > 3) {
		if (read_argv_ptr(stack + 8, argc - 1, &ptr) ||
		    append_str(s, &off, 4, (void *)ptr, ARG_BYTES, true))
			failed = 1;
	} else {
		append_empty(s, 4);
	}
	return failed ? -1 : 0;
}

static __always_inline struct exec_scratch *scratch_record(void)
{
	__u32 zero = 0;
	struct exec_scratch *s = bpf_map_lookup_elem(&scratch, &zero);
	if (s) {
		s->ev.error_raw = 0;
		s->ev.reserved[0] = s->ev.reserved[1] = s->ev.reserved[2] = 0;
	}
	return s;
}

/* The enter record carries the caller as it was at the call. */
static __always_inline void enter_header(struct exec_scratch *s, const struct exec_call *call, __u16 flags)
{
	struct event_header *h = &s->ev.hdr;
	h->ts_ns = call->ts;
	h->seq = __sync_fetch_and_add(&next_seq, 1);
	h->pid = call->pid;
	h->tid = call->tid;
	h->kind = EXEC_STAGE_ENTER;
	h->flags = call->flags | flags;
	h->reserved = 0;
	__builtin_memcpy(h->comm, call->comm, TASK_COMM_LEN);
	s->ev.ppid = call->ppid;
	s->ev.dirfd = call->dirfd;
}

/* Sends the record with only the string bytes used. */
static __always_inline void send(struct exec_scratch *s, __u32 str_bytes)
{
	output_event(s, sizeof(struct exec_event) + (str_bytes & (STR_AREA - 1)));
}

/* Length actually written, whether or not every read succeeded. */
static __always_inline __u32 used_bytes(const struct exec_scratch *s)
{
	__u32 n = 0;
	for (int i = 0; i < 5; i++)
		n += s->ev.len[i];
	return n;
}

static __always_inline int on_enter(__s32 dirfd, __u64 filename, __u64 argv, __u16 flags)
{
	if (is_self())
		return 0;
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)id;
	struct exec_call call = {
		.ts = bpf_ktime_get_ns(),
		.filename = filename,
		.argv = argv,
		.pid = id >> 32,
		.tid = tid,
		.ppid = current_ppid(),
		.dirfd = dirfd,
		.flags = flags,
	};
	bpf_get_current_comm(call.comm, sizeof(call.comm));

	struct exec_scratch *s = scratch_record();
	if (!s)
		return 0;
	int got = fill_from_caller(s, &call);
	if (got < 0 && defer_unreadable) {
		call.pending = 1;
	} else {
		enter_header(s, &call, got < 0 ? EXEC_F_INCOMPLETE : 0);
		send(s, used_bytes(s));
	}
	bpf_map_update_elem(&calls, &tid, &call, BPF_ANY);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_execve")
int execve_enter(struct syscall_trace_enter *ctx)
{
	return on_enter(-100 /* AT_FDCWD */, ctx->args[0], ctx->args[1], 0);
}

SEC("tracepoint/syscalls/sys_enter_execveat")
int execveat_enter(struct syscall_trace_enter *ctx)
{
	return on_enter((__s32)ctx->args[0], ctx->args[1], ctx->args[2], EXEC_F_EXECVEAT);
}

/* The exec succeeded; the thread now runs the new program (and has the
 * leader's pid if a non-leader thread exec'd: old_pid is its tid at the call). */
SEC("tracepoint/sched/sched_process_exec")
int process_exec(struct trace_event_raw_sched_process_exec *ctx)
{
	__u32 old_tid = ctx->old_pid;
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct exec_call *call = bpf_map_lookup_elem(&calls, &old_tid);
	if (!call)
		return 0; /* not a traced call (a kernel-started exec, or ourselves) */

	if (call->pending) {
		struct exec_scratch *s = scratch_record();
		if (s) {
			__u32 off = 0;
			int failed = append_str(s, &off, 0, (void *)ctx + (ctx->__data_loc_filename & 0xffff),
						FILENAME_BYTES, false);
			int got = fill_from_image(s, off, false);
			enter_header(s, call, EXEC_F_FROM_IMAGE | (failed || got < 0 ? EXEC_F_INCOMPLETE : 0));
			send(s, used_bytes(s));
		}
		call->pending = 0;
	}
	call->exec_done = 1;
	if (old_tid != tid) {
		bpf_map_update_elem(&calls, &tid, call, BPF_ANY);
		bpf_map_delete_elem(&calls, &old_tid);
	}
	return 0;
}

static __always_inline int on_exit(long ret)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct exec_call *call = bpf_map_lookup_elem(&calls, &tid);
	if (!call)
		return 0;
	struct exec_scratch *s = scratch_record();
	if (!s)
		goto done;

	if (call->pending) {
		/* It failed before the point of no return: the kernel has read
		 * (so faulted in) at least the filename by now. */
		int got = fill_from_caller(s, call);
		enter_header(s, call, EXEC_F_AT_EXIT | (got < 0 ? EXEC_F_INCOMPLETE : 0));
		send(s, used_bytes(s));
	}

	int got = call->exec_done ? fill_from_image(s, 0, true) : fill_from_caller(s, call);
	__u16 flags = call->flags;
	if (call->exec_done)
		flags |= EXEC_F_FROM_IMAGE;
	else if (call->pending)
		flags |= EXEC_F_AT_EXIT;
	if (got < 0)
		flags |= EXEC_F_INCOMPLETE;
	fill_header(&s->ev.hdr, EXEC_STAGE_EXIT, bpf_ktime_get_ns());
	s->ev.hdr.flags = flags;
	s->ev.ppid = current_ppid();
	s->ev.dirfd = call->dirfd;
	s->ev.error_raw = ret < 0 ? -ret : 0;
	send(s, used_bytes(s));
done:
	bpf_map_delete_elem(&calls, &tid);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_execve")
int execve_exit(struct syscall_trace_exit *ctx)
{
	return on_exit(ctx->ret);
}

SEC("tracepoint/syscalls/sys_exit_execveat")
int execveat_exit(struct syscall_trace_exit *ctx)
{
	return on_exit(ctx->ret);
}
