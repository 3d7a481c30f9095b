/*
 * test_policy_lookup.c - unit tests for policy_lookup.c: the map list
 * syntax, Postfix's lookup order (verbatim, then dotted parents for bare
 * domains only), several maps (key order first, then map order), lookup
 * errors that never read as "not found", invalid entries, both storage
 * styles, the U-label fallback for tables built by postmap, and the other
 * map types: texthash: (the source read at lookup, postmap's syntax and
 * folding, first duplicate wins, any problem a lookup error), inline:,
 * static:, a caller's type (the agent's socketmap:) through the backend
 * hook, the list order across types, the advice for hash: & co., the
 * trace that tlspolicy explain reads, and the source file of a map.
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

/* policymap */
#include "policymap.h"

static char tmpdir[256];

static int
group_setup(void **state)
{
	const char *tmp = getenv("TMPDIR");

	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "%s/test_policy_lookup.XXXXXX", tmp ? tmp : "/tmp");
	return mkdtemp(tmpdir) == NULL ? -1 : 0;
}

static int
group_teardown(void **state)
{
	static const char *const names[] = { "one", "two", "nonul", "utf8", "bad" };
	static const char *const texts[] = { "th", "th-bad", "th-later" };
	char p[400];

	(void)state;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(p, sizeof(p), "%s/%s.lmdb", tmpdir, names[i]);
		unlink(p);
	}
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		snprintf(p, sizeof(p), "%s/%s", tmpdir, texts[i]);
		unlink(p);
	}
	rmdir(tmpdir);
	return 0;
}

/* Build tmpdir/NAME.lmdb from key/value pairs. */
static void
make_map(const char *name, unsigned flags, const char *const *kv, size_t n)
{
	struct lmdb_builder *b;
	char path[400];
	char err[512];

	snprintf(path, sizeof(path), "%s/%s.lmdb", tmpdir, name);
	assert_int_equal(lmdb_builder_begin(path, flags, 0644, &b, err, sizeof(err)), 0);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(lmdb_builder_put(b, kv[2 * i], kv[2 * i + 1], 0, err, sizeof(err)),
		    1);
	if (lmdb_builder_commit(b, err, sizeof(err)) != 0)
		fail_msg("%s", err);
}

static struct policy_maps *
open_maps(const char *names)
{
	struct policy_maps *m;
	char spec[1024] = "";
	char err[512];
	char copy[256];
	char *name;
	char *save;

	snprintf(copy, sizeof(copy), "%s", names);
	for (name = strtok_r(copy, " ", &save); name != NULL; name = strtok_r(NULL, " ", &save)) {
		size_t len = strlen(spec);

		snprintf(spec + len, sizeof(spec) - len, "%slmdb:%s/%s", len ? ", " : "", tmpdir,
		    name);
	}
	if (policy_maps_open(spec, &m, err, sizeof(err)) != 0)
		fail_msg("open %s: %s", spec, err);
	return m;
}

/* Look NEXTHOP up; check the status, and on a hit the key and value. */
static void
expect(struct policy_maps *m, const char *nexthop, enum policy_lookup_status want, const char *key,
    const char *value)
{
	struct nexthop nh;
	struct policy_result r;
	char err[512];
	enum policy_lookup_status got;

	if (nexthop_parse(nexthop, &nh, err, sizeof(err)) != 0)
		fail_msg("nexthop %s: %s", nexthop, err);
	err[0] = 0;
	got = policy_lookup(m, &nh, &r, err, sizeof(err));
	if (got != want)
		fail_msg("%s: status %d, want %d (%s)", nexthop, got, want, err);
	if (want == POLICY_FOUND || want == POLICY_INVALID) {
		assert_string_equal(r.key, key);
		assert_string_equal(r.value, value);
	}
	if (want == POLICY_FOUND)
		assert_int_not_equal(r.policy.level, TLS_LEVEL_INVALID);
	policy_result_free(&r);
}

