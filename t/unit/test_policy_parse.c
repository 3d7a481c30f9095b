/*
 * test_policy_parse.c - unit tests for policy_parse.c: every rejection
 * path with its Postfix wording, the level/attribute legality matrix,
 * single-use vs repeatable attributes, match= parsing for each level,
 * separators, case rules and the examples from Postfix's documentation.
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

static const char *const all_levels[] = {
	"none",
	"may",
	"encrypt",
	"fingerprint",
	"dane",
	"dane-only",
	"verify",
	"secure",
};
#define LEVEL_COUNT (sizeof(all_levels) / sizeof(all_levels[0]))

#define FP_SHA256 "b6b4ee1a3f0c4ad1c8f2d7e6a5b4c3d2e1f00112233445566778899aabbccdde"
#define FP_SHA256_COLONS                                   \
	"B6:B4:EE:1A:3F:0C:4A:D1:C8:F2:D7:E6:A5:B4:C3:D2:" \
	"E1:F0:01:12:23:34:45:56:67:78:89:9A:AB:BC:CD:DE"
#define FP_MD5 "51e9a3c2d4b5f60718293a4b5c6d7e8f"

/* Parse a value that must be accepted; the caller frees *p. */
static void
parse_ok(const char *value, struct tls_policy *p)
{
	char err[512];

	err[0] = 0;
	if (tls_policy_parse(value, p, err, sizeof(err)) != 0)
		fail_msg("\"%s\" rejected: %s", value, err);
	assert_int_not_equal(p->level, TLS_LEVEL_INVALID);
}

/* Parse a value that must be rejected with exactly this message. */
static void
parse_err(const char *value, const char *expected)
{
	struct tls_policy p;
	char err[512];

	err[0] = 0;
	if (tls_policy_parse(value, &p, err, sizeof(err)) == 0)
		fail_msg("\"%s\" accepted, expected: %s", value, expected);
	assert_int_equal(p.level, TLS_LEVEL_INVALID);
	if (strcmp(err, expected) != 0)
		fail_msg("\"%s\": got \"%s\", expected \"%s\"", value, err, expected);
	tls_policy_free(&p);
}

/* Like parse_err, but only part of the message is fixed. */
static void
parse_err_part(const char *value, const char *fragment)
{
	struct tls_policy p;
	char err[512];

	err[0] = 0;
	if (tls_policy_parse(value, &p, err, sizeof(err)) == 0)
		fail_msg("\"%s\" accepted, expected error with: %s", value, fragment);
	assert_int_equal(p.level, TLS_LEVEL_INVALID);
	if (strstr(err, fragment) == NULL)
		fail_msg("\"%s\": got \"%s\", expected it to contain \"%s\"", value, err, fragment);
	tls_policy_free(&p);
}

static int
parses(const char *value)
{
	struct tls_policy p;
	char err[512];
	int rc = tls_policy_parse(value, &p, err, sizeof(err));

	tls_policy_free(&p);
	return rc == 0;
}

static void
test_level_names(void **state)
{
	(void)state;
	assert_int_equal(tls_level_from_name("none"), TLS_LEVEL_NONE);
	assert_int_equal(tls_level_from_name("may"), TLS_LEVEL_MAY);
	assert_int_equal(tls_level_from_name("encrypt"), TLS_LEVEL_ENCRYPT);
	assert_int_equal(tls_level_from_name("fingerprint"), TLS_LEVEL_FINGERPRINT);
	assert_int_equal(tls_level_from_name("dane"), TLS_LEVEL_DANE);
	assert_int_equal(tls_level_from_name("dane-only"), TLS_LEVEL_DANE_ONLY);
	assert_int_equal(tls_level_from_name("verify"), TLS_LEVEL_VERIFY);
	assert_int_equal(tls_level_from_name("secure"), TLS_LEVEL_SECURE);
	assert_int_equal(tls_level_from_name("SeCuRe"), TLS_LEVEL_SECURE);
	assert_int_equal(tls_level_from_name("DANE-ONLY"), TLS_LEVEL_DANE_ONLY);
	assert_int_equal(tls_level_from_name("halfdane"), TLS_LEVEL_INVALID);
	assert_int_equal(tls_level_from_name("dane_only"), TLS_LEVEL_INVALID);
	assert_int_equal(tls_level_from_name(""), TLS_LEVEL_INVALID);
	assert_int_equal(tls_level_from_name(NULL), TLS_LEVEL_INVALID);
	for (size_t i = 0; i < LEVEL_COUNT; i++)
		assert_string_equal(tls_level_name(tls_level_from_name(all_levels[i])),
		    all_levels[i]);
	assert_string_equal(tls_level_name(TLS_LEVEL_HALF_DANE), "halfdane");
	assert_string_equal(tls_level_name(TLS_LEVEL_INVALID), "invalid");
	assert_string_equal(tls_level_name((enum tls_level)42), "invalid");
}

