/*
 * test_name_match.c - cmocka tests of tls_name_match(), the RFC 6125
 * comparison of one reference pattern with one presented DNS name.
 *
 * Covers docs/security-cases.md section 2, cases 16-19 (wildcards, NUL
 * bytes, IDN) plus trailing dots, case, suffix patterns and malformed input.
 * Presented names are passed with explicit lengths, as they come out of a
 * certificate.
 */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

/* tls */
#include "tls_verify.h"

struct name_case {
	const char *pattern;
	const char *name;
	int expect;
};

/* The presented name is taken with strlen(); NUL cases are separate. */
static void
run_cases(const struct name_case *cases, size_t count)
{
	size_t i;
	int got;

	for (i = 0; i < count; i++) {
		got = tls_name_match(cases[i].pattern, cases[i].name, strlen(cases[i].name));
		if (got != cases[i].expect)
			fail_msg("pattern \"%s\" vs presented \"%s\": got %d, want %d",
			    cases[i].pattern, cases[i].name, got, cases[i].expect);
	}
}

#define RUN(cases) run_cases((cases), sizeof(cases) / sizeof((cases)[0]))

static void
test_exact(void **state)
{
	static const struct name_case cases[] = {
		{ "mx.example.test", "mx.example.test", 1 },
		{ "mx.example.test", "MX.Example.TEST", 1 },
		{ "MX.EXAMPLE.TEST", "mx.example.test", 1 },
		{ "mx.example.test", "mx.example.test.", 1 },
		{ "mx.example.test.", "mx.example.test", 1 },
		{ "mx.example.test.", "mx.example.test.", 1 },
		{ "mx.example.test", "mx.example.test..", 0 },
		{ "mx.example.test", "other.example.test", 0 },
		{ "mx.example.test", "example.test", 0 },
		{ "mx.example.test", "a.mx.example.test", 0 },
		{ "mx.example.test", "mx.example.tes", 0 },
		{ "mx.example.test", "mx.example.testx", 0 },
		{ "mx.example.test", "xmx.example.test", 0 },
		{ "localhost", "localhost", 1 },
		{ "_25._tcp.mx.example.test", "_25._tcp.mx.example.test", 1 },
		{ "a-b.example.test", "a-b.example.test", 1 },
	};

	(void)state;
	RUN(cases);
}

static void
test_malformed(void **state)
{
	static const struct name_case cases[] = {
		{ "", "", 0 },
		{ "", "mx.example.test", 0 },
		{ "mx.example.test", "", 0 },
		{ ".", ".", 0 },
		{ "mx.example.test", ".", 0 },
		{ "mx..example.test", "mx..example.test", 0 },
		{ ".mx.example.test", "..mx.example.test", 0 },
		{ "mx.example.test", ".mx.example.test", 0 },
		{ "mx example.test", "mx example.test", 0 },
		{ "mx.example.test", "mx.example.test ", 0 },
		{ "mx.example.test", "mx.example.test\t", 0 },
		{ "mx.example.test", "mx.example.test/", 0 },
		{ "mx.example.test", "mx.example.test\r\n", 0 },
		{ "mx@example.test", "mx@example.test", 0 },
		/* Patterns never hold wildcards. */
		{ "*.example.test", "*.example.test", 0 },
		{ "*.example.test", "mx.example.test", 0 },
	};

	(void)state;
	RUN(cases);
}

/* Case 16: "*" only as the entire left-most label, one label, not a TLD. */
static void
test_wildcards(void **state)
{
	static const struct name_case cases[] = {
		{ "mx.example.test", "*.example.test", 1 },
		{ "MX.EXAMPLE.TEST", "*.Example.Test", 1 },
		{ "mx.example.test", "*.example.test.", 1 },
		{ "a.b.example.test", "*.example.test", 0 },
		{ "example.test", "*.example.test", 0 },
		{ "mx.example.test", "*.test", 0 },
		{ "example.test", "*.test", 0 },
		{ "mx.example.test", "*", 0 },
		{ "mx.example.test", "*.", 0 },
		{ "mx.example.test", "mx.*.test", 0 },
		{ "mx.example.test", "m*.example.test", 0 },
		{ "mx.example.test", "*x.example.test", 0 },
		{ "x.example.test", "*x.example.test", 0 },
		{ "mx.example.test", "mx*.example.test", 0 },
		{ "mx.example.test", "**.example.test", 0 },
		{ "mx.example.test", "*.*.test", 0 },
		{ "mx.example.test", "mx.example.*", 0 },
		{ "mx.example.test", ".example.test", 0 },
		{ "a.example.test", "*.example.test", 1 },
		{ "a-b.example.test", "*.example.test", 1 },
		{ "mx.sub.example.test", "*.sub.example.test", 1 },
	};

	(void)state;
	RUN(cases);
}

/*
 * Pinned choice: one wildcard label matches exactly one label, stricter
 * than Postfix's tls_wildcard_matches_multiple_labels=yes default.
 */
static void
test_wildcard_single_label(void **state)
{
	(void)state;
	assert_int_equal(tls_name_match("a.example.test", "*.example.test", 14), 1);
	assert_int_equal(tls_name_match("a.b.example.test", "*.example.test", 14), 0);
	assert_int_equal(tls_name_match("a.b.c.example.test", "*.example.test", 14), 0);
}

