// SPDX-License-Identifier: Apache-2.0
/* trace_exec: two records per execve/execveat call, "enter" (time of the
 * call) and "exit" (with the result; same strings as the enter record).
 * Syscall and sched tracepoints only.
 *
 * A tracepoint program cannot fault pages in: bpf_probe_read_user fails on a
 * page that is not resident, which is what a forked child calling execl()
 * on strings it never touched looks like. So the enter record is sent at
 * the call only when every read succeeds; otherwise it waits, kept per
 * thread with the call's time and pointers, and is built later:
 *  - on success, at sched:sched_process_exec: the filename is in the
 *    tracepoint's kernel memory and the arguments on the new program's
 *    stack, which the kernel has just written (so resident);
 *  - on failure, at the syscall's exit: the kernel has faulted the
 *    filename in, so the caller's pointers are read again. */
#include "common.bpf.h"
#include "task_filter.bpf.h"
#include "exec.h"

RECORD_TYPE(exec_event);
ENUM_TYPE(exec_stage);
ENUM_TYPE(exec_flag);

#define FILENAME_BYTES 4096 /* PATH_MAX, with its NUL */
#define ARG_BYTES 1024      /* per argument kept, with its NUL */
#define STR_AREA 8192       /* >= FILENAME_BYTES + 4 * ARG_BYTES; a power of two */

/* argv pointers are counted in chunks of up to 64 (one read each), for at
 * most ARGC_CHUNKS chunks: 1,048,576 arguments on an 8-aligned argv, more
 * than the kernel's argument size limit (6 MiB) allows. */
#define ARGV_CHUNK 64
#define ARGC_CHUNKS (1 << 14)

/* The call, as it was when it entered. */
struct exec_call {
	__u64 ts;
	__u64 filename; /* user pointers as passed */
	__u64 argv;
	__u32 argc;     /* counted in the caller's argv; valid if argc_known */
	__u8 argc_known;
	__u8 pending;   /* enter record not sent yet (caller's pages not resident) */
	__u16 flags;    /* EXEC_F_EXECVEAT */
};

/* One exec in flight: its call and its enter record (header, fields,
 * strings), which the exit record repeats. Also the per-CPU scratch. */
struct exec_state {
	struct exec_call call;
	struct exec_event ev;
	char str[STR_AREA + ARG_BYTES]; /* slack: masked offset + bounded size stays inside */
	__u64 ptrs[ARGV_CHUNK];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct exec_state);
} scratch SEC(".maps");

/* By thread id (the new one once a non-leader thread's exec succeeded).
 * Not preallocated: memory only for execs in flight (Linux 6.1+ allows it
 * in tracepoint programs). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 10240);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u32);
	__type(value, struct exec_state);
} inflight SEC(".maps");

/* Set before load. 0 sends the enter record at the call whatever could be
 * read (what Fluent Bit does); only tests turn it off, to show that the
 * deferral is what fills the fields. */
const volatile __u8 defer_unreadable = 1;

static __always_inline __u32 current_ppid(void)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	return BPF_CORE_READ(task, real_parent, tgid);
}