static void
test_init_free(void **state)
{
	struct tls_policy p;

	(void)state;
	tls_policy_init(&p);
	assert_int_equal(p.level, TLS_LEVEL_INVALID);
	assert_int_equal(p.cipher_grade, TLS_GRADE_INVALID);
	assert_int_equal(p.connection_reuse, -1);
	assert_int_equal(p.enable_rpk, -1);
	assert_null(p.ciphers);
	assert_int_equal(p.match_count, 0);
	tls_policy_free(&p);
	parse_ok("verify match=a.example:b.example tafile=/x ciphers=high", &p);
	tls_policy_free(&p);
	assert_int_equal(p.match_count, 0);
	assert_int_equal(p.tafile_count, 0);
	assert_null(p.ciphers);
	/* Freeing twice is harmless: free resets the structure. */
	tls_policy_free(&p);
}

static void
test_each_level_bare(void **state)
{
	struct tls_policy p;

	(void)state;
	for (size_t i = 0; i < LEVEL_COUNT; i++) {
		if (strcmp(all_levels[i], "fingerprint") == 0)
			continue;
		parse_ok(all_levels[i], &p);
		assert_string_equal(tls_level_name(p.level), all_levels[i]);
		assert_null(p.ciphers);
		assert_null(p.protocols);
		assert_null(p.exclude);
		assert_null(p.servername);
		assert_int_equal(p.cipher_grade, TLS_GRADE_INVALID);
		assert_int_equal(p.match_count, 0);
		assert_int_equal(p.note_count, 0);
		tls_policy_free(&p);
	}
	parse_ok("  \tVERIFY  ", &p);
	assert_int_equal(p.level, TLS_LEVEL_VERIFY);
	tls_policy_free(&p);
	parse_ok(",,encrypt,,", &p);
	assert_int_equal(p.level, TLS_LEVEL_ENCRYPT);
	tls_policy_free(&p);
}

static void
test_basic_errors(void **state)
{
	(void)state;
	parse_err("", "invalid empty policy");
	parse_err("   ", "invalid empty policy");
	parse_err(" , ,\t", "invalid empty policy");
	parse_err("\r\n", "invalid empty policy");
	parse_err("halfdane", "invalid security level \"halfdane\"");
	parse_err("strict", "invalid security level \"strict\"");
	parse_err("Mayy ciphers=high", "invalid security level \"Mayy\"");
	parse_err("level=may", "invalid security level \"level=may\"");
	parse_err("ciphers=high may", "invalid security level \"ciphers=high\"");
	parse_err("may ciphers",
	    "malformed attribute/value pair \"ciphers\": "
	    "missing '=' after attribute name");
	parse_err("may =high", "malformed attribute/value pair \"=high\": missing attribute name");
	parse_err("may =", "malformed attribute/value pair \"=\": missing attribute name");
	parse_err("may foo=bar", "invalid attribute name: \"foo\"");
	parse_err("may policy_type=sts", "invalid attribute name: \"policy_type\"");
	parse_err("may Cipher=high", "invalid attribute name: \"Cipher\"");
	/* The real-world mistake: commas separate tokens. */
	parse_err("may protocols=!SSLv2,!SSLv3",
	    "malformed attribute/value pair \"!SSLv3\": "
	    "missing '=' after attribute name");
	/* The first error wins. */
	parse_err("may foo=1 ciphers=", "invalid attribute name: \"foo\"");
}

