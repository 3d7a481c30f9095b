/*
 * table_lmdb.c - Postfix's lmdb: table format, read side and build side.
 *
 * Format, as Postfix writes it: one file (MDB_NOSUBDIR), the unnamed
 * default database, keys and values stored with one trailing NUL (or
 * without it, "postmap -n" style, with LMDB_BUILD_NO_NUL).
 *
 * Locking, as Postfix does it: nobody uses LMDB's own lock file
 * (MDB_NOLOCK); instead every read transaction runs under a shared fcntl
 * lock on the .lmdb file and every in-place write under an exclusive one.
 * Without that, an LMDB writer could recycle pages a reader still uses.
 *
 * Building differs from postmap on purpose: postmap rewrites the live file
 * in one write transaction; we write a new file next to it, fsync it, and
 * rename it over the old one.  A reader that already has the old file open
 * keeps a complete, unchanging old table (the inode lives until it closes);
 * a reader that opens later gets the complete new one.  We take the
 * exclusive lock on the old file just before the rename so that we never
 * swap the file out from under an in-place writer (postmap -d, postmap -i)
 * in the middle of its transaction.  Entries are collected in memory,
 * sorted, and written with MDB_APPEND in one transaction, which is much
 * faster than random-order inserts.
 *
 * Interface: policymap.h.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <lmdb.h>

/* policymap */
#include "policymap.h"

#define LMDB_MAP_SIZE_START ((size_t)16 * 1024 * 1024) /* Postfix's lmdb_map_size */
#define LMDB_KEY_MAX	    511			       /* liblmdb's compiled-in key size limit */
#define LMDB_MAP_TRIES	    16			       /* doublings before giving up */

/* ------------------------------------------------------------------------
 * fcntl locks.
 */
static int
lock_file(int fd, short type)
{
	struct flock fl;

	memset(&fl, 0, sizeof(fl));
	fl.l_type = type;
	fl.l_whence = SEEK_SET;
	while (fcntl(fd, F_SETLKW, &fl) < 0) {
		if (errno != EINTR)
			return -1;
	}
	return 0;
}

static void
unlock_file(int fd)
{
	struct flock fl;

	memset(&fl, 0, sizeof(fl));
	fl.l_type = F_UNLCK;
	fl.l_whence = SEEK_SET;
	(void)fcntl(fd, F_SETLK, &fl);
}

/* ------------------------------------------------------------------------
 * Read side.
 */
struct lmdb_table {
	MDB_env *env;
	MDB_dbi dbi;
	int fd; /* LMDB's descriptor, used for fcntl locks */
	char path[PATH_MAX];
};

/*
 * Begin a read transaction.  A writer may have grown the file beyond our
 * mapping since we opened it; LMDB then asks us to remap (size 0 = adopt
 * the size recorded in the file).
 */
static int
begin_read(struct lmdb_table *t, MDB_txn **txn, char *err, size_t errlen)
{
	int rc;

	rc = mdb_txn_begin(t->env, NULL, MDB_RDONLY, txn);
	if (rc == MDB_MAP_RESIZED && mdb_env_set_mapsize(t->env, 0) == 0)
		rc = mdb_txn_begin(t->env, NULL, MDB_RDONLY, txn);
	if (rc != 0) {
		snprintf(err, errlen, "%s: begin read transaction: %s", t->path, mdb_strerror(rc));
		return -1;
	}
	return 0;
}

