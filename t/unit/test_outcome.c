/*
 * test_outcome.c - result mapping and output hygiene (outcome.c),
 * catalogue #88 and #89.
 */
#include "config.h"

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

static void
maps(const char *dsn, int want_exit, const char *want_dsn)
{
	struct outcome o;

	outcome_set(&o, dsn, "text %d", 1);
	if (o.exit_code != want_exit || strcmp(o.dsn, want_dsn) != 0)
		fail_msg("%s -> %s/%d, want %s/%d", dsn, o.dsn, o.exit_code, want_dsn, want_exit);
	assert_string_equal(o.text, "text 1");
}

static void
test_exit_mapping(void **state)
{
	(void)state;
	maps("2.0.0", 0, "2.0.0");
	maps("4.7.5", 75, "4.7.5");
	maps("4.4.1", 75, "4.4.1");
	maps("4.3.5", 75, "4.3.5");
	maps("5.1.1", 67, "5.1.1");
	maps("5.1.2", 68, "5.1.2");
	maps("5.4.4", 68, "5.4.4");
	maps("5.1.3", 65, "5.1.3");
	maps("5.6.7", 65, "5.6.7");
	maps("5.6.0", 65, "5.6.0");
	maps("5.1.10", 69, "5.1.10");
	maps("5.1.0", 69, "5.1.0");
	maps("5.7.1", 69, "5.7.1");
	maps("5.3.4", 69, "5.3.4");
	maps("5.5.0", 69, "5.5.0");
	/* Not a code pipe(8) would accept: our fault, so defer. */
	maps("6.0.0", 75, "4.3.0");
	maps("5.1", 75, "4.3.0");
	maps("5.1.1000", 75, "4.3.0");
	maps("5.1.1 ", 75, "4.3.0");
	maps("", 75, "4.3.0");
	maps(NULL, 75, "4.3.0");
}

static void
test_permanent_never_soft_codes(void **state)
{
	struct outcome o;

	(void)state;
	/* Only 71 and 75 are soft for pipe(8); a 5.x.x must never use them, a 4.x.x always 75. */
	for (int a = 0; a < 10; a++)
		for (int b = 0; b < 10; b++) {
			char dsn[16];

			snprintf(dsn, sizeof(dsn), "5.%d.%d", a, b);
			outcome_set(&o, dsn, "x");
			assert_true(o.exit_code >= 64 && o.exit_code <= 78);
			assert_true(o.exit_code != 71 && o.exit_code != 75 && o.exit_code != 70);
			snprintf(dsn, sizeof(dsn), "4.%d.%d", a, b);
			outcome_set(&o, dsn, "x");
			assert_int_equal(o.exit_code, 75);
		}
}

static void
test_quote_text(void **state)
{
	static const char reply[] = "550 5.1.1 <x@y>\r\n\x1b[31mred\x1b[0m\0hidden\tand\x7f more";
	static const char escapes[] = "a\x1b[1;31;40mb\x1b]0;title\ac\x1b]2;t\x1b\\d\x1b"
				      "e\x1b[";
	char out[256], small[8];
	char *big;

	(void)state;
	outcome_quote_text(reply, sizeof(reply) - 1, out, sizeof(out));
	assert_string_equal(out, "550 5.1.1 <x@y> redhidden and more");
	/* Terminal escapes go whole: CSI, OSC (BEL or ST), a lone ESC. */
	outcome_quote_text(escapes, sizeof(escapes) - 1, out, sizeof(out));
	assert_string_equal(out, "abcde");
	outcome_quote_text("x\x1b[12\ny", 7, out, sizeof(out));
	assert_string_equal(out, "x y");
	outcome_quote_text("   lead  and trail  \r\n", 22, out, sizeof(out));
	assert_string_equal(out, "lead and trail");
	outcome_quote_text("caf\xc3\xa9", 5, out, sizeof(out));
	assert_string_equal(out, "caf??");
	outcome_quote_text("abcdefghijkl", 12, small, sizeof(small));
	assert_string_equal(small, "abcdefg");
	outcome_quote_text(NULL, 0, out, sizeof(out));
	assert_string_equal(out, "");

	big = malloc(100000);
	assert_non_null(big);
	memset(big, 'A', 100000);
	outcome_quote_text(big, 100000, out, sizeof(out));
	assert_int_equal(strlen(out), sizeof(out) - 1);
	free(big);
}

static void
test_text_is_sanitised(void **state)
{
	struct outcome o;

	(void)state;
	outcome_set(&o, "4.4.2", "lost connection with %s while %s", "h\r\n5.0.0 fake[1.2.3.4]",
	    "receiving\x1b the greeting");
	assert_string_equal(o.text,
	    "lost connection with h 5.0.0 fake[1.2.3.4] while receiving the greeting");
	assert_null(strpbrk(o.text, "\r\n\x1b"));
}

/* Print through a pipe and read back the one line. */
static size_t
printed(const struct outcome *o, char *buf, size_t cap)
{
	int fds[2], saved;
	ssize_t n;
	size_t len = 0;

	assert_int_equal(pipe(fds), 0);
	fflush(stdout);
	saved = dup(STDOUT_FILENO);
	assert_true(saved >= 0);
	assert_true(dup2(fds[1], STDOUT_FILENO) >= 0);
	outcome_print(o);
	assert_true(dup2(saved, STDOUT_FILENO) >= 0);
	close(saved);
	close(fds[1]);
	while ((n = read(fds[0], buf + len, cap - 1 - len)) > 0)
		len += (size_t)n;
	close(fds[0]);
	buf[len] = '\0';
	return len;
}

static void
test_print(void **state)
{
	struct outcome o;
	char line[8192];
	char text[2000];
	size_t len;

	(void)state;
	outcome_set(&o, "4.7.5", "Server certificate not verified");
	printed(&o, line, sizeof(line));
	assert_string_equal(line, "4.7.5 Server certificate not verified\n");

	outcome_set(&o, "5.1.1",
	    "host mx[192.0.2.1] said: 550 no such user (in reply to RCPT TO command)");
	printed(&o, line, sizeof(line));
	assert_string_equal(line,
	    "5.1.1 host mx[192.0.2.1] said: 550 no such user (in reply to RCPT TO command)\n");

	/* Success: the summary alone, under 100 characters. */
	memset(text, 'x', sizeof(text) - 1);
	text[sizeof(text) - 1] = '\0';
	outcome_set(&o, "2.0.0", "250 2.0.0 Ok: queued as ABC %s", text);
	len = printed(&o, line, sizeof(line));
	assert_true(len <= 100);
	assert_int_equal(line[len - 1], '\n');
	assert_memory_equal(line, "250 2.0.0 Ok: queued as ABC x", 29);

	/* Long failure text stays one line, well under pipe(8)'s 4096 bytes. */
	outcome_set(&o, "4.4.2", "%s", text);
	len = printed(&o, line, sizeof(line));
	assert_true(len < 1024);
	assert_memory_equal(line, "4.4.2 xxx", 9);
	assert_ptr_equal(strchr(line, '\n'), line + len - 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_exit_mapping),
		cmocka_unit_test(test_permanent_never_soft_codes),
		cmocka_unit_test(test_quote_text),
		cmocka_unit_test(test_text_is_sanitised),
		cmocka_unit_test(test_print),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
