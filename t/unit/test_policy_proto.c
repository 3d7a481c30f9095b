/*
 * test_policy_proto.c - unit tests for policy_proto.c: protocol
 * expressions (Postfix 3.7 forms) and cipher grade names.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

/* policymap */
#include "policymap.h"

#define P_SSL2 TLS_PROTO_SSLv2
#define P_SSL3 TLS_PROTO_SSLv3
#define P_T10  TLS_PROTO_TLSv1
#define P_T11  TLS_PROTO_TLSv1_1
#define P_T12  TLS_PROTO_TLSv1_2
#define P_T13  TLS_PROTO_TLSv1_3

static void
check_mask(const char *expr, unsigned expected)
{
	char err[256];
	unsigned mask = 0xdead;

	if (tls_protocols_parse(expr, &mask, err, sizeof(err)) != 0)
		fail_msg("\"%s\" rejected: %s", expr, err);
	if (mask != expected)
		fail_msg("\"%s\": mask 0x%x, expected 0x%x", expr, mask, expected);
}

static void
check_error(const char *expr, const char *fragment)
{
	char err[256];
	unsigned mask = 0xdead;

	err[0] = 0;
	if (tls_protocols_parse(expr, &mask, err, sizeof(err)) == 0)
		fail_msg("\"%s\" accepted (mask 0x%x)", expr, mask);
	assert_int_equal(mask, 0xdead);
	if (strstr(err, fragment) == NULL)
		fail_msg("\"%s\": error \"%s\" lacks \"%s\"", expr, err, fragment);
}

static void
test_empty_means_all(void **state)
{
	(void)state;
	check_mask("", TLS_PROTO_ALL);
	check_mask("   ", TLS_PROTO_ALL);
	check_mask(":", TLS_PROTO_ALL);
	check_mask(" , : ", TLS_PROTO_ALL);
}

static void
test_bounds(void **state)
{
	(void)state;
	check_mask(">=TLSv1.2", P_T12 | P_T13);
	check_mask(">=TLSv1", P_T10 | P_T11 | P_T12 | P_T13);
	check_mask(">=SSLv3", P_SSL3 | P_T10 | P_T11 | P_T12 | P_T13);
	check_mask("<=TLSv1.1", P_SSL2 | P_SSL3 | P_T10 | P_T11);
	check_mask(">=TLSv1.2:<=TLSv1.3", P_T12 | P_T13);
	check_mask(">=TLSv1.2:<=TLSv1.2", P_T12);
	check_mask(">=tlsv1.3", P_T13);
	check_mask("<=TLSV1.3", TLS_PROTO_ALL);
	check_mask(">=None:<=none", TLS_PROTO_ALL);
	check_mask(">=TLSv1.2:<=None", P_T12 | P_T13);
}

static void
test_hex_bounds(void **state)
{
	(void)state;
	check_mask(">=0x0303", P_T12 | P_T13);
	check_mask(">=0X0303", P_T12 | P_T13);
	check_mask(">=303", P_T12 | P_T13);
	check_mask(">=0x0301:<=0x0302", P_T10 | P_T11);
	check_mask("<=0x0304", TLS_PROTO_ALL);
	/* A floor of zero means "no floor", as in Postfix. */
	check_mask(">=0", TLS_PROTO_ALL);
	/* Between known versions: only the versions inside the range. */
	check_mask(">=0x0302:<=0x0303", P_T11 | P_T12);
}

static void
test_exclusions(void **state)
{
	(void)state;
	check_mask("!SSLv2:!SSLv3", P_T10 | P_T11 | P_T12 | P_T13);
	check_mask("!SSLv2, !SSLv3 !TLSv1", P_T11 | P_T12 | P_T13);
	check_mask("!sslv2:!SSLV3", P_T10 | P_T11 | P_T12 | P_T13);
	check_mask("!TLSv1.3", TLS_PROTO_ALL & ~P_T13);
}