static const char *const map_one[] = {
	"a.b.example.com",
	"secure match=nexthop",
	".b.example.com",
	"verify",
	".example.com",
	"encrypt",
	"example.com",
	"may",
	".com",
	"none",
	"[relay.example]:587",
	"secure match=relay.example",
	"[relay.example]",
	"encrypt",
	"example.org:25",
	"encrypt",
	"[192.0.2.1]",
	"fingerprint match=51e9a3c2d4b5f60718293a4b5c6d7e8f",
	"[ipv6:2001:db8::1]",
	"dane",
	"shared.example",
	"verify",
};

static const char *const map_two[] = {
	"a.example.com",
	"dane-only",
	"shared.example",
	"encrypt",
	"only-two.example",
	"may",
	".example.net",
	"encrypt",
};

static void
test_lookup_order(void **state)
{
	struct policy_maps *m;

	(void)state;
	make_map("one", 0, map_one, sizeof(map_one) / sizeof(map_one[0]) / 2);
	m = open_maps("one");
	expect(m, "a.b.example.com", POLICY_FOUND, "a.b.example.com", "secure match=nexthop");
	expect(m, "A.B.Example.COM", POLICY_FOUND, "a.b.example.com", "secure match=nexthop");
	expect(m, "c.b.example.com", POLICY_FOUND, ".b.example.com", "verify");
	expect(m, "x.y.b.example.com", POLICY_FOUND, ".b.example.com", "verify");
	expect(m, "b.example.com", POLICY_FOUND, ".example.com", "encrypt");
	expect(m, "example.com", POLICY_FOUND, "example.com", "may");
	expect(m, "other.org", POLICY_NOT_FOUND, NULL, NULL);
	expect(m, "foo.com", POLICY_FOUND, ".com", "none");
	policy_maps_close(m);
}

static void
test_explicit_nexthops(void **state)
{
	struct policy_maps *m;

	(void)state;
	m = open_maps("one");
	/* Brackets or a port: one exact lookup, no parent domains. */
	expect(m, "[a.b.example.com]", POLICY_NOT_FOUND, NULL, NULL);
	expect(m, "x.b.example.com:25", POLICY_NOT_FOUND, NULL, NULL);
	expect(m, "[relay.example]:587", POLICY_FOUND, "[relay.example]:587",
	    "secure match=relay.example");
	expect(m, "[relay.example]", POLICY_FOUND, "[relay.example]", "encrypt");
	expect(m, "[relay.example]:25", POLICY_NOT_FOUND, NULL, NULL);
	/* ":25", ":smtp" and no port are three different keys. */
	expect(m, "example.org:25", POLICY_FOUND, "example.org:25", "encrypt");
	expect(m, "example.org", POLICY_NOT_FOUND, NULL, NULL);
	expect(m, "example.org:smtp", POLICY_NOT_FOUND, NULL, NULL);
	expect(m, "[192.0.2.1]", POLICY_FOUND, "[192.0.2.1]",
	    "fingerprint match=51e9a3c2d4b5f60718293a4b5c6d7e8f");
	expect(m, "[IPv6:2001:db8::1]", POLICY_FOUND, "[ipv6:2001:db8::1]", "dane");
	policy_maps_close(m);
}

static void
test_several_maps(void **state)
{
	struct policy_maps *m;

	(void)state;
	make_map("two", 0, map_two, sizeof(map_two) / sizeof(map_two[0]) / 2);
	m = open_maps("one two");
	/* The same key in both maps: the first map wins. */
	expect(m, "shared.example", POLICY_FOUND, "shared.example", "verify");
	expect(m, "only-two.example", POLICY_FOUND, "only-two.example", "may");
	/* The exact key in map two beats the parent key in map one. */
	expect(m, "a.example.com", POLICY_FOUND, "a.example.com", "dane-only");
	expect(m, "x.example.net", POLICY_FOUND, ".example.net", "encrypt");
	policy_maps_close(m);

	m = open_maps("two one");
	expect(m, "shared.example", POLICY_FOUND, "shared.example", "encrypt");
	policy_maps_close(m);
}