int
lmdb_table_open(const char *path, struct lmdb_table **out, char *err, size_t errlen)
{
	struct lmdb_table *t;
	MDB_txn *txn;
	int rc;

	*out = NULL;
	if ((t = calloc(1, sizeof(*t))) == NULL) {
		snprintf(err, errlen, "open database %s: out of memory", path);
		return -1;
	}
	if (strlen(path) >= sizeof(t->path)) {
		snprintf(err, errlen, "open database %.100s...: name too long", path);
		free(t);
		return -1;
	}
	strcpy(t->path, path);
	if ((rc = mdb_env_create(&t->env)) != 0
	    || (rc = mdb_env_open(t->env, path, MDB_RDONLY | MDB_NOSUBDIR | MDB_NOLOCK, 0644)) != 0
	    || (rc = mdb_env_get_fd(t->env, &t->fd)) != 0) {
		snprintf(err, errlen, "open database %s: %s", path, mdb_strerror(rc));
		lmdb_table_close(t);
		return -1;
	}
	if (lock_file(t->fd, F_RDLCK) < 0) {
		snprintf(err, errlen, "lock database %s: %s", path, strerror(errno));
		lmdb_table_close(t);
		return -1;
	}
	if (begin_read(t, &txn, err, errlen) < 0) {
		unlock_file(t->fd);
		lmdb_table_close(t);
		return -1;
	}
	rc = mdb_dbi_open(txn, NULL, 0, &t->dbi);
	mdb_txn_abort(txn);
	unlock_file(t->fd);
	if (rc != 0) {
		snprintf(err, errlen, "open database %s: %s", path, mdb_strerror(rc));
		lmdb_table_close(t);
		return -1;
	}
	*out = t;
	return 0;
}

/* Copy a stored value into a NUL-terminated string (both storage styles). */
static char *
copy_value(const MDB_val *v)
{
	char *s;

	if ((s = malloc(v->mv_size + 1)) == NULL)
		return NULL;
	memcpy(s, v->mv_data, v->mv_size);
	s[v->mv_size] = 0;
	return s;
}

int
lmdb_table_get(struct lmdb_table *t, const char *key, char **value, char *err, size_t errlen)
{
	MDB_txn *txn;
	MDB_val k;
	MDB_val v;
	int rc;

	*value = NULL;
	if (lock_file(t->fd, F_RDLCK) < 0) {
		snprintf(err, errlen, "lock database %s: %s", t->path, strerror(errno));
		return -1;
	}
	if (begin_read(t, &txn, err, errlen) < 0) {
		unlock_file(t->fd);
		return -1;
	}
	k.mv_data = (void *)key;
	k.mv_size = strlen(key) + 1;
	rc = mdb_get(txn, t->dbi, &k, &v);
	if (rc == MDB_NOTFOUND) {
		k.mv_size--;
		rc = mdb_get(txn, t->dbi, &k, &v);
	}
	if (rc == 0 && (*value = copy_value(&v)) == NULL)
		rc = ENOMEM;
	mdb_txn_abort(txn);
	unlock_file(t->fd);
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc != 0) {
		snprintf(err, errlen, "%s: lookup \"%s\": %s", t->path, key, mdb_strerror(rc));
		return -1;
	}
	return 1;
}

/* Length without the one trailing NUL that the NUL style stores. */
static size_t
text_length(const MDB_val *v)
{
	if (v->mv_size > 0 && ((const char *)v->mv_data)[v->mv_size - 1] == 0)
		return v->mv_size - 1;
	return v->mv_size;
}

/*
 * The callback sees keys and values without their trailing NUL; the
 * pointers are only valid during the call.
 */
int
lmdb_table_walk(struct lmdb_table *t, lmdb_table_walk_cb cb, void *ctx, char *err, size_t errlen)
{
	MDB_txn *txn;
	MDB_cursor *cur;
	MDB_val k;
	MDB_val v;
	MDB_cursor_op op = MDB_FIRST;
	int rc;

	if (lock_file(t->fd, F_RDLCK) < 0) {
		snprintf(err, errlen, "lock database %s: %s", t->path, strerror(errno));
		return -1;
	}
	if (begin_read(t, &txn, err, errlen) < 0) {
		unlock_file(t->fd);
		return -1;
	}
	if ((rc = mdb_cursor_open(txn, t->dbi, &cur)) == 0) {
		while ((rc = mdb_cursor_get(cur, &k, &v, op)) == 0) {
			op = MDB_NEXT;
			if (cb(k.mv_data, text_length(&k), v.mv_data, text_length(&v), ctx) != 0)
				break;
		}
		mdb_cursor_close(cur);
	}
	mdb_txn_abort(txn);
	unlock_file(t->fd);
	if (rc != 0 && rc != MDB_NOTFOUND) {
		snprintf(err, errlen, "%s: walk: %s", t->path, mdb_strerror(rc));
		return -1;
	}
	return 0;
}

