/*
 * test_tls_policy.c - effective TLS policy and the GnuTLS priority string
 * (tls_policy.c).
 *
 * A real lmdb table is built in a temporary directory with the policymap
 * builder; lookups go through policy_maps_open/policy_lookup exactly as the
 * agent does.  Checks the merge rules (entry over main.cf, mandatory vs
 * opportunistic parameters), the default match strategies, fail-closed
 * results for invalid entries, missing tables and unreadable tafiles (with
 * Postfix's warning wording in the log), and strategy expansion per host.
 */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include <gnutls/gnutls.h>

/* core */
#include "core.h"
/* tls */
#include "tls_policy.h"

/* mkdtemp template: six trailing X characters */
static char tmpdir[] = "/tmp/test_tls_policy."
		       "XX"
		       "XX"
		       "XX";
static char table_base[256], logfile[256], cffile[256];
static struct policy_maps *maps;

static const char *entries[][2] = {
	{ "secure.test", "secure" },
	{ "verify.test",
	    "verify match=hostname:.Example.TEST ciphers=high protocols=>=TLSv1.3 exclude=3DES" },
	{ "bogus.test", "bogus" },
	{ "may.test", "may" },
	{ "none.test", "none" },
	{ ".parent.test", "encrypt" },
	{ "fp.test",
	    "fingerprint match=AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89" },
	{ "fpdefault.test", "fingerprint" },
	{ "ta.test", "secure tafile=/nonexistent/anchors.pem" },
	{ "[relay.test]:587", "verify match=nexthop servername=hostname" },
	{ "dane.test", "dane" },
};

static void
write_file(const char *path, const char *text)
{
	FILE *fp = fopen(path, "w");

	assert_non_null(fp);
	fputs(text, fp);
	fclose(fp);
}

static int
setup(void **state)
{
	struct lmdb_builder *b;
	char err[256], path[300];

	(void)state;
	if (mkdtemp(tmpdir) == NULL)
		return -1;
	snprintf(table_base, sizeof(table_base), "%s/tls_policy", tmpdir);
	snprintf(path, sizeof(path), "%s.lmdb", table_base);
	snprintf(logfile, sizeof(logfile), "%s/maillog", tmpdir);
	snprintf(cffile, sizeof(cffile), "%s/tlsmtp.conf", tmpdir);
	if (lmdb_builder_begin(path, 0, 0644, &b, err, sizeof(err)) != 0)
		return -1;
	for (size_t i = 0; i < sizeof(entries) / sizeof(entries[0]); i++)
		if (lmdb_builder_put(b, entries[i][0], entries[i][1], 0, err, sizeof(err)) < 0)
			return -1;
	if (lmdb_builder_commit(b, err, sizeof(err)) != 0)
		return -1;
	snprintf(path, sizeof(path), "lmdb:%s", table_base);
	if (policy_maps_open(path, &maps, err, sizeof(err)) != 0)
		return -1;
	write_file(cffile, "");
	log_open(logfile, "TESTQID", 0);
	return 0;
}

static int
teardown(void **state)
{
	char path[300];

	(void)state;
	policy_maps_close(maps);
	log_close();
	snprintf(path, sizeof(path), "%s.lmdb", table_base);
	unlink(path);
	unlink(logfile);
	unlink(cffile);
	rmdir(tmpdir);
	return 0;
}

static void
load_config(struct tlsmtp_config *cfg, char **overrides, size_t count)
{
	char err[256];

	assert_int_equal(config_load(cfg, cffile, overrides, count, err, sizeof(err)), 0);
}

static void
resolve(const char *dest, struct tls_effective *eff, char **overrides, size_t count,
    struct nexthop *nh)
{
	struct tlsmtp_config cfg;
	char err[256];

	memset(&cfg, 0, sizeof(cfg));
	load_config(&cfg, overrides, count);
	assert_int_equal(nexthop_parse(dest, nh, err, sizeof(err)), 0);
	tls_policy_resolve(&cfg, maps, nh, eff);
	config_free(&cfg);
}

/* Does the log file contain this text? */
static int
logged(const char *text)
{
	FILE *fp = fopen(logfile, "r");
	char line[2048];
	int found = 0;

	if (fp == NULL)
		return 0;
	while (!found && fgets(line, sizeof(line), fp) != NULL)
		found = strstr(line, text) != NULL;
	fclose(fp);
	return found;
}

