// SPDX-License-Identifier: Apache-2.0
/* trace_vfs: one record per openat / openat2 / open call, at its exit, with
 * the path as passed, flags, mode and the result. Two sets of programs, one
 * loaded (the input's `attach` key, src/inputs/trace-session.ts):
 * - fexit on the syscalls' own functions (__x64_sys_openat...: x86-64's
 *   names), where the kernel has BPF trampolines (Linux 6.1): one program
 *   per call sees its arguments, as passed, and its result together, and
 *   reads the path once, when the kernel has faulted its page in;
 * - the syscalls' tracepoints, everywhere else (this machine's 6.18 refuses
 *   fentry/fexit). Deeper functions (do_sys_openat2) would not do: they see
 *   the flags with O_LARGEFILE added and the mode cleared without O_CREAT.
 *
 * The hot path is kept cheap for high open rates: the record (header, fields
 * and a PATH_MAX path slot) lives in task-local storage, so sys_enter reads
 * the path straight into it and sys_exit sends only its used bytes; no 4 KB
 * copy through a hash map and nothing on the BPF stack. */
#include "common.bpf.h"
#include "task_filter.bpf.h"
#include "vfs.h"

RECORD_TYPE(vfs_event);

/* header.kind: which call. */
#define VFS_OPENAT 0
#define VFS_OPENAT2 1
#define VFS_OPEN 2

/* header.flags */
#define VFS_PATH_TRUNCATED 1  /* longer than PATH_MAX - 1: the call fails too */
#define VFS_PATH_UNREADABLE 2 /* neither at enter nor at exit (a bad pointer) */

#define VFS_EVENT_FIXED (sizeof(struct vfs_event) - VFS_PATH_MAX)

/* A thread's open call between its enter and exit. */
struct vfs_call {
	struct vfs_event ev;
	__u64 filename; /* user pointer, to read the path again at exit */
	__u64 ts;
	__s64 read_ret; /* bpf_probe_read_user_str() at enter */
	__u16 op;
	__u8 pending;
};

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct vfs_call);
} calls SEC(".maps");

static __always_inline int on_enter(__u16 op, const char *filename, __u32 flags, __u32 mode)
{
	if (!current_wanted())
		return 0;
	struct vfs_call *c = bpf_task_storage_get(&calls, bpf_get_current_task_btf(), 0,
						  BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!c) {
		drop_event();
		return 0;
	}
	c->ts = bpf_ktime_get_ns();
	c->op = op;
	c->filename = (__u64)filename;
	c->ev.flags = flags;
	c->ev.mode = mode;
	/* Fails when the page holding the path is not resident yet: retried at
	 * exit, when the kernel itself has faulted it in. */
	c->read_ret = bpf_probe_read_user_str(c->ev.path, VFS_PATH_MAX, filename);
	c->pending = 1;
	return 0;
}

static __always_inline int on_exit(__u16 op, long ret)
{
	struct vfs_call *c = bpf_task_storage_get(&calls, bpf_get_current_task_btf(), 0, 0);
	if (!c || !c->pending)
		return 0;
	c->pending = 0;
	if (c->op != op)
		return 0;
	long n = c->read_ret;
	if (n <= 0)
		n = bpf_probe_read_user_str(c->ev.path, VFS_PATH_MAX, (const char *)c->filename);
	__u16 hflags = 0;
	__u32 len = 0;
	if (n <= 0)
		hflags |= VFS_PATH_UNREADABLE;
	else
		len = (__u32)(n - 1); /* without the NUL */
	if (len >= VFS_PATH_MAX - 1)
		hflags |= VFS_PATH_TRUNCATED;
	len &= VFS_PATH_MAX - 1; /* a bound the verifier can see */

	fill_header(&c->ev.hdr, c->op, c->ts);
	c->ev.hdr.flags = hflags;
	c->ev.fd = (__s32)ret;
	c->ev.path_len = len;
	c->ev.reserved = 0;
	output_event(&c->ev.hdr, VFS_EVENT_FIXED + len);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_openat")
int openat_enter(struct syscall_trace_enter *ctx)
{
	return on_enter(VFS_OPENAT, (const char *)ctx->args[1], (__u32)ctx->args[2], (__u32)ctx->args[3]);
}

SEC("tracepoint/syscalls/sys_exit_openat")
int openat_exit(struct syscall_trace_exit *ctx)
{
	return on_exit(VFS_OPENAT, ctx->ret);
}

/* openat2(dfd, path, struct open_how *how, size): flags and mode are in *how. */
SEC("tracepoint/syscalls/sys_enter_openat2")
int openat2_enter(struct syscall_trace_enter *ctx)
{
	if (!current_wanted())
		return 0;
	struct open_how how = {};
	bpf_probe_read_user(&how, sizeof(how), (void *)ctx->args[2]);
	return on_enter(VFS_OPENAT2, (const char *)ctx->args[1], (__u32)how.flags, (__u32)how.mode);
}

SEC("tracepoint/syscalls/sys_exit_openat2")
int openat2_exit(struct syscall_trace_exit *ctx)
{
	return on_exit(VFS_OPENAT2, ctx->ret);
}

SEC("tracepoint/syscalls/sys_enter_open")
int open_enter(struct syscall_trace_enter *ctx)
{
	return on_enter(VFS_OPEN, (const char *)ctx->args[0], (__u32)ctx->args[1], (__u32)ctx->args[2]);
}

SEC("tracepoint/syscalls/sys_exit_open")
int open_exit(struct syscall_trace_exit *ctx)
{
	return on_exit(VFS_OPEN, ctx->ret);
}

/* The fexit programs: the syscall's registers as passed, and its result.
 * on_enter then on_exit, at once: the same task-local record as above. */
SEC("fexit/__x64_sys_openat")
int BPF_PROG(openat_fexit, struct pt_regs *regs, long ret)
{
	on_enter(VFS_OPENAT, (const char *)PT_REGS_PARM2_CORE_SYSCALL(regs),
		 (__u32)PT_REGS_PARM3_CORE_SYSCALL(regs), (__u32)PT_REGS_PARM4_CORE_SYSCALL(regs));
	return on_exit(VFS_OPENAT, ret);
}

SEC("fexit/__x64_sys_openat2")
int BPF_PROG(openat2_fexit, struct pt_regs *regs, long ret)
{
	if (!current_wanted())
		return 0;
	struct open_how how = {};
	bpf_probe_read_user(&how, sizeof(how), (void *)PT_REGS_PARM3_CORE_SYSCALL(regs));
	on_enter(VFS_OPENAT2, (const char *)PT_REGS_PARM2_CORE_SYSCALL(regs), (__u32)how.flags, (__u32)how.mode);
	return on_exit(VFS_OPENAT2, ret);
}

SEC("fexit/__x64_sys_open")
int BPF_PROG(open_fexit, struct pt_regs *regs, long ret)
{
	on_enter(VFS_OPEN, (const char *)PT_REGS_PARM1_CORE_SYSCALL(regs),
		 (__u32)PT_REGS_PARM2_CORE_SYSCALL(regs), (__u32)PT_REGS_PARM3_CORE_SYSCALL(regs));
	return on_exit(VFS_OPEN, ret);
}
