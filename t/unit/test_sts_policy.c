/*
 * test_sts_policy.c - unit tests for sts_policy.c: the _mta-sts TXT
 * record, the policy file (LF and CRLF, first value wins, limits, every
 * refusal) and RFC 6125 matching of MX names against "*." patterns.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/* policymap */
#include "policymap.h"

static int
txt(const char *s, char *id)
{
	char err[128];
	return sts_txt_parse(s, strlen(s), id, err, sizeof(err));
}

static void
test_txt(void **state)
{
	char id[STS_ID_MAX + 1];
	(void)state;

	assert_int_equal(txt("v=STSv1; id=20160831085700Z", id), 0);
	assert_string_equal(id, "20160831085700Z");
	assert_int_equal(txt("v=STSv1;id=abc;", id), 0);
	assert_string_equal(id, "abc");
	assert_int_equal(txt("v=STSv1; ext=1; id=a1; id=b2", id), 0);
	assert_string_equal(id, "a1"); /* first wins */
	assert_int_equal(txt("v=STSv1; id="
			     "123456789012345678901234567890ab",
			     id),
	    0);
	assert_int_equal(txt("v=STSv1; id="
			     "123456789012345678901234567890abc",
			     id),
	    -1);
	assert_int_equal(txt("id=abc; v=STSv1", id), -1);
	assert_int_equal(txt("v=STSv1", id), -1);
	assert_int_equal(txt("v=STSv2; id=a", id), -1);
	assert_int_equal(txt("v=STSv1; id=a-b", id), -1);
	assert_int_equal(txt("v=STSv1; id=", id), -1);
	assert_int_equal(txt("v=STSv1; junk", id), -1);
	assert_int_equal(txt("v=STSv1; id=a b", id), -1);
	assert_true(sts_txt_is_sts("v=STSv1; id=a", 13));
	assert_false(sts_txt_is_sts("v=STSv1 ; id=a", 14));
	assert_false(sts_txt_is_sts("v=spf1 -all", 11));
}

static int
pol(const char *s, struct sts_policy *p)
{
	char err[128];
	return sts_policy_parse(s, strlen(s), p, err, sizeof(err));
}

static void
test_policy(void **state)
{
	struct sts_policy *p = malloc(sizeof(*p));
	(void)state;

	assert_int_equal(pol("version: STSv1\nmode: enforce\nmx: mail.example.com\n"
			     "mx: *.example.net\nmx: backupmx.example.com\nmax_age: 604800\n",
			     p),
	    0);
	assert_int_equal(p->mode, STS_MODE_ENFORCE);
	assert_int_equal(p->max_age, 604800);
	assert_int_equal(p->mx_count, 3);
	assert_string_equal(p->mx[1], "*.example.net");
	/* CRLF, no final newline, spaces around the value, case of patterns */
	assert_int_equal(
	    pol("version: STSv1\r\nmode:testing\r\nmx:  MX.Example.TEST \r\nmax_age: 0", p), 0);
	assert_int_equal(p->mode, STS_MODE_TESTING);
	assert_string_equal(p->mx[0], "mx.example.test");
	/* duplicate mode: the first wins */
	assert_int_equal(
	    pol("version: STSv1\nmode: testing\nmode: enforce\nmx: a.test\nmax_age: 1\n", p), 0);
	assert_int_equal(p->mode, STS_MODE_TESTING);
	/* none needs no mx; extensions are ignored */
	assert_int_equal(pol("version: STSv1\nmode: none\nmax_age: 86400\nfoo_bar: x y\n", p), 0);
	assert_int_equal(p->mode, STS_MODE_NONE);
	/* refusals */
	assert_int_equal(pol("version: STSv1\nmode: enforce\nmx: a.test\nmax_age: 31557601\n", p),
	    -1);
	assert_int_equal(pol("version: STSv1\nmode: enforce\nmx: a.test\nmax_age: 31557600\n", p),
	    0);
	assert_int_equal(pol("version: STSv1\nmode: enforce\nmax_age: 1\n", p), -1);
	assert_int_equal(pol("mode: enforce\nmx: a.test\nmax_age: 1\n", p), -1);
	assert_int_equal(pol("version: STSv1\nmx: a.test\nmax_age: 1\n", p), -1);
	assert_int_equal(pol("version: STSv1\nmode: enforce\nmx: a.test\n", p), -1);
	assert_int_equal(pol("version: STSv1\nmode: strict\nmx: a.test\nmax_age: 1\n", p), -1);
	assert_int_equal(pol("version: STSv1\nmode: enforce\nmx: a.*.test\nmax_age: 1\n", p), -1);
	assert_int_equal(pol("version: STSv1\nmode: enforce\nmx: *\nmax_age: 1\n", p), -1);
	assert_int_equal(pol("version: STSv1\nmode: enforce\nmx: a..test\nmax_age: 1\n", p), -1);
	assert_int_equal(pol("version: STSv1\nmode: enforce\nmx: a.test\nmax_age: -1\n", p), -1);
	assert_int_equal(pol("version: STSv1\nmode: enforce\nmx: a.test\nmax_age: 1x\n", p), -1);
	assert_int_equal(pol("version: STSv1\nmode: enforce\nmx a.test\nmax_age: 1\n", p), -1);
	assert_int_equal(pol("version: STSv1\nmode: enforce\rmx: a.test\nmax_age: 1\n", p), -1);
	assert_int_equal(pol("<html>\n", p), -1);
	free(p);
}

static void
test_match(void **state)
{
	(void)state;
	assert_true(sts_mx_match("mail.example.com", "mail.example.com"));
	assert_true(sts_mx_match("mail.example.com", "MAIL.Example.com."));
	assert_false(sts_mx_match("mail.example.com", "xmail.example.com"));
	assert_true(sts_mx_match("*.example.net", "mx1.example.net"));
	assert_true(sts_mx_match("*.example.net", "mx1.example.net."));
	assert_false(sts_mx_match("*.example.net", "example.net"));
	assert_false(sts_mx_match("*.example.net", "a.b.example.net"));
	assert_false(sts_mx_match("*.example.net", ".example.net"));
	assert_false(sts_mx_match("*.example.net", "mx1.example.network"));
	assert_false(sts_mx_match("*.example.net", "mx1xexample.net"));
	assert_false(sts_mx_match("mail.example.com", "mail.example.co"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_txt),
		cmocka_unit_test(test_policy),
		cmocka_unit_test(test_match),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
