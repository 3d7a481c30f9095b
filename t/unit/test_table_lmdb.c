/*
 * test_table_lmdb.c - unit tests for table_lmdb.c: the bytes on disk in
 * both storage styles, lookups, walk order, duplicates, the atomic replace
 * (abort keeps the old table, readers of the old file keep it), file
 * modes, in-place delete, no LMDB lock file, and fcntl read locking.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <lmdb.h>

/* policymap */
#include "policymap.h"

struct fixture {
	char dir[256];
	char path[300];
};

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	const char *tmp = getenv("TMPDIR");

	if (f == NULL)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "%s/test_table_lmdb.XXXXXX", tmp ? tmp : "/tmp");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/policy.lmdb", f->dir);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	DIR *d = opendir(f->dir);
	struct dirent *de;
	char p[600];

	while (d != NULL && (de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.' && (de->d_name[1] == 0 || strcmp(de->d_name, "..") == 0))
			continue;
		snprintf(p, sizeof(p), "%s/%s", f->dir, de->d_name);
		unlink(p);
	}
	if (d != NULL)
		closedir(d);
	rmdir(f->dir);
	free(f);
	return 0;
}

/* Number of directory entries other than . and .. */
static int
count_files(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	assert_non_null(d);
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			n++;
	closedir(d);
	return n;
}

static void
build(const char *path, unsigned flags, const char *const *kv, size_t n)
{
	struct lmdb_builder *b;
	char err[512];

	assert_int_equal(lmdb_builder_begin(path, flags, 0644, &b, err, sizeof(err)), 0);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(lmdb_builder_put(b, kv[2 * i], kv[2 * i + 1], 0, err, sizeof(err)),
		    1);
	if (lmdb_builder_commit(b, err, sizeof(err)) != 0)
		fail_msg("commit: %s", err);
}

/* Expect KEY -> VALUE (or absent when value is NULL). */
static void
expect(struct lmdb_table *t, const char *key, const char *value)
{
	char err[512];
	char *got = NULL;
	int rc = lmdb_table_get(t, key, &got, err, sizeof(err));

	if (value == NULL) {
		assert_int_equal(rc, 0);
		assert_null(got);
		return;
	}
	if (rc != 1)
		fail_msg("lookup %s: rc %d %s", key, rc, err);
	assert_string_equal(got, value);
	free(got);
}

/* Read the raw stored bytes with plain LMDB (read-only, no lock file). */
static int
raw_get(const char *path, const void *key, size_t klen, MDB_val *out, char *buf, size_t buflen)
{
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	MDB_val k = { klen, (void *)key };
	int rc;

	assert_int_equal(mdb_env_create(&env), 0);
	assert_int_equal(mdb_env_open(env, path, MDB_RDONLY | MDB_NOSUBDIR | MDB_NOLOCK, 0644), 0);
	assert_int_equal(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn), 0);
	assert_int_equal(mdb_dbi_open(txn, NULL, 0, &dbi), 0);
	rc = mdb_get(txn, dbi, &k, out);
	if (rc == 0) {
		assert_true(out->mv_size <= buflen);
		memcpy(buf, out->mv_data, out->mv_size);
		out->mv_data = buf;
	}
	mdb_txn_abort(txn);
	mdb_env_close(env);
	return rc;
}

static const char *const three[] = {
	"b.example",
	"verify match=hostname",
	"[mx.a.example]:587",
	"secure",
	"a.example",
	"may",
};

static void
test_nul_style(void **state)
{
	struct fixture *f = *state;
	struct lmdb_table *t;
	char err[512];
	char buf[64];
	MDB_val v;

	build(f->path, 0, three, 3);
	/* Stored as Postfix does: key and value each with one trailing NUL. */
	assert_int_equal(raw_get(f->path, "a.example", 10, &v, buf, sizeof(buf)), 0);
	assert_int_equal(v.mv_size, 4);
	assert_memory_equal(v.mv_data, "may", 4);
	assert_int_equal(raw_get(f->path, "a.example", 9, &v, buf, sizeof(buf)), MDB_NOTFOUND);

	assert_int_equal(lmdb_table_open(f->path, &t, err, sizeof(err)), 0);
	expect(t, "a.example", "may");
	expect(t, "b.example", "verify match=hostname");
	expect(t, "[mx.a.example]:587", "secure");
	expect(t, "c.example", NULL);
	expect(t, "a.exampl", NULL);
	lmdb_table_close(t);
}

