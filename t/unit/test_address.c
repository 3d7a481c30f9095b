/*
 * test_address.c - envelope address checks and quoting (address.c),
 * catalogue section 7 (#79 to #83), and the long addresses of issue 9.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core.h"

static void
accepts(const char *in, const char *want, int want_utf8)
{
	char out[ADDRESS_MAX + 1], err[256];
	int utf8 = -1;

	err[0] = '\0';
	if (address_check(in, out, sizeof(out), &utf8, err, sizeof(err)) != 0)
		fail_msg("refused \"%s\": %s", in, err);
	if (strcmp(out, want) != 0)
		fail_msg("\"%s\" became \"%s\", want \"%s\"", in, out, want);
	assert_int_equal(utf8, want_utf8);
}

static void
refuses(const char *in)
{
	char out[ADDRESS_MAX + 1], err[256];
	int utf8 = 0;

	err[0] = '\0';
	if (address_check(in, out, sizeof(out), &utf8, err, sizeof(err)) == 0)
		fail_msg("accepted \"%s\" as \"%s\"", in, out);
	assert_true(err[0] != '\0');
	assert_string_equal(out, "");
}

static void
test_plain_addresses(void **state)
{
	(void)state;
	accepts("user@example.com", "user@example.com", 0);
	accepts("first.last+tag@mx.example.com", "first.last+tag@mx.example.com", 0);
	accepts("MAILER-DAEMON@Example.COM", "MAILER-DAEMON@Example.COM", 0);
	accepts("u@[192.0.2.1]", "u@[192.0.2.1]", 0);
	accepts("u@[IPv6:2001:db8::1]", "u@[IPv6:2001:db8::1]", 0);
	accepts("u@_dmarc-host.example", "u@_dmarc-host.example", 0);
}

/* #81: what pipe flag q produces, and the raw forms without it. */
static void
test_quoted_local_parts(void **state)
{
	(void)state;
	accepts("\"john doe\"@ex.test", "\"john doe\"@ex.test", 0);
	accepts("john doe@ex.test", "\"john doe\"@ex.test", 0);
	accepts("a\\@b@ex.test", "\"a@b\"@ex.test", 0);
	accepts("\"a@b\"@ex.test", "\"a@b\"@ex.test", 0);
	accepts("\"a\\\"b\"@ex.test", "\"a\\\"b\"@ex.test", 0);
	accepts("\"a\\\\b\"@ex.test", "\"a\\\\b\"@ex.test", 0);
	/* Angle brackets inside quotes are data, safely quoted. */
	accepts("\"a>b\"@ex.test", "\"a>b\"@ex.test", 0);
	accepts(".lead@ex.test", "\".lead\"@ex.test", 0);
	accepts("a..b@ex.test", "\"a..b\"@ex.test", 0);
	/* A needlessly quoted atom loses its quotes. */
	accepts("\"plain\"@ex.test", "plain@ex.test", 0);
}

/* #71: UTF-8 local part needs SMTPUTF8; a UTF-8 domain becomes A-labels. */
static void
test_international(void **state)
{
	(void)state;
	accepts("j\xc3\xb6rg@ex.test", "j\xc3\xb6rg@ex.test", 1);
	accepts("user@b\xc3\xbc"
		"cher.example",
	    "user@xn--bcher-kva.example", 0);
	refuses("\xff@ex.test");
	refuses("user@\xc3");
	refuses("a\xc0\xaf"
		"b@ex.test");		  /* overlong '/' */
	refuses("a\xed\xa0\x80@ex.test"); /* surrogate */
}

/* #79, #80: nothing that can end a command or add a parameter. */
static void
test_injection(void **state)
{
	(void)state;
	refuses("a@b.test\r\nRCPT TO:<x@evil.test>");
	refuses("a@b.test\nRCPT TO:<x@evil.test>");
	refuses("a@b.test\rRCPT TO:<x@evil.test>");
	refuses("a\tb@ex.test");
	refuses("a@ex.test\t");
	refuses("a\x1b[31m@ex.test");
	refuses("a\x7f@ex.test");
	refuses("a@b.test> NOTIFY=NEVER");
	refuses("a@b.test> SMTPUTF8");
	refuses("a@b.test>");
	refuses("<a@b.test>");
	refuses("<>");
	refuses("a<b@ex.test");
	refuses("\"a@ex.test");
	refuses("a@ex.test\\");
	refuses("\"x\"@b.test> NOTIFY=NEVER");
}

static void
test_shape(void **state)
{
	(void)state;
	refuses("");
	refuses("user");
	refuses("@ex.test");
	refuses("user@");
	refuses("user@ex.test.");
	refuses("user@.ex.test");
	refuses("user@ex..test");
	refuses("user@-ex.test");
	refuses("user@ex-.test");
	refuses("user@ex!.test");
	refuses("user@[1.2.3]");
	refuses("user@[IPv6:zz::]");
	refuses("user@[192.0.2.1");
	refuses("-f");
	refuses("--help");
}