static void
test_lookup_errors(void **state)
{
	struct policy_maps *m;
	struct nexthop nh;
	struct policy_result r;
	char err[512];

	(void)state;
	/* Opening never fails for a missing file ... */
	m = open_maps("missing");
	assert_int_equal(nexthop_parse("example.com", &nh, err, sizeof(err)), 0);
	/* ... but every lookup through it is an error, never "not found". */
	assert_int_equal(policy_lookup(m, &nh, &r, err, sizeof(err)), POLICY_LOOKUP_ERROR);
	assert_non_null(strstr(err, "policy table lookup error"));
	assert_non_null(strstr(err, "missing.lmdb"));
	assert_non_null(strstr(r.map, "/missing"));
	policy_result_free(&r);
	assert_int_equal(policy_lookup(m, &nh, &r, err, sizeof(err)), POLICY_LOOKUP_ERROR);
	policy_result_free(&r);
	policy_maps_close(m);

	/* A hit in an earlier map is returned before the broken map is read. */
	m = open_maps("one missing");
	expect(m, "example.com", POLICY_FOUND, "example.com", "may");
	expect(m, "nowhere.example", POLICY_LOOKUP_ERROR, NULL, NULL);
	policy_maps_close(m);

	/* A broken map first: an error even where a later map has the key. */
	m = open_maps("missing one");
	expect(m, "example.com", POLICY_LOOKUP_ERROR, NULL, NULL);
	policy_maps_close(m);
}

static void
test_invalid_entries(void **state)
{
	static const char *const bad[] = {
		"bogus.example",
		"bogus",
		"attr.example",
		"may match=x",
		"empty.example",
		",",
	};
	struct policy_maps *m;
	struct nexthop nh;
	struct policy_result r;
	char err[512];

	(void)state;
	make_map("bad", 0, bad, 3);
	m = open_maps("bad");
	assert_int_equal(nexthop_parse("bogus.example", &nh, err, sizeof(err)), 0);
	assert_int_equal(policy_lookup(m, &nh, &r, err, sizeof(err)), POLICY_INVALID);
	assert_string_equal(err, "invalid security level \"bogus\"");
	assert_string_equal(r.key, "bogus.example");
	assert_string_equal(r.value, "bogus");
	policy_result_free(&r);
	assert_int_equal(nexthop_parse("attr.example", &nh, err, sizeof(err)), 0);
	assert_int_equal(policy_lookup(m, &nh, &r, err, sizeof(err)), POLICY_INVALID);
	assert_string_equal(err, "attribute \"match\" invalid at security level \"may\"");
	policy_result_free(&r);
	expect(m, "empty.example", POLICY_INVALID, "empty.example", ",");
	policy_maps_close(m);
}

static void
test_no_nul_tables(void **state)
{
	static const char *const kv[] = { "example.com", "secure", ".example.com", "verify" };
	struct policy_maps *m;

	(void)state;
	make_map("nonul", LMDB_BUILD_NO_NUL, kv, 2);
	m = open_maps("nonul");
	expect(m, "example.com", POLICY_FOUND, "example.com", "secure");
	expect(m, "mx.example.com", POLICY_FOUND, ".example.com", "verify");
	policy_maps_close(m);
}

