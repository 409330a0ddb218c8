/* Test helper for trace_exec: forks a child that execs a program in a chosen
 * way, waits for it, and prints one JSON line
 *   {"pid":<child pid>,"tid":<tid that called exec>,"status":<exit status>,
 *    "errno":<exec errno or 0>,"dirfd":<fd or -100>,"calledSec":..,"calledNsec":..}
 * called*: CLOCK_REALTIME just before the exec call.
 *
 * usage: exec-probe <how> <path> [argv0 argv1...]
 * <how> is "resident" or a comma-separated list of:
 *   unmapped  path and argument strings live in a fresh MAP_PRIVATE file
 *             mapping the child never touched: none of its pages is mapped
 *             when execve is entered, so bpf_probe_read_user fails there
 *             (argv's pointer array itself is resident)
 *   thread    the exec is called from a second thread, not the leader
 *   execveat  execveat(dirfd of path's folder, path's last name, ...)
 *   noargv    argv is NULL (the kernel then gives the program one empty argument)
 * The exec'd program's stdout goes to /dev/null. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static bool unmapped, in_thread, use_execveat, no_argv;
/* child → parent: the tid that calls exec, the time just before the call,
 * then errno if it fails (a successful exec closes the pipe instead) */
static int report_fd = -1;
static int dirfd_exec = AT_FDCWD;
static const char *name_exec; /* path, or its last name for execveat */
static int argc_exec;
static char **argv_exec;
static size_t *offsets; /* unmapped: offset of the name, then of each argument */
static size_t blob_size;
static int blob_fd = -1;

static void die(const char *what)
{
	perror(what);
	exit(100);
}

static void report(const void *value, size_t size)
{
	if (write(report_fd, value, size) != (ssize_t)size)
		_exit(101);
}

static void report_call(void)
{
	int tid = (int)syscall(SYS_gettid);
	report(&tid, sizeof(tid));
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	report(&now, sizeof(now));
}

static void exec_now(void)
{
	const char *name = name_exec;
	char **argv = argv_exec;
	if (unmapped) {
		/* Only pointers into the mapping are computed: nothing in it is read. */
		char *base = mmap(NULL, blob_size, PROT_READ, MAP_PRIVATE, blob_fd, 0);
		if (base == MAP_FAILED)
			die("mmap");
		argv = calloc(argc_exec + 1, sizeof(char *));
		if (!argv)
			die("calloc");
		for (int i = 0; i < argc_exec; i++)
			argv[i] = base + offsets[1 + i];
		name = base + offsets[0];
	}
	if (no_argv)
		argv = NULL;
	report_call();
	if (use_execveat)
		syscall(SYS_execveat, dirfd_exec, name, argv, environ, 0);
	else
		execv(name, argv);
	int err = errno;
	report(&err, sizeof(err));
	_exit(127);
}

static void *thread_main(void *unused)
{
	(void)unused;
	exec_now();
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: exec-probe resident|unmapped,thread,execveat,noargv <path> [argv0...]\n");
		return 2;
	}
	char *how = argv[1];
	for (char *opt = strtok(how, ","); opt; opt = strtok(NULL, ",")) {
		if (!strcmp(opt, "unmapped")) unmapped = true;
		else if (!strcmp(opt, "thread")) in_thread = true;
		else if (!strcmp(opt, "execveat")) use_execveat = true;
		else if (!strcmp(opt, "noargv")) no_argv = true;
		else if (strcmp(opt, "resident")) {
			fprintf(stderr, "exec-probe: unknown option %s\n", opt);
			return 2;
		}
	}
	name_exec = argv[2];
	argc_exec = argc - 3;
	argv_exec = argv + 3;

	if (use_execveat) {
		char *slash = strrchr(argv[2], '/');
		if (slash) {
			*slash = '\0';
			dirfd_exec = open(argv[2][0] ? argv[2] : "/", O_PATH | O_DIRECTORY);
			if (dirfd_exec < 0)
				die("open folder");
			name_exec = slash + 1;
		}
	}
	if (unmapped) {
		/* Name and arguments, NUL-separated, in a file the child maps. */
		char file[] = "/tmp/exec-probe-XXXXXX";
		blob_fd = mkstemp(file);
		if (blob_fd < 0)
			die("mkstemp");
		unlink(file);
		offsets = calloc(argc_exec + 1, sizeof(size_t));
		if (!offsets)
			die("calloc");
		for (int i = 0; i <= argc_exec; i++) {
			const char *s = i == 0 ? name_exec : argv_exec[i - 1];
			size_t n = strlen(s) + 1;
			offsets[i] = blob_size;
			if (write(blob_fd, s, n) != (ssize_t)n)
				die("write");
			blob_size += n;
		}
	}

	int pipefd[2];
	if (pipe2(pipefd, O_CLOEXEC))
		die("pipe2");
	pid_t child = fork();
	if (child < 0)
		die("fork");
	if (child == 0) {
		close(pipefd[0]);
		report_fd = pipefd[1];
		int devnull = open("/dev/null", O_WRONLY);
		if (devnull < 0 || dup2(devnull, 1) < 0)
			die("/dev/null");
		if (in_thread) {
			pthread_t thread;
			if (pthread_create(&thread, NULL, thread_main, NULL))
				die("pthread_create");
			pthread_join(thread, NULL); /* a successful exec ends this thread too */
			_exit(127);
		}
		exec_now();
	}
	close(pipefd[1]);
	int tid = 0, exec_errno = 0;
	struct timespec called;
	if (read(pipefd[0], &tid, sizeof(tid)) != sizeof(tid) ||
	    read(pipefd[0], &called, sizeof(called)) != sizeof(called))
		die("read from child");
	if (read(pipefd[0], &exec_errno, sizeof(exec_errno)) != sizeof(exec_errno))
		exec_errno = 0; /* the pipe closed on exec: it succeeded */
	int status;
	if (waitpid(child, &status, 0) < 0)
		die("waitpid");
	printf("{\"pid\":%d,\"tid\":%d,\"status\":%d,\"errno\":%d,\"dirfd\":%d,\"calledSec\":%lld,\"calledNsec\":%ld}\n",
	       child, tid, WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status), exec_errno,
	       dirfd_exec, (long long)called.tv_sec, called.tv_nsec);
	return 0;
}