/* Appends a string at *off; returns 0, or -1 if unreadable (slot left empty). */
static __always_inline int append_str(struct exec_state *s, __u32 *off, int slot,
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

static __always_inline int read_ptr(__u64 array, __u32 i, __u64 *ptr)
{
	return bpf_probe_read_user(ptr, sizeof(*ptr), (void *)(array + (__u64)i * 8)) ? -1 : 0;
}

/* Appends the string argv[i] points to (argv a user array); -1 if unreadable. */
static __always_inline int append_arg(struct exec_state *s, __u32 *off, int slot, __u64 argv, __u32 i)
{
	__u64 ptr;
	if (read_ptr(argv, i, &ptr)) {
		s->ev.len[slot] = 0;
		return -1;
	}
	return append_str(s, off, slot, (void *)ptr, ARG_BYTES, true);
}

struct argc_scan {
	__u64 argv;
	__u32 argc;
	__u8 done;
};

/* One bpf_loop step: reads up to ARGV_CHUNK pointers, never across a 4 KiB
 * boundary (so a failure means that page is not resident), and counts
 * until the NULL that ends argv. */
static long scan_argv_chunk(__u32 index, void *data)
{
	struct argc_scan *scan = data;
	__u32 zero = 0;
	struct exec_state *s = bpf_map_lookup_elem(&scratch, &zero);
	if (!s)
		return 1;
	__u64 addr = scan->argv + (__u64)scan->argc * 8;
	__u32 room = (4096 - (addr & 4095)) / 8;
	if (room == 0) /* misaligned argv: one pointer straddles the boundary */
		room = 1;
	if (room > ARGV_CHUNK)
		room = ARGV_CHUNK;
	if (bpf_probe_read_user(s->ptrs, room * 8, (void *)addr))
		return 1;
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

/* Builds the record's strings and argc from the caller's memory; returns 0
 * when everything was read. Notes argc in the call when it was counted. */
static __always_inline int fill_from_caller(struct exec_state *s)
{
	__u64 argv = s->call.argv;
	__u32 off = 0;
	int failed = 0;

	failed |= append_str(s, &off, 0, (void *)s->call.filename, FILENAME_BYTES, true);

	struct argc_scan scan = { .argv = argv, .done = argv == 0 };
	if (argv)
		bpf_loop(ARGC_CHUNKS, scan_argv_chunk, &scan, 0);
	if (!scan.done)
		failed = -1; /* unreadable, or past the bound: argc is short */
	s->call.argc = scan.argc;
	s->call.argc_known = scan.done;
	s->ev.argc = scan.argc;

	for (int i = 0; i < 3; i++) {
		if (i < scan.argc)
			failed |= append_arg(s, &off, 1 + i, argv, i);
		else
			s->ev.len[1 + i] = 0;
	}
	if (scan.argc > 3)
		failed |= append_arg(s, &off, 4, argv, scan.argc - 1);
	else
		s->ev.len[4] = 0;
	return failed;
}

/* Builds the record's strings and argc after a successful exec: filename
 * from the tracepoint, arguments from the new program's stack as the ELF
 * loader lays it out (argc at mm->start_stack, then the argv pointers,
 * argv[0] pointing at mm->arg_start). A #! script or binfmt_misc program
 * got the interpreter's arguments in front of the caller's, and lost the
 * caller's argv[0]: knowing the caller's argc, the rest is still exact. */
static __always_inline int fill_from_image(struct exec_state *s, const char *filename)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct mm_struct *mm = BPF_CORE_READ(task, mm);
	__u64 stack = BPF_CORE_READ(mm, start_stack);
	__u64 arg_start = BPF_CORE_READ(mm, arg_start);
	__u64 argv = stack + 8;
	__u64 image_argc = 0, ptr = 0;
	__u32 off = 0, argc, shift = 0;
	int failed = 0;

	failed |= append_str(s, &off, 0, filename, FILENAME_BYTES, false);

	if (bpf_probe_read_user(&image_argc, sizeof(image_argc), (void *)stack) || image_argc == 0 ||
	    image_argc > 0xffffffff || read_ptr(argv, 0, &ptr) || ptr != arg_start) {
		/* not the ELF layout: nothing more is known for sure */
		s->ev.argc = s->call.argc_known ? s->call.argc : 0;
		s->ev.len[1] = s->ev.len[2] = s->ev.len[3] = s->ev.len[4] = 0;
		return -1;
	}
	argc = image_argc;
	if (s->call.argc_known && s->call.argc < argc) {
		/* argc 0 (the kernel adds an empty argv[0]) or an interpreter in front */
		shift = argc - s->call.argc;
		argc = s->call.argc;
	}
	s->ev.argc = argc;
	if (shift == 0 && argc > 0) {
		failed |= append_arg(s, &off, 1, argv, 0);
	} else {
		s->ev.len[1] = 0;
		if (argc > 0)
			failed = -1; /* the caller's argv[0] is gone */
	}
	for (__u32 i = 1; i < 3; i++) {
		if (i < argc)
			failed |= append_arg(s, &off, 1 + i, argv, i + shift);
		else
			s->ev.len[1 + i] = 0;
	}
	if (argc > 3)
		failed |= append_arg(s, &off, 4, argv, argc - 1 + shift);
	else
		s->ev.len[4] = 0;
	return failed;
}

static __always_inline __u32 string_bytes(const struct exec_state *s)
{
	__u32 n = 0;
	for (int i = 0; i < 5; i++)
		n += s->ev.len[i];
	return n;
}

/* Sends the record with only the string bytes used. */
static __always_inline void send(struct exec_state *s)
{
	output_event(&s->ev.hdr, sizeof(struct exec_event) + (string_bytes(s) & (STR_AREA - 1)));
}

/* Sends the enter record, marking where its strings were read. */
static __always_inline void send_enter(struct exec_state *s, __u16 source, int failed)
{
	s->ev.hdr.seq = __sync_fetch_and_add(&next_seq, 1);
	s->ev.hdr.flags = s->call.flags | source | (failed ? EXEC_F_INCOMPLETE : 0);
	send(s);
}

static __always_inline int on_enter(__s32 dirfd, __u64 filename, __u64 argv, __u16 flags)
{
	if (!current_wanted())
		return 0;
	__u32 zero = 0;
	struct exec_state *s = bpf_map_lookup_elem(&scratch, &zero);
	if (!s)
		return 0;
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	__u64 ts = bpf_ktime_get_ns();

	s->call.ts = ts;
	s->call.filename = filename;
	s->call.argv = argv;
	s->call.flags = flags;
	s->call.pending = 0;
	stamp_header(&s->ev.hdr, EXEC_STAGE_ENTER, ts); /* its seq is taken when sent */
	s->ev.ppid = current_ppid();
	s->ev.error_raw = 0;
	s->ev.dirfd = dirfd;
	s->ev.reserved[0] = s->ev.reserved[1] = s->ev.reserved[2] = 0;

	int failed = fill_from_caller(s);
	if (failed && defer_unreadable)
		s->call.pending = 1;
	else
		send_enter(s, 0, failed);

	if (bpf_map_update_elem(&inflight, &tid, s, BPF_ANY)) {
		/* no memory to keep the call: its exit record (and a deferred enter) are lost */
		drop_event();
		if (s->call.pending)
			drop_event();
	}
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

/* The exec succeeded; the thread runs the new program now (with the
 * leader's pid if a non-leader thread exec'd: old_pid is its tid at the call). */
SEC("tracepoint/sched/sched_process_exec")
int process_exec(struct trace_event_raw_sched_process_exec *ctx)
{
	__u32 old_tid = ctx->old_pid;
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct exec_state *s = bpf_map_lookup_elem(&inflight, &old_tid);
	if (!s)
		return 0; /* not a traced call (a kernel-started exec, or ourselves) */

	if (s->call.pending) {
		int failed = fill_from_image(s, (void *)ctx + (ctx->__data_loc_filename & 0xffff));
		send_enter(s, EXEC_F_FROM_IMAGE, failed);
		s->call.pending = 0;
	}
	if (old_tid != tid) {
		if (bpf_map_update_elem(&inflight, &tid, s, BPF_ANY))
			drop_event(); /* the exit record */
		bpf_map_delete_elem(&inflight, &old_tid);
	}
	return 0;
}

static __always_inline int on_exit(long ret)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct exec_state *s = bpf_map_lookup_elem(&inflight, &tid);
	if (!s)
		return 0;

	if (s->call.pending) {
		/* It failed before the point of no return: the kernel has read
		 * (so faulted in) at least the filename by now. */
		int failed = fill_from_caller(s);
		send_enter(s, EXEC_F_AT_EXIT, failed);
	}
	/* The enter record's strings and flags, this moment's header. */
	__u16 flags = s->ev.hdr.flags;
	fill_header(&s->ev.hdr, EXEC_STAGE_EXIT, bpf_ktime_get_ns());
	s->ev.hdr.flags = flags;
	s->ev.ppid = current_ppid();
	s->ev.error_raw = ret < 0 ? -ret : 0;
	send(s);
	bpf_map_delete_elem(&inflight, &tid);
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
