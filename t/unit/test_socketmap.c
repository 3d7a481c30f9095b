/*
 * test_socketmap.c - the socketmap: client (transport/socketmap.c) against
 * a forked server written to socketmap_table(5), on a loopback TCP port or
 * a UNIX-domain socket.
 *
 * The server follows a script: per connection, a list of exchanges, each
 * the exact request netstring it must receive and the raw bytes it sends
 * back (or a pause, or a close).  It exits non-zero when a request differs,
 * so the wire format is checked too.  Cases: OK / NOTFOUND / TEMP /
 * TIMEOUT / PERM / unknown status, one connection for several lookups, a
 * server that closed the connection (retried once, and only once), a
 * refused connection, a silent server (bounded by socketmap_timeout and by
 * the delivery deadline), garbage, a missing ',', a NUL byte, an
 * oversized reply, and the endpoint syntax.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "socketmap.h"

#define CLOSE_NOW "<close>"  /* reply: close the connection instead */
#define SILENT	  "<silent>" /* reply: say nothing for 3 seconds */

struct exchange {
	const char *request; /* NULL ends the connection's script */
	const char *reply;   /* raw bytes */
	size_t reply_len;    /* 0: strlen(reply) */
};

struct server {
	pid_t pid;
	char arg[200]; /* "inet:127.0.0.1:PORT:postfix" */
};

static int
read_request(int fd, const char *want)
{
	size_t len = strlen(want);
	char buf[512];
	size_t got = 0;

	while (got < len) {
		ssize_t n = read(fd, buf + got, len - got);

		if (n <= 0)
			return -1;
		got += (size_t)n;
	}
	return memcmp(buf, want, len) == 0 ? 0 : -1;
}

/* Child: serve nconn scripted connections, then wait to be reaped. */
static void
serve(int lfd, const struct exchange *const *conns, size_t nconn)
{
	for (size_t c = 0; c < nconn; c++) {
		int fd = accept(lfd, NULL, NULL);

		if (fd < 0)
			_exit(2);
		for (const struct exchange *e = conns[c]; e->request != NULL; e++) {
			if (read_request(fd, e->request) != 0)
				_exit(3);
			if (strcmp(e->reply, CLOSE_NOW) == 0)
				break;
			if (strcmp(e->reply, SILENT) == 0) {
				sleep(3);
				break;
			}
			if (write(fd, e->reply, e->reply_len ? e->reply_len : strlen(e->reply)) < 0)
				_exit(4);
		}
		usleep(100000);
		close(fd);
	}
	_exit(0);
}

