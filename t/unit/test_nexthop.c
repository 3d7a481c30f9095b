/*
 * test_nexthop.c - unit tests for nexthop.c: every next-hop form, case
 * folding, trailing dots, IDN (U-label -> A-label), rejections, the order
 * of policy lookup keys, and destination lists (separators, empty
 * elements, one key per element, a bad element refuses the whole list).
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

/* policymap */
#include "policymap.h"

static void
check_parse(const char *text, enum nexthop_kind kind, const char *key, const char *host,
    const char *port)
{
	struct nexthop nh;
	char err[256];

	err[0] = 0;
	if (nexthop_parse(text, &nh, err, sizeof(err)) != 0)
		fail_msg("\"%s\" rejected: %s", text, err);
	if (nh.kind != kind)
		fail_msg("\"%s\": kind %d, expected %d", text, (int)nh.kind, (int)kind);
	if (strcmp(nh.key, key) != 0)
		fail_msg("\"%s\": key \"%s\", expected \"%s\"", text, nh.key, key);
	if (strcmp(nh.host, host) != 0)
		fail_msg("\"%s\": host \"%s\", expected \"%s\"", text, nh.host, host);
	if (strcmp(nh.port, port) != 0)
		fail_msg("\"%s\": port \"%s\", expected \"%s\"", text, nh.port, port);
	assert_int_equal(nh.has_port, port[0] != 0);
}

static void
check_error(const char *text, const char *fragment)
{
	struct nexthop nh;
	char err[256];

	err[0] = 0;
	if (nexthop_parse(text, &nh, err, sizeof(err)) == 0)
		fail_msg("\"%s\" accepted (key \"%s\")", text, nh.key);
	if (strstr(err, fragment) == NULL)
		fail_msg("\"%s\": error \"%s\" lacks \"%s\"", text, err, fragment);
	/* Nothing half-parsed is left behind. */
	assert_string_equal(nh.key, "");
	assert_string_equal(nh.host, "");
}

static void
test_domains(void **state)
{
	(void)state;
	check_parse("example.com", NEXTHOP_DOMAIN, "example.com", "example.com", "");
	check_parse("Example.COM", NEXTHOP_DOMAIN, "example.com", "example.com", "");
	check_parse("example.com.", NEXTHOP_DOMAIN, "example.com", "example.com", "");
	check_parse("localhost", NEXTHOP_DOMAIN, "localhost", "localhost", "");
	check_parse("_srv.example", NEXTHOP_DOMAIN, "_srv.example", "_srv.example", "");
	check_parse("a-b.1x.example", NEXTHOP_DOMAIN, "a-b.1x.example", "a-b.1x.example", "");
	check_parse("xn--bcher-kva.example", NEXTHOP_DOMAIN, "xn--bcher-kva.example",
	    "xn--bcher-kva.example", "");
}

static void
test_domain_ports(void **state)
{
	(void)state;
	check_parse("example.com:2525", NEXTHOP_DOMAIN, "example.com:2525", "example.com", "2525");
	check_parse("example.com:smtp", NEXTHOP_DOMAIN, "example.com:smtp", "example.com", "smtp");
	check_parse("Example.Com:SMTP", NEXTHOP_DOMAIN, "example.com:smtp", "example.com", "smtp");
	check_parse("example.com:25", NEXTHOP_DOMAIN, "example.com:25", "example.com", "25");
	check_parse("example.com.:25", NEXTHOP_DOMAIN, "example.com:25", "example.com", "25");
	check_parse("example.com:1", NEXTHOP_DOMAIN, "example.com:1", "example.com", "1");
	check_parse("example.com:65535", NEXTHOP_DOMAIN, "example.com:65535", "example.com",
	    "65535");
	check_parse("example.com:submission", NEXTHOP_DOMAIN, "example.com:submission",
	    "example.com", "submission");
	check_parse("example.com:x-25", NEXTHOP_DOMAIN, "example.com:x-25", "example.com", "x-25");
}

static void
test_bracketed_hosts(void **state)
{
	(void)state;
	check_parse("[mx.example.com]", NEXTHOP_HOST, "[mx.example.com]", "mx.example.com", "");
	check_parse("[MX.Example.com]:587", NEXTHOP_HOST, "[mx.example.com]:587", "mx.example.com",
	    "587");
	check_parse("[mx.example.com.]", NEXTHOP_HOST, "[mx.example.com]", "mx.example.com", "");
	check_parse("[relay]:submission", NEXTHOP_HOST, "[relay]:submission", "relay",
	    "submission");
}

