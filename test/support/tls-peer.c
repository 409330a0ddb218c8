/* A TLS server and client over loopback for trace_openssl's tests, on
 * OpenSSL's shared libssl loaded with dlopen("libssl.so.3") (or the path in
 * TLS_PEER_LIBSSL): built without OpenSSL's headers or its development
 * symlink libssl.so, as on a stock host (the few prototypes are declared
 * here). Each call it makes is printed with its SSL object and result, so
 * that the test knows which records must come.
 *
 *   tls-peer server CERT KEY      listens on 127.0.0.1, prints "port N", and
 *                                 serves each connection in a thread:
 *                                 SSL_accept, then echoes what SSL_read_ex
 *                                 gets with SSL_write until the peer's
 *                                 close_notify, then SSL_shutdown.
 *   tls-peer client PORT SCENARIO prints "ready" once libssl is mapped, waits
 *                                 for a byte on stdin, runs the scenario:
 *     basic   SSL_connect; SSL_write 100 bytes; SSL_write_ex 200; the echoes
 *             with SSL_read_ex and SSL_read; SSL_shutdown twice (0, then 1).
 *     nested  a second connection's whole SSL_do_handshake inside the
 *             first's SSL_connect (from its info callback), then both shut down.
 *     implicit SSL_write 50 on a connection whose handshake nobody started
 *             (SSL_set_connect_state only): the write does the handshake;
 *             then the echo with SSL_read and SSL_shutdown twice.
 *     abandon an SSL_read left by siglongjmp (a timer's signal while it
 *             waits), then SSL_write 10 and an SSL_read that gets the echo;
 *             prints "window NS": the monotonic time around that last read.
 *   tls-peer bench N              N calls of SSL_do_handshake on an SSL with no
 *                                 connection (they return -1 at once); prints
 *                                 "ns_per_call X" (the cost of a traced call).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dlfcn.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

typedef struct ssl_st SSL;
typedef struct ssl_ctx_st SSL_CTX;
typedef struct ssl_method_st SSL_METHOD;

#define SSL_FILETYPE_PEM 1
#define SSL_CB_HANDSHAKE_DONE 0x20

static const SSL_METHOD *(*TLS_client_method)(void);
static const SSL_METHOD *(*TLS_server_method)(void);
static SSL_CTX *(*SSL_CTX_new)(const SSL_METHOD *);
static int (*SSL_CTX_use_certificate_file)(SSL_CTX *, const char *, int);
static int (*SSL_CTX_use_PrivateKey_file)(SSL_CTX *, const char *, int);
static void (*SSL_CTX_set_info_callback)(SSL_CTX *, void (*)(const SSL *, int, int));
static SSL *(*SSL_new)(SSL_CTX *);
static int (*SSL_set_fd)(SSL *, int);
static void (*SSL_set_connect_state)(SSL *);
static int (*SSL_connect)(SSL *);
static int (*SSL_accept)(SSL *);
static int (*SSL_do_handshake)(SSL *);
static int (*SSL_read)(SSL *, void *, int);
static int (*SSL_read_ex)(SSL *, void *, size_t, size_t *);
static int (*SSL_write)(SSL *, const void *, int);
static int (*SSL_write_ex)(SSL *, const void *, size_t, size_t *);
static int (*SSL_shutdown)(SSL *);
static void (*SSL_free)(SSL *);
static void (*ERR_clear_error)(void);

static void die(const char *what)
{
	fprintf(stderr, "tls-peer: %s\n", what);
	exit(1);
}

#define LOAD(lib, name)                                                \
	do {                                                           \
		*(void **)&name = dlsym(lib, #name);                   \
		if (!name)                                             \
			die("no " #name " in libssl");                 \
	} while (0)

static void load_libssl(void)
{
	const char *path = getenv("TLS_PEER_LIBSSL");
	void *lib = dlopen(path && *path ? path : "libssl.so.3", RTLD_NOW | RTLD_GLOBAL);
	if (!lib)
		die(dlerror());
	LOAD(lib, TLS_client_method);
	LOAD(lib, TLS_server_method);
	LOAD(lib, SSL_CTX_new);
	LOAD(lib, SSL_CTX_use_certificate_file);
	LOAD(lib, SSL_CTX_use_PrivateKey_file);
	LOAD(lib, SSL_CTX_set_info_callback);
	LOAD(lib, SSL_new);
	LOAD(lib, SSL_set_fd);
	LOAD(lib, SSL_set_connect_state);
	LOAD(lib, SSL_connect);
	LOAD(lib, SSL_accept);
	LOAD(lib, SSL_do_handshake);
	LOAD(lib, SSL_read);
	LOAD(lib, SSL_read_ex);
	LOAD(lib, SSL_write);
	LOAD(lib, SSL_write_ex);
	LOAD(lib, SSL_shutdown);
	LOAD(lib, SSL_free);
	LOAD(lib, ERR_clear_error); /* libcrypto's, reached through libssl */
}