/* Suffix patterns (dot-nexthop): one or more labels, then the suffix. */
static void
test_suffix(void **state)
{
	static const struct name_case cases[] = {
		{ ".example.test", "mx.example.test", 1 },
		{ ".example.test", "a.b.example.test", 1 },
		{ ".example.test", "MX.EXAMPLE.TEST.", 1 },
		{ ".example.test.", "mx.example.test", 1 },
		{ ".example.test", "example.test", 0 },
		{ ".example.test", "xexample.test", 0 },
		{ ".example.test", "mx.example.test.evil", 0 },
		{ ".example.test", "mx.other.test", 0 },
		{ ".example.test", ".example.test", 0 },
		{ ".example.test", "*.example.test", 1 },
		{ ".example.test", "*.sub.example.test", 1 },
		{ ".example.test", "*.test", 0 },
		{ ".example.test", "m*.example.test", 0 },
		{ ".test", "example.test", 1 },
		{ ".", "mx.example.test", 0 },
		{ "..example.test", "mx.example.test", 0 },
	};

	(void)state;
	RUN(cases);
}

/* Case 18: a NUL inside the presented name never matches. */
static void
test_nul_bytes(void **state)
{
	static const char nul_mid[] = "mx.example.test\0.evil.test";
	static const char nul_end[] = "mx.example.test\0";
	static const char nul_start[] = "\0mx.example.test";
	static const char nul_wild[] = "*.example.test\0.evil";

	(void)state;
	assert_int_equal(tls_name_match("mx.example.test", nul_mid, sizeof(nul_mid) - 1), 0);
	assert_int_equal(tls_name_match(".evil.test", nul_mid, sizeof(nul_mid) - 1), 0);
	assert_int_equal(tls_name_match("mx.example.test", nul_end, sizeof(nul_end) - 1), 0);
	assert_int_equal(tls_name_match("mx.example.test", nul_start, sizeof(nul_start) - 1), 0);
	assert_int_equal(tls_name_match("mx.example.test", nul_wild, sizeof(nul_wild) - 1), 0);
	/* The explicit length is honoured: a shorter prefix is its own name. */
	assert_int_equal(tls_name_match("mx.example", nul_mid, 10), 1);
	assert_int_equal(tls_name_match("mx.example.test", nul_mid, 10), 0);
}

/* Case 19: IDN as A-labels; a wildcard never stands for an A-label. */
static void
test_idn(void **state)
{
	static const struct name_case cases[] = {
		{ "mx.xn--bcher-kva.test", "mx.xn--bcher-kva.test", 1 },
		{ "mx.xn--bcher-kva.test", "MX.XN--BCHER-KVA.TEST", 1 },
		{ "mx.xn--bcher-kva.test", "*.xn--bcher-kva.test", 1 },
		{ "xn--bcher-kva.example.test", "*.example.test", 0 },
		{ "XN--bcher-kva.example.test", "*.example.test", 0 },
		{ "xn--bcher-kva.example.test", "xn--*.example.test", 0 },
		{ "xn--bcher-kva.example.test", "xn--bcher-kva.example.test", 1 },
		{ "xn-bcher.example.test", "*.example.test", 1 },
		/* Raw UTF-8 (not IA5) is refused on both sides. */
		{ "mx.b\xc3\xbc"
		  "cher.test",
		    "mx.b\xc3\xbc"
		    "cher.test",
		    0 },
		{ "mx.xn--bcher-kva.test",
		    "mx.b\xc3\xbc"
		    "cher.test",
		    0 },
		{ "mx.example.test", "mx.example.test\xc3\xa9", 0 },
		{ "mx.example.test", "mx.example.test\x80", 0 },
		{ "mx.example.test",
		    "\xff"
		    "mx.example.test",
		    0 },
	};

	(void)state;
	RUN(cases);
}

static void
test_bounds(void **state)
{
	char longname[300], label64[80];

	(void)state;
	/* 253 characters is the longest DNS name; 254 is refused. */
	memset(longname, 'a', sizeof(longname));
	for (size_t i = 63; i < sizeof(longname); i += 64)
		longname[i] = '.';
	longname[253] = 0;
	assert_int_equal(tls_name_match(longname, longname, 253), 1);
	longname[253] = 'a';
	longname[254] = 0;
	assert_int_equal(tls_name_match(longname, longname, 254), 0);
	/* 63-character labels pass, 64 do not. */
	memset(label64, 'b', 64);
	memcpy(label64 + 64, ".test", 6);
	assert_int_equal(tls_name_match(label64, label64, 69), 0);
	assert_int_equal(tls_name_match(label64 + 1, label64 + 1, 68), 1);
	assert_int_equal(tls_name_match(NULL, "mx.example.test", 15), 0);
	assert_int_equal(tls_name_match("mx.example.test", NULL, 0), 0);
}

static void
test_status_names(void **state)
{
	(void)state;
	assert_string_equal(tls_peer_status_name(TLS_PEER_ANONYMOUS), "Anonymous");
	assert_string_equal(tls_peer_status_name(TLS_PEER_UNTRUSTED), "Untrusted");
	assert_string_equal(tls_peer_status_name(TLS_PEER_TRUSTED), "Trusted");
	assert_string_equal(tls_peer_status_name(TLS_PEER_VERIFIED), "Verified");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_exact),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_wildcards),
		cmocka_unit_test(test_wildcard_single_label),
		cmocka_unit_test(test_suffix),
		cmocka_unit_test(test_nul_bytes),
		cmocka_unit_test(test_idn),
		cmocka_unit_test(test_bounds),
		cmocka_unit_test(test_status_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
