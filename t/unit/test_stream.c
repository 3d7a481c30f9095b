/*
 * test_stream.c - buffered connection I/O (stream.c) over a socketpair.
 *
 * A forked writer plays the server.  Checks line splitting (CRLF, bare LF,
 * CR kept inside a line), the per-reply deadline against a server that
 * drips one byte at a time, the line-length cap, end of file, the unread
 * byte check used against STARTTLS response injection, and the write
 * timeout against a peer that never reads.
 */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

/* core */
#include "core.h"
/* net */
#include "reply.h"
#include "stream.h"

struct peer {
	struct stream *s;
	int other;
	pid_t pid;
};

/* Fork a writer that sends chunks with a pause (ms) before each one. */
static void
start_peer(struct peer *p, const char *const *chunks, int pause_ms)
{
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	p->pid = fork();
	assert_true(p->pid >= 0);
	if (p->pid == 0) {
		close(sv[0]);
		for (size_t i = 0; chunks[i] != NULL; i++) {
			if (pause_ms > 0)
				usleep((useconds_t)pause_ms * 1000);
			if (write(sv[1], chunks[i], strlen(chunks[i])) < 0)
				_exit(1);
		}
		/* Linger a little so the reader sees data before EOF. */
		usleep(200000);
		_exit(0);
	}
	close(sv[1]);
	p->other = -1;
	p->s = stream_new(sv[0]);
	assert_non_null(p->s);
}

static void
stop_peer(struct peer *p)
{
	int status;

	kill(p->pid, SIGKILL);
	waitpid(p->pid, &status, 0);
	stream_free(p->s);
	if (p->other >= 0)
		close(p->other);
}

static enum stream_io
read_line(struct peer *p, char *buf, size_t cap, size_t *len, int ms)
{
	return stream_read_line(p->s, buf, cap, len, now_ms() + ms);
}

static void
test_lines(void **state)
{
	static const char *const chunks[] = { "250-a\r\n250-b\n250-c\rd\r\n", "250 e", "nd\r\n",
		NULL };
	struct peer p;
	char buf[REPLY_LINE_MAX + 2];
	size_t len;

	(void)state;
	start_peer(&p, chunks, 0);
	assert_int_equal(read_line(&p, buf, sizeof(buf), &len, 2000), STREAM_OK);
	assert_string_equal(buf, "250-a");
	/* Two more lines already wait in the buffer. */
	assert_true(stream_pending(p.s) > 0);
	assert_true(stream_unread_input(p.s));
	assert_int_equal(read_line(&p, buf, sizeof(buf), &len, 2000), STREAM_OK);
	assert_string_equal(buf, "250-b");
	assert_int_equal(read_line(&p, buf, sizeof(buf), &len, 2000), STREAM_OK);
	assert_string_equal(buf, "250-c\rd");
	assert_int_equal(len, 7);
	/* A line split across two writes is joined. */
	assert_int_equal(read_line(&p, buf, sizeof(buf), &len, 2000), STREAM_OK);
	assert_string_equal(buf, "250 end");
	assert_int_equal(stream_pending(p.s), 0);
	/* Then the peer closes. */
	assert_int_equal(read_line(&p, buf, sizeof(buf), &len, 2000), STREAM_EOF);
	stop_peer(&p);
}

static void
test_drip_times_out(void **state)
{
	static const char *const chunks[] = { "2", "5", "0", " ", "o", "k", "\r", "\n", NULL };
	struct peer p;
	char buf[64];
	size_t len;
	int64_t start;

	(void)state;
	/* One byte every 300 ms: each read makes progress, the reply never
	 * completes within its 1 s deadline. */
	start_peer(&p, chunks, 300);
	start = now_ms();
	assert_int_equal(read_line(&p, buf, sizeof(buf), &len, 1000), STREAM_TIMEOUT);
	assert_true(now_ms() - start < 1500);
	stop_peer(&p);
}

static void
test_long_line(void **state)
{
	char *big = malloc(3 * REPLY_LINE_MAX + 1);
	const char *chunks[] = { big, NULL };
	struct peer p;
	char buf[REPLY_LINE_MAX + 2];
	size_t len;

	(void)state;
	assert_non_null(big);
	memset(big, 'x', 3 * REPLY_LINE_MAX);
	big[3 * REPLY_LINE_MAX] = '\0';
	start_peer(&p, chunks, 0);
	assert_int_equal(read_line(&p, buf, sizeof(buf), &len, 2000), STREAM_TOOLONG);
	stop_peer(&p);
	free(big);
}

static void
test_unread_in_kernel(void **state)
{
	static const char *const chunks[] = { "220 go\r\n", "injected", NULL };
	struct peer p;
	char buf[64];
	size_t len;
	int64_t until;

	(void)state;
	start_peer(&p, chunks, 100);
	assert_int_equal(read_line(&p, buf, sizeof(buf), &len, 2000), STREAM_OK);
	assert_string_equal(buf, "220 go");
	/* The injected bytes are still in the kernel, not in our buffer. */
	until = now_ms() + 2000;
	while (!stream_unread_input(p.s) && now_ms() < until)
		usleep(10000);
	assert_int_equal(stream_pending(p.s), 0);
	assert_true(stream_unread_input(p.s));
	stop_peer(&p);
}

static void
test_write_timeout(void **state)
{
	int sv[2];
	struct stream *s;
	size_t size = 8 << 20;
	char *data = calloc(1, size);
	int64_t start;

	(void)state;
	assert_non_null(data);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	s = stream_new(sv[0]);
	assert_non_null(s);
	start = now_ms();
	/* The peer never reads: no progress for 1 s ends the write. */
	assert_int_equal(stream_write(s, data, size, 1, 0), STREAM_TIMEOUT);
	assert_true(now_ms() - start < 3000);
	close(sv[1]);
	/* Writing to a closed peer is a lost connection, not a signal. */
	assert_int_equal(stream_write(s, "QUIT\r\n", 6, 1, 0), STREAM_EOF);
	stream_free(s);
	free(data);
}

static void
test_overall_deadline(void **state)
{
	static const char *const chunks[] = { "250 late\r\n", NULL };
	struct peer p;
	char buf[64];
	size_t len;

	(void)state;
	start_peer(&p, chunks, 1500);
	/* A generous stage timeout is still cut by the overall deadline. */
	assert_int_equal(stream_read_line(p.s, buf, sizeof(buf), &len,
			     stage_deadline(300, now_ms() + 500)),
	    STREAM_TIMEOUT);
	stop_peer(&p);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lines),
		cmocka_unit_test(test_drip_times_out),
		cmocka_unit_test(test_long_line),
		cmocka_unit_test(test_unread_in_kernel),
		cmocka_unit_test(test_write_timeout),
		cmocka_unit_test(test_overall_deadline),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
