/*
 * test_reply.c - the SMTP reply parser (reply.c): every reply form of
 * docs/security-cases.md section 4 (#44-#49), enhanced status codes,
 * quoting, the EHLO keyword scanner (SIZE overflow, garbage), and the
 * server's own name for the mail loop check.
 */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

/* net */
#include "reply.h"

static struct smtp_reply reply;

/* Feed "\n"-separated lines; returns the status after the last line fed. */
static enum reply_status
feed_lines(const char *text)
{
	const char *p = text, *nl;
	enum reply_status st = REPLY_MORE;

	reply_init(&reply);
	while (*p != '\0' && st == REPLY_MORE) {
		nl = strchr(p, '\n');
		st = reply_feed(&reply, p, nl != NULL ? (size_t)(nl - p) : strlen(p));
		p = nl != NULL ? nl + 1 : p + strlen(p);
	}
	return st;
}

static void
test_valid_forms(void **state)
{
	(void)state;
	assert_int_equal(feed_lines("250-a\n250 b"), REPLY_DONE);
	assert_int_equal(reply.code, 250);
	assert_string_equal(reply.text, "a\nb");
	assert_int_equal(reply.lines, 2);

	assert_int_equal(feed_lines("250"), REPLY_DONE);
	assert_int_equal(reply.code, 250);
	assert_string_equal(reply.text, "");

	assert_int_equal(feed_lines("250 "), REPLY_DONE);
	assert_int_equal(reply.code, 250);

	assert_int_equal(feed_lines("250-\n250 ok"), REPLY_DONE);
	assert_string_equal(reply.text, "\nok");

	assert_int_equal(feed_lines("220-first\n220-second\n220 go"), REPLY_DONE);
	assert_int_equal(reply.code, 220);
	assert_int_equal(reply.lines, 3);
}

static void
test_incomplete(void **state)
{
	(void)state;
	assert_int_equal(feed_lines("250-a"), REPLY_MORE);
	assert_int_equal(reply.complete, 0);
}

static void
test_code_mismatch(void **state)
{
	(void)state;
	assert_int_equal(feed_lines("250-x\n550 y"), REPLY_MISMATCH);
	assert_int_equal(feed_lines("250-x\n251 y"), REPLY_MISMATCH);
	assert_int_equal(feed_lines("550-x\n250 y"), REPLY_MISMATCH);
}

static void
test_malformed_codes(void **state)
{
	static const char *bad[] = {
		"25 ok",
		"2500 ok",
		"abc",
		"250ok",
		"+OK",
		"-250",
		"600",
		"100",
		"099",
		"",
		"25",
		"260 x",
		"199 x",
		"2a0 x",
		"250\tx",
		" 250 x",
		"250_x",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		reply_init(&reply);
		assert_int_equal(reply_feed(&reply, bad[i], strlen(bad[i])), REPLY_MALFORMED);
	}
	/* A malformed continuation line ends the reply too. */
	assert_int_equal(feed_lines("250-ok\n250ok"), REPLY_MALFORMED);
	/* Nothing may be fed after a complete reply. */
	assert_int_equal(feed_lines("250 ok"), REPLY_DONE);
	assert_int_equal(reply_feed(&reply, "250 again", 9), REPLY_MALFORMED);
}