static void
test_ciphers(void **state)
{
	struct tls_policy p;

	(void)state;
	parse_ok("encrypt ciphers=high", &p);
	assert_string_equal(p.ciphers, "high");
	assert_int_equal(p.cipher_grade, TLS_GRADE_HIGH);
	tls_policy_free(&p);
	parse_ok("may CIPHERS=Medium", &p);
	assert_string_equal(p.ciphers, "Medium");
	assert_int_equal(p.cipher_grade, TLS_GRADE_MEDIUM);
	tls_policy_free(&p);
	parse_ok("may ciphers=export", &p);
	assert_int_equal(p.cipher_grade, TLS_GRADE_EXPORT);
	tls_policy_free(&p);
	parse_ok("may ciphers=low", &p);
	assert_int_equal(p.cipher_grade, TLS_GRADE_LOW);
	tls_policy_free(&p);
	parse_ok("may ciphers=null", &p);
	assert_int_equal(p.cipher_grade, TLS_GRADE_NULL);
	tls_policy_free(&p);
	parse_err("may ciphers=", "attribute \"ciphers\" has empty value");
	parse_err("may ciphers=high ciphers=high",
	    "attribute \"ciphers\" is specified multiple times");
	parse_err("may ciphers=high Ciphers=low",
	    "attribute \"Ciphers\" is specified multiple times");
	parse_err("may ciphers=ultra", "invalid cipher grade \"ultra\"");
	parse_err("may ciphers=HIGH:!aNULL", "invalid cipher grade \"HIGH:!aNULL\"");
	/* Postfix checks for an empty value before the repetition. */
	parse_err("may ciphers=high ciphers=", "attribute \"ciphers\" has empty value");
}

static void
test_protocols(void **state)
{
	struct tls_policy p;

	(void)state;
	parse_ok("encrypt protocols=>=TLSv1.2", &p);
	assert_string_equal(p.protocols, ">=TLSv1.2");
	assert_int_equal(p.protocol_mask, TLS_PROTO_TLSv1_2 | TLS_PROTO_TLSv1_3);
	tls_policy_free(&p);
	parse_ok("may protocols=!SSLv2:!SSLv3", &p);
	assert_string_equal(p.protocols, "!SSLv2:!SSLv3");
	assert_int_equal(p.protocol_mask, TLS_PROTO_ALL & ~(TLS_PROTO_SSLv2 | TLS_PROTO_SSLv3));
	tls_policy_free(&p);
	parse_ok("secure Protocols=>=0x0303:<=TLSv1.3", &p);
	assert_int_equal(p.protocol_mask, TLS_PROTO_TLSv1_2 | TLS_PROTO_TLSv1_3);
	tls_policy_free(&p);
	/* Empty means all protocols, as in Postfix. */
	parse_ok("may protocols=", &p);
	assert_non_null(p.protocols);
	assert_string_equal(p.protocols, "");
	assert_int_equal(p.protocol_mask, TLS_PROTO_ALL);
	tls_policy_free(&p);
	parse_err("may protocols=TLSv1.2 protocols=TLSv1.3",
	    "attribute \"protocols\" is specified multiple times");
	parse_err("may protocols=TLSv1.4",
	    "invalid TLS protocol list \"TLSv1.4\": unknown protocol \"TLSv1.4\"");
	parse_err_part("may protocols=>=TLSv1.3:<=TLSv1.2",
	    "invalid TLS protocol list \">=TLSv1.3:<=TLSv1.2\"");
	parse_err_part("may protocols=>=", "invalid TLS protocol list \">=\"");
}

static void
test_exclude(void **state)
{
	struct tls_policy p;

	(void)state;
	parse_ok("may exclude=3DES", &p);
	assert_string_equal(p.exclude, "3DES");
	tls_policy_free(&p);
	parse_ok(
	    "secure exclude=aNULL:eNULL:ECDHE-RSA-AES128-SHA:kRSA:TLS_AES_128_CCM_SHA256:RC4+RSA",
	    &p);
	assert_string_equal(p.exclude,
	    "aNULL:eNULL:ECDHE-RSA-AES128-SHA:kRSA:TLS_AES_128_CCM_SHA256:RC4+RSA");
	tls_policy_free(&p);
	/* An empty exclusion list replaces main.cf's with nothing (Postfix accepts it). */
	parse_ok("may exclude=", &p);
	assert_string_equal(p.exclude, "");
	tls_policy_free(&p);
	parse_ok("may exclude=RC4::MD5", &p);
	assert_string_equal(p.exclude, "RC4::MD5");
	tls_policy_free(&p);
	parse_err("may exclude=RC4 exclude=MD5",
	    "attribute \"exclude\" is specified multiple times");
	parse_err("may exclude=!RC4", "invalid cipher exclusion \"!RC4\" in \"exclude=!RC4\"");
	parse_err("may exclude=RC4:@STRENGTH",
	    "invalid cipher exclusion \"@STRENGTH\" in \"exclude=RC4:@STRENGTH\"");
	parse_err("may exclude=RC4;MD5",
	    "invalid cipher exclusion \"RC4;MD5\" in \"exclude=RC4;MD5\"");
}

