// SPDX-License-Identifier: Apache-2.0
/* Load generator for the benchmark: makes COUNT events of one kind at RATE
 * events/s (0 = as fast as it can) and prints one JSON line with what it did.
 *
 *   loadgen KIND COUNT RATE      KIND: signal | open | exec | connect | malloc
 *
 * The events are made by a forked worker whose pid is reported: the worker
 * does nothing but the job (no stdio, no allocation outside the job), so every
 * record a trace sees from that pid is one the job offered. Its result comes
 * back to the parent over a pipe as raw numbers.
 *
 * Pacing: at each 1 ms tick the worker catches up to rate * elapsed events in
 * one burst, then sleeps to the next tick (an absolute deadline, so sleeps
 * that run long are made up for, not accumulated).
 *
 * Records per event (what a trace should emit for one event):
 *   signal  kill(getpid(), 0)                    trace_signal  1
 *   open    openat() of a missing path           trace_vfs     1
 *   exec    fork + execve("/bin/true") + wait    trace_exec    2 (enter, exit; ppid = worker)
 *   connect connect() to a closed loopback port  trace_tcp     1
 *   malloc  malloc() then free()                 trace_malloc  2
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MISSING_PATH "/nonexistent/ebpf-forward-bench/missing"

enum kind { K_SIGNAL, K_OPEN, K_EXEC, K_CONNECT, K_MALLOC };

static const struct {
	const char *name;
	int records_per_event;
} kinds[] = {
	[K_SIGNAL] = { "signal", 1 },
	[K_OPEN] = { "open", 1 },
	[K_EXEC] = { "exec", 2 },
	[K_CONNECT] = { "connect", 1 },
	[K_MALLOC] = { "malloc", 2 },
};

struct result {
	uint64_t done;        /* events made */
	uint64_t failed;      /* calls that did not behave as the kind expects */
	int64_t elapsed_ns;
	int64_t cpu_ns;       /* the worker's own CPU time */
	int64_t children_cpu_ns;
};

/* Through a volatile pointer so the compiler can't pair up and drop the
 * malloc/free calls: each must reach the C library's uprobed functions. */
static void *(*volatile malloc_fn)(size_t) = malloc;
static void (*volatile free_fn)(void *) = free;

static struct sockaddr_in closed_port;
static pid_t self_pid;

static int64_t ns_of(const struct timespec *t)
{
	return (int64_t)t->tv_sec * 1000000000 + t->tv_nsec;
}

static int64_t now_ns(clockid_t clock)
{
	struct timespec t;
	clock_gettime(clock, &t);
	return ns_of(&t);
}

/* One event; returns 0 if it went as expected. */
static int make_event(enum kind kind)
{
	switch (kind) {
	case K_SIGNAL:
		return kill(self_pid, 0);
	case K_OPEN: {
		int fd = openat(AT_FDCWD, MISSING_PATH, O_RDONLY);
		if (fd >= 0) {
			close(fd);
			return -1;
		}
		return errno == ENOENT ? 0 : -1;
	}
	case K_EXEC: {
		pid_t child = fork();
		if (child == 0) {
			char *argv[] = { "true", NULL };
			char *envp[] = { NULL };
			execve("/bin/true", argv, envp);
			_exit(127);
		}
		if (child < 0)
			return -1;
		int status;
		while (waitpid(child, &status, 0) < 0 && errno == EINTR)
			;
		return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
	}
	case K_CONNECT: {
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		if (fd < 0)
			return -1;
		int rc = connect(fd, (struct sockaddr *)&closed_port, sizeof(closed_port));
		int err = errno;
		close(fd);
		return rc < 0 && err == ECONNREFUSED ? 0 : -1;
	}
	case K_MALLOC: {
		void *p = malloc_fn(64);
		if (!p)
			return -1;
		free_fn(p);
		return 0;
	}
	}
	return -1;
}