static void
start_inet(struct server *s, const struct exchange *const *conns, size_t nconn)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	int lfd = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(lfd >= 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(lfd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(listen(lfd, 8), 0);
	assert_int_equal(getsockname(lfd, (struct sockaddr *)&sin, &len), 0);
	snprintf(s->arg, sizeof(s->arg), "inet:127.0.0.1:%u:postfix", ntohs(sin.sin_port));
	s->pid = fork();
	assert_true(s->pid >= 0);
	if (s->pid == 0)
		serve(lfd, conns, nconn);
	close(lfd);
}

/* The server's exit status: 0 when every request was as scripted. */
static int
stop_server(struct server *s)
{
	int status;

	assert_int_equal(waitpid(s->pid, &status, 0), s->pid);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 100;
}

static struct socketmap_settings settings = { 5, 100000, 0 };

static struct socketmap *
open_map(const char *arg)
{
	struct socketmap *sm;
	char err[512];

	if (socketmap_open(arg, &settings, &sm, err, sizeof(err)) != 0)
		fail_msg("open %s: %s", arg, err);
	return sm;
}

/* One lookup; returns its status, with the value or the error in out. */
static int
ask(struct socketmap *sm, const char *key, char *out, size_t outlen)
{
	char *value = NULL;
	int rc = socketmap_lookup(sm, key, &value, out, outlen);

	if (rc == 1) {
		snprintf(out, outlen, "%s", value);
		free(value);
	}
	return rc;
}

static void
test_statuses(void **state)
{
	static const struct exchange c1[] = {
		{ "19:postfix example.com,", "47:OK secure match=mx1.example.com:mx2.example.com,",
		    0 },
		{ "20:postfix .example.com,", "9:NOTFOUND ,", 0 },
		{ "18:postfix other.test,", "27:TEMP resolver not ready yet,", 0 },
		{ "18:postfix other.test,", "16:TIMEOUT dns slow,", 0 },
		{ "18:postfix other.test,", "11:PERM no\x01way,", 0 },
		{ "18:postfix other.test,", "11:MAYBE later,", 0 },
		{ "18:postfix other.test,", "2:OK,", 0 }, { NULL, NULL, 0 }
	};
	static const struct exchange *const conns[] = { c1 };
	struct server srv;
	struct socketmap *sm;
	char out[512];

	(void)state;
	start_inet(&srv, conns, 1);
	sm = open_map(srv.arg);
	assert_int_equal(ask(sm, "example.com", out, sizeof(out)), 1);
	assert_string_equal(out, "secure match=mx1.example.com:mx2.example.com");
	assert_int_equal(ask(sm, ".example.com", out, sizeof(out)), 0);
	assert_int_equal(ask(sm, "other.test", out, sizeof(out)), -1);
	assert_string_equal(out, "socketmap server temporary error: resolver not ready yet");
	assert_int_equal(ask(sm, "other.test", out, sizeof(out)), -1);
	assert_string_equal(out, "socketmap server timeout error: dns slow");
	assert_int_equal(ask(sm, "other.test", out, sizeof(out)), -1);
	assert_string_equal(out, "socketmap server permanent error: no?way");
	assert_int_equal(ask(sm, "other.test", out, sizeof(out)), -1);
	assert_string_equal(out, "socketmap server unknown error: MAYBE later");
	/* "OK" without a value: found, empty (the policy parser refuses it). */
	assert_int_equal(ask(sm, "other.test", out, sizeof(out)), 1);
	assert_string_equal(out, "");
	socketmap_close(sm);
	assert_int_equal(stop_server(&srv), 0);
}

static void
test_reconnect_once(void **state)
{
	static const struct exchange c1[] = { { "14:postfix a.test,", "9:NOTFOUND ,", 0 },
		{ "14:postfix b.test,", CLOSE_NOW, 0 }, { NULL, NULL, 0 } };
	static const struct exchange c2[] = { { "14:postfix b.test,", "6:OK may,", 0 },
		{ "14:postfix c.test,", CLOSE_NOW, 0 }, { NULL, NULL, 0 } };
	static const struct exchange c3[] = { { "14:postfix c.test,", CLOSE_NOW, 0 },
		{ NULL, NULL, 0 } };
	static const struct exchange *const conns[] = { c1, c2, c3 };
	struct server srv;
	struct socketmap *sm;
	char out[512];

	(void)state;
	start_inet(&srv, conns, 3);
	sm = open_map(srv.arg);
	assert_int_equal(ask(sm, "a.test", out, sizeof(out)), 0);
	/* The server closed: one new connection, which answers. */
	assert_int_equal(ask(sm, "b.test", out, sizeof(out)), 1);
	assert_string_equal(out, "may");
	/* Closed twice in a row: an error, not "not found". */
	assert_int_equal(ask(sm, "c.test", out, sizeof(out)), -1);
	assert_string_equal(out, "unexpected disconnect");
	socketmap_close(sm);
	assert_int_equal(stop_server(&srv), 0);
}

static void
test_bad_replies(void **state)
{
	static const struct exchange garbage[] = {
		{ "14:postfix a.test,", "HTTP/1.0 200 OK\r\n\r\n", 0 }, { NULL, NULL, 0 }
	};
	static const struct exchange nocomma[] = { { "14:postfix a.test,", "6:OK may;", 0 },
		{ NULL, NULL, 0 } };
	static const struct exchange nul[] = { { "14:postfix a.test,", "11:OK secure\0x,", 15 },
		{ NULL, NULL, 0 } };
	static const struct exchange huge[] = { { "14:postfix a.test,", "100001:OK ", 0 },
		{ NULL, NULL, 0 } };
	static const struct exchange nodigits[] = { { "14:postfix a.test,", ":OK,", 0 },
		{ NULL, NULL, 0 } };
	static const struct {
		const struct exchange *script;
		const char *want;
	} cases[] = {
		{ garbage, "input format error (the reply is not a netstring)" },
		{ nocomma, "input format error (the reply is not a netstring)" },
		{ nul, "input format error (a NUL byte in the reply)" },
		{ huge, "input exceeds size limit (socketmap_max_reply = 100000)" },
		{ nodigits, "input format error (the reply is not a netstring)" },
	};
	char out[512];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct exchange *const conns[] = { cases[i].script };
		struct server srv;
		struct socketmap *sm;

		start_inet(&srv, conns, 1);
		sm = open_map(srv.arg);
		assert_int_equal(ask(sm, "a.test", out, sizeof(out)), -1);
		assert_string_equal(out, cases[i].want);
		socketmap_close(sm);
		assert_int_equal(stop_server(&srv), 0);
	}
}

static void
test_reply_limit_exact(void **state)
{
	static char reply[2000];
	static struct exchange c1[] = { { "14:postfix a.test,", reply, 0 }, { NULL, NULL, 0 } };
	static const struct exchange *const conns[] = { c1 };
	struct socketmap_settings small = { 5, 1000, 0 };
	struct server srv;
	struct socketmap *sm;
	char value[1100];
	char err[512];
	char *got;

	(void)state;
	memset(value, 'x', 997);
	value[997] = 0;
	snprintf(reply, sizeof(reply), "1000:OK %s,", value);
	start_inet(&srv, conns, 1);
	assert_int_equal(socketmap_open(srv.arg, &small, &sm, err, sizeof(err)), 0);
	assert_int_equal(socketmap_lookup(sm, "a.test", &got, err, sizeof(err)), 1);
	assert_int_equal(strlen(got), 997);
	free(got);
	socketmap_close(sm);
	assert_int_equal(stop_server(&srv), 0);
}

