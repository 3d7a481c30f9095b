/*
 * test_log.c - log lines written to maillog_file (log.c): the syslog-like
 * prefix, the queue id, one line per call, no control characters, verbose
 * lines only with -v; a sink (log_to_sink) takes the lines instead.
 */
#include "config.h"

#include <regex.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core.h"

static char path[64];

static int
setup(void **state)
{
	int fd;

	(void)state;
	snprintf(path, sizeof(path), "/tmp/tlsmtp-log-XXXXXX");
	if ((fd = mkstemp(path)) < 0)
		return -1;
	close(fd);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	log_close();
	unlink(path);
	return 0;
}

#define READ_LINE_MAX 20000

static size_t
read_lines(char lines[][READ_LINE_MAX], size_t max)
{
	FILE *fp = fopen(path, "r");
	size_t n = 0;

	assert_non_null(fp);
	while (n < max && fgets(lines[n], READ_LINE_MAX, fp) != NULL)
		n++;
	fclose(fp);
	return n;
}

static void
assert_matches(const char *text, const char *pattern)
{
	regex_t re;

	assert_int_equal(regcomp(&re, pattern, REG_EXTENDED | REG_NOSUB), 0);
	if (regexec(&re, text, 0, NULL, 0) != 0)
		fail_msg("\"%s\" does not match /%s/", text, pattern);
	regfree(&re);
}

static void
test_file_lines(void **state)
{
	static char lines[8][READ_LINE_MAX];

	(void)state;
	log_open(path, "4AbC123", 0);
	log_info("to=<%s>, status=%s", "a@b.test", "sent");
	log_warn("server said %s", "evil\r\nJan  1 00:00:00 forged line\x1b[0m");
	log_verbose("not logged without -v");
	log_close();
	log_open(path, NULL, 1);
	log_verbose("dialogue %d", 1);
	log_close();
	log_open(path, "bad id!", 0);
	log_info("no prefix for a malformed queue id");
	log_close();

	assert_int_equal(read_lines(lines, 8), 4);
	assert_matches(lines[0],
	    "^[A-Z][a-z]{2} [ 0-9][0-9] [0-9]{2}:[0-9]{2}:[0-9]{2} [^ ]+ "
	    "tlsmtp\\[[0-9]+\\]: 4AbC123: to=<a@b\\.test>, status=sent\n$");
	assert_matches(lines[1],
	    "tlsmtp\\[[0-9]+\\]: 4AbC123: warning: server said evil\\?\\?Jan  1 "
	    "00:00:00 forged line\\?\\[0m\n$");
	assert_matches(lines[2], "tlsmtp\\[[0-9]+\\]: dialogue 1\n$");
	assert_matches(lines[3], "tlsmtp\\[[0-9]+\\]: no prefix for a malformed queue id\n$");
}

static void
test_long_line_stays_one_line(void **state)
{
	static char lines[4][READ_LINE_MAX];
	char *big = malloc(20000);

	(void)state;
	assert_non_null(big);
	memset(big, 'q', 19999);
	big[19999] = '\0';
	log_open(path, "Q1", 0);
	log_info("%s", big);
	log_info("after");
	/* The longest address the agent sends is logged whole. */
	big[ADDRESS_MAX] = '\0';
	log_info("to=<%s>, relay=none, status=deferred (%.500s)", big, big);
	log_close();
	free(big);
	assert_int_equal(read_lines(lines, 4), 3);
	assert_non_null(strchr(lines[0], '\n'));
	assert_true(strlen(lines[0]) < 9000);
	assert_matches(lines[1], "Q1: after\n$");
	assert_matches(lines[2], "Q1: to=<q{4096}>, relay=none, status=deferred \\(q{500}\\)\n$");
}

static void
test_deadlines(void **state)
{
	int64_t t0 = now_ms(), d;

	(void)state;
	assert_true(t0 > 0);
	d = stage_deadline(30, 0);
	assert_true(d >= t0 + 30000 && d < t0 + 31000);
	d = stage_deadline(30, t0 + 5000);
	assert_int_equal(d, t0 + 5000);
	d = stage_deadline(1, t0 + 5000);
	assert_true(d >= t0 + 1000 && d < t0 + 2000);
	assert_int_equal(stage_deadline(0, t0 + 5000), t0 + 5000);
	assert_int_equal(stage_deadline(0, 0), INT64_MAX);
	assert_true(now_ms() >= t0);
}

static void
collect(const char *line, void *ctx)
{
	char *buf = ctx;
	size_t len = strlen(buf);

	snprintf(buf + len, 512 - len, "[%s]", line);
}

static void
test_sink(void **state)
{
	static char lines[4][READ_LINE_MAX];
	char got[512] = "";

	(void)state;
	log_to_sink(collect, got, 0);
	log_info("Verified TLS connection established to %s", "h[a]:25");
	log_warn("bad \x01 byte");
	log_verbose("not without -v");
	log_to_sink(collect, got, 1);
	log_verbose("> h[a]: EHLO");
	assert_string_equal(got,
	    "[Verified TLS connection established to h[a]:25]"
	    "[warning: bad ? byte][> h[a]: EHLO]");
	/* log_open() leaves the sink: lines go to the file again. */
	log_open(path, "Q2", 0);
	log_info("to the file");
	log_close();
	assert_int_equal(read_lines(lines, 4), 1);
	assert_matches(lines[0], "Q2: to the file\n$");
	assert_string_equal(got,
	    "[Verified TLS connection established to h[a]:25]"
	    "[warning: bad ? byte][> h[a]: EHLO]");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_file_lines, setup, teardown),
		cmocka_unit_test_setup_teardown(test_long_line_stays_one_line, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sink, setup, teardown),
		cmocka_unit_test(test_deadlines),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