static void
test_ulabel_fallback(void **state)
{
	/* As postmap stores a UTF-8 source key: folded, but not converted. */
	static const char *const kv[] = {
		"b\xc3\xbc"
		"cher.example",
		"secure",
		".b\xc3\xbc"
		"cher.example",
		"verify",
		"xn--caf-dma.example",
		"encrypt",
	};
	struct policy_maps *m;

	(void)state;
	make_map("utf8", 0, kv, 3);
	m = open_maps("utf8");
	expect(m,
	    "B\xc3\xbc"
	    "cher.example",
	    POLICY_FOUND,
	    "b\xc3\xbc"
	    "cher.example",
	    "secure");
	expect(m, "xn--bcher-kva.example", POLICY_FOUND,
	    "b\xc3\xbc"
	    "cher.example",
	    "secure");
	expect(m, "mx.xn--bcher-kva.example", POLICY_FOUND,
	    ".b\xc3\xbc"
	    "cher.example",
	    "verify");
	/* The A-label form is tried first and found as such. */
	expect(m, "caf\xc3\xa9.example", POLICY_FOUND, "xn--caf-dma.example", "encrypt");
	policy_maps_close(m);
}

static struct policy_maps *
open_spec(const char *spec)
{
	struct policy_maps *m;
	char err[512];

	if (policy_maps_open(spec, &m, err, sizeof(err)) != 0)
		fail_msg("open %s: %s", spec, err);
	return m;
}

/* The error policy_maps_open gives for SPEC (which must be refused). */
static const char *
open_error(const char *spec)
{
	static char err[1024];
	struct policy_maps *m;

	err[0] = 0;
	if (policy_maps_open(spec, &m, err, sizeof(err)) == 0)
		fail_msg("\"%s\" accepted", spec);
	assert_null(m);
	return err;
}

static void
write_text(const char *name, const char *text)
{
	char path[400];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	assert_non_null(fp = fopen(path, "w"));
	fputs(text, fp);
	fclose(fp);
}

static void
test_map_specs(void **state)
{
	struct policy_maps *m;
	struct nexthop nh;
	struct policy_result r;
	char err[512];

	(void)state;
	assert_string_equal(open_error("hash:/etc/postfix/tls_policy"),
	    "unsupported table type \"hash\" in \"hash:/etc/postfix/tls_policy\": compile it with "
	    "\"tlsmap lmdb:/etc/postfix/tls_policy\" and write \"lmdb:/etc/postfix/tls_policy\"");
	assert_non_null(strstr(open_error("lmdb:/a btree:/x/p"),
	    "\"tlsmap lmdb:/x/p\" and write \"lmdb:/x/p\""));
	assert_non_null(strstr(open_error("cdb:/x/p"), "\"tlsmap lmdb:/x/p\""));
	assert_non_null(strstr(open_error("dbm:/x/p"), "\"tlsmap lmdb:/x/p\""));
	assert_non_null(
	    strstr(open_error("proxy:lmdb:/x/p"), "name the table itself (\"lmdb:/x/p\")"));
	assert_non_null(strstr(open_error("pcre:/x/p"), "unsupported table type \"pcre\""));
	/* socketmap: is the agent's; the library alone does not have it. */
	assert_non_null(strstr(open_error("socketmap:inet:127.0.0.1:8461:postfix"),
	    "unsupported table type \"socketmap\""));
	assert_non_null(strstr(open_error("/etc/postfix/tls_policy"), "missing \"type:\""));
	assert_non_null(strstr(open_error("lmdb:"), "missing file name"));
	assert_non_null(strstr(open_error("texthash:"), "missing file name"));
	/* static:secure match=x splits into "static:secure" and "match=x". */
	assert_non_null(strstr(open_error("static:secure match=x"), "missing \"type:\""));
	m = open_spec(" lmdb:/a,lmdb:/b\tLMDB:/c , texthash:/d inline:{a=may} static:{may}");
	policy_maps_close(m);
	/* No maps at all: nothing is ever found. */
	assert_int_equal(policy_maps_open("", &m, err, sizeof(err)), 0);
	assert_int_equal(nexthop_parse("example.com", &nh, err, sizeof(err)), 0);
	assert_int_equal(policy_lookup(m, &nh, &r, err, sizeof(err)), POLICY_NOT_FOUND);
	policy_result_free(&r);
	policy_maps_close(m);
}