static void
test_not_found_uses_default(void **state)
{
	struct tls_effective eff;
	struct nexthop nh;
	char *o_encrypt[] = { "smtp_tls_security_level=encrypt" };

	(void)state;
	resolve("other.example", &eff, NULL, 0, &nh);
	assert_int_equal(eff.level, TLS_LEVEL_MAY);
	assert_int_equal(eff.grade, TLS_GRADE_MEDIUM);
	assert_true(eff.protocol_mask & TLS_PROTO_TLSv1_2);
	assert_string_equal(eff.source, "smtp_tls_security_level");
	assert_int_equal(eff.match_count, 0);
	tls_effective_free(&eff);

	resolve("other.example", &eff, o_encrypt, 1, &nh);
	assert_int_equal(eff.level, TLS_LEVEL_ENCRYPT);
	/* Mandatory default: TLS 1.2 or newer only (RFC 8996). */
	assert_int_equal(eff.protocol_mask, TLS_PROTO_TLSv1_2 | TLS_PROTO_TLSv1_3);
	tls_effective_free(&eff);
}

static void
test_secure_defaults(void **state)
{
	struct tls_effective eff;
	struct nexthop nh;

	(void)state;
	resolve("secure.test", &eff, NULL, 0, &nh);
	assert_int_equal(eff.level, TLS_LEVEL_SECURE);
	assert_int_equal(eff.match_count, 2);
	assert_string_equal(eff.match[0], "nexthop");
	assert_string_equal(eff.match[1], "dot-nexthop");
	assert_int_equal(eff.protocol_mask, TLS_PROTO_TLSv1_2 | TLS_PROTO_TLSv1_3);
	assert_null(eff.exclude);
	assert_non_null(strstr(eff.source, "secure.test"));
	tls_effective_free(&eff);
}

static void
test_entry_overrides_config(void **state)
{
	struct tls_effective eff;
	struct nexthop nh;
	char *o[] = { "smtp_tls_mandatory_exclude_ciphers=RC4" };
	char *names[8];
	size_t n;

	(void)state;
	resolve("verify.test", &eff, o, 1, &nh);
	assert_int_equal(eff.level, TLS_LEVEL_VERIFY);
	assert_int_equal(eff.grade, TLS_GRADE_HIGH);
	assert_int_equal(eff.protocol_mask, TLS_PROTO_TLSv1_3);
	/* exclude= replaces both main.cf lists. */
	assert_non_null(eff.exclude);
	assert_string_equal(eff.exclude, "3des");
	n = tls_policy_match_names(&eff, &nh, "MX1.verify.test.", names, 8);
	assert_int_equal(n, 2);
	assert_string_equal(names[0], "mx1.verify.test");
	assert_string_equal(names[1], ".example.test");
	tls_match_names_free(names, n);
	tls_effective_free(&eff);
}

static void
test_mandatory_excludes_join(void **state)
{
	struct tls_effective eff;
	struct nexthop nh;
	char *o[] = { "smtp_tls_exclude_ciphers=MD5, aNULL",
		"smtp_tls_mandatory_exclude_ciphers=RC4", "smtp_tls_security_level=encrypt" };

	(void)state;
	resolve("other.example", &eff, o, 3, &nh);
	assert_int_equal(eff.level, TLS_LEVEL_ENCRYPT);
	assert_string_equal(eff.exclude, "md5:anull:rc4");
	tls_effective_free(&eff);
	/* At may only smtp_tls_exclude_ciphers applies. */
	resolve("may.test", &eff, o, 2, &nh);
	assert_int_equal(eff.level, TLS_LEVEL_MAY);
	assert_string_equal(eff.exclude, "md5:anull");
	tls_effective_free(&eff);
}

static void
test_parent_domain(void **state)
{
	struct tls_effective eff;
	struct nexthop nh;

	(void)state;
	resolve("mx.sub.parent.test", &eff, NULL, 0, &nh);
	assert_int_equal(eff.level, TLS_LEVEL_ENCRYPT);
	tls_effective_free(&eff);
	/* ".parent.test" never matches "parent.test" itself. */
	resolve("parent.test", &eff, NULL, 0, &nh);
	assert_int_equal(eff.level, TLS_LEVEL_MAY);
	tls_effective_free(&eff);
}

static void
test_invalid_entry_fails_closed(void **state)
{
	struct tls_effective eff;
	struct nexthop nh;

	(void)state;
	resolve("bogus.test", &eff, NULL, 0, &nh);
	assert_int_equal(eff.level, TLS_LEVEL_INVALID);
	assert_non_null(strstr(eff.invalid_reason, "invalid security level"));
	assert_true(logged("warning: smtp_tls_policy_maps, next-hop destination \"bogus.test\": "
			   "invalid security level \"bogus\""));
	assert_true(
	    logged("warning: TLS policy lookup for bogus.test: client TLS configuration problem"));
	tls_effective_free(&eff);
}