static void
test_servername(void **state)
{
	struct tls_policy p;

	(void)state;
	parse_ok("may servername=mx.example.com", &p);
	assert_string_equal(p.servername, "mx.example.com");
	tls_policy_free(&p);
	parse_ok("encrypt servername=hostname", &p);
	assert_string_equal(p.servername, "hostname");
	tls_policy_free(&p);
	parse_ok("secure SERVERNAME=nexthop", &p);
	assert_string_equal(p.servername, "nexthop");
	tls_policy_free(&p);
	parse_ok("may servername=Mail.Example.COM", &p);
	assert_string_equal(p.servername, "Mail.Example.COM");
	tls_policy_free(&p);
	parse_ok("may servername=xn--bcher-kva.example", &p);
	tls_policy_free(&p);
	parse_ok("may servername=_srv.example", &p);
	tls_policy_free(&p);
	parse_ok("may servername=a1.2", &p);
	tls_policy_free(&p);
	parse_ok("may servername=localhost", &p);
	tls_policy_free(&p);

	parse_err("may servername=", "\"servername=\" specifies an invalid hostname");
	parse_err("may servername=192.0.2.1",
	    "\"servername=192.0.2.1\" specifies an invalid hostname");
	parse_err("may servername=2001:db8::1",
	    "\"servername=2001:db8::1\" specifies an invalid hostname");
	parse_err("may servername=[mx.example.com]",
	    "\"servername=[mx.example.com]\" specifies an invalid hostname");
	parse_err("may servername=mx.example.com.",
	    "\"servername=mx.example.com.\" specifies an invalid hostname");
	parse_err("may servername=.example.com",
	    "\"servername=.example.com\" specifies an invalid hostname");
	parse_err("may servername=a..b", "\"servername=a..b\" specifies an invalid hostname");
	parse_err("may servername=-a.example",
	    "\"servername=-a.example\" specifies an invalid hostname");
	parse_err("may servername=a-.example",
	    "\"servername=a-.example\" specifies an invalid hostname");
	parse_err("may servername=a.example-",
	    "\"servername=a.example-\" specifies an invalid hostname");
	parse_err("may servername=b\xc3\xbc"
		  "cher.example",
	    "\"servername=b\xc3\xbc"
	    "cher.example\" specifies an invalid hostname");
	parse_err("may servername=*.example.com",
	    "\"servername=*.example.com\" specifies an invalid hostname");
	parse_err("may servername=a.example servername=b.example",
	    "attribute \"servername\" is specified multiple times");
}

static void
test_servername_lengths(void **state)
{
	char label63[64], label64[65], value[600];
	char name253[254], name254[255];

	(void)state;
	memset(label63, 'a', 63);
	label63[63] = 0;
	memset(label64, 'a', 64);
	label64[64] = 0;
	snprintf(value, sizeof(value), "may servername=%s.example", label63);
	assert_true(parses(value));
	snprintf(value, sizeof(value), "may servername=%s.example", label64);
	assert_false(parses(value));
	/* Three 63-character labels, one of 61 and three dots: 253 characters. */
	snprintf(name253, sizeof(name253), "%s.%s.%s.%.61s", label63, label63, label63, label63);
	assert_int_equal(strlen(name253), 253);
	snprintf(value, sizeof(value), "may servername=%s", name253);
	assert_true(parses(value));
	snprintf(name254, sizeof(name254), "%s.%s.%s.%.62s", label63, label63, label63, label63);
	assert_int_equal(strlen(name254), 254);
	snprintf(value, sizeof(value), "may servername=%s", name254);
	assert_false(parses(value));
}