static void
test_no_nul_style(void **state)
{
	struct fixture *f = *state;
	struct lmdb_table *t;
	char err[512];
	char buf[64];
	MDB_val v;

	build(f->path, LMDB_BUILD_NO_NUL, three, 3);
	assert_int_equal(raw_get(f->path, "a.example", 9, &v, buf, sizeof(buf)), 0);
	assert_int_equal(v.mv_size, 3);
	assert_memory_equal(v.mv_data, "may", 3);
	assert_int_equal(raw_get(f->path, "a.example", 10, &v, buf, sizeof(buf)), MDB_NOTFOUND);

	assert_int_equal(lmdb_table_open(f->path, &t, err, sizeof(err)), 0);
	expect(t, "a.example", "may");
	expect(t, "[mx.a.example]:587", "secure");
	expect(t, "zzz", NULL);
	lmdb_table_close(t);
}

struct walk_log {
	char text[512];
	size_t calls;
	size_t stop_at;
};

static int
walk_cb(const char *key, size_t keylen, const char *value, size_t valuelen, void *ctx)
{
	struct walk_log *w = ctx;
	size_t len = strlen(w->text);

	snprintf(w->text + len, sizeof(w->text) - len, "%.*s=%.*s;", (int)keylen, key,
	    (int)valuelen, value);
	w->calls++;
	return w->stop_at != 0 && w->calls >= w->stop_at;
}

static void
test_walk_order(void **state)
{
	struct fixture *f = *state;
	struct lmdb_table *t;
	struct walk_log w;
	char err[512];
	static const char *const kv[] = {
		"ab",
		"2",
		"b",
		"4",
		"a",
		"1",
		".a",
		"0",
		"a.b",
		"3",
	};

	for (unsigned flags = 0; flags <= LMDB_BUILD_NO_NUL; flags += LMDB_BUILD_NO_NUL) {
		build(f->path, flags, kv, 5);
		assert_int_equal(lmdb_table_open(f->path, &t, err, sizeof(err)), 0);
		memset(&w, 0, sizeof(w));
		assert_int_equal(lmdb_table_walk(t, walk_cb, &w, err, sizeof(err)), 0);
		/* Byte order, shorter key first, NULs not shown. */
		assert_string_equal(w.text, ".a=0;a=1;a.b=3;ab=2;b=4;");
		memset(&w, 0, sizeof(w));
		w.stop_at = 2;
		assert_int_equal(lmdb_table_walk(t, walk_cb, &w, err, sizeof(err)), 0);
		assert_string_equal(w.text, ".a=0;a=1;");
		lmdb_table_close(t);
	}
}

static void
test_duplicates(void **state)
{
	struct fixture *f = *state;
	struct lmdb_builder *b;
	struct lmdb_table *t;
	char err[512];

	assert_int_equal(lmdb_builder_begin(f->path, 0, 0644, &b, err, sizeof(err)), 0);
	assert_int_equal(lmdb_builder_put(b, "k", "first", 0, err, sizeof(err)), 1);
	assert_int_equal(lmdb_builder_put(b, "k", "second", 0, err, sizeof(err)), 0);
	assert_int_equal(lmdb_builder_put(b, "r", "first", 0, err, sizeof(err)), 1);
	assert_int_equal(lmdb_builder_put(b, "r", "second", 1, err, sizeof(err)), 0);
	assert_int_equal(lmdb_builder_put(b, "r", "third", 1, err, sizeof(err)), 0);
	assert_int_equal(lmdb_builder_commit(b, err, sizeof(err)), 0);
	assert_int_equal(lmdb_table_open(f->path, &t, err, sizeof(err)), 0);
	expect(t, "k", "first");
	expect(t, "r", "third");
	lmdb_table_close(t);
}

static void
test_bad_keys(void **state)
{
	struct fixture *f = *state;
	struct lmdb_builder *b;
	char err[512];
	char big[600];

	memset(big, 'k', sizeof(big) - 1);
	big[sizeof(big) - 1] = 0;
	assert_int_equal(lmdb_builder_begin(f->path, 0, 0644, &b, err, sizeof(err)), 0);
	assert_int_equal(lmdb_builder_put(b, big, "v", 0, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "key length"));
	assert_int_equal(lmdb_builder_put(b, "", "v", 0, err, sizeof(err)), -1);
	big[510] = 0;
	assert_int_equal(lmdb_builder_put(b, big, "v", 0, err, sizeof(err)), 1);
	assert_int_equal(lmdb_builder_commit(b, err, sizeof(err)), 0);
}

static void
test_abort_keeps_old(void **state)
{
	struct fixture *f = *state;
	static const char *const v1[] = { "a.example", "may" };
	struct lmdb_builder *b;
	struct lmdb_table *t;
	struct stat before;
	struct stat after;
	char err[512];

	build(f->path, 0, v1, 1);
	assert_int_equal(stat(f->path, &before), 0);
	assert_int_equal(lmdb_builder_begin(f->path, 0, 0644, &b, err, sizeof(err)), 0);
	/* The temporary file lives next to the target while building. */
	assert_int_equal(count_files(f->dir), 2);
	assert_int_equal(lmdb_builder_put(b, "a.example", "secure", 0, err, sizeof(err)), 1);
	lmdb_builder_abort(b);
	assert_int_equal(count_files(f->dir), 1);
	assert_int_equal(stat(f->path, &after), 0);
	assert_int_equal(before.st_ino, after.st_ino);
	assert_int_equal(before.st_mtime, after.st_mtime);
	assert_int_equal(lmdb_table_open(f->path, &t, err, sizeof(err)), 0);
	expect(t, "a.example", "may");
	lmdb_table_close(t);
}