static void
test_texthash(void **state)
{
	struct policy_maps *m;
	char spec[512];

	(void)state;
	write_text("th",
	    "# a source file, as tlsmap compiles it\n"
	    "Example.COM\tsecure match=nexthop\n"
	    ".example.com    verify\n"
	    "\tciphers=high\n"
	    "dup.example may\n"
	    "DUP.example encrypt\n"
	    "[relay.example]:587 encrypt\n"
	    "bad.example bogus\n");
	snprintf(spec, sizeof(spec), "texthash:%s/th", tmpdir);
	m = open_spec(spec);
	expect(m, "example.com", POLICY_FOUND, "example.com", "secure match=nexthop");
	expect(m, "MX.Example.com", POLICY_FOUND, ".example.com", "verify\tciphers=high");
	expect(m, "dup.example", POLICY_FOUND, "dup.example", "may");
	expect(m, "[relay.example]:587", POLICY_FOUND, "[relay.example]:587", "encrypt");
	expect(m, "[relay.example]", POLICY_NOT_FOUND, NULL, NULL);
	expect(m, "bad.example", POLICY_INVALID, "bad.example", "bogus");
	expect(m, "other.example", POLICY_NOT_FOUND, NULL, NULL);
	policy_maps_close(m);

	/* A file that is not there yet: a lookup error until it is. */
	snprintf(spec, sizeof(spec), "texthash:%s/th-later", tmpdir);
	m = open_spec(spec);
	expect(m, "example.com", POLICY_LOOKUP_ERROR, NULL, NULL);
	write_text("th-later", "example.com encrypt\n");
	expect(m, "example.com", POLICY_FOUND, "example.com", "encrypt");
	policy_maps_close(m);
}

static void
test_texthash_problems(void **state)
{
	static const char *const bad[] = {
		"good.example may\nnovalue.example\n",
		"good.example may\n\"open.example may\n",
		"good.example may\nutf.example \377\n",
	};
	struct policy_maps *m;
	struct nexthop nh;
	struct policy_result r;
	char spec[512];
	char err[512];

	(void)state;
	snprintf(spec, sizeof(spec), "texthash:%s/th-bad", tmpdir);
	assert_int_equal(nexthop_parse("good.example", &nh, err, sizeof(err)), 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		write_text("th-bad", bad[i]);
		m = open_spec(spec);
		/* One bad line refuses the whole table, even for a good key. */
		if (policy_lookup(m, &nh, &r, err, sizeof(err)) != POLICY_LOOKUP_ERROR)
			fail_msg("case %zu: not a lookup error", i);
		assert_non_null(strstr(err, "policy table lookup error: texthash:"));
		assert_non_null(strstr(err, "/th-bad:2: "));
		policy_result_free(&r);
		policy_maps_close(m);
	}
}

static void
test_inline_static(void **state)
{
	struct policy_maps *m;

	(void)state;
	m = open_spec(
	    "inline:{ Example.COM=encrypt, {.example.com = secure match=.example.com:example.com},"
	    "[relay.example]:587=may }");
	expect(m, "example.com", POLICY_FOUND, "example.com", "encrypt");
	expect(m, "mx.example.com", POLICY_FOUND, ".example.com",
	    "secure match=.example.com:example.com");
	expect(m, "[relay.example]:587", POLICY_FOUND, "[relay.example]:587", "may");
	expect(m, "other.example", POLICY_NOT_FOUND, NULL, NULL);
	policy_maps_close(m);

	m = open_spec("static:{ secure match=nexthop }");
	expect(m, "example.com", POLICY_FOUND, "example.com", "secure match=nexthop");
	expect(m, "[192.0.2.1]:25", POLICY_FOUND, "[192.0.2.1]:25", "secure match=nexthop");
	policy_maps_close(m);
	m = open_spec("static:encrypt");
	expect(m, "a.b.example", POLICY_FOUND, "a.b.example", "encrypt");
	policy_maps_close(m);
	m = open_spec("static:bogus");
	expect(m, "a.b.example", POLICY_INVALID, "a.b.example", "bogus");
	policy_maps_close(m);

	assert_non_null(strstr(open_error("inline:{}"), "empty table"));
	assert_non_null(strstr(open_error("inline:a=b"), "need \"inline:{name=value...}\""));
	assert_non_null(strstr(open_error("inline:{a.example}"), "missing '='"));
	assert_non_null(strstr(open_error("inline:{=may}"), "missing attribute name"));
	assert_non_null(strstr(open_error("inline:{{a=may}"), "unbalanced"));
	assert_non_null(strstr(open_error("inline:{a=may, A=encrypt}"), "duplicate key \"a\""));
	assert_non_null(strstr(open_error("inline:{{a=may}x}"), "syntax error"));
}

