/*
 * test_tls_scache.c - the TLS session cache (tls_scache.c) on real LMDB
 * files in a temporary directory.
 *
 * Checks: a ticket is taken once; the expiry is the smallest of the
 * timeout, the server's lifetime and 7 days, and an expired ticket is a
 * miss; GnuTLS's 4-byte placeholder is refused; a garbage, truncated,
 * page-corrupted or full file is a miss (one warning, no crash); a full
 * map is relieved by purging expired entries; the key changes with each
 * field it covers and not with the order of lists; files are created mode
 * 0600, and a wider mode is narrowed; a file of another user, a symlink
 * and a missing directory are refused; forked processes taking from one
 * pool concurrently never get the same ticket.
 * SCACHE_TEST_LOG=1 in the environment prints each test's log lines.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <lmdb.h>

#include <cmocka.h>

#include "tls_scache.h"

static char dir[64];
static char spec[128]; /* "lmdb:DIR/scache" */
static char file[128]; /* DIR/scache.lmdb */
static char logfile[128];

static int
setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/tlsmtp-scache-XXXXXX");
	if (mkdtemp(dir) == NULL)
		return -1;
	snprintf(spec, sizeof(spec), "lmdb:%s/scache", dir);
	snprintf(file, sizeof(file), "%s/scache.lmdb", dir);
	snprintf(logfile, sizeof(logfile), "%s/log", dir);
	log_open(logfile, NULL, 0);
	return 0;
}

static int
teardown(void **state)
{
	char cmd[200];

	(void)state;
	if (getenv("SCACHE_TEST_LOG") != NULL) {
		snprintf(cmd, sizeof(cmd), "cat '%s' >&2", logfile);
		(void)system(cmd);
	}
	log_close();
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* A key from a label alone (the digest is what the cache uses). */
static void
test_key(struct tls_scache_key *key, const char *name)
{
	struct tls_scache_fields f;

	memset(&f, 0, sizeof(f));
	f.nexthop = name;
	f.host = "mx.example.test";
	f.addr = "127.0.0.1";
	f.port = 25;
	f.level = TLS_LEVEL_ENCRYPT;
	tls_scache_key_make(&f, key);
	assert_true(key->label[0] != '\0');
}

static void
fill_blob(unsigned char *buf, size_t len, unsigned seed)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = (unsigned char)(seed * 131 + i * 7 + 1);
}

static int
store_seeded(struct tls_scache *sc, const struct tls_scache_key *key, unsigned seed, size_t len,
    unsigned lifetime)
{
	unsigned char buf[4096];
	gnutls_datum_t blob = { buf, (unsigned)len };

	assert_true(len <= sizeof(buf));
	fill_blob(buf, len, seed);
	return tls_scache_store(sc, key, &blob, lifetime);
}

/* The seed of a taken blob, or -1 for a miss (or bytes that match no seed). */
static int
take_seed(struct tls_scache *sc, const struct tls_scache_key *key, size_t len)
{
	unsigned char want[4096];
	gnutls_datum_t blob;
	int seed = -1;

	if (!tls_scache_take(sc, key, &blob))
		return -1;
	for (unsigned s = 0; s < 1000 && blob.size == len; s++) {
		fill_blob(want, len, s);
		if (memcmp(want, blob.data, len) == 0) {
			seed = (int)s;
			break;
		}
	}
	gnutls_free(blob.data);
	return seed;
}

static int
count_warnings(void)
{
	FILE *fp = fopen(logfile, "r");
	char line[4096];
	int n = 0;

	if (fp == NULL)
		return 0;
	while (fgets(line, sizeof(line), fp) != NULL)
		if (strstr(line, "warning: TLS session cache") != NULL)
			n++;
	fclose(fp);
	return n;
}

/* ------------------------------------------------------------------------ */