static pthread_mutex_t out_lock = PTHREAD_MUTEX_INITIALIZER;

/* One line per call: "call FUNCTION SSL RET". */
static void note(const char *function, const SSL *ssl, long ret)
{
	pthread_mutex_lock(&out_lock);
	printf("call %s %lu %ld\n", function, (unsigned long)ssl, ret);
	fflush(stdout);
	pthread_mutex_unlock(&out_lock);
}

static void *serve(void *arg)
{
	SSL *ssl = arg;
	char buf[16384];
	size_t n;
	note("SSL_accept", ssl, SSL_accept(ssl));
	for (;;) {
		int ok = SSL_read_ex(ssl, buf, sizeof(buf), &n);
		note("SSL_read_ex", ssl, ok == 1 ? (long)n : 0);
		if (ok != 1)
			break;
		note("SSL_write", ssl, SSL_write(ssl, buf, (int)n));
	}
	note("SSL_shutdown", ssl, SSL_shutdown(ssl));
	pthread_mutex_lock(&out_lock);
	printf("done %lu\n", (unsigned long)ssl);
	fflush(stdout);
	pthread_mutex_unlock(&out_lock);
	return NULL;
}

static int run_server(const char *cert, const char *key)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	if (!ctx || SSL_CTX_use_certificate_file(ctx, cert, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1)
		die("server certificate or key refused");
	int s = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	if (bind(s, (struct sockaddr *)&a, sizeof(a)) || listen(s, 16) || getsockname(s, (struct sockaddr *)&a, &len))
		die("listen");
	printf("port %d\n", ntohs(a.sin_port));
	fflush(stdout);
	for (;;) {
		int fd = accept(s, NULL, NULL);
		if (fd < 0)
			continue;
		SSL *ssl = SSL_new(ctx);
		SSL_set_fd(ssl, fd);
		pthread_t t;
		pthread_create(&t, NULL, serve, ssl);
		pthread_detach(t);
	}
	return 0;
}

static int port;
static SSL_CTX *client_ctx;

static SSL *connection(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)))
		die("connect");
	SSL *ssl = SSL_new(client_ctx);
	SSL_set_fd(ssl, fd);
	return ssl;
}

static void shut_down(SSL *ssl)
{
	note("SSL_shutdown", ssl, SSL_shutdown(ssl)); /* close_notify sent: 0 */
	note("SSL_shutdown", ssl, SSL_shutdown(ssl)); /* the peer's read: 1 */
}

static void basic(void)
{
	char out[200], in[16384];
	size_t n;
	memset(out, 'x', sizeof(out));
	SSL *ssl = connection();
	note("SSL_connect", ssl, SSL_connect(ssl));
	note("SSL_write", ssl, SSL_write(ssl, out, 100));
	int ok = SSL_write_ex(ssl, out, 200, &n);
	note("SSL_write_ex", ssl, ok == 1 ? (long)n : 0);
	ok = SSL_read_ex(ssl, in, sizeof(in), &n);
	note("SSL_read_ex", ssl, ok == 1 ? (long)n : 0);
	note("SSL_read", ssl, SSL_read(ssl, in, sizeof(in)));
	shut_down(ssl);
}