static void
test_limits(void **state)
{
	char *line = malloc(REPLY_LINE_MAX + 2);

	(void)state;
	assert_non_null(line);
	memset(line, 'x', REPLY_LINE_MAX + 1);
	memcpy(line, "250 ", 4);
	reply_init(&reply);
	assert_int_equal(reply_feed(&reply, line, REPLY_LINE_MAX), REPLY_DONE);
	reply_init(&reply);
	assert_int_equal(reply_feed(&reply, line, REPLY_LINE_MAX + 1), REPLY_TOO_BIG);

	/* Line count cap: REPLY_LINES_MAX lines are fine, one more is not. */
	reply_init(&reply);
	for (size_t i = 0; i < REPLY_LINES_MAX; i++)
		assert_int_equal(reply_feed(&reply, "250-x", 5), REPLY_MORE);
	assert_int_equal(reply_feed(&reply, "250 x", 5), REPLY_TOO_BIG);

	/* Text cap: long lines add up past REPLY_TEXT_MAX. */
	memcpy(line, "250-", 4);
	reply_init(&reply);
	enum reply_status st = REPLY_MORE;
	size_t n = 0;
	while (st == REPLY_MORE && n < 100) {
		st = reply_feed(&reply, line, REPLY_LINE_MAX);
		n++;
	}
	assert_int_equal(st, REPLY_TOO_BIG);
	assert_true(n * (REPLY_LINE_MAX - 4) > REPLY_TEXT_MAX - REPLY_LINE_MAX);
	assert_true(reply.textlen < sizeof(reply.text));
	free(line);
}

static void
test_odd_bytes(void **state)
{
	char quoted[128];
	static const char nul_line[] = "220 a\0b\033[31m\rc\x80";

	(void)state;
	reply_init(&reply);
	assert_int_equal(reply_feed(&reply, nul_line, sizeof(nul_line) - 1), REPLY_DONE);
	assert_int_equal(reply.textlen, sizeof(nul_line) - 1 - 4);
	assert_int_equal(strlen(reply.text), reply.textlen);
	reply_quote(&reply, quoted, sizeof(quoted));
	assert_string_equal(quoted, "220 a?b?[31m?c?");
}

static void
test_enhanced_codes(void **state)
{
	char dsn[16];

	(void)state;
	feed_lines("550 5.1.1 <u@example.test>: Recipient address rejected");
	assert_string_equal(reply.dsn, "5.1.1");
	reply_dsn(&reply, dsn, sizeof(dsn));
	assert_string_equal(dsn, "5.1.1");

	feed_lines("250 2.0.0");
	assert_string_equal(reply.dsn, "2.0.0");

	/* Class disagrees with the reply code: use the code's class. */
	feed_lines("550 4.1.1 odd");
	reply_dsn(&reply, dsn, sizeof(dsn));
	assert_string_equal(dsn, "5.0.0");

	feed_lines("451 try later");
	assert_string_equal(reply.dsn, "");
	reply_dsn(&reply, dsn, sizeof(dsn));
	assert_string_equal(dsn, "4.0.0");

	feed_lines("550 5.1.1x nope");
	assert_string_equal(reply.dsn, "");
	feed_lines("550 5.1234.1 nope");
	assert_string_equal(reply.dsn, "");
	feed_lines("550 3.1.1 nope");
	assert_string_equal(reply.dsn, "");
	feed_lines("452 4.5.3 Too many recipients");
	assert_string_equal(reply.dsn, "4.5.3");
	feed_lines("554 5.7.999");
	assert_string_equal(reply.dsn, "5.7.999");

	/* Only the first line counts. */
	feed_lines("550-no code here\n550 5.1.1 later");
	assert_string_equal(reply.dsn, "");
}

static void
test_quote(void **state)
{
	char out[32];

	(void)state;
	feed_lines("550-5.1.1 first\n550 5.1.1 second");
	reply_quote(&reply, out, sizeof(out));
	assert_string_equal(out, "550 5.1.1 first 5.1.1 second");
	reply_quote(&reply, out, 10);
	assert_string_equal(out, "550 5.1.1");
	assert_string_equal(reply_status_text(REPLY_MISMATCH), "reply lines with different codes");
}