static void
test_take_once(void **state)
{
	struct tls_scache *sc;
	struct tls_scache_key a, b;

	(void)state;
	assert_non_null(sc = tls_scache_open(spec, 3600, TLS_SCACHE_MAP_SIZE));
	test_key(&a, "[a.example]");
	test_key(&b, "[b.example]");
	assert_int_equal(take_seed(sc, &a, 900), -1);
	assert_int_equal(store_seeded(sc, &a, 1, 900, 0), 1);
	assert_int_equal(store_seeded(sc, &b, 2, 900, 0), 1);
	assert_int_equal(take_seed(sc, &a, 900), 1);
	assert_int_equal(take_seed(sc, &a, 900), -1); /* used once */
	assert_int_equal(take_seed(sc, &b, 900), 2);  /* the other key untouched */
	assert_int_equal(take_seed(sc, &b, 900), -1);
	/* A pool: two stores, two takes, soonest expiry first. */
	assert_int_equal(store_seeded(sc, &a, 3, 900, 600), 1);
	assert_int_equal(store_seeded(sc, &a, 4, 900, 60), 1);
	assert_int_equal(take_seed(sc, &a, 900), 4);
	assert_int_equal(take_seed(sc, &a, 900), 3);
	assert_int_equal(take_seed(sc, &a, 900), -1);
	tls_scache_close(sc);
	/* Another process (a reopen) sees what was stored. */
	assert_non_null(sc = tls_scache_open(spec, 3600, TLS_SCACHE_MAP_SIZE));
	assert_int_equal(store_seeded(sc, &a, 5, 1500, 0), 1);
	tls_scache_close(sc);
	assert_non_null(sc = tls_scache_open(spec, 3600, TLS_SCACHE_MAP_SIZE));
	assert_int_equal(take_seed(sc, &a, 1500), 5);
	tls_scache_close(sc);
	assert_int_equal(count_warnings(), 0);
}

/* created/expires of the only entry, read with LMDB directly. */
static void
entry_times(uint64_t *created, uint64_t *expires)
{
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	MDB_cursor *cur;
	MDB_val k, v;
	const unsigned char *p;

	assert_int_equal(mdb_env_create(&env), 0);
	assert_int_equal(mdb_env_open(env, file, MDB_NOSUBDIR | MDB_RDONLY, 0600), 0);
	assert_int_equal(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn), 0);
	assert_int_equal(mdb_dbi_open(txn, NULL, 0, &dbi), 0);
	assert_int_equal(mdb_cursor_open(txn, dbi, &cur), 0);
	assert_int_equal(mdb_cursor_get(cur, &k, &v, MDB_FIRST), 0);
	p = v.mv_data;
	*created = *expires = 0;
	for (int i = 0; i < 8; i++) {
		*created = *created << 8 | p[4 + i];
		*expires = *expires << 8 | p[12 + i];
	}
	assert_int_equal(mdb_cursor_get(cur, &k, &v, MDB_NEXT), MDB_NOTFOUND);
	mdb_cursor_close(cur);
	mdb_txn_abort(txn);
	mdb_env_close(env);
}

static void
expiry_is(int timeout, unsigned lifetime, uint64_t want)
{
	struct tls_scache *sc;
	struct tls_scache_key a;
	uint64_t created, expires;

	test_key(&a, "[a.example]");
	assert_non_null(sc = tls_scache_open(spec, timeout, TLS_SCACHE_MAP_SIZE));
	assert_int_equal(store_seeded(sc, &a, 1, 100, lifetime), 1);
	entry_times(&created, &expires);
	assert_int_equal(expires - created, want);
	assert_int_equal(take_seed(sc, &a, 100), 1);
	tls_scache_close(sc);
}