/* A caller's map type, as the agent serves socketmap:, recording its calls. */
struct fake_map {
	char arg[64];
	char calls[1024];
};

static struct fake_map fakes[4];
static size_t nfakes;

static int
fake_open(const char *arg, void *ctx, void **handle, char *err, size_t errlen)
{
	(void)ctx;
	if (strcmp(arg, "broken") == 0) {
		snprintf(err, errlen, "bad endpoint");
		return -1;
	}
	snprintf(fakes[nfakes].arg, sizeof(fakes[nfakes].arg), "%s", arg);
	fakes[nfakes].calls[0] = 0;
	*handle = &fakes[nfakes++];
	return 0;
}

static int
fake_lookup(void *handle, const char *key, char **value, char *err, size_t errlen)
{
	struct fake_map *f = handle;
	size_t len = strlen(f->calls);

	snprintf(f->calls + len, sizeof(f->calls) - len, "%s%s", len ? " " : "", key);
	if (strcmp(f->arg, "down") == 0) {
		snprintf(err, errlen, "connect to 127.0.0.1:1: Connection refused");
		return -1;
	}
	if (strcmp(key, f->arg) == 0)
		return (*value = strdup("secure match=mx.example")) != NULL;
	return 0;
}

static void
fake_close(void *handle)
{
	(void)handle;
}

static struct policy_maps *
open_with_fake(const char *spec)
{
	struct policy_map_backend b = { "fake", fake_open, fake_lookup, fake_close, NULL };
	struct policy_maps *m;
	char err[512];

	nfakes = 0;
	if (policy_maps_open_with(spec, &b, 1, &m, err, sizeof(err)) != 0)
		fail_msg("open %s: %s", spec, err);
	return m;
}

static void
test_backend_and_order(void **state)
{
	struct policy_map_backend b = { "fake", fake_open, fake_lookup, fake_close, NULL };
	struct policy_maps *m;
	struct nexthop nh;
	struct policy_result r;
	char spec[512];
	char err[512];

	(void)state;
	/*
	 * Postfix's order: for each key, every map; so the exact key in the
	 * last map beats a parent key in the first.
	 */
	snprintf(spec, sizeof(spec),
	    "inline:{.example.com=encrypt} fake:mx.example.com lmdb:%s/one", tmpdir);
	m = open_with_fake(spec);
	expect(m, "mx.example.com", POLICY_FOUND, "mx.example.com", "secure match=mx.example");
	assert_string_equal(fakes[0].calls, "mx.example.com");
	policy_maps_close(m);
	m = open_with_fake(spec);
	expect(m, "a.b.example.com", POLICY_FOUND, "a.b.example.com", "secure match=nexthop");
	expect(m, "z.b.example.com", POLICY_FOUND, ".b.example.com", "verify");
	assert_string_equal(fakes[0].calls, "a.b.example.com z.b.example.com .b.example.com");
	policy_maps_close(m);

	/* A map that is down: a lookup error naming it, before later maps. */
	snprintf(spec, sizeof(spec), "inline:{x.example=may}, fake:down, lmdb:%s/one", tmpdir);
	m = open_with_fake(spec);
	expect(m, "x.example", POLICY_FOUND, "x.example", "may");
	assert_int_equal(nexthop_parse("example.com", &nh, err, sizeof(err)), 0);
	assert_int_equal(policy_lookup(m, &nh, &r, err, sizeof(err)), POLICY_LOOKUP_ERROR);
	assert_string_equal(err,
	    "policy table lookup error: fake:down: connect to 127.0.0.1:1: Connection refused");
	assert_string_equal(r.map, "fake:down");
	policy_result_free(&r);
	policy_maps_close(m);

	/* The backend's own syntax check refuses the list. */
	assert_int_equal(policy_maps_open_with("fake:broken", &b, 1, &m, err, sizeof(err)), -1);
	assert_string_equal(err, "table \"fake:broken\": bad endpoint");
	assert_null(m);
}