static void
test_ehlo_features(void **state)
{
	struct ehlo_features f;

	(void)state;
	feed_lines("250-mx.example.test hello\n250-PIPELINING\n250-SIZE 10240000\n"
		   "250-starttls\n250-8BITMIME\n250-ENHANCEDSTATUSCODES\n250 SMTPUTF8");
	reply_ehlo_features(&reply, &f);
	assert_true(f.starttls);
	assert_true(f.pipelining);
	assert_true(f.size);
	assert_int_equal(f.size_limit, 10240000);
	assert_true(f.eightbitmime);
	assert_true(f.smtputf8);

	/* The first line names the server, it is not a keyword. */
	feed_lines("250-STARTTLS\n250 HELP");
	reply_ehlo_features(&reply, &f);
	assert_false(f.starttls);

	/* Look-alikes and garbage are ignored. */
	feed_lines("250-mx\n250-STARTTLSX\n250-X STARTTLS\n250-PIPELINING now\n250 8BITMIMEX");
	reply_ehlo_features(&reply, &f);
	assert_false(f.starttls);
	assert_false(f.pipelining);
	assert_false(f.eightbitmime);

	/* Trailing space after a keyword is tolerated. */
	feed_lines("250-mx\n250 STARTTLS ");
	reply_ehlo_features(&reply, &f);
	assert_true(f.starttls);
}

static void
test_ehlo_size(void **state)
{
	struct ehlo_features f;
	static const char *nolimit[] = {
		"250-mx\n250 SIZE",
		"250-mx\n250 SIZE 0",
		"250-mx\n250 SIZE -1",
		"250-mx\n250 SIZE abc",
		"250-mx\n250 SIZE 99999999999999999999",
		"250-mx\n250 SIZE 12x",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(nolimit) / sizeof(nolimit[0]); i++) {
		feed_lines(nolimit[i]);
		reply_ehlo_features(&reply, &f);
		assert_true(f.size);
		assert_int_equal(f.size_limit, 0);
	}
	feed_lines("250-mx\n250 size 1000000000000000000");
	reply_ehlo_features(&reply, &f);
	assert_true(f.size_limit == 1000000000000000000ull);
	feed_lines("250-mx\n250 8BITMIME");
	reply_ehlo_features(&reply, &f);
	assert_false(f.size);
}

/* The first word after the code, as Postfix's loop check reads it. */
static void
test_names_host(void **state)
{
	(void)state;
	feed_lines("220 mx.example.test ESMTP Postfix");
	assert_true(reply_names_host(&reply, "mx.example.test"));
	assert_true(reply_names_host(&reply, "MX.Example.TEST"));
	assert_false(reply_names_host(&reply, "mx.example"));
	assert_false(reply_names_host(&reply, "mx.example.test.evil"));
	assert_false(reply_names_host(&reply, "ESMTP"));
	assert_false(reply_names_host(&reply, ""));
	feed_lines("250-mx.example.test\n250-PIPELINING\n250 SIZE 10240000");
	assert_true(reply_names_host(&reply, "mx.example.test"));
	assert_false(reply_names_host(&reply, "PIPELINING"));
	feed_lines("250-mx.example.test=x\n250 8BITMIME");
	assert_true(reply_names_host(&reply, "mx.example.test"));
	feed_lines("220  \tmx.example.test");
	assert_true(reply_names_host(&reply, "mx.example.test"));
	/* Only the first line counts. */
	feed_lines("250-other.test\n250 mx.example.test");
	assert_false(reply_names_host(&reply, "mx.example.test"));
	feed_lines("250-\n250 mx.example.test");
	assert_false(reply_names_host(&reply, "mx.example.test"));
	feed_lines("220");
	assert_false(reply_names_host(&reply, "mx.example.test"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid_forms),
		cmocka_unit_test(test_incomplete),
		cmocka_unit_test(test_code_mismatch),
		cmocka_unit_test(test_malformed_codes),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_odd_bytes),
		cmocka_unit_test(test_enhanced_codes),
		cmocka_unit_test(test_quote),
		cmocka_unit_test(test_ehlo_features),
		cmocka_unit_test(test_ehlo_size),
		cmocka_unit_test(test_names_host),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