static void
test_yes_no_attributes(void **state)
{
	struct tls_policy p;

	(void)state;
	parse_ok("may connection_reuse=yes", &p);
	assert_int_equal(p.connection_reuse, 1);
	tls_policy_free(&p);
	parse_ok("secure CONNECTION_REUSE=No", &p);
	assert_int_equal(p.connection_reuse, 0);
	tls_policy_free(&p);
	/* Last one wins. */
	parse_ok("may connection_reuse=yes connection_reuse=no", &p);
	assert_int_equal(p.connection_reuse, 0);
	tls_policy_free(&p);
	parse_ok("may connection_reuse=no connection_reuse=YES", &p);
	assert_int_equal(p.connection_reuse, 1);
	tls_policy_free(&p);
	parse_err("may connection_reuse=true",
	    "attribute \"connection_reuse\" has bad value: \"true\"");
	parse_err("may connection_reuse=", "attribute \"connection_reuse\" has bad value: \"\"");
	parse_err("may connection_reuse=yes connection_reuse=1",
	    "attribute \"connection_reuse\" has bad value: \"1\"");

	parse_ok("may enable_rpk=yes", &p);
	assert_int_equal(p.enable_rpk, 1);
	tls_policy_free(&p);
	parse_ok("encrypt Enable_RPK=no enable_rpk=yes", &p);
	assert_int_equal(p.enable_rpk, 1);
	tls_policy_free(&p);
	parse_ok("fingerprint match=" FP_MD5 " enable_rpk=yes", &p);
	assert_int_equal(p.enable_rpk, 1);
	tls_policy_free(&p);
	/* dane keeps it for the fallback to may/encrypt. */
	parse_ok("dane enable_rpk=yes", &p);
	assert_int_equal(p.enable_rpk, 1);
	assert_int_equal(p.note_count, 0);
	tls_policy_free(&p);
	parse_err("may enable_rpk=maybe", "attribute \"enable_rpk\" has bad value: \"maybe\"");
	parse_err("secure enable_rpk=maybe", "attribute \"enable_rpk\" has bad value: \"maybe\"");
}

static void
test_enable_rpk_ignored(void **state)
{
	static const char *const levels[] = { "dane-only", "verify", "secure" };
	struct tls_policy p;
	char value[128], note[128];

	(void)state;
	for (size_t i = 0; i < 3; i++) {
		snprintf(value, sizeof(value), "%s enable_rpk=yes", levels[i]);
		parse_ok(value, &p);
		assert_int_equal(p.enable_rpk, -1);
		assert_int_equal(p.note_count, 1);
		snprintf(note, sizeof(note),
		    "ignoring attribute \"enable_rpk\" at security level \"%s\"", levels[i]);
		assert_string_equal(p.notes[0], note);
		tls_policy_free(&p);
	}
}

static void
test_level_none(void **state)
{
	struct tls_policy p;

	(void)state;
	parse_ok("none ciphers=high match=nexthop,bogus", &p);
	assert_int_equal(p.level, TLS_LEVEL_NONE);
	assert_null(p.ciphers);
	assert_int_equal(p.match_count, 0);
	assert_int_equal(p.note_count, 3);
	assert_string_equal(p.notes[0], "ignoring attribute \"ciphers=high\" with TLS disabled");
	assert_string_equal(p.notes[1], "ignoring attribute \"match=nexthop\" with TLS disabled");
	assert_string_equal(p.notes[2], "ignoring attribute \"bogus\" with TLS disabled");
	tls_policy_free(&p);
	/* More remarks than the notes array holds: still a valid policy. */
	parse_ok("NONE a b c d e f g h i j k l", &p);
	assert_int_equal(p.level, TLS_LEVEL_NONE);
	assert_int_equal(p.note_count, 8);
	tls_policy_free(&p);
}

/*
 * The legality matrix: for each level and each attribute with a value
 * acceptable in itself, whether Postfix accepts the pair.
 */