static void
test_missing_table_fails_closed(void **state)
{
	struct tls_effective eff;
	struct nexthop nh;
	struct tlsmtp_config cfg;
	struct policy_maps *missing;
	char err[256], spec[300];

	(void)state;
	snprintf(spec, sizeof(spec), "lmdb:%s/absent", tmpdir);
	assert_int_equal(policy_maps_open(spec, &missing, err, sizeof(err)), 0);
	memset(&cfg, 0, sizeof(cfg));
	load_config(&cfg, NULL, 0);
	assert_int_equal(nexthop_parse("example.com", &nh, err, sizeof(err)), 0);
	tls_policy_resolve(&cfg, missing, &nh, &eff);
	assert_int_equal(eff.level, TLS_LEVEL_INVALID);
	assert_true(
	    logged("warning: smtp_tls_policy_maps, next-hop destination \"example.com\": "));
	/* A [host] next-hop gets Postfix's DEST/HOST form. */
	assert_int_equal(nexthop_parse("[mx.example.com]:587", &nh, err, sizeof(err)), 0);
	tls_effective_free(&eff);
	tls_policy_resolve(&cfg, missing, &nh, &eff);
	assert_int_equal(eff.level, TLS_LEVEL_INVALID);
	assert_true(logged("warning: TLS policy lookup for [mx.example.com]:587/mx.example.com: "
			   "client TLS configuration problem"));
	tls_effective_free(&eff);
	config_free(&cfg);
	policy_maps_close(missing);
}

static void
test_fingerprint(void **state)
{
	struct tls_effective eff;
	struct nexthop nh;
	char *o[] = { "smtp_tls_security_level=fingerprint",
		"smtp_tls_fingerprint_cert_match="
		"00112233445566778899AABBCCDDEEFF, 00:11:22:33:44:55:66:77:88:99:aa:bb:cc:dd:ee:ff:"
		"00:11:22:33:44:55:66:77:88:99:aa:bb:cc:dd:ee:ff|zz|123" };

	(void)state;
	resolve("fp.test", &eff, NULL, 0, &nh);
	assert_int_equal(eff.level, TLS_LEVEL_FINGERPRINT);
	assert_int_equal(eff.match_count, 1);
	assert_string_equal(eff.match[0],
	    "abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789");
	tls_effective_free(&eff);

	/* No fingerprint anywhere: configuration problem, never plaintext. */
	resolve("fpdefault.test", &eff, NULL, 0, &nh);
	assert_int_equal(eff.level, TLS_LEVEL_INVALID);
	assert_non_null(strstr(eff.invalid_reason, "no fingerprints to match"));
	tls_effective_free(&eff);

	/* Defaults from main.cf; a malformed value is dropped with a warning. */
	resolve("unlisted.test", &eff, o, 2, &nh);
	assert_int_equal(eff.level, TLS_LEVEL_FINGERPRINT);
	assert_int_equal(eff.match_count, 2);
	assert_string_equal(eff.match[0], "00112233445566778899aabbccddeeff");
	assert_string_equal(eff.match[1],
	    "00112233445566778899aabbccddeeff"
	    "00112233445566778899aabbccddeeff");
	assert_true(logged("invalid fingerprint \"zz\" ignored"));
	tls_effective_free(&eff);
	/* main.cf fingerprint level without fingerprints: fail closed. */
	resolve("unlisted.test", &eff, o, 1, &nh);
	assert_int_equal(eff.level, TLS_LEVEL_INVALID);
	tls_effective_free(&eff);
}

static void
test_tafile_unreadable(void **state)
{
	struct tls_effective eff;
	struct nexthop nh;

	(void)state;
	resolve("ta.test", &eff, NULL, 0, &nh);
	assert_int_equal(eff.level, TLS_LEVEL_INVALID);
	assert_non_null(strstr(eff.invalid_reason, "/nonexistent/anchors.pem"));
	tls_effective_free(&eff);
}

static void
test_none_and_host_nexthop(void **state)
{
	struct tls_effective eff;
	struct nexthop nh;
	char *names[8];
	size_t n;

	(void)state;
	resolve("none.test", &eff, NULL, 0, &nh);
	assert_int_equal(eff.level, TLS_LEVEL_NONE);
	tls_effective_free(&eff);

	/* [host]: "hostname" is the next-hop host, whatever the address says. */
	resolve("[relay.test]:587", &eff, NULL, 0, &nh);
	assert_int_equal(eff.level, TLS_LEVEL_VERIFY);
	assert_string_equal(eff.servername, "hostname");
	n = tls_policy_match_names(&eff, &nh, "10.0.0.1", names, 8);
	assert_int_equal(n, 1);
	assert_string_equal(names[0], "relay.test");
	tls_match_names_free(names, n);
	free(eff.match[0]);
	eff.match[0] = strdup("hostname");
	n = tls_policy_match_names(&eff, &nh, "10.0.0.1", names, 8);
	assert_int_equal(n, 1);
	assert_string_equal(names[0], "relay.test");
	tls_match_names_free(names, n);
	tls_effective_free(&eff);

	/* dane stays dane: the session refuses it without plaintext. */
	resolve("dane.test", &eff, NULL, 0, &nh);
	assert_int_equal(eff.level, TLS_LEVEL_DANE);
	tls_effective_free(&eff);
}