static void
test_expiry(void **state)
{
	struct tls_scache *sc;
	struct tls_scache_key a;

	(void)state;
	expiry_is(3600, 0, 3600);		       /* the timeout */
	expiry_is(3600, 60, 60);		       /* the server's lifetime */
	expiry_is(100 * 86400, 30 * 86400, 7 * 86400); /* RFC 8446: 7 days */
	expiry_is(100 * 86400, 0, 7 * 86400);
	/* An expired ticket is a miss, and is deleted. */
	test_key(&a, "[a.example]");
	assert_non_null(sc = tls_scache_open(spec, 1, TLS_SCACHE_MAP_SIZE));
	assert_int_equal(store_seeded(sc, &a, 1, 100, 0), 1);
	assert_int_equal(store_seeded(sc, &a, 2, 100, 1), 1);
	usleep(1100 * 1000);
	assert_int_equal(take_seed(sc, &a, 100), -1);
	assert_int_equal(tls_scache_purge(sc), 0); /* the take deleted them */
	assert_int_equal(store_seeded(sc, &a, 3, 100, 0), 1);
	usleep(1100 * 1000);
	assert_int_equal(tls_scache_purge(sc), 1);
	tls_scache_close(sc);
	/* Timeout 0 stores nothing. */
	assert_non_null(sc = tls_scache_open(spec, 0, TLS_SCACHE_MAP_SIZE));
	assert_int_equal(store_seeded(sc, &a, 1, 100, 0), 0);
	tls_scache_close(sc);
}

static void
test_placeholder_refused(void **state)
{
	struct tls_scache *sc;
	struct tls_scache_key a;
	unsigned char zero[4] = { 0, 0, 0, 0 }, big[65537];
	gnutls_datum_t ph = { zero, 4 }, empty = { zero, 0 }, huge = { big, sizeof(big) };

	(void)state;
	memset(big, 1, sizeof(big));
	test_key(&a, "[a.example]");
	assert_non_null(sc = tls_scache_open(spec, 3600, TLS_SCACHE_MAP_SIZE));
	assert_int_equal(tls_scache_store(sc, &a, &ph, 0), 0);
	assert_int_equal(tls_scache_store(sc, &a, &empty, 0), 0);
	assert_int_equal(tls_scache_store(sc, &a, &huge, 0), 0);
	assert_int_equal(take_seed(sc, &a, 4), -1);
	tls_scache_close(sc);
	assert_int_equal(count_warnings(), 0);
}