static void
test_legality_matrix(void **state)
{
	static const struct {
		const char *attr;
		const char *legal; /* levels (space-separated) where it is accepted */
	} matrix[] = {
		{ "ciphers=high", "none may encrypt fingerprint dane dane-only verify secure" },
		{ "protocols=>=TLSv1.2",
		    "none may encrypt fingerprint dane dane-only verify secure" },
		{ "exclude=3DES", "none may encrypt fingerprint dane dane-only verify secure" },
		{ "servername=hostname",
		    "none may encrypt fingerprint dane dane-only verify secure" },
		{ "connection_reuse=yes",
		    "none may encrypt fingerprint dane dane-only verify secure" },
		{ "enable_rpk=no", "none may encrypt fingerprint dane dane-only verify secure" },
		{ "match=nexthop", "none verify secure" },
		{ "tafile=/etc/ta.pem", "none verify secure" },
	};
	char value[256], expected[256], levelword[32];

	(void)state;
	for (size_t a = 0; a < sizeof(matrix) / sizeof(matrix[0]); a++) {
		for (size_t l = 0; l < LEVEL_COUNT; l++) {
			const char *fp =
			    strcmp(all_levels[l], "fingerprint") == 0 ? " match=" FP_SHA256 : "";
			int legal;

			snprintf(levelword, sizeof(levelword), " %s ", all_levels[l]);
			snprintf(value, sizeof(value), " %s ", matrix[a].legal);
			legal = strstr(value, levelword) != NULL;
			snprintf(value, sizeof(value), "%s%s %s", all_levels[l], fp,
			    matrix[a].attr);
			if (legal) {
				if (!parses(value))
					fail_msg("\"%s\" should be accepted", value);
				continue;
			}
			if (strncmp(matrix[a].attr, "match=", 6) == 0 && fp[0] != 0) {
				/* Legal at fingerprint, but "nexthop" is no digest. */
				parse_err_part(value, "malformed fingerprint value: \"nexthop\"");
				continue;
			}
			snprintf(expected, sizeof(expected),
			    "attribute \"%.*s\" invalid at security level \"%s\"",
			    (int)strcspn(matrix[a].attr, "="), matrix[a].attr, all_levels[l]);
			parse_err(value, expected);
		}
	}
}

static void
test_match_verify_secure(void **state)
{
	struct tls_policy p;

	(void)state;
	parse_ok("verify match=hostname:dot-nexthop ciphers=high", &p);
	assert_int_equal(p.match_count, 2);
	assert_string_equal(p.match[0], "hostname");
	assert_string_equal(p.match[1], "dot-nexthop");
	tls_policy_free(&p);
	parse_ok("secure match=.Example.NET:example.net:NextHop", &p);
	assert_int_equal(p.match_count, 3);
	assert_string_equal(p.match[0], ".example.net");
	assert_string_equal(p.match[1], "example.net");
	assert_string_equal(p.match[2], "nexthop");
	tls_policy_free(&p);
	/* Repeated match= appends; empty elements are skipped. */
	parse_ok("secure match=a.example::b.example: MATCH=:c.example", &p);
	assert_int_equal(p.match_count, 3);
	assert_string_equal(p.match[2], "c.example");
	tls_policy_free(&p);
	parse_ok("verify match=mx1.example.com", &p);
	assert_int_equal(p.match_count, 1);
	tls_policy_free(&p);

	parse_err("verify match=", "attribute \"match\" has empty value");
	parse_err("secure match=nexthop match=", "attribute \"match\" has empty value");
	parse_err_part("verify match=*.example.com", "invalid match pattern \"*.example.com\"");
	parse_err_part("verify match=..example.com", "invalid match pattern \"..example.com\"");
	parse_err_part("verify match=.", "invalid match pattern \".\"");
	parse_err_part("secure match=nexthop:exa/mple", "invalid match pattern \"exa/mple\"");
	parse_err_part("secure match=example.com.", "invalid match pattern \"example.com.\"");
	/* U-labels never match a certificate name: only A-labels are accepted. */
	parse_err_part("secure match=b\xc3\xbc"
		       "cher.example",
	    "invalid match pattern");
}

