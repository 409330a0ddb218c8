/* Socket calls for the trace_bind and trace_tcp tests, one scenario per run:
 *   net-scenarios bind
 *   net-scenarios bind-unprivileged
 *   net-scenarios accept <listen-addr> <connect-addr>
 *   net-scenarios tcp-errors
 * Prints one JSON object: what the traces must report (fds, ports, errnos).
 * Exits 1 when a call does not behave as the scenario needs. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <grp.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static void fail(const char *what)
{
	fprintf(stderr, "net-scenarios: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void expect_errno(int ret, int want, const char *what)
{
	if (ret != -1 || errno != want) {
		fprintf(stderr, "net-scenarios: %s: expected errno %d, got ret %d errno %d\n", what, want, ret, errno);
		exit(1);
	}
}

/* Parses "127.0.0.1" or "::1" into a sockaddr with the given port. */
static socklen_t make_addr(const char *text, int port, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	struct sockaddr_in *in4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
	if (inet_pton(AF_INET, text, &in4->sin_addr) == 1) {
		in4->sin_family = AF_INET;
		in4->sin_port = htons(port);
		return sizeof(*in4);
	}
	if (inet_pton(AF_INET6, text, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(port);
		return sizeof(*in6);
	}
	fprintf(stderr, "net-scenarios: bad address %s\n", text);
	exit(2);
}

static int local_port(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	if (getsockname(fd, (struct sockaddr *)&ss, &len))
		fail("getsockname");
	if (ss.ss_family == AF_INET)
		return ntohs(((struct sockaddr_in *)&ss)->sin_port);
	return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
}

static int socket_for(const char *text, int type)
{
	struct sockaddr_storage ss;
	make_addr(text, 0, &ss);
	int fd = socket(ss.ss_family, type, 0);
	if (fd < 0)
		fail("socket");
	return fd;
}

static int bind_to(int fd, const char *text, int port)
{
	struct sockaddr_storage ss;
	socklen_t len = make_addr(text, port, &ss);
	return bind(fd, (struct sockaddr *)&ss, len);
}

static int connect_to(int fd, const char *text, int port)
{
	struct sockaddr_storage ss;
	socklen_t len = make_addr(text, port, &ss);
	return connect(fd, (struct sockaddr *)&ss, len);
}

/* connect() with the shortest IPv6 sockaddr the kernel takes (no scope id). */
static int connect_short(int fd, const char *text, int port)
{
	struct sockaddr_storage ss;
	socklen_t len = make_addr(text, port, &ss);
	if (ss.ss_family == AF_INET6)
		len = 24;
	return connect(fd, (struct sockaddr *)&ss, len);
}

/* A listening TCP socket on text:0; IPv6 ones also take IPv4 (mapped). */
static int listener(const char *text, int backlog, int *port)
{
	int fd = socket_for(text, SOCK_STREAM);
	int off = 0;
	if (strchr(text, ':') && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off)))
		fail("IPV6_V6ONLY");
	if (bind_to(fd, text, 0))
		fail("bind listener");
	if (listen(fd, backlog))
		fail("listen");
	*port = local_port(fd);
	return fd;
}

static int scenario_bind(void)
{
	/* Not traced: a Unix socket and a file that is not a socket. */
	int unix_fd = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un un = { .sun_family = AF_UNIX };
	snprintf(un.sun_path + 1, sizeof(un.sun_path) - 1, "net-scenarios-%d", getpid());
	if (unix_fd < 0 || bind(unix_fd, (struct sockaddr *)&un, sizeof(un)))
		fail("unix bind");
	int null_fd = open("/dev/null", O_RDONLY);
	struct sockaddr_storage ss;
	socklen_t len = make_addr("127.0.0.1", 0, &ss);
	expect_errno(bind(null_fd, (struct sockaddr *)&ss, len), ENOTSOCK, "bind on /dev/null");

	int first = socket_for("127.0.0.1", SOCK_STREAM);
	if (bind_to(first, "127.0.0.1", 0))
		fail("bind 127.0.0.1:0");
	int port = local_port(first);

	int second = socket_for("127.0.0.1", SOCK_STREAM);
	expect_errno(bind_to(second, "127.0.0.1", port), EADDRINUSE, "bind to a port in use");

	int udp6 = socket_for("::1", SOCK_DGRAM);
	if (bind_to(udp6, "::1", 0))
		fail("bind [::1]:0");

	int on_lo = socket_for("127.0.0.1", SOCK_STREAM);
	if (setsockopt(on_lo, SOL_SOCKET, SO_BINDTODEVICE, "lo", 3))
		fail("SO_BINDTODEVICE lo");
	if (bind_to(on_lo, "127.0.0.1", 0))
		fail("bind on lo");

	printf("{\"pid\":%d,\"uid\":%u,\"gid\":%u,\"port_in_use\":%d,\"lo_ifindex\":%u}\n",
	       getpid(), getuid(), getgid(), port, if_nametoindex("lo"));
	return 0;
}