/* Run fn in a child (the one-warning state is per process). */
static void
in_child(void (*fn)(void))
{
	pid_t pid = fork();
	int status;

	assert_true(pid >= 0);
	if (pid == 0) {
		fn();
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

/* In a child: open, take and store on the file as it is; all misses,
 * exactly one warning, no crash. */
static void
expect_miss_one_warning(void)
{
	struct tls_scache *sc;
	struct tls_scache_key a;
	int before = count_warnings();

	test_key(&a, "[a.example]");
	sc = tls_scache_open(spec, 3600, TLS_SCACHE_MAP_SIZE);
	for (int i = 0; i < 50; i++) {
		if (take_seed(sc, &a, 900) != -1)
			_exit(2);
		(void)store_seeded(sc, &a, 1, 900, 0);
	}
	(void)tls_scache_purge(sc);
	tls_scache_close(sc);
	if (count_warnings() != before + 1)
		_exit(3);
}

/* A valid file with many entries of several keys, then closed. */
static void
fill_file(int keys)
{
	struct tls_scache *sc;
	struct tls_scache_key k;
	char name[32];

	assert_non_null(sc = tls_scache_open(spec, 3600, TLS_SCACHE_MAP_SIZE));
	for (int i = 0; i < keys; i++) {
		snprintf(name, sizeof(name), "[h%d.example]", i);
		test_key(&k, name);
		for (int j = 0; j < 3; j++)
			assert_int_equal(store_seeded(sc, &k, (unsigned)j, 1200 + (size_t)i, 0), 1);
	}
	tls_scache_close(sc);
}

static void
overwrite(off_t from, size_t len, int random)
{
	int fd = open(file, O_WRONLY);
	unsigned char buf[4096];
	unsigned x = 12345;

	assert_true(fd >= 0);
	while (len > 0) {
		size_t n = len < sizeof(buf) ? len : sizeof(buf);

		for (size_t i = 0; i < n; i++) {
			x = x * 1103515245 + 12345;
			buf[i] = random ? (unsigned char)(x >> 16) : 0xff;
		}
		assert_int_equal(pwrite(fd, buf, n, from), (ssize_t)n);
		from += (off_t)n;
		len -= n;
	}
	close(fd);
}

static off_t
file_size(void)
{
	struct stat st;

	assert_int_equal(stat(file, &st), 0);
	return st.st_size;
}

static void
test_garbage_file(void **state)
{
	int fd;

	(void)state;
	assert_true((fd = open(file, O_WRONLY | O_CREAT, 0600)) >= 0);
	assert_int_equal(write(fd, "this is not an LMDB file\n", 25), 25);
	close(fd);
	overwrite(25, 3 * 4096, 1);
	in_child(expect_miss_one_warning);
}

static void
test_truncated_file(void **state)
{
	(void)state;
	fill_file(40);
	assert_true(file_size() > 8 * 4096);
	assert_int_equal(truncate(file, 3 * 4096), 0);
	in_child(expect_miss_one_warning);
	assert_int_equal(truncate(file, 100), 0);
	in_child(expect_miss_one_warning);
}

/*
 * Data pages overwritten (meta pages intact): whatever LMDB makes of
 * them, the cache must not crash the process; each child either gets a
 * clean miss with one warning, or no warning at all when the damage
 * missed every page it touched.
 */
static void
survive_corruption(void)
{
	struct tls_scache *sc;
	struct tls_scache_key k;
	char name[32];
	int before = count_warnings();

	sc = tls_scache_open(spec, 3600, TLS_SCACHE_MAP_SIZE);
	for (int i = 0; i < 40; i++) {
		snprintf(name, sizeof(name), "[h%d.example]", i);
		test_key(&k, name);
		(void)take_seed(sc, &k, 1200 + (size_t)i);
		(void)store_seeded(sc, &k, 9, 1200 + (size_t)i, 0);
	}
	(void)tls_scache_purge(sc);
	tls_scache_close(sc);
	if (count_warnings() > before + 1)
		_exit(3);
}

static void
test_corrupt_pages(void **state)
{
	off_t size;

	(void)state;
	for (int pass = 0; pass < 3; pass++) {
		fill_file(40);
		size = file_size();
		if (pass == 0)
			overwrite(2 * 4096, (size_t)(size - 2 * 4096), 1); /* every data page */
		else if (pass == 1)
			overwrite(2 * 4096, (size_t)(size - 2 * 4096), 0); /* all 0xff */
		else
			overwrite(size / 2, 4096, 1); /* one page */
		in_child(survive_corruption);
		assert_int_equal(unlink(file), 0);
	}
}

/* Entries in the file, read with LMDB directly. */
static size_t
count_entries(void)
{
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	MDB_stat st;

	assert_int_equal(mdb_env_create(&env), 0);
	assert_int_equal(mdb_env_open(env, file, MDB_NOSUBDIR | MDB_RDONLY, 0600), 0);
	assert_int_equal(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn), 0);
	assert_int_equal(mdb_dbi_open(txn, NULL, 0, &dbi), 0);
	assert_int_equal(mdb_stat(txn, dbi, &st), 0);
	mdb_txn_abort(txn);
	mdb_env_close(env);
	return st.ms_entries;
}

/* Many stores into a small map: none fails, the file stays under the cap. */
static void
test_map_cap(void **state)
{
	struct tls_scache *sc;
	struct tls_scache_key k;
	char name[32];

	(void)state;
	assert_non_null(sc = tls_scache_open(spec, 3600, 256 * 1024));
	for (int i = 0; i < 1000; i++) {
		snprintf(name, sizeof(name), "[h%d.example]", i);
		test_key(&k, name);
		assert_int_equal(store_seeded(sc, &k, (unsigned)i % 100, 1000 + (size_t)i % 1500,
				     0),
		    1);
		if (i % 7 == 0)
			assert_int_equal(take_seed(sc, &k, 1000 + (size_t)i % 1500), i % 100);
	}
	/* The newest entry is there; old ones were evicted. */
	assert_int_equal(take_seed(sc, &k, 1000 + 999 % 1500), 999 % 100);
	tls_scache_close(sc);
	assert_true(file_size() <= 256 * 1024);
	assert_true(count_entries() < 1000);
	assert_int_equal(count_warnings(), 0);
}

/* Expired entries are purged once the entries fill half the map. */
static void
test_expired_purged(void **state)
{
	struct tls_scache *sc;
	struct tls_scache_key k;
	char name[32];

	(void)state;
	assert_non_null(sc = tls_scache_open(spec, 1, 128 * 1024));
	for (int i = 0; i < 30; i++) {
		snprintf(name, sizeof(name), "[h%d.example]", i);
		test_key(&k, name);
		assert_int_equal(store_seeded(sc, &k, 1, 2000, 0), 1);
	}
	tls_scache_close(sc);
	assert_true(count_entries() > 5);
	usleep(1100 * 1000);
	assert_non_null(sc = tls_scache_open(spec, 3600, 128 * 1024));
	test_key(&k, "[fresh.example]");
	assert_int_equal(store_seeded(sc, &k, 7, 2000, 0), 1);
	tls_scache_close(sc);
	assert_int_equal(count_entries(), 1);
	assert_non_null(sc = tls_scache_open(spec, 3600, 128 * 1024));
	assert_int_equal(take_seed(sc, &k, 2000), 7);
	tls_scache_close(sc);
	assert_int_equal(count_warnings(), 0);
}

/* In a child: a store that may fail with one warning; a stored ticket is found. */
static void
store_at_most_one_warning(void)
{
	struct tls_scache *sc;
	struct tls_scache_key a;
	int before = count_warnings(), stored;

	test_key(&a, "[a.example]");
	if ((sc = tls_scache_open(spec, 3600, 65536)) == NULL)
		_exit(2);
	stored = store_seeded(sc, &a, 3, 1500, 0);
	if (stored && take_seed(sc, &a, 1500) != 3)
		_exit(3);
	tls_scache_close(sc);
	if (count_warnings() > before + !stored)
		_exit(4);
}

static void
store_no_warning(void)
{
	int before = count_warnings();

	store_at_most_one_warning();
	if (count_warnings() != before)
		_exit(5);
}

/* A file another program filled to the cap: it becomes usable again. */
static void
test_full_file(void **state)
{
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	MDB_val k, v;
	unsigned char junk[1500];
	int rc = 0, n;

	(void)state;
	memset(junk, 'j', sizeof(junk));
	assert_int_equal(mdb_env_create(&env), 0);
	assert_int_equal(mdb_env_set_mapsize(env, 65536), 0);
	assert_int_equal(mdb_env_open(env, file, MDB_NOSUBDIR, 0600), 0);
	for (n = 0; rc == 0 && n < 1000; n++) {
		assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
		assert_int_equal(mdb_dbi_open(txn, NULL, 0, &dbi), 0);
		k.mv_size = sizeof(n);
		k.mv_data = &n;
		v.mv_size = sizeof(junk);
		v.mv_data = junk;
		if ((rc = mdb_put(txn, dbi, &k, &v, 0)) == 0)
			rc = mdb_txn_commit(txn);
		else
			mdb_txn_abort(txn);
	}
	mdb_env_close(env);
	assert_int_equal(rc, MDB_MAP_FULL);
	/* Junk is purged to make room: a few deliveries later, the cache works. */
	for (int i = 0; i < 3; i++)
		in_child(store_at_most_one_warning);
	in_child(store_no_warning);
	assert_true(file_size() <= 65536);
}

/* ------------------------------------------------------------------------
 * The key.
 */
static const char *names_ab[] = { "a.example", "b.example" };
static const char *names_ba[] = { "b.example", "a.example" };
static const char *names_ac[] = { "a.example", "c.example" };
static const char *digests_1[] = { "00ff" };
static const char *digests_2[] = { "00fe" };

static void
base_fields(struct tls_scache_fields *f)
{
	memset(f, 0, sizeof(*f));
	f->nexthop = "[mx.example]:587";
	f->host = "mx.example";
	f->addr = "192.0.2.1";
	f->port = 587;
	f->sni = "mx.example";
	f->level = TLS_LEVEL_SECURE;
	f->names = names_ab;
	f->name_count = 2;
	f->digest_alg = "sha256";
	f->priority = "NORMAL:-VERS-ALL:+VERS-TLS1.3";
}

static void
key_of(const struct tls_scache_fields *f, struct tls_scache_key *k)
{
	tls_scache_key_make(f, k);
	assert_true(k->label[0] != '\0');
}

static void
assert_key_differs(const struct tls_scache_fields *f, const struct tls_scache_key *base)
{
	struct tls_scache_key k;

	key_of(f, &k);
	assert_memory_not_equal(k.digest, base->digest, TLS_SCACHE_DIGEST_LEN);
}

static void
touch_file(const char *path, const char *text)
{
	FILE *fp = fopen(path, "w");

	assert_non_null(fp);
	fputs(text, fp);
	fclose(fp);
}

static void
test_key_fields(void **state)
{
	struct tls_scache_fields f;
	struct tls_scache_key base, k;
	struct tlsa_set *tlsa;
	unsigned char d1[32], d2[32];
	char ca[128], cert[128], ta[128];
	const char *tafiles[1] = { ta };

	(void)state;
	snprintf(ca, sizeof(ca), "%s/ca.pem", dir);
	snprintf(cert, sizeof(cert), "%s/cert.pem", dir);
	snprintf(ta, sizeof(ta), "%s/ta.pem", dir);
	touch_file(ca, "ca one\n");
	touch_file(cert, "cert one\n");
	touch_file(ta, "ta one\n");
	base_fields(&f);
	key_of(&f, &base);
	assert_string_equal(base.label, "[mx.example]:587&mx.example[192.0.2.1]:587&secure");
	/* Same inputs, same key; lists are sets. */
	key_of(&f, &k);
	assert_memory_equal(k.digest, base.digest, TLS_SCACHE_DIGEST_LEN);
	f.names = names_ba;
	key_of(&f, &k);
	assert_memory_equal(k.digest, base.digest, TLS_SCACHE_DIGEST_LEN);

	base_fields(&f);
	f.nexthop = "mx.example";
	assert_key_differs(&f, &base);
	base_fields(&f);
	f.host = "mx2.example";
	assert_key_differs(&f, &base);
	base_fields(&f);
	f.addr = "192.0.2.2";
	assert_key_differs(&f, &base);
	base_fields(&f);
	f.port = 25;
	assert_key_differs(&f, &base);
	base_fields(&f);
	f.sni = "other.example";
	assert_key_differs(&f, &base);
	base_fields(&f);
	f.sni = "";
	assert_key_differs(&f, &base);
	base_fields(&f);
	f.level = TLS_LEVEL_VERIFY;
	assert_key_differs(&f, &base);
	base_fields(&f);
	f.names = names_ac;
	assert_key_differs(&f, &base);
	base_fields(&f);
	f.name_count = 1;
	assert_key_differs(&f, &base);
	base_fields(&f);
	f.digests = digests_1;
	f.digest_count = 1;
	assert_key_differs(&f, &base);
	base_fields(&f);
	f.digest_alg = "sha512";
	assert_key_differs(&f, &base);
	base_fields(&f);
	f.priority = "NORMAL";
	assert_key_differs(&f, &base);
	base_fields(&f);
	f.dane_insecure_mx = 1;
	assert_key_differs(&f, &base);
	/* Fingerprint pins: each pin counts. */
	base_fields(&f);
	f.digests = digests_1;
	f.digest_count = 1;
	key_of(&f, &k);
	f.digests = digests_2;
	assert_key_differs(&f, &k);

	/* TLSA: records count, unusable ones do not, order does not. */
	assert_non_null(tlsa = calloc(1, sizeof(*tlsa)));
	memset(d1, 1, sizeof(d1));
	memset(d2, 2, sizeof(d2));
	tlsa->count = 2;
	tlsa->rr[0] = (struct tlsa_rr){ 3, 1, 1, 1, d1, 32 };
	tlsa->rr[1] = (struct tlsa_rr){ 2, 0, 1, 1, d2, 32 };
	base_fields(&f);
	f.level = TLS_LEVEL_DANE;
	key_of(&f, &base);
	f.tlsa = tlsa;
	assert_key_differs(&f, &base);
	key_of(&f, &base);
	tlsa->rr[0] = (struct tlsa_rr){ 2, 0, 1, 1, d2, 32 };
	tlsa->rr[1] = (struct tlsa_rr){ 3, 1, 1, 1, d1, 32 };
	key_of(&f, &k);
	assert_memory_equal(k.digest, base.digest, TLS_SCACHE_DIGEST_LEN);
	tlsa->rr[2] = (struct tlsa_rr){ 3, 1, 1, 0, d1, 31 }; /* unusable */
	tlsa->count = 3;
	key_of(&f, &k);
	assert_memory_equal(k.digest, base.digest, TLS_SCACHE_DIGEST_LEN);
	d1[5] = 9;
	assert_key_differs(&f, &base);
	free(tlsa);

	/* Files: path, and any change to the file. */
	base_fields(&f);
	f.ca_file = ca;
	key_of(&f, &base);
	touch_file(ca, "ca two, longer\n");
	assert_key_differs(&f, &base);
	key_of(&f, &base);
	f.ca_file = NULL;
	f.ca_path = dir;
	assert_key_differs(&f, &base);
	base_fields(&f);
	f.cert_file = cert;
	f.key_file = cert;
	key_of(&f, &base);
	f.cert_file = NULL;
	f.key_file = NULL;
	assert_key_differs(&f, &base);
	f.cert_file = cert;
	f.key_file = cert;
	touch_file(cert, "cert two, longer\n");
	assert_key_differs(&f, &base);
	base_fields(&f);
	f.tafiles = tafiles;
	f.tafile_count = 1;
	key_of(&f, &base);
	touch_file(ta, "ta two, longer\n");
	assert_key_differs(&f, &base);
	f.tafile_count = 0;
	assert_key_differs(&f, &base);
}

/* ------------------------------------------------------------------------
 * Files and permissions.
 */
static int
mode_of(const char *path)
{
	struct stat st;

	assert_int_equal(lstat(path, &st), 0);
	return (int)(st.st_mode & 07777);
}

static void
test_modes(void **state)
{
	struct tls_scache *sc;
	char lock[160], other[160], link[160];
	mode_t old = umask(0);

	(void)state;
	snprintf(lock, sizeof(lock), "%s-lock", file);
	assert_non_null(sc = tls_scache_open(spec, 3600, TLS_SCACHE_MAP_SIZE));
	tls_scache_close(sc);
	umask(old);
	assert_int_equal(mode_of(file), 0600);
	assert_int_equal(mode_of(lock), 0600);
	/* A wider mode is narrowed. */
	assert_int_equal(chmod(file, 0644), 0);
	assert_int_equal(chmod(lock, 0666), 0);
	assert_non_null(sc = tls_scache_open(spec, 3600, TLS_SCACHE_MAP_SIZE));
	tls_scache_close(sc);
	assert_int_equal(mode_of(file), 0600);
	assert_int_equal(mode_of(lock), 0600);
	/* Not ours: refused (as root, give it to nobody). */
	if (geteuid() == 0) {
		assert_int_equal(chown(file, 65534, 65534), 0);
		in_child(expect_miss_one_warning);
		assert_int_equal(chown(file, 0, 0), 0);
	}
	/* A symlink is refused, whatever it points to. */
	snprintf(other, sizeof(other), "%s/other.lmdb", dir);
	snprintf(link, sizeof(link), "lmdb:%s/link", dir);
	assert_int_equal(rename(file, other), 0);
	assert_int_equal(symlink(other, file), 0);
	in_child(expect_miss_one_warning);
	/* A missing directory, a relative path, another type: refused. */
	snprintf(spec, sizeof(spec), "lmdb:%s/no/such/dir/scache", dir);
	in_child(expect_miss_one_warning);
	snprintf(spec, sizeof(spec), "lmdb:relative/scache");
	in_child(expect_miss_one_warning);
	snprintf(spec, sizeof(spec), "btree:%s/scache", dir);
	in_child(expect_miss_one_warning);
}

/* ------------------------------------------------------------------------
 * Concurrency: forked takers on one pool.
 */
#define TAKERS 8

static void
test_concurrent_takers(void **state)
{
	struct tls_scache *sc;
	struct tls_scache_key k;
	int fds[2], got[64], n = 0, seed, status;
	pid_t pids[TAKERS];

	(void)state;
	test_key(&k, "[pool.example]");
	for (int round = 0; round < 5; round++) {
		assert_non_null(sc = tls_scache_open(spec, 3600, TLS_SCACHE_MAP_SIZE));
		for (unsigned s = 0; s < 32; s++)
			assert_int_equal(store_seeded(sc, &k, s, 1000, 0), 1);
		tls_scache_close(sc);
		assert_int_equal(pipe(fds), 0);
		for (int i = 0; i < TAKERS; i++) {
			assert_true((pids[i] = fork()) >= 0);
			if (pids[i] == 0) {
				/* Each process opens its own environment. */
				close(fds[0]);
				if ((sc = tls_scache_open(spec, 3600, TLS_SCACHE_MAP_SIZE)) == NULL)
					_exit(2);
				while ((seed = take_seed(sc, &k, 1000)) >= 0)
					if (write(fds[1], &seed, sizeof(seed)) != sizeof(seed))
						_exit(3);
				tls_scache_close(sc);
				_exit(0);
			}
		}
		close(fds[1]);
		n = 0;
		while (n < 64 && read(fds[0], &seed, sizeof(seed)) == sizeof(seed))
			got[n++] = seed;
		close(fds[0]);
		for (int i = 0; i < TAKERS; i++) {
			assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
			assert_true(WIFEXITED(status));
			assert_int_equal(WEXITSTATUS(status), 0);
		}
		/* Every ticket taken exactly once. */
		assert_int_equal(n, 32);
		for (int i = 0; i < n; i++)
			for (int j = i + 1; j < n; j++)
				assert_int_not_equal(got[i], got[j]);
	}
	assert_int_equal(count_warnings(), 0);
}

/* The pool of one key is capped: the soonest-expiring entries go first. */
static void
test_pool_cap(void **state)
{
	struct tls_scache *sc;
	struct tls_scache_key k;
	int n = 0;

	(void)state;
	test_key(&k, "[pool.example]");
	assert_non_null(sc = tls_scache_open(spec, 3600, TLS_SCACHE_MAP_SIZE));
	for (unsigned s = 0; s < 40; s++)
		assert_int_equal(store_seeded(sc, &k, s, 500, 100 + s), 1);
	while (take_seed(sc, &k, 500) >= 8)
		n++;
	assert_int_equal(n, 32);
	tls_scache_close(sc);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_take_once, setup, teardown),
		cmocka_unit_test_setup_teardown(test_expiry, setup, teardown),
		cmocka_unit_test_setup_teardown(test_placeholder_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_garbage_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_truncated_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_corrupt_pages, setup, teardown),
		cmocka_unit_test_setup_teardown(test_map_cap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_expired_purged, setup, teardown),
		cmocka_unit_test_setup_teardown(test_full_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_key_fields, setup, teardown),
		cmocka_unit_test_setup_teardown(test_modes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_concurrent_takers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pool_cap, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