static void
test_inclusions(void **state)
{
	(void)state;
	check_mask("TLSv1.2:TLSv1.3", P_T12 | P_T13);
	check_mask("TLSv1.2", P_T12);
	check_mask("TLSv1.2 TLSv1.3,TLSv1.1", P_T11 | P_T12 | P_T13);
	/* An inclusion list and an exclusion combine. */
	check_mask("TLSv1.2:TLSv1.3:!TLSv1.2", P_T13);
	/* Bounds narrow an inclusion list. */
	check_mask("TLSv1:TLSv1.2:TLSv1.3:>=TLSv1.1", P_T12 | P_T13);
	check_mask("!SSLv2:!SSLv3:>=TLSv1:<=TLSv1.2", P_T10 | P_T11 | P_T12);
}

static void
test_errors(void **state)
{
	(void)state;
	check_error("TLSv1.4", "unknown protocol \"TLSv1.4\"");
	check_error("!TLSv9", "unknown protocol \"TLSv9\"");
	check_error(">=TLSv9", "invalid TLS version: \"TLSv9\"");
	check_error(">=", "missing protocol version");
	check_error("<=", "missing protocol version");
	check_error(">= TLSv1.2", "missing protocol version");
	check_error(">=0x", "invalid TLS version");
	check_error(">=0x10000", "invalid TLS version");
	check_error(">=-1", "invalid TLS version");
	check_error(">=SSLv2", "invalid TLS version");
	check_error("=>TLSv1.2", "unknown protocol");
	check_error("!", "unknown protocol \"\"");
	check_error("!>=TLSv1", "unknown protocol");
	check_error("None", "unknown protocol \"None\"");
	check_error(">=TLSv1.3:<=TLSv1.2", "no TLS protocol version is left");
	check_error("!SSLv2:!SSLv3:!TLSv1:!TLSv1.1:!TLSv1.2:!TLSv1.3", "no TLS protocol");
	check_error("TLSv1.2:!TLSv1.2", "no TLS protocol");
	check_error(">=0x0305", "no TLS protocol");
	check_error("TLSv1:>=TLSv1.2", "no TLS protocol");
	check_error(
	    "TLSv1.2xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
	    "too long");
}

static void
test_error_buffer_bounded(void **state)
{
	char err[8];
	unsigned mask = 0;

	(void)state;
	memset(err, 'x', sizeof(err));
	assert_int_equal(tls_protocols_parse("TLSv1.4", &mask, err, sizeof(err)), -1);
	assert_int_equal(err[sizeof(err) - 1], 0);
	assert_int_equal(strlen(err), sizeof(err) - 1);
}

static void
test_cipher_grades(void **state)
{
	(void)state;
	assert_int_equal(tls_cipher_grade_from_name("export"), TLS_GRADE_EXPORT);
	assert_int_equal(tls_cipher_grade_from_name("low"), TLS_GRADE_LOW);
	assert_int_equal(tls_cipher_grade_from_name("medium"), TLS_GRADE_MEDIUM);
	assert_int_equal(tls_cipher_grade_from_name("high"), TLS_GRADE_HIGH);
	assert_int_equal(tls_cipher_grade_from_name("null"), TLS_GRADE_NULL);
	assert_int_equal(tls_cipher_grade_from_name("HIGH"), TLS_GRADE_HIGH);
	assert_int_equal(tls_cipher_grade_from_name("Medium"), TLS_GRADE_MEDIUM);
	assert_int_equal(tls_cipher_grade_from_name(""), TLS_GRADE_INVALID);
	assert_int_equal(tls_cipher_grade_from_name("super"), TLS_GRADE_INVALID);
	assert_int_equal(tls_cipher_grade_from_name("high "), TLS_GRADE_INVALID);
	assert_int_equal(tls_cipher_grade_from_name("HIGH:!aNULL"), TLS_GRADE_INVALID);
	assert_int_equal(tls_cipher_grade_from_name(NULL), TLS_GRADE_INVALID);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty_means_all),
		cmocka_unit_test(test_bounds),
		cmocka_unit_test(test_hex_bounds),
		cmocka_unit_test(test_exclusions),
		cmocka_unit_test(test_inclusions),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_error_buffer_bounded),
		cmocka_unit_test(test_cipher_grades),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