static int scenario_bind_unprivileged(void)
{
	/* Port 80 needs privilege whatever the host's sysctl says (containers
	 * often set it to 0): set it in a network namespace of our own. */
	if (unshare(CLONE_NEWNET))
		fail("unshare(CLONE_NEWNET)");
	int sysctl = open("/proc/sys/net/ipv4/ip_unprivileged_port_start", O_WRONLY);
	if (sysctl < 0 || write(sysctl, "1024", 4) != 4)
		fail("setting ip_unprivileged_port_start");
	close(sysctl);
	/* nobody:nogroup, so the privileged port is refused. */
	if (setgroups(0, NULL) || setgid(65534) || setuid(65534))
		fail("dropping to uid 65534");
	/* 0.0.0.0: this namespace's lo is down, so 127.0.0.1 is not local here. */
	int fd = socket_for("0.0.0.0", SOCK_STREAM);
	expect_errno(bind_to(fd, "0.0.0.0", 80), EACCES, "bind to a privileged port");
	printf("{\"pid\":%d,\"uid\":%u,\"gid\":%u,\"port\":80}\n", getpid(), getuid(), getgid());
	return 0;
}

/* A listener on listen_addr; three clients to connect_addr (the third with
 * a 24-byte IPv6 sockaddr), accepted with accept(sockaddr), accept(NULL)
 * and accept4(NULL). */
static int scenario_accept(const char *listen_addr, const char *connect_addr)
{
	int port;
	int backlog = 5;
	int lfd = listener(listen_addr, backlog, &port);
	int clients[3], client_ports[3], accepted[3];
	for (int i = 0; i < 3; i++) {
		clients[i] = socket_for(connect_addr, SOCK_STREAM);
		if ((i == 2 ? connect_short : connect_to)(clients[i], connect_addr, port))
			fail("connect");
		client_ports[i] = local_port(clients[i]);
	}
	struct sockaddr_storage peer;
	socklen_t peer_len = sizeof(peer);
	accepted[0] = accept(lfd, (struct sockaddr *)&peer, &peer_len);
	accepted[1] = accept(lfd, NULL, NULL);
	accepted[2] = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	for (int i = 0; i < 3; i++)
		if (accepted[i] < 0)
			fail("accept");
	printf("{\"pid\":%d,\"listen_fd\":%d,\"backlog\":%d,\"port\":%d,"
	       "\"client_fds\":[%d,%d,%d],\"client_ports\":[%d,%d,%d],\"accepted_fds\":[%d,%d,%d]}\n",
	       getpid(), lfd, backlog, port, clients[0], clients[1], clients[2],
	       client_ports[0], client_ports[1], client_ports[2], accepted[0], accepted[1], accepted[2]);
	return 0;
}

static int scenario_tcp_errors(void)
{
	/* A bound port nobody listens on: connecting to it is refused. */
	int holder = socket_for("127.0.0.1", SOCK_STREAM);
	if (bind_to(holder, "127.0.0.1", 0))
		fail("bind holder");
	int closed_port = local_port(holder);
	int refused = socket_for("127.0.0.1", SOCK_STREAM);
	expect_errno(connect_to(refused, "127.0.0.1", closed_port), ECONNREFUSED, "connect to a closed port");

	int port;
	int backlog = 3;
	int lfd = listener("127.0.0.1", backlog, &port);
	if (fcntl(lfd, F_SETFL, O_NONBLOCK))
		fail("O_NONBLOCK");
	expect_errno(accept4(lfd, NULL, NULL, SOCK_NONBLOCK), EAGAIN, "accept4 with nothing pending");

	int nonblocking = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	expect_errno(connect_to(nonblocking, "127.0.0.1", port), EINPROGRESS, "non-blocking connect");

	/* Not traced: UDP. */
	int udp = socket_for("127.0.0.1", SOCK_DGRAM);
	if (connect_to(udp, "127.0.0.1", port))
		fail("udp connect");
	expect_errno(accept(udp, NULL, NULL), EOPNOTSUPP, "accept on UDP");

	int connected = socket_for("127.0.0.1", SOCK_STREAM);
	if (connect_to(connected, "127.0.0.1", port))
		fail("connect");
	expect_errno(listen(connected, 1), EINVAL, "listen on a connected socket");

	printf("{\"pid\":%d,\"refused_fd\":%d,\"closed_port\":%d,\"listen_fd\":%d,\"backlog\":%d,\"port\":%d,"
	       "\"nonblocking_fd\":%d,\"connected_fd\":%d}\n",
	       getpid(), refused, closed_port, lfd, backlog, port, nonblocking, connected);
	return 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc == 2 && !strcmp(argv[1], "bind"))
		return scenario_bind();
	if (argc == 2 && !strcmp(argv[1], "bind-unprivileged"))
		return scenario_bind_unprivileged();
	if (argc == 4 && !strcmp(argv[1], "accept"))
		return scenario_accept(argv[2], argv[3]);
	if (argc == 2 && !strcmp(argv[1], "tcp-errors"))
		return scenario_tcp_errors();
	fprintf(stderr, "usage: net-scenarios bind | bind-unprivileged | accept <listen-addr> <connect-addr> | tcp-errors\n");
	return 2;
}