static void
test_replace_under_reader(void **state)
{
	struct fixture *f = *state;
	static const char *const v1[] = { "a.example", "may" };
	static const char *const v2[] = { "a.example", "secure", "b.example", "encrypt" };
	struct lmdb_table *old;
	struct lmdb_table *fresh;
	char err[512];

	build(f->path, 0, v1, 1);
	assert_int_equal(lmdb_table_open(f->path, &old, err, sizeof(err)), 0);
	expect(old, "a.example", "may");
	build(f->path, 0, v2, 2);
	/* The open reader still has the complete old table ... */
	expect(old, "a.example", "may");
	expect(old, "b.example", NULL);
	/* ... and a new reader gets the complete new one. */
	assert_int_equal(lmdb_table_open(f->path, &fresh, err, sizeof(err)), 0);
	expect(fresh, "a.example", "secure");
	expect(fresh, "b.example", "encrypt");
	lmdb_table_close(fresh);
	lmdb_table_close(old);
	assert_int_equal(count_files(f->dir), 1);
}

static void
test_no_lock_file(void **state)
{
	struct fixture *f = *state;
	struct lmdb_table *t;
	char err[512];
	char lockname[400];

	build(f->path, 0, three, 3);
	assert_int_equal(lmdb_table_open(f->path, &t, err, sizeof(err)), 0);
	expect(t, "a.example", "may");
	lmdb_table_close(t);
	assert_int_equal(lmdb_table_delete(f->path, "a.example", err, sizeof(err)), 1);
	snprintf(lockname, sizeof(lockname), "%s-lock", f->path);
	assert_int_equal(access(lockname, F_OK), -1);
	assert_int_equal(count_files(f->dir), 1);
}

static void
test_modes(void **state)
{
	struct fixture *f = *state;
	struct lmdb_builder *b;
	struct stat st;
	char err[512];
	unsigned modes[] = { 0600, 0640, 0644, 0604 };

	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		assert_int_equal(lmdb_builder_begin(f->path, 0, modes[i], &b, err, sizeof(err)), 0);
		assert_int_equal(lmdb_builder_put(b, "k", "v", 0, err, sizeof(err)), 1);
		assert_int_equal(lmdb_builder_commit(b, err, sizeof(err)), 0);
		assert_int_equal(stat(f->path, &st), 0);
		assert_int_equal(st.st_mode & 07777, modes[i]);
	}
}

static void
test_open_errors(void **state)
{
	struct fixture *f = *state;
	struct lmdb_table *t = (struct lmdb_table *)1;
	struct lmdb_builder *b;
	char err[512];
	char path[400];
	int fd;

	assert_int_equal(lmdb_table_open(f->path, &t, err, sizeof(err)), -1);
	assert_null(t);
	assert_non_null(strstr(err, "No such file"));
	/* Not an LMDB file. */
	fd = open(f->path, O_CREAT | O_WRONLY, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "hello, world, this is not lmdb\n", 31), 31);
	close(fd);
	assert_int_equal(lmdb_table_open(f->path, &t, err, sizeof(err)), -1);
	/* A directory that does not exist. */
	snprintf(path, sizeof(path), "%s/missing/x.lmdb", f->dir);
	assert_int_equal(lmdb_builder_begin(path, 0, 0644, &b, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "temporary file"));
	assert_int_equal(lmdb_table_delete(path, "k", err, sizeof(err)), -1);
}

static void
test_delete(void **state)
{
	struct fixture *f = *state;
	struct lmdb_table *t;
	char err[512];

	for (unsigned flags = 0; flags <= LMDB_BUILD_NO_NUL; flags += LMDB_BUILD_NO_NUL) {
		build(f->path, flags, three, 3);
		assert_int_equal(lmdb_table_delete(f->path, "b.example", err, sizeof(err)), 1);
		assert_int_equal(lmdb_table_delete(f->path, "b.example", err, sizeof(err)), 0);
		assert_int_equal(lmdb_table_delete(f->path, "nothing", err, sizeof(err)), 0);
		assert_int_equal(lmdb_table_open(f->path, &t, err, sizeof(err)), 0);
		expect(t, "b.example", NULL);
		expect(t, "a.example", "may");
		lmdb_table_close(t);
	}
}