static void
test_strategy_expansion(void **state)
{
	struct tls_effective eff;
	struct nexthop nh;
	char *match[] = { "nexthop", "dot-nexthop", "hostname", "Literal.Example." };
	char *names[8];
	char err[128];
	size_t n;

	(void)state;
	memset(&eff, 0, sizeof(eff));
	eff.level = TLS_LEVEL_SECURE;
	eff.match = match;
	eff.match_count = 4;
	assert_int_equal(nexthop_parse("Example.TEST.", &nh, err, sizeof(err)), 0);
	n = tls_policy_match_names(&eff, &nh, "mx.attacker.test.", names, 8);
	assert_int_equal(n, 4);
	assert_string_equal(names[0], "example.test");
	assert_string_equal(names[1], ".example.test");
	assert_string_equal(names[2], "mx.attacker.test");
	assert_string_equal(names[3], "literal.example");
	tls_match_names_free(names, n);
	/* The cap is honoured. */
	n = tls_policy_match_names(&eff, &nh, "mx", names, 2);
	assert_int_equal(n, 2);
	tls_match_names_free(names, n);
}

static void
check_priority(const struct tls_effective *eff, const char *must, const char *must_not)
{
	char prio[1024], err[128];
	gnutls_priority_t p;
	const char *errpos = NULL;

	assert_int_equal(tls_priority_string(eff, prio, sizeof(prio), err, sizeof(err)), 0);
	if (must != NULL)
		assert_non_null(strstr(prio, must));
	if (must_not != NULL)
		assert_null(strstr(prio, must_not));
	/* GnuTLS itself must accept what we build. */
	assert_int_equal(gnutls_priority_init2(&p, prio, &errpos, 0), 0);
	gnutls_priority_deinit(p);
}

static void
test_priority_strings(void **state)
{
	struct tls_effective eff;
	char prio[256], err[128];

	(void)state;
	memset(&eff, 0, sizeof(eff));
	eff.level = TLS_LEVEL_MAY;
	eff.grade = TLS_GRADE_MEDIUM;
	eff.protocol_mask = TLS_PROTO_ALL;
	check_priority(&eff, "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:+VERS-TLS1.1:+VERS-TLS1.0",
	    "-NULL");

	eff.level = TLS_LEVEL_ENCRYPT;
	eff.protocol_mask = TLS_PROTO_TLSv1_2 | TLS_PROTO_TLSv1_3;
	check_priority(&eff, ":-NULL", "VERS-TLS1.1");
	check_priority(&eff, "-ANON-DH", NULL);

	eff.grade = TLS_GRADE_HIGH;
	check_priority(&eff, "SECURE128", NULL);

	eff.grade = TLS_GRADE_NULL;
	eff.level = TLS_LEVEL_VERIFY;
	check_priority(&eff, NULL, "+NULL");

	eff.grade = TLS_GRADE_MEDIUM;
	eff.exclude = "3des:rc4:aNULL:unknownword";
	check_priority(&eff, "-3DES-CBC:-ARCFOUR-128:-ANON-DH:-ANON-ECDH", NULL);
	eff.exclude = NULL;

	/* Only SSLv2/SSLv3 left: nothing GnuTLS may negotiate. */
	eff.protocol_mask = TLS_PROTO_SSLv3;
	assert_int_equal(tls_priority_string(&eff, prio, sizeof(prio), err, sizeof(err)), -1);
	/* A buffer too small is an error, not a cut string. */
	eff.protocol_mask = TLS_PROTO_ALL;
	assert_int_equal(tls_priority_string(&eff, prio, 16, err, sizeof(err)), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_not_found_uses_default),
		cmocka_unit_test(test_secure_defaults),
		cmocka_unit_test(test_entry_overrides_config),
		cmocka_unit_test(test_mandatory_excludes_join),
		cmocka_unit_test(test_parent_domain),
		cmocka_unit_test(test_invalid_entry_fails_closed),
		cmocka_unit_test(test_missing_table_fails_closed),
		cmocka_unit_test(test_fingerprint),
		cmocka_unit_test(test_tafile_unreadable),
		cmocka_unit_test(test_none_and_host_nexthop),
		cmocka_unit_test(test_strategy_expansion),
		cmocka_unit_test(test_priority_strings),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