void
lmdb_table_close(struct lmdb_table *t)
{
	if (t == NULL)
		return;
	if (t->env != NULL)
		mdb_env_close(t->env);
	free(t);
}

/* ------------------------------------------------------------------------
 * In-place delete.
 */

/* One delete attempt: 1 deleted, 0 not found, else an LMDB error code. */
static int
delete_once(MDB_env *env, const char *key)
{
	MDB_txn *txn;
	MDB_dbi dbi;
	MDB_val k;
	int rc;

	if ((rc = mdb_txn_begin(env, NULL, 0, &txn)) != 0)
		return rc;
	if ((rc = mdb_dbi_open(txn, NULL, 0, &dbi)) != 0) {
		mdb_txn_abort(txn);
		return rc;
	}
	k.mv_data = (void *)key;
	k.mv_size = strlen(key) + 1;
	rc = mdb_del(txn, dbi, &k, NULL);
	if (rc == MDB_NOTFOUND) {
		k.mv_size--;
		rc = mdb_del(txn, dbi, &k, NULL);
	}
	if (rc == MDB_NOTFOUND) {
		mdb_txn_abort(txn);
		return 0;
	}
	if (rc != 0) {
		mdb_txn_abort(txn);
		return rc;
	}
	if ((rc = mdb_txn_commit(txn)) != 0)
		return rc;
	return 1;
}

int
lmdb_table_delete(const char *path, const char *key, char *err, size_t errlen)
{
	MDB_env *env;
	MDB_envinfo info;
	int fd;
	int rc;

	if ((rc = mdb_env_create(&env)) != 0
	    || (rc = mdb_env_open(env, path, MDB_NOSUBDIR | MDB_NOLOCK, 0644)) != 0
	    || (rc = mdb_env_get_fd(env, &fd)) != 0) {
		snprintf(err, errlen, "open database %s: %s", path, mdb_strerror(rc));
		mdb_env_close(env);
		return -1;
	}
	if (lock_file(fd, F_WRLCK) < 0) {
		snprintf(err, errlen, "lock database %s: %s", path, strerror(errno));
		mdb_env_close(env);
		return -1;
	}
	for (int tries = 0; tries < LMDB_MAP_TRIES; tries++) {
		rc = delete_once(env, key);
		if (rc != MDB_MAP_FULL)
			break;
		if (mdb_env_info(env, &info) != 0
		    || mdb_env_set_mapsize(env, info.me_mapsize * 2) != 0)
			break;
	}
	if (rc == 1 && mdb_env_sync(env, 1) != 0)
		rc = EIO;
	unlock_file(fd);
	mdb_env_close(env);
	if (rc == 0 || rc == 1)
		return rc;
	snprintf(err, errlen, "delete \"%s\" from %s: %s", key, path, mdb_strerror(rc));
	return -1;
}

/* ------------------------------------------------------------------------
 * Build side.
 */
struct build_entry {
	uint64_t prefix; /* first 8 key bytes, big-endian: cheap sorting */
	const char *key; /* NUL-terminated, in the arena */
	const char *value;
	uint32_t klen; /* without NUL */
	uint32_t vlen;
};

struct build_slot {
	uint32_t hash;
	uint32_t index; /* entry index + 1; 0 = empty */
};

struct arena_block {
	struct arena_block *next;
	size_t used;
	size_t size;
	char data[];
};