static void
test_address_literals(void **state)
{
	(void)state;
	check_parse("[192.0.2.1]", NEXTHOP_IPV4, "[192.0.2.1]", "192.0.2.1", "");
	check_parse("[192.0.2.1]:2525", NEXTHOP_IPV4, "[192.0.2.1]:2525", "192.0.2.1", "2525");
	check_parse("[ipv6:2001:db8::1]", NEXTHOP_IPV6, "[ipv6:2001:db8::1]", "2001:db8::1", "");
	check_parse("[IPv6:2001:DB8::1]:25", NEXTHOP_IPV6, "[ipv6:2001:db8::1]:25", "2001:db8::1",
	    "25");
	check_parse("[IPV6:::1]", NEXTHOP_IPV6, "[ipv6:::1]", "::1", "");
	check_parse("[ipv6:::ffff:192.0.2.1]", NEXTHOP_IPV6, "[ipv6:::ffff:192.0.2.1]",
	    "::ffff:192.0.2.1", "");
	/* Kept as written: no canonical re-formatting of the address. */
	check_parse("[ipv6:2001:0db8:0:0:0:0:0:1]", NEXTHOP_IPV6, "[ipv6:2001:0db8:0:0:0:0:0:1]",
	    "2001:0db8:0:0:0:0:0:1", "");
	/* Without the tag, as smtp(8) also accepts. */
	check_parse("[2001:db8::1]:587", NEXTHOP_IPV6, "[2001:db8::1]:587", "2001:db8::1", "587");
}

static void
test_idn(void **state)
{
	(void)state;
	check_parse("b\xc3\xbc"
		    "cher.example",
	    NEXTHOP_DOMAIN, "xn--bcher-kva.example", "xn--bcher-kva.example", "");
	check_parse("B\xc3\x9c"
		    "CHER.Example:25",
	    NEXTHOP_DOMAIN, "xn--bcher-kva.example:25", "xn--bcher-kva.example", "25");
	check_parse("[mail.b\xc3\xbc"
		    "cher.example]:587",
	    NEXTHOP_HOST, "[mail.xn--bcher-kva.example]:587", "mail.xn--bcher-kva.example", "587");
	/* Japanese: 例え.テスト */
	check_parse("\xe4\xbe\x8b\xe3\x81\x88.\xe3\x83\x86\xe3\x82\xb9\xe3\x83\x88", NEXTHOP_DOMAIN,
	    "xn--r8jz45g.xn--zckzah", "xn--r8jz45g.xn--zckzah", "");
	check_error("b\xc3"
		    "cher.example",
	    "invalid internationalized domain name");
	check_error("\xff\xfe.example", "invalid internationalized domain name");
}

static void
test_errors(void **state)
{
	(void)state;
	check_error("", "empty next-hop");
	check_error("[]", "empty host name");
	check_error("[]:25", "empty host name");
	check_error(".", "empty host name");
	check_error(":25", "empty host name");
	check_error("[mx.example.com", "missing \"]\"");
	check_error("mx.example.com]", "unbalanced brackets");
	check_error("[[mx.example.com]]", "unbalanced brackets");
	check_error("[mx.example.com]]", "unbalanced brackets");
	check_error("[mx.example.com]x", "garbage after \"]\"");
	check_error("[mx.example.com]:", "empty port");
	check_error("example.com:", "empty port");
	check_error("example.com:0", "out of range");
	check_error("example.com:65536", "out of range");
	check_error("example.com:99999999999999999999", "out of range");
	check_error("example.com:smtp_x", "invalid port");
	check_error("example.com:-smtp", "invalid port");
	check_error("example.com:smtp-", "invalid port");
	check_error("example.com:25:26", "too many ':'");
	check_error("2001:db8::1", "too many ':'");
	check_error("example.com:abcdefghijabcdefghijabcdefghijab", "too long");
	check_error("exa mple.com", "contains a space");
	check_error(" example.com", "contains a space");
	check_error("example.com\n", "control character 0x0a");
	check_error("example.com\r", "control character 0x0d");
	check_error("exam\tple.com", "control character 0x09");
	check_error("example\x7f.com", "control character 0x7f");
	check_error("192.0.2.1", "numeric host name");
	check_error("[192.0.2]", "bad IPv4 address literal");
	check_error("[192.0.2.256]", "bad IPv4 address literal");
	check_error("[ipv6:]", "bad IPv6 address literal");
	check_error("[ipv6:2001:db8::g]", "bad IPv6 address literal");
	check_error("[ipv6:192.0.2.1]", "bad IPv6 address literal");
	check_error("[ipv6:fe80::1%eth0]", "bad IPv6 address literal");
	check_error("[2001:db8:::1]", "bad IPv6 address literal");
	check_error("a..example", "empty label");
	check_error(".example.com", "empty label");
	check_error("example.com..", "empty label");
	check_error("-a.example", "misplaced '-'");
	check_error("a-.example", "misplaced '-'");
	check_error("ex@mple.com", "invalid character");
	check_error("ex/mple.com", "invalid character");
	check_error("*.example.com", "invalid character");
	/* ASCII punctuation next to U-labels is refused, not dropped by the mapping. */
	check_error("a\xd6\x9axal#m,example", "invalid character");
	check_error("b\xc3\xbc"
		    "cher,x.example",
	    "invalid character");
	check_error("b\xc3\xbc"
		    "cher#x.example",
	    "invalid character");
}