/* The trace: every (map, key) asked, in order, with its answer. */
struct trace_log {
	char text[2048];
};

static void
trace_cb(const char *map, const char *key, int rc, const char *value, void *ctx)
{
	struct trace_log *t = ctx;
	size_t len = strlen(t->text);
	const char *name = strrchr(map, '/');

	snprintf(t->text + len, sizeof(t->text) - len, "%s %s %d %s;", name ? name + 1 : map, key,
	    rc,
	    rc > 0	 ? value
		: rc < 0 ? "error"
			 : "-");
}

static void
test_trace_and_source(void **state)
{
	struct policy_maps *m;
	struct trace_log t;
	char src[1024];

	(void)state;
	memset(&t, 0, sizeof(t));
	m = open_maps("two one");
	policy_maps_set_trace(m, trace_cb, &t);
	expect(m, "b.example.com", POLICY_FOUND, ".example.com", "encrypt");
	assert_string_equal(t.text,
	    "two b.example.com 0 -;one b.example.com 0 -;"
	    "two .example.com 0 -;one .example.com 1 encrypt;");
	t.text[0] = 0;
	policy_maps_set_trace(m, NULL, NULL);
	expect(m, "example.com", POLICY_FOUND, "example.com", "may");
	assert_string_equal(t.text, "");
	policy_maps_close(m);

	m = open_maps("missing");
	policy_maps_set_trace(m, trace_cb, &t);
	expect(m, "[relay.example]:587", POLICY_LOOKUP_ERROR, NULL, NULL);
	assert_string_equal(t.text, "missing [relay.example]:587 -1 error;");
	policy_maps_close(m);

	assert_int_equal(policy_map_source("lmdb:/etc/postfix/tls_policy", src, sizeof(src)), 1);
	assert_string_equal(src, "/etc/postfix/tls_policy");
	assert_int_equal(policy_map_source("texthash:/x/y", src, sizeof(src)), 1);
	assert_string_equal(src, "/x/y");
	assert_int_equal(policy_map_source("inline:{a=b}", src, sizeof(src)), 0);
	assert_int_equal(policy_map_source("static:may", src, sizeof(src)), 0);
	assert_int_equal(policy_map_source("socketmap:inet:127.0.0.1:1:x", src, sizeof(src)), 0);
	assert_int_equal(policy_map_source("lmdb:", src, sizeof(src)), 0);
	assert_int_equal(policy_map_source("lmdb:/long/name", src, 5), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lookup_order),
		cmocka_unit_test(test_explicit_nexthops),
		cmocka_unit_test(test_several_maps),
		cmocka_unit_test(test_lookup_errors),
		cmocka_unit_test(test_invalid_entries),
		cmocka_unit_test(test_no_nul_tables),
		cmocka_unit_test(test_ulabel_fallback),
		cmocka_unit_test(test_map_specs),
		cmocka_unit_test(test_texthash),
		cmocka_unit_test(test_texthash_problems),
		cmocka_unit_test(test_inline_static),
		cmocka_unit_test(test_backend_and_order),
		cmocka_unit_test(test_trace_and_source),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