static void
test_match_fingerprint(void **state)
{
	struct tls_policy p;

	(void)state;
	parse_ok("fingerprint match=" FP_SHA256_COLONS, &p);
	assert_int_equal(p.match_count, 1);
	assert_string_equal(p.match[0], FP_SHA256);
	tls_policy_free(&p);
	parse_ok("fingerprint match=" FP_SHA256 "|" FP_MD5, &p);
	assert_int_equal(p.match_count, 2);
	assert_string_equal(p.match[0], FP_SHA256);
	assert_string_equal(p.match[1], FP_MD5);
	tls_policy_free(&p);
	parse_ok("FingerPrint match=" FP_MD5 " Match=" FP_SHA256_COLONS "||" FP_MD5, &p);
	assert_int_equal(p.match_count, 3);
	assert_string_equal(p.match[1], FP_SHA256);
	tls_policy_free(&p);
	/* Colons are optional and may be used for some pairs only. */
	parse_ok("fingerprint match=51E9:a3C2d4b5f60718293a4b5c6d7e8f", &p);
	assert_string_equal(p.match[0], FP_MD5);
	tls_policy_free(&p);
	/* 64 bytes (SHA-512) is the longest accepted. */
	parse_ok("fingerprint match=" FP_SHA256 FP_SHA256 "|" FP_MD5, &p);
	assert_int_equal(strlen(p.match[0]), 128);
	tls_policy_free(&p);

	parse_err("fingerprint",
	    "configured at fingerprint security level, but with no fingerprints to match");
	parse_err("fingerprint ciphers=high",
	    "configured at fingerprint security level, "
	    "but with no fingerprints to match");
	parse_err("fingerprint match=|||",
	    "configured at fingerprint security level, "
	    "but with no fingerprints to match");
	parse_err("fingerprint match=", "attribute \"match\" has empty value");
	parse_err_part("fingerprint match=51e9a3c2d4b5f60718293a4b5c6d7e8",
	    "malformed fingerprint value: "
	    "\"51e9a3c2d4b5f60718293a4b5c6d7e8\"");
	parse_err_part("fingerprint match=51e9a3c2d4b5f60718293a4b5c6d7e8g",
	    "malformed fingerprint value");
	parse_err_part("fingerprint match=51e9", "2 bytes, expected 16 to 64");
	parse_err_part("fingerprint match=:" FP_MD5, "malformed fingerprint value");
	parse_err_part("fingerprint match=" FP_MD5 ":", "trailing ':'");
	parse_err_part("fingerprint match=51::e9a3c2d4b5f60718293a4b5c6d7e8f",
	    "malformed fingerprint value");
	parse_err_part("fingerprint match=5:1e9a3c2d4b5f60718293a4b5c6d7e8f",
	    "malformed fingerprint value");
	parse_err_part("fingerprint match=" FP_SHA256 FP_SHA256 "00", "longer than 64 bytes");
	parse_err_part("fingerprint match=" FP_MD5 "|zz", "malformed fingerprint value: \"zz\"");
}

static void
test_list_limits(void **state)
{
	char value[8192];
	size_t len;

	(void)state;
	len = (size_t)snprintf(value, sizeof(value), "verify");
	for (int i = 0; i < TLS_POLICY_MAX_LIST; i++)
		len += (size_t)snprintf(value + len, sizeof(value) - len, " match=h%d.example", i);
	assert_true(parses(value));
	snprintf(value + len, sizeof(value) - len, " match=one.more");
	parse_err_part(value, "too many \"match\" entries (at most 64)");

	len = (size_t)snprintf(value, sizeof(value), "secure");
	for (int i = 0; i < TLS_POLICY_MAX_LIST; i++)
		len += (size_t)snprintf(value + len, sizeof(value) - len, " tafile=/ta/%d.pem", i);
	assert_true(parses(value));
	snprintf(value + len, sizeof(value) - len, " tafile=/ta/x.pem");
	parse_err_part(value, "too many \"tafile\" attributes (at most 64)");
}

static void
test_tafile(void **state)
{
	struct tls_policy p;

	(void)state;
	parse_ok("secure tafile=/etc/postfix/ta1.pem TAFILE=/etc/postfix/ta2.pem", &p);
	assert_int_equal(p.tafile_count, 2);
	assert_string_equal(p.tafile[0], "/etc/postfix/ta1.pem");
	assert_string_equal(p.tafile[1], "/etc/postfix/ta2.pem");
	tls_policy_free(&p);
	parse_err("verify tafile=", "attribute \"tafile\" has empty value");
	/* Postfix checks the level before the empty value for tafile. */
	parse_err("may tafile=", "attribute \"tafile\" invalid at security level \"may\"");
}