struct lmdb_builder {
	char path[PATH_MAX];
	char tmp[PATH_MAX];
	char dir[PATH_MAX];
	unsigned flags;
	int fd; /* the temporary file, from mkstemp */
	struct build_entry *entries;
	size_t count;
	size_t cap;
	struct build_slot *slots; /* open-addressing hash of the keys */
	size_t nslots;
	struct arena_block *arena;
};

#define ARENA_BLOCK ((size_t)1024 * 1024)

static char *
arena_copy(struct lmdb_builder *b, const char *s, size_t len)
{
	struct arena_block *blk = b->arena;
	char *p;

	if (blk == NULL || blk->size - blk->used < len + 1) {
		size_t size = len + 1 > ARENA_BLOCK ? len + 1 : ARENA_BLOCK;

		if ((blk = malloc(sizeof(*blk) + size)) == NULL)
			return NULL;
		blk->next = b->arena;
		blk->used = 0;
		blk->size = size;
		b->arena = blk;
	}
	p = blk->data + blk->used;
	memcpy(p, s, len);
	p[len] = 0;
	blk->used += len + 1;
	return p;
}

static uint32_t
hash_key(const char *s, size_t len)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < len; i++) {
		h ^= (unsigned char)s[i];
		h *= 16777619u;
	}
	return h;
}

/* The first 8 bytes of a key as a number that sorts like the bytes. */
static uint64_t
key_prefix(const char *key, size_t len)
{
	uint64_t p = 0;

	for (size_t i = 0; i < 8; i++)
		p = (p << 8) | (i < len ? (unsigned char)key[i] : 0);
	return p;
}

/* Slot holding KEY, or the empty slot where it belongs. */
static size_t
find_slot(const struct lmdb_builder *b, const char *key, size_t len, uint32_t hash)
{
	size_t mask = b->nslots - 1;
	size_t i = hash & mask;

	while (b->slots[i].index != 0) {
		const struct build_entry *e = &b->entries[b->slots[i].index - 1];

		if (b->slots[i].hash == hash && e->klen == len && memcmp(e->key, key, len) == 0)
			break;
		i = (i + 1) & mask;
	}
	return i;
}

static int
grow_hash(struct lmdb_builder *b)
{
	size_t n = b->nslots ? b->nslots * 2 : 1024;
	struct build_slot *old = b->slots;
	size_t oldn = b->nslots;

	if ((b->slots = calloc(n, sizeof(*b->slots))) == NULL) {
		b->slots = old;
		return -1;
	}
	b->nslots = n;
	for (size_t i = 0; i < oldn; i++) {
		if (old[i].index != 0) {
			size_t j = old[i].hash & (n - 1);

			while (b->slots[j].index != 0)
				j = (j + 1) & (n - 1);
			b->slots[j] = old[i];
		}
	}
	free(old);
	return 0;
}

static int
split_path(struct lmdb_builder *b, const char *path)
{
	const char *slash = strrchr(path, '/');

	if (strlen(path) + 8 >= sizeof(b->tmp))
		return -1;
	strcpy(b->path, path);
	snprintf(b->tmp, sizeof(b->tmp), "%s.XXXXXX", path);
	if (slash == NULL)
		strcpy(b->dir, ".");
	else if (slash == path)
		strcpy(b->dir, "/");
	else
		snprintf(b->dir, sizeof(b->dir), "%.*s", (int)(slash - path), path);
	return 0;
}

int
lmdb_builder_begin(const char *path, unsigned flags, unsigned mode, struct lmdb_builder **out,
    char *err, size_t errlen)
{
	struct lmdb_builder *b;

	*out = NULL;
	if ((b = calloc(1, sizeof(*b))) == NULL) {
		snprintf(err, errlen, "%s: out of memory", path);
		return -1;
	}
	b->fd = -1;
	b->flags = flags;
	if (split_path(b, path) < 0) {
		snprintf(err, errlen, "%.100s...: name too long", path);
		free(b);
		return -1;
	}
	if ((b->fd = mkstemp(b->tmp)) < 0) {
		snprintf(err, errlen, "create temporary file %s: %s", b->tmp, strerror(errno));
		free(b);
		return -1;
	}
	if (fchmod(b->fd, (mode_t)(mode & 07777)) < 0) {
		snprintf(err, errlen, "set permissions on %s: %s", b->tmp, strerror(errno));
		lmdb_builder_abort(b);
		return -1;
	}
	*out = b;
	return 0;
}

