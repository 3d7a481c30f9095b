/*
 * test_sts_cache.c - unit tests for sts_cache.c on real LMDB files in a
 * temporary directory: a round trip, keys folded to lower case, mode 0600,
 * an entry that is not a valid policy is a miss, a foreign-mode file is
 * narrowed, and a file that is not a regular file makes the cache unusable
 * (NULL, the delivery goes on without it).
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <lmdb.h>

/* policymap */
#include "policymap.h"
/* core */
#include "core.h"
/* tls */
#include "sts_cache.h"

static char dir[] = "/tmp/test_sts_cache.XXXXXX";
static char spec[200], file[200];

static const char POLICY[] = "version: STSv1\nmode: enforce\nmx: *.example.test\nmax_age: 600\n";

static void
fill(struct sts_cache_entry *e, const char *text)
{
	char err[128];

	memset(e, 0, sizeof(*e));
	snprintf(e->id, sizeof(e->id), "abc123");
	e->fetched = 1000;
	e->expires = 1600;
	e->textlen = strlen(text);
	memcpy(e->text, text, e->textlen);
	(void)sts_policy_parse(text, e->textlen, &e->policy, err, sizeof(err));
}

static void
test_round_trip(void **state)
{
	struct sts_cache_entry *in = malloc(sizeof(*in)), *out = malloc(sizeof(*out));
	struct sts_cache *c;
	struct stat st;
	(void)state;

	assert_non_null(c = sts_cache_open(spec, 1u << 20));
	assert_int_equal(sts_cache_get(c, "example.test", out), 0);
	fill(in, POLICY);
	assert_int_equal(sts_cache_put(c, "Example.TEST.", in), 0);
	assert_int_equal(sts_cache_get(c, "example.test", out), 1);
	assert_string_equal(out->id, "abc123");
	assert_int_equal(out->expires, 1600);
	assert_int_equal(out->policy.mode, STS_MODE_ENFORCE);
	assert_string_equal(out->policy.mx[0], "*.example.test");
	assert_int_equal(sts_cache_get(c, "sub.example.test", out), 0);
	sts_cache_close(c);
	assert_int_equal(stat(file, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	free(in);
	free(out);
}

static void
test_bad_entry_is_miss(void **state)
{
	struct sts_cache_entry *in = malloc(sizeof(*in)), *out = malloc(sizeof(*out));
	struct sts_cache *c;
	(void)state;

	assert_non_null(c = sts_cache_open(spec, 1u << 20));
	fill(in, "version: STSv1\nmode: enforce\nmax_age: 600\n"); /* no mx */
	assert_int_equal(sts_cache_put(c, "bad.test", in), 0);
	assert_int_equal(sts_cache_get(c, "bad.test", out), 0);
	/* A failure record (no policy) reads back with its back-off data. */
	memset(in, 0, sizeof(*in));
	in->last_fail = 77;
	snprintf(in->fail_id, sizeof(in->fail_id), "x1");
	assert_int_equal(sts_cache_put(c, "fail.test", in), 0);
	assert_int_equal(sts_cache_get(c, "fail.test", out), 1);
	assert_int_equal(out->expires, 0);
	assert_int_equal(out->last_fail, 77);
	assert_string_equal(out->fail_id, "x1");
	sts_cache_close(c);
	free(in);
	free(out);
}

static void
test_unusable(void **state)
{
	struct stat st;
	char other[220];
	(void)state;

	assert_int_equal(chmod(file, 0644), 0);
	sts_cache_close(sts_cache_open(spec, 1u << 20));
	assert_int_equal(stat(file, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	snprintf(other, sizeof(other), "lmdb:%s/dirlike", dir);
	snprintf(file, sizeof(file), "%s/dirlike.lmdb", dir);
	assert_int_equal(mkdir(file, 0700), 0);
	assert_null(sts_cache_open(other, 1u << 20));
	assert_null(sts_cache_open("lmdb:relative/path", 1u << 20));
	assert_null(sts_cache_open("hash:/x", 1u << 20));
	rmdir(file);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_bad_entry_is_miss),
		cmocka_unit_test(test_unusable),
	};
	char cmd[300];
	int rc;

	if (mkdtemp(dir) == NULL)
		return 1;
	snprintf(spec, sizeof(spec), "lmdb:%s/sts", dir);
	snprintf(file, sizeof(file), "%s/sts.lmdb", dir);
	log_open("/dev/null", NULL, 0);
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		rc = 1;
	return rc;
}