static void
test_separators(void **state)
{
	struct tls_policy p;

	(void)state;
	parse_ok("secure,match=nexthop,,ciphers=high \t protocols=>=TLSv1.2\r\nexclude=RC4", &p);
	assert_int_equal(p.level, TLS_LEVEL_SECURE);
	assert_int_equal(p.match_count, 1);
	assert_string_equal(p.ciphers, "high");
	assert_string_equal(p.protocols, ">=TLSv1.2");
	assert_string_equal(p.exclude, "RC4");
	tls_policy_free(&p);
	/* A value containing '=' keeps everything after the first '='. */
	parse_ok("may protocols=>=TLSv1.1", &p);
	assert_string_equal(p.protocols, ">=TLSv1.1");
	tls_policy_free(&p);
	/* Other control characters are not separators. */
	parse_err("may\vciphers=high", "invalid security level \"may\vciphers=high\"");
}

/* The examples from postconf(5) and TLS_README (values only). */
static void
test_reference_examples(void **state)
{
	struct tls_policy p;

	(void)state;
	parse_ok("verify match=hostname:dot-nexthop ciphers=high", &p);
	assert_int_equal(p.level, TLS_LEVEL_VERIFY);
	tls_policy_free(&p);
	parse_ok("secure match=.example.net:example.net", &p);
	assert_int_equal(p.match_count, 2);
	tls_policy_free(&p);
	parse_ok("secure match=nexthop", &p);
	tls_policy_free(&p);
	parse_ok("encrypt protocols=>=TLSv1.2 ciphers=high", &p);
	assert_int_equal(p.level, TLS_LEVEL_ENCRYPT);
	tls_policy_free(&p);
	parse_ok("may protocols=!SSLv2:!SSLv3 ciphers=medium exclude=3DES", &p);
	assert_int_equal(p.cipher_grade, TLS_GRADE_MEDIUM);
	tls_policy_free(&p);
	parse_ok("fingerprint match=" FP_SHA256_COLONS " match=" FP_MD5, &p);
	assert_int_equal(p.match_count, 2);
	tls_policy_free(&p);
	parse_ok("dane-only", &p);
	assert_true(TLS_LEVEL_MUST_MATCH(p.level));
	assert_false(TLS_LEVEL_MUST_PKIX(p.level));
	tls_policy_free(&p);
}

static void
test_error_buffer(void **state)
{
	struct tls_policy p;
	char err[10];

	(void)state;
	memset(err, 'x', sizeof(err));
	assert_int_equal(tls_policy_parse("bogus-level-name", &p, err, sizeof(err)), -1);
	assert_int_equal(strlen(err), sizeof(err) - 1);
	tls_policy_free(&p);
	assert_int_equal(tls_policy_parse(NULL, &p, err, sizeof(err)), -1);
	assert_int_equal(p.level, TLS_LEVEL_INVALID);
	tls_policy_free(&p);
	/* A zero-length buffer is never written. */
	err[0] = 'x';
	assert_int_equal(tls_policy_parse("bogus", &p, err, 0), -1);
	assert_int_equal(err[0], 'x');
	tls_policy_free(&p);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_level_names),
		cmocka_unit_test(test_init_free),
		cmocka_unit_test(test_each_level_bare),
		cmocka_unit_test(test_basic_errors),
		cmocka_unit_test(test_ciphers),
		cmocka_unit_test(test_protocols),
		cmocka_unit_test(test_exclude),
		cmocka_unit_test(test_servername),
		cmocka_unit_test(test_servername_lengths),
		cmocka_unit_test(test_yes_no_attributes),
		cmocka_unit_test(test_enable_rpk_ignored),
		cmocka_unit_test(test_level_none),
		cmocka_unit_test(test_legality_matrix),
		cmocka_unit_test(test_match_verify_secure),
		cmocka_unit_test(test_match_fingerprint),
		cmocka_unit_test(test_list_limits),
		cmocka_unit_test(test_tafile),
		cmocka_unit_test(test_separators),
		cmocka_unit_test(test_reference_examples),
		cmocka_unit_test(test_error_buffer),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