int
lmdb_builder_put(struct lmdb_builder *b, const char *key, const char *value, int replace, char *err,
    size_t errlen)
{
	size_t klen = strlen(key);
	size_t vlen = strlen(value);
	size_t slot;
	uint32_t hash;
	struct build_entry *e;

	if (klen == 0 || klen + 1 > LMDB_KEY_MAX) {
		snprintf(err, errlen, "key length %zu is outside 1..%d bytes", klen,
		    LMDB_KEY_MAX - 1);
		return -1;
	}
	if (vlen > UINT32_MAX / 2 || b->count >= UINT32_MAX - 1) {
		snprintf(err, errlen, "entry too large");
		return -1;
	}
	if ((b->count + 1) * 2 > b->nslots && grow_hash(b) < 0)
		goto nomem;
	hash = hash_key(key, klen);
	slot = find_slot(b, key, klen, hash);
	if (b->slots[slot].index != 0) {
		if (!replace)
			return 0;
		e = &b->entries[b->slots[slot].index - 1];
		if ((e->value = arena_copy(b, value, vlen)) == NULL)
			goto nomem;
		e->vlen = (uint32_t)vlen;
		return 0;
	}
	if (b->count == b->cap) {
		size_t ncap = b->cap ? b->cap * 2 : 1024;
		struct build_entry *n = realloc(b->entries, ncap * sizeof(*n));

		if (n == NULL)
			goto nomem;
		b->entries = n;
		b->cap = ncap;
	}
	e = &b->entries[b->count];
	if ((e->key = arena_copy(b, key, klen)) == NULL
	    || (e->value = arena_copy(b, value, vlen)) == NULL)
		goto nomem;
	e->klen = (uint32_t)klen;
	e->vlen = (uint32_t)vlen;
	e->prefix = key_prefix(key, klen);
	b->count++;
	b->slots[slot].hash = hash;
	b->slots[slot].index = (uint32_t)b->count;
	return 1;
nomem:
	snprintf(err, errlen, "%s: out of memory", b->path);
	return -1;
}

/*
 * LMDB's default order is memcmp, shorter first: strcmp order on the text.
 * Comparing the prefixes first avoids most visits to the keys themselves.
 */
static int
entry_cmp(const void *a, const void *b)
{
	const struct build_entry *x = a;
	const struct build_entry *y = b;

	if (x->prefix != y->prefix)
		return x->prefix < y->prefix ? -1 : 1;
	return strcmp(x->key, y->key);
}

/* A map size that holds the data in one go, so retries are rare. */
static size_t
initial_map_size(const struct lmdb_builder *b)
{
	size_t need = 64 * 4096;
	size_t size = LMDB_MAP_SIZE_START;

	for (size_t i = 0; i < b->count; i++) {
		need += b->entries[i].klen + b->entries[i].vlen + 16;
		if (b->entries[i].vlen > 1024)
			need += b->entries[i].vlen + 4096;
	}
	need += need / 2;
	while (size < need && size < SIZE_MAX / 4)
		size *= 2;
	return size;
}