static void
test_lengths(void **state)
{
	char label63[64], text[2048];
	struct nexthop nh;
	char err[256];

	(void)state;
	memset(label63, 'a', 63);
	label63[63] = 0;
	snprintf(text, sizeof(text), "%s.example", label63);
	assert_int_equal(nexthop_parse(text, &nh, err, sizeof(err)), 0);
	snprintf(text, sizeof(text), "%sb.example", label63);
	check_error(text, "label longer than 63");
	/* 253 characters accepted, 254 refused. */
	snprintf(text, sizeof(text), "%s.%s.%s.%.61s", label63, label63, label63, label63);
	assert_int_equal(nexthop_parse(text, &nh, err, sizeof(err)), 0);
	assert_int_equal(strlen(nh.host), 253);
	snprintf(text, sizeof(text), "[%s.%s.%s.%.61s]:65535", label63, label63, label63, label63);
	assert_int_equal(nexthop_parse(text, &nh, err, sizeof(err)), 0);
	snprintf(text, sizeof(text), "%s.%s.%s.%.62s", label63, label63, label63, label63);
	check_error(text, "longer than 253");
	memset(text, 'a', sizeof(text) - 1);
	text[sizeof(text) - 1] = 0;
	check_error(text, "longer than 1023");
	memset(text, 'a', 1000);
	text[1000] = 0;
	check_error(text, "host name longer than 253");
}

static void
check_keys(const char *text, size_t max, size_t expected_count, const char *const *expected)
{
	char keys[8][NEXTHOP_KEY_MAX];
	struct nexthop nh;
	char err[256];
	size_t n;

	assert_true(max <= 8);
	if (nexthop_parse(text, &nh, err, sizeof(err)) != 0)
		fail_msg("\"%s\" rejected: %s", text, err);
	n = nexthop_lookup_keys(&nh, keys, max);
	if (n != expected_count)
		fail_msg("\"%s\": %zu keys, expected %zu", text, n, expected_count);
	for (size_t i = 0; i < n; i++)
		if (strcmp(keys[i], expected[i]) != 0)
			fail_msg("\"%s\": key %zu is \"%s\", expected \"%s\"", text, i, keys[i],
			    expected[i]);
}

static void
test_lookup_keys(void **state)
{
	static const char *const deep[] = {
		"a.b.example.com",
		".b.example.com",
		".example.com",
		".com",
	};
	static const char *const idn[] = { "xn--bcher-kva.example", ".example" };
	static const char *const single[] = { "localhost" };
	static const char *const port[] = { "a.b.example.com:25" };
	static const char *const host[] = { "[a.b.example.com]" };
	static const char *const v4[] = { "[192.0.2.1]:25" };
	static const char *const v6[] = { "[ipv6:2001:db8::1]" };

	(void)state;
	check_keys("A.B.Example.COM.", 8, 4, deep);
	check_keys("b\xc3\xbc"
		   "cher.example",
	    8, 2, idn);
	check_keys("localhost", 8, 1, single);
	check_keys("a.b.example.com:25", 8, 1, port);
	check_keys("[a.b.example.com]", 8, 1, host);
	check_keys("[192.0.2.1]:25", 8, 1, v4);
	check_keys("[IPv6:2001:db8::1]", 8, 1, v6);
	/* Capped at max, in order. */
	check_keys("a.b.example.com", 2, 2, deep);
	check_keys("a.b.example.com", 1, 1, deep);
	check_keys("a.b.example.com", 0, 0, deep);
}

static void
test_lookup_keys_unparsed(void **state)
{
	char keys[2][NEXTHOP_KEY_MAX];
	struct nexthop nh;
	char err[64];

	(void)state;
	assert_int_equal(nexthop_parse("[", &nh, err, sizeof(err)), -1);
	assert_int_equal(nexthop_lookup_keys(&nh, keys, 2), 0);
}

/* Parsing a key again gives the same key: keys are canonical. */
static void
test_key_is_fixed_point(void **state)
{
	static const char *const inputs[] = {
		"Example.COM.",
		"b\303\274cher.example:SMTP",
		"[MX.example.]:587",
		"[IPv6:2001:DB8::1]",
		"[192.0.2.1]",
		"[2001:DB8::1]:25",
	};
	struct nexthop first, second;
	char err[256];

	(void)state;
	for (size_t i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++) {
		assert_int_equal(nexthop_parse(inputs[i], &first, err, sizeof(err)), 0);
		assert_int_equal(nexthop_parse(first.key, &second, err, sizeof(err)), 0);
		assert_string_equal(first.key, second.key);
		assert_string_equal(first.host, second.host);
		assert_int_equal(first.kind, second.kind);
	}
}