/*
 * #83: no RFC 5321 local-part (64) or path (256) limit: VERP, SRS and BATV
 * local parts of 69, 200 and 900 octets are accepted unchanged.  The DNS
 * limits of the domain stay.  Over ADDRESS_MAX is a deferral, not a 5.1.3.
 */
static void
test_limits(void **state)
{
	static const size_t local_lengths[] = { 64, 65, 69, 200, 900, 2000 };
	char addr[ADDRESS_MAX + 400], out[ADDRESS_MAX + 1], err[256], label[70];
	char *huge;
	int utf8;

	(void)state;
	for (size_t i = 0; i < sizeof(local_lengths) / sizeof(local_lengths[0]); i++) {
		memset(addr, 'a', local_lengths[i]);
		strcpy(addr + local_lengths[i], "@ex.test");
		accepts(addr, addr, 0);
	}
	/* A VERP sender as a list manager writes it. */
	accepts("owner-announce+bob.smith=mail.example.org@lists.example.com",
	    "owner-announce+bob.smith=mail.example.org@lists.example.com", 0);
	/* A long quoted local part stays whole. */
	memset(addr, 0, sizeof(addr));
	addr[0] = '"';
	memset(addr + 1, ' ', 300);
	strcpy(addr + 301, "\"@ex.test");
	accepts(addr, addr, 0);

	memset(label, 'b', 63);
	label[63] = '\0';
	snprintf(addr, sizeof(addr), "u@%s.test", label);
	accepts(addr, addr, 0);
	memset(label, 'b', 64);
	label[64] = '\0';
	snprintf(addr, sizeof(addr), "u@%s.test", label);
	refuses(addr);

	/* The path limit of 256 is gone; a domain over 255 octets still fails. */
	snprintf(addr, sizeof(addr), "uu@%.63s.%.63s.%.63s.%.62s", label, label, label, label);
	accepts(addr, addr, 0);
	snprintf(addr, sizeof(addr), "u@%.63s.%.63s.%.63s.%.63s.x", label, label, label, label);
	refuses(addr);

	/* ADDRESS_MAX octets pass; one more defers, and nothing is written. */
	memset(addr, 'c', ADDRESS_MAX - 8);
	strcpy(addr + ADDRESS_MAX - 8, "@ex.test");
	assert_int_equal(strlen(addr), ADDRESS_MAX);
	accepts(addr, addr, 0);
	memset(addr, 'c', ADDRESS_MAX - 7);
	strcpy(addr + ADDRESS_MAX - 7, "@ex.test");
	assert_int_equal(address_check(addr, out, sizeof(out), &utf8, err, sizeof(err)),
	    ADDRESS_DEFER);
	assert_non_null(strstr(err, "longer than 4096"));
	assert_string_equal(out, "");
	/* Quoting that makes the encoded form longer counts. */
	addr[0] = '"';
	memset(addr + 1, '\\', 2 * 2100);
	strcpy(addr + 1 + 2 * 2100, "\"@ex.test");
	assert_int_equal(address_check(addr, out, sizeof(out), &utf8, err, sizeof(err)),
	    ADDRESS_DEFER);

	/* 1 MB: syntax errors still win (a 5.1.3), a valid one defers. */
	huge = malloc(1024 * 1024 + 1);
	assert_non_null(huge);
	memset(huge, 'x', 1024 * 1024);
	huge[1024 * 1024] = '\0';
	huge[100] = '@';
	assert_int_equal(address_check(huge, out, sizeof(out), &utf8, err, sizeof(err)),
	    ADDRESS_MALFORMED);
	huge[100] = 'x';
	memcpy(huge + 1024 * 1024 - 8, "@ex.test", 8);
	assert_int_equal(address_check(huge, out, sizeof(out), &utf8, err, sizeof(err)),
	    ADDRESS_DEFER);
	huge[500] = '\r';
	assert_int_equal(address_check(huge, out, sizeof(out), &utf8, err, sizeof(err)),
	    ADDRESS_MALFORMED);
	free(huge);
}

static void
test_small_output_buffer(void **state)
{
	char out[8], err[64];
	int utf8;

	(void)state;
	assert_int_equal(address_check("longer@ex.test", out, sizeof(out), &utf8, err, sizeof(err)),
	    -1);
	assert_int_equal(address_check("a@b.cd", out, sizeof(out), &utf8, err, sizeof(err)), 0);
	assert_string_equal(out, "a@b.cd");
}

static void
test_domain_of(void **state)
{
	(void)state;
	assert_string_equal(address_domain("user@ex.test"), "ex.test");
	assert_string_equal(address_domain("\"a@b\"@ex.test"), "ex.test");
	assert_string_equal(address_domain("\"a\\\"@b\"@ex.test"), "ex.test");
	assert_string_equal(address_domain("u@[192.0.2.1]"), "[192.0.2.1]");
	assert_string_equal(address_domain("nodomain"), "");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain_addresses),
		cmocka_unit_test(test_quoted_local_parts),
		cmocka_unit_test(test_international),
		cmocka_unit_test(test_injection),
		cmocka_unit_test(test_shape),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_small_output_buffer),
		cmocka_unit_test(test_domain_of),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