/* One attempt at writing every entry; returns an LMDB error code. */
static int
write_entries(struct lmdb_builder *b, size_t mapsize)
{
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	MDB_cursor *cur;
	MDB_val k;
	MDB_val v;
	size_t nul = (b->flags & LMDB_BUILD_NO_NUL) ? 0 : 1;
	int rc;

	if ((rc = mdb_env_create(&env)) != 0)
		return rc;
	if ((rc = mdb_env_set_mapsize(env, mapsize)) != 0
	    || (rc = mdb_env_open(env, b->tmp, MDB_NOSUBDIR | MDB_NOLOCK | MDB_NOSYNC, 0600)) != 0
	    || (rc = mdb_txn_begin(env, NULL, 0, &txn)) != 0) {
		mdb_env_close(env);
		return rc;
	}
	if ((rc = mdb_dbi_open(txn, NULL, 0, &dbi)) != 0
	    || (rc = mdb_cursor_open(txn, dbi, &cur)) != 0)
		goto fail;
	for (size_t i = 0; i < b->count; i++) {
		k.mv_data = (void *)b->entries[i].key;
		k.mv_size = b->entries[i].klen + nul;
		v.mv_data = (void *)b->entries[i].value;
		v.mv_size = b->entries[i].vlen + nul;
		if ((rc = mdb_cursor_put(cur, &k, &v, MDB_APPEND)) != 0) {
			mdb_cursor_close(cur);
			goto fail;
		}
	}
	mdb_cursor_close(cur);
	if ((rc = mdb_txn_commit(txn)) == 0)
		rc = mdb_env_sync(env, 1);
	mdb_env_close(env);
	return rc;
fail:
	mdb_txn_abort(txn);
	mdb_env_close(env);
	return rc;
}

static int
sync_directory(const char *dir)
{
	int fd;
	int rc;

	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return -1;
	rc = fsync(fd);
	close(fd);
	return rc;
}

/*
 * Rename the new file over the old one while holding the old file's
 * exclusive lock, so that no in-place writer is mid-transaction.  When the
 * old file cannot be opened for writing, nobody we could disturb can be
 * writing it through a lock we could take either.
 */
static int
install(struct lmdb_builder *b, char *err, size_t errlen)
{
	int oldfd;
	int rc;

	oldfd = open(b->path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
	if (oldfd >= 0 && lock_file(oldfd, F_WRLCK) < 0) {
		snprintf(err, errlen, "lock %s: %s", b->path, strerror(errno));
		close(oldfd);
		return -1;
	}
	rc = rename(b->tmp, b->path);
	if (rc < 0)
		snprintf(err, errlen, "rename %s to %s: %s", b->tmp, b->path, strerror(errno));
	if (oldfd >= 0)
		close(oldfd);
	if (rc < 0)
		return -1;
	b->tmp[0] = 0;
	if (sync_directory(b->dir) < 0) {
		snprintf(err, errlen, "fsync directory %s: %s", b->dir, strerror(errno));
		return -1;
	}
	return 0;
}

int
lmdb_builder_commit(struct lmdb_builder *b, char *err, size_t errlen)
{
	size_t mapsize;
	int rc = MDB_MAP_FULL;
	int ret = -1;

	qsort(b->entries, b->count, sizeof(*b->entries), entry_cmp);
	mapsize = initial_map_size(b);
	for (int tries = 0; tries < LMDB_MAP_TRIES && rc == MDB_MAP_FULL; tries++, mapsize *= 2) {
		if (ftruncate(b->fd, 0) < 0) {
			rc = errno;
			break;
		}
		rc = write_entries(b, mapsize);
	}
	if (rc != 0) {
		snprintf(err, errlen, "write %s: %s", b->tmp, mdb_strerror(rc));
	} else if (fsync(b->fd) < 0) {
		snprintf(err, errlen, "fsync %s: %s", b->tmp, strerror(errno));
	} else {
		ret = install(b, err, errlen);
	}
	lmdb_builder_abort(b);
	return ret;
}

void
lmdb_builder_abort(struct lmdb_builder *b)
{
	struct arena_block *blk;

	if (b == NULL)
		return;
	if (b->fd >= 0)
		close(b->fd);
	if (b->tmp[0] != 0)
		(void)unlink(b->tmp);
	while ((blk = b->arena) != NULL) {
		b->arena = blk->next;
		free(blk);
	}
	free(b->entries);
	free(b->slots);
	free(b);
}