/* A list parses into the expected keys, in order. */
static void
check_list(const char *text, size_t max, size_t expected_count, const char *const *keys)
{
	struct nexthop out[8];
	char err[256];
	int n;

	assert_true(max <= 8);
	err[0] = 0;
	n = nexthop_list_parse(text, out, max, err, sizeof(err));
	if (n < 0)
		fail_msg("\"%s\" rejected: %s", text, err);
	if ((size_t)n != expected_count)
		fail_msg("\"%s\": %d destinations, expected %zu", text, n, expected_count);
	for (size_t i = 0; i < expected_count; i++)
		if (strcmp(out[i].key, keys[i]) != 0)
			fail_msg("\"%s\": destination %zu is \"%s\", expected \"%s\"", text, i,
			    out[i].key, keys[i]);
}

static void
check_list_error(const char *text, size_t max, const char *fragment)
{
	struct nexthop out[8];
	char err[256];

	err[0] = 0;
	if (nexthop_list_parse(text, out, max, err, sizeof(err)) != -1)
		fail_msg("\"%s\" accepted", text);
	if (strstr(err, fragment) == NULL)
		fail_msg("\"%s\": error \"%s\" lacks \"%s\"", text, err, fragment);
}

static void
test_lists(void **state)
{
	static const char *const ab[] = { "[a.example]:587", "[b.example]:587" };
	static const char *const mixed[] = {
		"example.com",
		"[192.0.2.1]:2525",
		"[ipv6:2001:db8::1]",
		"relay.example:smtp",
	};
	static const char *const one[] = { "example.com" };

	(void)state;
	/* Postfix's separators: commas and white space, in any mixture. */
	check_list("[a.example]:587, [b.example]:587", 8, 2, ab);
	check_list("[a.example]:587,[b.example]:587", 8, 2, ab);
	check_list("[a.example]:587 [b.example]:587", 8, 2, ab);
	check_list("[A.Example]:587\t\r\n[b.example.]:587", 8, 2, ab);
	/* Empty elements and outer separators are skipped. */
	check_list(" ,[a.example]:587,, ,[b.example]:587, ", 8, 2, ab);
	check_list("Example.COM. [192.0.2.1]:2525,[IPv6:2001:db8::1] relay.example:SMTP", 8, 4,
	    mixed);
	/* A single destination is a list of one, outer white space allowed. */
	check_list("example.com", 8, 1, one);
	check_list("  example.com\n", 8, 1, one);
	check_list("", 8, 0, one);
	check_list(" , ,\t", 8, 0, one);
	check_list("[a.example]:587, [b.example]:587", 2, 2, ab);
	assert_int_equal(nexthop_list_parse(NULL, NULL, 0, NULL, 0), 0);
}

static void
test_list_errors(void **state)
{
	char text[3000];

	(void)state;
	/* Any bad element refuses the whole list, naming the element. */
	check_list_error("[a.example]:587, [b.example:587", 8,
	    "destination 2 of 2 in the list \"[b.example:587\": missing \"]\"");
	check_list_error("exa\x01mple.com, [b.example]", 8,
	    "destination 1 of 2 in the list \"exa\x01mple.com\": next-hop destination contains "
	    "control character 0x01");
	check_list_error("a.example, 192.0.2.1, b.example", 8, "destination 2 of 3");
	check_list_error("a.example, b.example:0", 8, "out of range");
	/* One element: the reason alone, as nexthop_parse() gives it. */
	check_list_error("[b.example", 8, "missing \"]\" in \"[b.example\"");
	check_list_error(" 192.0.2.1 ", 8, "numeric host name");
	/* More destinations than room. */
	check_list_error("a.example b.example c.example", 2, "more than 2 next-hop destinations");
	/* An over-long element is refused, not split. */
	memset(text, 'a', sizeof(text) - 1);
	text[sizeof(text) - 1] = 0;
	text[0] = ' ';
	check_list_error(text, 8, "longer than 1023");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_domains),
		cmocka_unit_test(test_domain_ports),
		cmocka_unit_test(test_bracketed_hosts),
		cmocka_unit_test(test_address_literals),
		cmocka_unit_test(test_idn),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_lengths),
		cmocka_unit_test(test_lookup_keys),
		cmocka_unit_test(test_lookup_keys_unparsed),
		cmocka_unit_test(test_key_is_fixed_point),
		cmocka_unit_test(test_lists),
		cmocka_unit_test(test_list_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