static void
test_many_entries(void **state)
{
	struct fixture *f = *state;
	struct lmdb_builder *b;
	struct lmdb_table *t;
	char err[512];
	char key[64];
	char value[3000];
	char *got;

	/* Shuffled keys and some values large enough for overflow pages. */
	assert_int_equal(lmdb_builder_begin(f->path, 0, 0644, &b, err, sizeof(err)), 0);
	for (unsigned i = 0; i < 30000; i++) {
		unsigned k = (i * 7919u) % 30000u;

		int n;

		snprintf(key, sizeof(key), "host%05u.example", k);
		n = snprintf(value, sizeof(value), "may %u ", k);
		if (k % 100 == 0) {
			memset(value + n, 'v', 2900);
			value[n + 2900] = 0;
		}
		assert_int_equal(lmdb_builder_put(b, key, value, 0, err, sizeof(err)), 1);
	}
	assert_int_equal(lmdb_builder_commit(b, err, sizeof(err)), 0);
	assert_int_equal(lmdb_table_open(f->path, &t, err, sizeof(err)), 0);
	for (unsigned k = 0; k < 30000; k += 997) {
		snprintf(key, sizeof(key), "host%05u.example", k);
		assert_int_equal(lmdb_table_get(t, key, &got, err, sizeof(err)), 1);
		assert_int_equal(strtoul(got + 4, NULL, 10), k);
		free(got);
	}
	lmdb_table_close(t);
}

/*
 * An in-place writer (as postmap) grows the file beyond the map size a
 * reader opened with; the reader must remap, not fail.
 */
static void
test_reader_after_growth(void **state)
{
	struct fixture *f = *state;
	struct lmdb_table *t;
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	char err[512];
	char key[32];
	static char big[8192];

	build(f->path, 0, three, 3);
	assert_int_equal(lmdb_table_open(f->path, &t, err, sizeof(err)), 0);
	expect(t, "a.example", "may");

	memset(big, 'v', sizeof(big) - 1);
	assert_int_equal(mdb_env_create(&env), 0);
	assert_int_equal(mdb_env_set_mapsize(env, (size_t)64 * 1024 * 1024), 0);
	assert_int_equal(mdb_env_open(env, f->path, MDB_NOSUBDIR | MDB_NOLOCK, 0644), 0);
	assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
	assert_int_equal(mdb_dbi_open(txn, NULL, 0, &dbi), 0);
	for (unsigned i = 0; i < 4000; i++) {
		MDB_val k;
		MDB_val v = { sizeof(big), big };

		snprintf(key, sizeof(key), "grow%04u", i);
		k.mv_size = strlen(key) + 1;
		k.mv_data = key;
		assert_int_equal(mdb_put(txn, dbi, &k, &v, 0), 0);
	}
	assert_int_equal(mdb_txn_commit(txn), 0);
	mdb_env_close(env);

	/* 32 MB of data now, beyond the 16 MiB the reader mapped. */
	expect(t, "a.example", "may");
	expect(t, "grow3999", big);
	lmdb_table_close(t);
}

static long
elapsed_ms(const struct timeval *a, const struct timeval *b)
{
	return (b->tv_sec - a->tv_sec) * 1000L + (b->tv_usec - a->tv_usec) / 1000L;
}

/* A lookup waits while another process holds the exclusive (writer) lock. */
static void
test_reader_waits_for_writer(void **state)
{
	struct fixture *f = *state;
	struct lmdb_table *t;
	struct timeval t0;
	struct timeval t1;
	int ready[2];
	char err[512];
	char c;
	pid_t pid;
	int status;

	build(f->path, 0, three, 3);
	assert_int_equal(lmdb_table_open(f->path, &t, err, sizeof(err)), 0);
	assert_int_equal(pipe(ready), 0);
	if ((pid = fork()) == 0) {
		struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
		int fd = open(f->path, O_RDWR);

		if (fd < 0 || fcntl(fd, F_SETLKW, &fl) < 0)
			_exit(1);
		(void)write(ready[1], "x", 1);
		usleep(400 * 1000);
		_exit(0);
	}
	assert_true(pid > 0);
	close(ready[1]);
	assert_int_equal(read(ready[0], &c, 1), 1);
	close(ready[0]);
	gettimeofday(&t0, NULL);
	expect(t, "a.example", "may");
	gettimeofday(&t1, NULL);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_true(elapsed_ms(&t0, &t1) >= 300);
	lmdb_table_close(t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_nul_style, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_nul_style, setup, teardown),
		cmocka_unit_test_setup_teardown(test_walk_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_duplicates, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_keys, setup, teardown),
		cmocka_unit_test_setup_teardown(test_abort_keeps_old, setup, teardown),
		cmocka_unit_test_setup_teardown(test_replace_under_reader, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_lock_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_modes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_delete, setup, teardown),
		cmocka_unit_test_setup_teardown(test_many_entries, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reader_after_growth, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reader_waits_for_writer, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