static void implicit(void)
{
	char in[16384];
	SSL *ssl = connection();
	SSL_set_connect_state(ssl);
	note("SSL_write", ssl, SSL_write(ssl, "implicit handshake, then these 50 bytes ..........", 50));
	note("SSL_read", ssl, SSL_read(ssl, in, sizeof(in)));
	shut_down(ssl);
}

static SSL *inner;

/* At the end of the first connection's handshake, inside its SSL_connect:
 * the second connection's whole handshake. */
static void on_info(const SSL *ssl, int where, int ret)
{
	(void)ret;
	if (!(where & SSL_CB_HANDSHAKE_DONE) || inner)
		return;
	inner = connection();
	SSL_set_connect_state(inner);
	note("SSL_do_handshake", inner, SSL_do_handshake(inner));
	(void)ssl;
}

static void nested(void)
{
	SSL_CTX_set_info_callback(client_ctx, on_info);
	SSL *outer = connection();
	note("SSL_connect", outer, SSL_connect(outer));
	SSL_CTX_set_info_callback(client_ctx, NULL);
	shut_down(inner);
	shut_down(outer);
}

static sigjmp_buf left;

static void on_timer(int sig)
{
	(void)sig;
	siglongjmp(left, 1);
}

static unsigned long long monotonic_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1000000000ULL + t.tv_nsec;
}

static void abandon(void)
{
	char in[16384];
	SSL *ssl = connection();
	note("SSL_connect", ssl, SSL_connect(ssl));
	struct sigaction sa = { .sa_handler = on_timer }; /* no SA_RESTART */
	sigaction(SIGALRM, &sa, NULL);
	if (!sigsetjmp(left, 1)) {
		struct itimerval in_a_while = { .it_value = { .tv_usec = 200000 } };
		setitimer(ITIMER_REAL, &in_a_while, NULL);
		SSL_read(ssl, in, sizeof(in)); /* nothing comes: left by the signal */
		die("the abandoned SSL_read returned");
	}
	note("SSL_write", ssl, SSL_write(ssl, "0123456789", 10));
	unsigned long long before = monotonic_ns();
	int got = SSL_read(ssl, in, sizeof(in));
	unsigned long long after = monotonic_ns();
	note("SSL_read", ssl, got);
	printf("window %llu\n", after - before);
	shut_down(ssl);
}

static void bench(long calls)
{
	SSL *ssl = SSL_new(SSL_CTX_new(TLS_client_method()));
	unsigned long long start = monotonic_ns();
	for (long i = 0; i < calls; i++) {
		SSL_do_handshake(ssl); /* no connection type set: -1 at once */
		if ((i & 15) == 15)
			ERR_clear_error();
	}
	printf("ns_per_call %.1f\n", (double)(monotonic_ns() - start) / calls);
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	load_libssl();
	if (argc == 4 && !strcmp(argv[1], "server"))
		return run_server(argv[2], argv[3]);
	if (argc == 3 && !strcmp(argv[1], "bench")) {
		printf("ready\n");
		char go;
		if (read(0, &go, 1) != 1)
			return 1;
		bench(atol(argv[2]));
		return 0;
	}
	if (argc != 4 || strcmp(argv[1], "client"))
		die("usage: tls-peer server CERT KEY | client PORT basic|implicit|nested|abandon | bench N");
	port = atoi(argv[2]);
	client_ctx = SSL_CTX_new(TLS_client_method());
	printf("ready\n");
	char go;
	if (read(0, &go, 1) != 1)
		return 1;
	printf("pid %d\n", getpid());
	if (!strcmp(argv[3], "basic"))
		basic();
	else if (!strcmp(argv[3], "implicit"))
		implicit();
	else if (!strcmp(argv[3], "nested"))
		nested();
	else if (!strcmp(argv[3], "abandon"))
		abandon();
	else
		die("unknown scenario");
	return 0;
}