static void run_job(enum kind kind, uint64_t count, uint64_t rate, struct result *r)
{
	const int64_t tick = 1000000; /* 1 ms */
	int64_t start = now_ns(CLOCK_MONOTONIC);
	int64_t cpu_start = now_ns(CLOCK_PROCESS_CPUTIME_ID);
	uint64_t done = 0, failed = 0;

	if (rate == 0) {
		for (; done < count; done++)
			failed += make_event(kind) != 0;
	} else {
		while (done < count) {
			int64_t elapsed = now_ns(CLOCK_MONOTONIC) - start;
			/* rate * elapsed / 1e9 without overflow for any sane rate */
			uint64_t due = (uint64_t)((__int128)rate * elapsed / 1000000000);
			if (due > count)
				due = count;
			for (; done < due; done++)
				failed += make_event(kind) != 0;
			if (done >= count)
				break;
			int64_t next = start + (elapsed / tick + 1) * tick;
			struct timespec at = { .tv_sec = next / 1000000000, .tv_nsec = next % 1000000000 };
			while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &at, NULL) == EINTR)
				;
		}
	}

	r->done = done;
	r->failed = failed;
	r->elapsed_ns = now_ns(CLOCK_MONOTONIC) - start;
	r->cpu_ns = now_ns(CLOCK_PROCESS_CPUTIME_ID) - cpu_start;
	struct rusage ru;
	getrusage(RUSAGE_CHILDREN, &ru);
	r->children_cpu_ns = ((int64_t)ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000000 +
			     ((int64_t)ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000;
}

/* A loopback port nothing listens on: bound to an ephemeral port, then let go. */
static int find_closed_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		return -1;
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || getsockname(fd, (struct sockaddr *)&a, &len) < 0) {
		close(fd);
		return -1;
	}
	close(fd);
	closed_port = a;
	return 0;
}

static int write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int usage(void)
{
	fprintf(stderr, "usage: loadgen signal|open|exec|connect|malloc COUNT RATE  (RATE events/s, 0 = full speed)\n");
	return 2;
}

static int parse_u64(const char *s, uint64_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s || *end || s[0] == '-')
		return -1;
	*out = v;
	return 0;
}

int main(int argc, char **argv)
{
	if (argc != 4)
		return usage();
	int kind = -1;
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (strcmp(argv[1], kinds[i].name) == 0)
			kind = (int)i;
	uint64_t count, rate;
	if (kind < 0 || parse_u64(argv[2], &count) || parse_u64(argv[3], &rate))
		return usage();
	if (kind == K_CONNECT && find_closed_port() < 0) {
		fprintf(stderr, "loadgen: no free loopback port: %s\n", strerror(errno));
		return 1;
	}

	int pipefd[2];
	if (pipe(pipefd) < 0) {
		perror("loadgen: pipe");
		return 1;
	}
	pid_t worker = fork();
	if (worker < 0) {
		perror("loadgen: fork");
		return 1;
	}
	if (worker == 0) {
		close(pipefd[0]);
		self_pid = getpid();
		struct result r;
		run_job((enum kind)kind, count, rate, &r);
		_exit(write_all(pipefd[1], &r, sizeof(r)) == 0 ? 0 : 1);
	}
	close(pipefd[1]);
	struct result r;
	size_t got = 0;
	while (got < sizeof(r)) {
		ssize_t n = read(pipefd[0], (char *)&r + got, sizeof(r) - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	int status = 0;
	waitpid(worker, &status, 0);
	if (got != sizeof(r) || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr, "loadgen: the worker failed\n");
		return 1;
	}
	double elapsed = r.elapsed_ns / 1e9;
	printf("{\"kind\":\"%s\",\"pid\":%d,\"events\":%llu,\"failed\":%llu,\"records_per_event\":%d,"
	       "\"offered\":%llu,\"rate\":%llu,\"elapsed_s\":%.6f,\"achieved_rate\":%.1f,"
	       "\"cpu_s\":%.6f,\"children_cpu_s\":%.6f}\n",
	       kinds[kind].name, (int)worker, (unsigned long long)r.done, (unsigned long long)r.failed,
	       kinds[kind].records_per_event, (unsigned long long)(r.done * kinds[kind].records_per_event),
	       (unsigned long long)rate, elapsed, elapsed > 0 ? r.done / elapsed : 0.0, r.cpu_ns / 1e9,
	       r.children_cpu_ns / 1e9);
	return r.failed ? 3 : 0;
}