static void
test_timeouts(void **state)
{
	static const struct exchange c1[] = { { "14:postfix a.test,", SILENT, 0 },
		{ NULL, NULL, 0 } };
	static const struct exchange *const conns[] = { c1 };
	struct socketmap_settings one = { 1, 100000, 0 };
	struct server srv;
	struct socketmap *sm;
	char err[512];
	char *value;
	int64_t t0;

	(void)state;
	start_inet(&srv, conns, 1);
	assert_int_equal(socketmap_open(srv.arg, &one, &sm, err, sizeof(err)), 0);
	t0 = now_ms();
	assert_int_equal(socketmap_lookup(sm, "a.test", &value, err, sizeof(err)), -1);
	assert_true(now_ms() - t0 >= 900 && now_ms() - t0 < 2500);
	assert_string_equal(err, "time limit exceeded (socketmap_timeout = 1s)");
	socketmap_close(sm);
	assert_int_equal(stop_server(&srv), 0);

	/* The delivery deadline cuts a longer socketmap_timeout short. */
	start_inet(&srv, conns, 1);
	one.timeout_s = 100;
	one.deadline_ms = now_ms() + 500;
	assert_int_equal(socketmap_open(srv.arg, &one, &sm, err, sizeof(err)), 0);
	t0 = now_ms();
	assert_int_equal(socketmap_lookup(sm, "a.test", &value, err, sizeof(err)), -1);
	assert_true(now_ms() - t0 < 1500);
	assert_non_null(strstr(err, "time limit exceeded"));
	socketmap_close(sm);
	assert_int_equal(stop_server(&srv), 0);
}

static void
test_refused(void **state)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct socketmap *sm;
	char arg[100];
	char out[512];

	(void)state;
	/* A port that was just free: bound, never listened on, closed. */
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	close(fd);
	snprintf(arg, sizeof(arg), "inet:[127.0.0.1]:%u:postfix", ntohs(sin.sin_port));
	sm = open_map(arg);
	assert_int_equal(ask(sm, "a.test", out, sizeof(out)), -1);
	assert_non_null(strstr(out, "connect to 127.0.0.1:"));
	assert_non_null(strstr(out, "Connection refused"));
	socketmap_close(sm);
}

static void
test_unix_socket(void **state)
{
	static const struct exchange c1[] = { { "13:tls a.example,", "10:OK encrypt,", 0 },
		{ NULL, NULL, 0 } };
	static const struct exchange *const conns[] = { c1 };
	struct sockaddr_un sun;
	struct socketmap *sm;
	struct server srv;
	char dir[] = "/tmp/test_socketmap.XXXXXX";
	char arg[200];
	char out[512];
	int lfd;

	(void)state;
	assert_non_null(mkdtemp(dir));
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/s", dir);
	lfd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_int_equal(bind(lfd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	assert_int_equal(listen(lfd, 4), 0);
	srv.pid = fork();
	assert_true(srv.pid >= 0);
	if (srv.pid == 0)
		serve(lfd, conns, 1);
	close(lfd);
	snprintf(arg, sizeof(arg), "unix:%s:tls", sun.sun_path);
	sm = open_map(arg);
	assert_int_equal(ask(sm, "a.example", out, sizeof(out)), 1);
	assert_string_equal(out, "encrypt");
	socketmap_close(sm);
	assert_int_equal(stop_server(&srv), 0);
	unlink(sun.sun_path);
	rmdir(dir);
}

static void
test_endpoint_syntax(void **state)
{
	static const char *const bad[] = {
		"",
		"postfix",
		"inet:127.0.0.1:8461:",
		"inet:127.0.0.1:postfix",
		"inet:127.0.0.1:0:postfix",
		"inet:127.0.0.1:65536:postfix",
		"inet:127.0.0.1:http:postfix",
		"inet:mta-sts.example:8461:postfix",
		"tcp:127.0.0.1:8461:postfix",
		"unix::postfix",
		"inet::8461:postfix",
	};
	static const char *const good[] = {
		"inet:127.0.0.1:8461:postfix",
		"inet:localhost:8461:postfix",
		"inet:[::1]:8461:postfix",
		"inet:::1:8461:postfix",
		"unix:/run/mta-sts/socket:postfix",
	};
	struct socketmap *sm;
	char err[512];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (socketmap_open(bad[i], &settings, &sm, err, sizeof(err)) == 0)
			fail_msg("\"%s\" accepted", bad[i]);
		assert_null(sm);
	}
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		if (socketmap_open(good[i], &settings, &sm, err, sizeof(err)) != 0)
			fail_msg("\"%s\": %s", good[i], err);
		socketmap_close(sm);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_statuses),
		cmocka_unit_test(test_reconnect_once),
		cmocka_unit_test(test_bad_replies),
		cmocka_unit_test(test_reply_limit_exact),
		cmocka_unit_test(test_timeouts),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_unix_socket),
		cmocka_unit_test(test_endpoint_syntax),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
