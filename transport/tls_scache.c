/*
 * tls_scache.c - the TLS session cache shared by all agent processes.
 *
 * Storage: smtp_tls_session_cache_database = lmdb:/path is the single file
 * /path.lmdb (MDB_NOSUBDIR, as Postfix names its lmdb: files) plus LMDB's
 * lock file /path.lmdb-lock, both created mode 0600.  The file must be a
 * regular file owned by the agent's user: whoever can write tickets into
 * it could plant a session whose secret he knows next to a copy of the
 * real server's (public) certificate, and re-verifying that certificate
 * would not notice.  Group or other permission bits are removed.  The map
 * size (lmdb_map_size) caps the file; it is never raised.  MDB_NOSYNC: the
 * cache needs no durability, and a file damaged by a system crash is
 * just a cache that is not used (below).
 *
 * Entries: key = SHA-256 of the session's inputs (tls_scache_key_make) ||
 * expiry (8 bytes, big-endian) || pid (4) || random (4), so the entries of
 * one key sort soonest-expiring first and concurrent agents never collide.
 * One key holds a small pool of tickets (at most POOL_MAX), because N
 * agents delivering to one server at once need N tickets when each is
 * used once.  Value = "TSC1" || created (8) || expires (8) || blob length
 * (4) || blob || label length (2) || label; anything else is malformed and
 * deleted when met.
 *
 * take = find the first unexpired entry of the key, copy it and delete it
 * (deleting expired or malformed entries met before it) in one write
 * transaction, so that two processes can never get the same ticket.
 * store = one short write transaction; on MDB_MAP_FULL every expired entry
 * is purged and the put is tried once more.  mdb_reader_check() runs at
 * open.  Write transactions do no I/O but LMDB's own and last microseconds.
 *
 * Failure is a miss: at most one warning per process, and the cache is not
 * used again by that process after an error.  A truncated file (smaller
 * than its last page) is refused at open, because touching a page past the
 * end of the file would be SIGBUS.  LMDB trusts the pages it reads, so a
 * file whose pages were overwritten could make it read out of bounds; the
 * LMDB calls therefore run under a SIGSEGV/SIGBUS guard that turns a fault
 * into a miss (the write transaction is aborted so other agents are not
 * left waiting for the writer lock).
 *
 * Interface: tls_scache.h.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <gnutls/crypto.h>
#include <lmdb.h>

/* tls */
#include "lmdb_file.h"
#include "tls_scache.h"

#define ENTRY_KEY_LEN  (TLS_SCACHE_DIGEST_LEN + 8 + 4 + 4)
#define ENTRY_MAGIC    "TSC1"
#define ENTRY_HEAD_LEN (4 + 8 + 8 + 4)
#define BLOB_MIN       5	      /* GnuTLS's "no ticket" placeholder is 4 bytes */
#define BLOB_MAX       65536	      /* a session with a long chain and an OCSP staple */
#define POOL_MAX       32	      /* tickets kept per key */
#define WALK_MAX       (POOL_MAX * 4) /* entries examined by one take or store */
#define EVICT_MAX      256	      /* entries evicted by one store */
#define CLOCK_SLACK    300	      /* seconds an entry may seem to come from the future */
#define RC_FAULT       (-1)	      /* not an LMDB code: the guard caught a fault */
#define KEY_FORMAT     "tlsmtp session cache key 1"

struct tls_scache {
	MDB_env *env;
	MDB_txn *txn; /* the open write transaction, for the fault path */
	char file[PATH_MAX];
	int timeout;
	int broken;  /* an error was seen: no further use */
	int faulted; /* a memory fault: never touch env again */
	size_t page_size;
	size_t map_pages; /* the cap in pages */
};

/* ------------------------------------------------------------------------
 * The key: SHA-256 over tagged, length-prefixed fields.
 */
enum key_tag {
	TAG_FORMAT = 1,
	TAG_GNUTLS,
	TAG_NEXTHOP,
	TAG_HOST,
	TAG_ADDR,
	TAG_PORT,
	TAG_SNI,
	TAG_LEVEL,
	TAG_NAMES,
	TAG_DIGESTS,
	TAG_DIGEST_ALG,
	TAG_TLSA,
	TAG_HALF_DANE,
	TAG_TAFILES,
	TAG_CAFILE,
	TAG_CAPATH,
	TAG_PRIORITY,
	TAG_CERT,
	TAG_KEY
};

struct key_hash {
	gnutls_hash_hd_t h;
	int failed;
};

static void
hash_bytes(struct key_hash *kh, unsigned tag, const void *data, size_t len)
{
	unsigned char head[5];

	head[0] = (unsigned char)tag;
	head[1] = (unsigned char)(len >> 24);
	head[2] = (unsigned char)(len >> 16);
	head[3] = (unsigned char)(len >> 8);
	head[4] = (unsigned char)len;
	if (gnutls_hash(kh->h, head, sizeof(head)) < 0
	    || (len > 0 && gnutls_hash(kh->h, data, len) < 0))
		kh->failed = 1;
}

static void
hash_str(struct key_hash *kh, unsigned tag, const char *s)
{
	hash_bytes(kh, tag, s != NULL ? s : "", s != NULL ? strlen(s) : 0);
}

static void
hash_uint(struct key_hash *kh, unsigned tag, uint64_t v)
{
	unsigned char b[8];

	for (int i = 7; i >= 0; i--) {
		b[i] = (unsigned char)v;
		v >>= 8;
	}
	hash_bytes(kh, tag, b, sizeof(b));
}

static int
compare_str(const void *a, const void *b)
{
	const char *x = *(const char *const *)a, *y = *(const char *const *)b;

	return strcmp(x != NULL ? x : "", y != NULL ? y : "");
}

/* A list counts as a set: sorted, then hashed as count + items. */
static void
hash_list(struct key_hash *kh, unsigned tag, const char *const *items, size_t n)
{
	const char **sorted = NULL;

	hash_uint(kh, tag, n);
	if (n == 0)
		return;
	if ((sorted = malloc(n * sizeof(*sorted))) == NULL) {
		kh->failed = 1;
		return;
	}
	memcpy(sorted, items, n * sizeof(*sorted));
	qsort(sorted, n, sizeof(*sorted), compare_str);
	for (size_t i = 0; i < n; i++)
		hash_str(kh, tag, sorted[i]);
	free(sorted);
}

/* A file by its path and what stat(2) says: an edit or a swap changes it. */
static void
hash_file(struct key_hash *kh, unsigned tag, const char *path)
{
	struct stat st;

	hash_str(kh, tag, path);
	if (path == NULL || *path == '\0')
		return;
	if (stat(path, &st) != 0) {
		hash_uint(kh, tag, (uint64_t)errno);
		return;
	}
	hash_uint(kh, tag, (uint64_t)st.st_dev);
	hash_uint(kh, tag, (uint64_t)st.st_ino);
	hash_uint(kh, tag, (uint64_t)st.st_size);
	hash_uint(kh, tag, (uint64_t)st.st_mtim.tv_sec);
	hash_uint(kh, tag, (uint64_t)st.st_mtim.tv_nsec);
	hash_uint(kh, tag, (uint64_t)st.st_ctim.tv_sec);
	hash_uint(kh, tag, (uint64_t)st.st_ctim.tv_nsec);
}

static int
compare_rr(const void *a, const void *b)
{
	const struct tlsa_rr *x = *(const struct tlsa_rr *const *)a;
	const struct tlsa_rr *y = *(const struct tlsa_rr *const *)b;
	size_t n = x->len < y->len ? x->len : y->len;
	int c;

	if (x->usage != y->usage)
		return x->usage - y->usage;
	if (x->selector != y->selector)
		return x->selector - y->selector;
	if (x->mtype != y->mtype)
		return x->mtype - y->mtype;
	if (n > 0 && (c = memcmp(x->data, y->data, n)) != 0)
		return c;
	return x->len < y->len ? -1 : x->len > y->len;
}

/* The TLSA RRset as a set: usable records only, sorted. */
static void
hash_tlsa(struct key_hash *kh, const struct tlsa_set *set)
{
	const struct tlsa_rr *sorted[TLSA_RECORDS_MAX];
	size_t n = 0;

	if (set != NULL)
		for (size_t i = 0; i < set->count && n < TLSA_RECORDS_MAX; i++)
			if (set->rr[i].usable)
				sorted[n++] = &set->rr[i];
	qsort(sorted, n, sizeof(sorted[0]), compare_rr);
	hash_uint(kh, TAG_TLSA, n);
	for (size_t i = 0; i < n; i++) {
		unsigned char params[3] = { sorted[i]->usage, sorted[i]->selector,
			sorted[i]->mtype };

		hash_bytes(kh, TAG_TLSA, params, sizeof(params));
		hash_bytes(kh, TAG_TLSA, sorted[i]->data, sorted[i]->len);
	}
}

void
tls_scache_key_make(const struct tls_scache_fields *f, struct tls_scache_key *key)
{
	struct key_hash kh;

	memset(key, 0, sizeof(*key));
	kh.failed = 0;
	if (gnutls_hash_init(&kh.h, GNUTLS_DIG_SHA256) < 0)
		return;
	hash_str(&kh, TAG_FORMAT, KEY_FORMAT);
	/* The blob format is private to the GnuTLS version that wrote it. */
	hash_str(&kh, TAG_GNUTLS, gnutls_check_version(NULL));
	hash_str(&kh, TAG_NEXTHOP, f->nexthop);
	hash_str(&kh, TAG_HOST, f->host);
	hash_str(&kh, TAG_ADDR, f->addr);
	hash_uint(&kh, TAG_PORT, f->port);
	hash_str(&kh, TAG_SNI, f->sni);
	hash_uint(&kh, TAG_LEVEL, (uint64_t)(int64_t)f->level);
	hash_list(&kh, TAG_NAMES, f->names, f->name_count);
	hash_list(&kh, TAG_DIGESTS, f->digests, f->digest_count);
	hash_str(&kh, TAG_DIGEST_ALG, f->digest_alg);
	hash_tlsa(&kh, f->tlsa);
	hash_uint(&kh, TAG_HALF_DANE, f->dane_insecure_mx != 0);
	hash_uint(&kh, TAG_TAFILES, f->tafile_count);
	for (size_t i = 0; i < f->tafile_count; i++)
		hash_file(&kh, TAG_TAFILES, f->tafiles[i]);
	hash_file(&kh, TAG_CAFILE, f->ca_file);
	hash_file(&kh, TAG_CAPATH, f->ca_path);
	hash_str(&kh, TAG_PRIORITY, f->priority);
	hash_file(&kh, TAG_CERT, f->cert_file);
	hash_file(&kh, TAG_KEY, f->key_file);
	gnutls_hash_deinit(kh.h, key->digest);
	if (kh.failed) {
		memset(key->digest, 0, sizeof(key->digest));
		return;
	}
	text_cut(key->label, sizeof(key->label), "%s&%s[%s]:%u&%s",
	    f->nexthop != NULL ? f->nexthop : "", f->host != NULL ? f->host : "",
	    f->addr != NULL ? f->addr : "", f->port, tls_level_name((enum tls_level)f->level));
}

/* A key that could not be computed has an empty label and is never used. */
static int
key_valid(const struct tls_scache_key *key)
{
	return key->label[0] != '\0';
}

/* ------------------------------------------------------------------------
 * The fault guard: SIGSEGV/SIGBUS inside LMDB become a miss.
 */
static sigjmp_buf guard_jump;
static volatile sig_atomic_t guard_armed;
static struct sigaction guard_old_segv, guard_old_bus;

static void
guard_handler(int sig)
{
	if (guard_armed) {
		guard_armed = 0;
		siglongjmp(guard_jump, sig);
	}
	/* Not ours: the default action, as if no handler were installed. */
	signal(sig, SIG_DFL);
	raise(sig);
}

/*
 * LMDB's own consistency checks (a page of the wrong type, ...) call this
 * before they would print to stderr, which pipe(8) reads as our output,
 * and abort(): treated like a fault.
 */
static void
guard_assert(MDB_env *env, const char *msg)
{
	(void)env;
	(void)msg;
	if (guard_armed) {
		guard_armed = 0;
		siglongjmp(guard_jump, SIGABRT);
	}
}

static void
guard_arm(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = guard_handler;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_NODEFER;
	(void)sigaction(SIGSEGV, &sa, &guard_old_segv);
	(void)sigaction(SIGBUS, &sa, &guard_old_bus);
	guard_armed = 1;
}

static void
guard_disarm(void)
{
	guard_armed = 0;
	(void)sigaction(SIGSEGV, &guard_old_segv, NULL);
	(void)sigaction(SIGBUS, &guard_old_bus, NULL);
}

/* ------------------------------------------------------------------------
 * Errors.
 */
static int scache_warned; /* one warning per process */

static void
scache_warn(struct tls_scache *sc, const char *what, const char *why)
{
	if (sc != NULL)
		sc->broken = 1;
	if (scache_warned)
		return;
	scache_warned = 1;
	log_warn("TLS session cache %s: %s: %s; continuing without it", sc != NULL ? sc->file : "",
	    what, why);
}

/* After a fault: abort the transaction (releasing the writer lock). */
static void
scache_fault(struct tls_scache *sc, const char *what, int sig)
{
	MDB_txn *txn = sc->txn;

	sc->txn = NULL;
	sc->faulted = 1;
	scache_warn(sc, what,
	    sig == SIGBUS	 ? "bus error reading the file (corrupt?)"
		: sig == SIGABRT ? "LMDB consistency check failed (corrupt file?)"
				 : "invalid memory access reading the file (corrupt?)");
	if (txn == NULL)
		return;
	guard_arm();
	if (sigsetjmp(guard_jump, 1) == 0)
		mdb_txn_abort(txn);
	guard_disarm();
}

/* ------------------------------------------------------------------------
 * Entries.
 */
struct entry {
	uint64_t created, expires;
	const unsigned char *blob;
	size_t bloblen;
};

static void
put_be(unsigned char *p, uint64_t v, int n)
{
	for (int i = n - 1; i >= 0; i--) {
		p[i] = (unsigned char)v;
		v >>= 8;
	}
}

static uint64_t
get_be(const unsigned char *p, int n)
{
	uint64_t v = 0;

	for (int i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

/* 0 when k/v is a well-formed entry (lengths agree, expiry sane). */
static int
entry_parse(const MDB_val *k, const MDB_val *v, struct entry *e)
{
	const unsigned char *p = v->mv_data;
	size_t rest;

	if (k->mv_size != ENTRY_KEY_LEN || v->mv_size < ENTRY_HEAD_LEN + 2
	    || memcmp(p, ENTRY_MAGIC, 4) != 0)
		return -1;
	e->created = get_be(p + 4, 8);
	e->expires = get_be(p + 12, 8);
	e->bloblen = (size_t)get_be(p + 20, 4);
	e->blob = p + ENTRY_HEAD_LEN;
	rest = v->mv_size - ENTRY_HEAD_LEN;
	if (e->bloblen < BLOB_MIN || e->bloblen > BLOB_MAX || e->bloblen + 2 > rest)
		return -1;
	if (get_be(e->blob + e->bloblen, 2) != rest - e->bloblen - 2)
		return -1;
	if (e->expires != get_be((const unsigned char *)k->mv_data + TLS_SCACHE_DIGEST_LEN, 8)
	    || e->expires <= e->created || e->expires - e->created > TLS_SCACHE_LIFETIME_MAX)
		return -1;
	return 0;
}

static int
entry_usable(const struct entry *e, time_t now)
{
	return e->expires > (uint64_t)now && e->created <= (uint64_t)now + CLOCK_SLACK;
}

static int
same_key(const MDB_val *k, const struct tls_scache_key *key)
{
	return k->mv_size >= TLS_SCACHE_DIGEST_LEN
	    && memcmp(k->mv_data, key->digest, TLS_SCACHE_DIGEST_LEN) == 0;
}

/* ------------------------------------------------------------------------
 * Open and close.
 */

/* "lmdb:/abs/path" -> "/abs/path.lmdb"; -1 with a reason otherwise. */
/*
 * The data file must hold every page its meta page claims (no SIGBUS).
 * Also notes the page size and the cap in pages.
 */
static int
check_size(MDB_env *env, int fd, size_t map_size, struct tls_scache *sc, const char **why)
{
	MDB_envinfo info;
	MDB_stat stat;

	if (lmdb_file_complete(env, fd, why) != 0)
		return -1;
	if (mdb_env_info(env, &info) != 0 || mdb_env_stat(env, &stat) != 0) {
		*why = "cannot read the file's state";
		return -1;
	}
	sc->page_size = stat.ms_psize;
	sc->map_pages = (map_size < info.me_mapsize ? map_size : info.me_mapsize) / stat.ms_psize;
	return 0;
}

static struct tls_scache *
open_env(struct tls_scache *sc, size_t map_size)
{
	char lockfile[PATH_MAX + 8];
	const char *why = NULL;
	int rc, fd, dead;

	if (lmdb_file_check(sc->file, -1, &why) != 0) {
		scache_warn(sc, "open", why);
		return NULL;
	}
	snprintf(lockfile, sizeof(lockfile), "%s-lock", sc->file);
	if (lmdb_file_check(lockfile, -1, &why) != 0) {
		scache_warn(sc, "lock file", why);
		return NULL;
	}
	if ((rc = mdb_env_create(&sc->env)) != 0) {
		scache_warn(sc, "open", mdb_strerror(rc));
		return NULL;
	}
	(void)mdb_env_set_assert(sc->env, guard_assert);
	if ((rc = mdb_env_set_mapsize(sc->env, map_size)) != 0
	    || (rc = mdb_env_open(sc->env, sc->file, MDB_NOSUBDIR | MDB_NOSYNC | MDB_NORDAHEAD,
		    0600))
		!= 0) {
		scache_warn(sc, "open", mdb_strerror(rc));
		return NULL;
	}
	if ((rc = mdb_env_get_fd(sc->env, &fd)) != 0) {
		scache_warn(sc, "open", mdb_strerror(rc));
		return NULL;
	}
	if (lmdb_file_check(sc->file, fd, &why) != 0 || lmdb_file_check(lockfile, -1, &why) != 0
	    || check_size(sc->env, fd, map_size, sc, &why) != 0) {
		scache_warn(sc, "open", why);
		return NULL;
	}
	/* Reader slots of processes that died (LMDB cannot clear them alone). */
	(void)mdb_reader_check(sc->env, &dead);
	return sc;
}

/* open_env() under the fault guard; 0 when the cache is usable. */
static int
open_guarded(struct tls_scache *sc, size_t map_size)
{
	int sig;

	guard_arm();
	if ((sig = sigsetjmp(guard_jump, 1)) != 0) {
		scache_fault(sc, "open", sig);
		return -1;
	}
	if (open_env(sc, map_size) == NULL) {
		guard_disarm();
		if (sc->env != NULL)
			mdb_env_close(sc->env);
		sc->env = NULL;
		return -1;
	}
	guard_disarm();
	return 0;
}

struct tls_scache *
tls_scache_open(const char *spec, int timeout_s, size_t map_size)
{
	struct tls_scache *sc;
	const char *why = NULL;

	if ((sc = calloc(1, sizeof(*sc))) == NULL) {
		scache_warn(NULL, "open", "out of memory");
		return NULL;
	}
	sc->timeout = timeout_s;
	if (lmdb_file_name(spec, sc->file, sizeof(sc->file), &why) != 0) {
		snprintf(sc->file, sizeof(sc->file), "%.200s", spec);
		scache_warn(sc, "open", why);
		free(sc);
		return NULL;
	}
	if (open_guarded(sc, map_size) != 0) {
		/* After a fault, the environment is left alone (and leaked). */
		if (!sc->faulted)
			free(sc);
		return NULL;
	}
	return sc;
}

void
tls_scache_close(struct tls_scache *sc)
{
	if (sc == NULL)
		return;
	/* After a fault the environment is not touched again. */
	if (!sc->faulted)
		mdb_env_close(sc->env);
	free(sc);
}

/* ------------------------------------------------------------------------
 * Transactions.  Each returns an MDB error code; the callers warn.
 */
static int
txn_begin(struct tls_scache *sc, MDB_dbi *dbi, MDB_cursor **cur)
{
	int rc;

	if ((rc = mdb_txn_begin(sc->env, NULL, 0, &sc->txn)) != 0) {
		sc->txn = NULL;
		return rc;
	}
	if ((rc = mdb_dbi_open(sc->txn, NULL, 0, dbi)) != 0
	    || (rc = mdb_cursor_open(sc->txn, *dbi, cur)) != 0) {
		mdb_txn_abort(sc->txn);
		sc->txn = NULL;
	}
	return rc;
}

static int
txn_commit(struct tls_scache *sc, MDB_cursor *cur)
{
	int rc;

	mdb_cursor_close(cur);
	rc = mdb_txn_commit(sc->txn);
	sc->txn = NULL;
	return rc;
}

static void
txn_abort(struct tls_scache *sc, MDB_cursor *cur)
{
	mdb_cursor_close(cur);
	mdb_txn_abort(sc->txn);
	sc->txn = NULL;
}

/* Position on the first entry of key (or past it). */
static int
seek_key(MDB_cursor *cur, const struct tls_scache_key *key, MDB_val *k, MDB_val *v)
{
	unsigned char start[ENTRY_KEY_LEN];

	memset(start, 0, sizeof(start));
	memcpy(start, key->digest, TLS_SCACHE_DIGEST_LEN);
	k->mv_size = sizeof(start);
	k->mv_data = start;
	return mdb_cursor_get(cur, k, v, MDB_SET_RANGE);
}

static int
take_txn(struct tls_scache *sc, const struct tls_scache_key *key, gnutls_datum_t *blob)
{
	MDB_dbi dbi;
	MDB_cursor *cur;
	MDB_val k, v;
	time_t now = time(NULL);
	int rc, walked = 0, found = 0;

	if ((rc = txn_begin(sc, &dbi, &cur)) != 0)
		return rc;
	rc = seek_key(cur, key, &k, &v);
	while (rc == 0 && same_key(&k, key) && walked++ < WALK_MAX) {
		struct entry e;

		if (entry_parse(&k, &v, &e) == 0 && entry_usable(&e, now)) {
			if ((blob->data = gnutls_malloc(e.bloblen)) == NULL) {
				rc = ENOMEM;
				break;
			}
			memcpy(blob->data, e.blob, e.bloblen);
			blob->size = (unsigned)e.bloblen;
			found = 1;
		}
		/* Used, expired or malformed: gone either way. */
		if ((rc = mdb_cursor_del(cur, 0)) != 0 || found)
			break;
		/* After a delete, MDB_NEXT yields the entry that followed. */
		rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
	}
	if (rc != 0 && rc != MDB_NOTFOUND) {
		txn_abort(sc, cur);
		return rc;
	}
	if ((rc = txn_commit(sc, cur)) != 0)
		return rc;
	/* Committed: the ticket is ours alone. */
	return found ? 0 : MDB_NOTFOUND;
}

int
tls_scache_take(struct tls_scache *sc, const struct tls_scache_key *key, gnutls_datum_t *blob)
{
	int rc, sig;

	blob->data = NULL;
	blob->size = 0;
	if (sc == NULL || sc->broken || !key_valid(key))
		return 0;
	guard_arm();
	if ((sig = sigsetjmp(guard_jump, 1)) != 0) {
		scache_fault(sc, "lookup", sig);
		blob->data = NULL; /* possibly allocated: leaked, never used */
		blob->size = 0;
		return 0;
	}
	rc = take_txn(sc, key, blob);
	guard_disarm();
	if (rc == 0)
		return 1;
	gnutls_free(blob->data);
	blob->data = NULL;
	blob->size = 0;
	if (rc != MDB_NOTFOUND)
		scache_warn(sc, "lookup", mdb_strerror(rc));
	return 0;
}

/* Make room in the key's pool: drop its soonest-expiring entries. */
static int
trim_pool(MDB_cursor *cur, const struct tls_scache_key *key)
{
	MDB_val k, v;
	int rc, n = 0;

	for (rc = seek_key(cur, key, &k, &v); rc == 0 && same_key(&k, key) && n < WALK_MAX;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT))
		n++;
	if (rc != 0 && rc != MDB_NOTFOUND)
		return rc;
	for (rc = seek_key(cur, key, &k, &v); rc == 0 && same_key(&k, key) && n >= POOL_MAX; n--) {
		if ((rc = mdb_cursor_del(cur, 0)) != 0)
			return rc;
		rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
	}
	if (rc == MDB_NOTFOUND)
		return 0;
	return rc;
}

/* Delete every expired or malformed entry. */
static int
purge_walk(MDB_cursor *cur, long *count)
{
	MDB_val k, v;
	time_t now = time(NULL);
	int rc;

	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		struct entry e;

		if (entry_parse(&k, &v, &e) == 0 && entry_usable(&e, now))
			continue;
		if ((rc = mdb_cursor_del(cur, 0)) != 0)
			return rc;
		++*count;
	}
	return rc == MDB_NOTFOUND ? 0 : rc;
}

/* Pages that the entries and the free list occupy, as this transaction sees them. */
static size_t
pages_used(MDB_txn *txn, MDB_dbi dbi)
{
	MDB_stat st;
	size_t n = 0;

	if (mdb_stat(txn, dbi, &st) == 0)
		n += st.ms_branch_pages + st.ms_leaf_pages + st.ms_overflow_pages;
	if (mdb_stat(txn, 0, &st) == 0) /* database 0 is LMDB's free list */
		n += st.ms_branch_pages + st.ms_leaf_pages + st.ms_overflow_pages;
	return n;
}

/* Delete entries from a random place on (wrapping once) while over limit. */
static int
evict(MDB_txn *txn, MDB_dbi dbi, MDB_cursor *cur, size_t need, size_t limit, long *count)
{
	unsigned char start[ENTRY_KEY_LEN];
	MDB_val k, v;
	int rc, wrapped = 0;

	if (gnutls_rnd(GNUTLS_RND_NONCE, start, sizeof(start)) < 0)
		memset(start, 0x80, sizeof(start));
	k.mv_size = sizeof(start);
	k.mv_data = start;
	rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
	while (pages_used(txn, dbi) + need > limit && *count < EVICT_MAX) {
		if (rc == MDB_NOTFOUND && !wrapped) {
			wrapped = 1;
			rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
		}
		if (rc != 0)
			break;
		if ((rc = mdb_cursor_del(cur, 0)) != 0)
			return rc;
		++*count;
		rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
	}
	return rc == MDB_NOTFOUND ? 0 : rc;
}

/*
 * Keep the entries and the free list within limit pages, need more
 * included: LMDB reuses a freed page only two transactions later, so
 * live data is kept to half the map and the other half absorbs what is
 * freed meanwhile.  Expired entries go first, then any.
 */
static int
make_room(MDB_txn *txn, MDB_dbi dbi, MDB_cursor *cur, size_t need, size_t limit)
{
	long purged = 0, evicted = 0;
	int rc;

	if (pages_used(txn, dbi) + need <= limit)
		return 0;
	if ((rc = purge_walk(cur, &purged)) != 0)
		return rc;
	if (pages_used(txn, dbi) + need <= limit)
		return 0;
	return evict(txn, dbi, cur, need, limit, &evicted);
}

/* Pages a value of len bytes takes at most (a leaf share or overflow pages). */
static size_t
pages_needed(const struct tls_scache *sc, size_t len)
{
	return 2 + (len + sc->page_size - 1) / sc->page_size;
}

static int
store_txn(struct tls_scache *sc, const MDB_val *k, const MDB_val *v,
    const struct tls_scache_key *key, size_t limit)
{
	MDB_dbi dbi;
	MDB_cursor *cur;
	MDB_val kk = *k, vv = *v;
	int rc;

	if ((rc = txn_begin(sc, &dbi, &cur)) != 0)
		return rc;
	if ((rc = make_room(sc->txn, dbi, cur, pages_needed(sc, v->mv_size), limit)) != 0
	    || (rc = trim_pool(cur, key)) != 0
	    || (rc = mdb_put(sc->txn, dbi, &kk, &vv, MDB_NOOVERWRITE)) != 0) {
		txn_abort(sc, cur);
		return rc;
	}
	return txn_commit(sc, cur);
}

/* Only make room (down to limit), for the stores that come after. */
static int
room_txn(struct tls_scache *sc, size_t limit)
{
	MDB_dbi dbi;
	MDB_cursor *cur;
	int rc;

	if ((rc = txn_begin(sc, &dbi, &cur)) != 0)
		return rc;
	if ((rc = make_room(sc->txn, dbi, cur, 0, limit)) != 0) {
		txn_abort(sc, cur);
		return rc;
	}
	return txn_commit(sc, cur);
}

static int
purge_txn(struct tls_scache *sc, long *count)
{
	MDB_dbi dbi;
	MDB_cursor *cur;
	int rc;

	*count = 0;
	if ((rc = txn_begin(sc, &dbi, &cur)) != 0)
		return rc;
	if ((rc = purge_walk(cur, count)) != 0) {
		txn_abort(sc, cur);
		return rc;
	}
	return txn_commit(sc, cur);
}

long
tls_scache_purge(struct tls_scache *sc)
{
	long count = 0;
	int rc, sig;

	if (sc == NULL || sc->broken)
		return -1;
	guard_arm();
	if ((sig = sigsetjmp(guard_jump, 1)) != 0) {
		scache_fault(sc, "purge", sig);
		return -1;
	}
	rc = purge_txn(sc, &count);
	guard_disarm();
	if (rc != 0) {
		scache_warn(sc, "purge", mdb_strerror(rc));
		return -1;
	}
	return count;
}

/* Key and value bytes of a new entry; the value is malloc'ed. */
static int
entry_make(const struct tls_scache_key *key, const gnutls_datum_t *blob, time_t now, unsigned life,
    unsigned char *kbuf, MDB_val *k, MDB_val *v)
{
	size_t labellen = strlen(key->label), len = ENTRY_HEAD_LEN + blob->size + 2 + labellen;
	unsigned char *p, nonce[4];
	uint64_t expires = (uint64_t)now + life;

	if (gnutls_rnd(GNUTLS_RND_NONCE, nonce, sizeof(nonce)) < 0 || (p = malloc(len)) == NULL)
		return -1;
	memcpy(kbuf, key->digest, TLS_SCACHE_DIGEST_LEN);
	put_be(kbuf + TLS_SCACHE_DIGEST_LEN, expires, 8);
	put_be(kbuf + TLS_SCACHE_DIGEST_LEN + 8, (uint64_t)getpid(), 4);
	memcpy(kbuf + TLS_SCACHE_DIGEST_LEN + 12, nonce, 4);
	memcpy(p, ENTRY_MAGIC, 4);
	put_be(p + 4, (uint64_t)now, 8);
	put_be(p + 12, expires, 8);
	put_be(p + 20, blob->size, 4);
	memcpy(p + ENTRY_HEAD_LEN, blob->data, blob->size);
	put_be(p + ENTRY_HEAD_LEN + blob->size, labellen, 2);
	memcpy(p + ENTRY_HEAD_LEN + blob->size + 2, key->label, labellen);
	k->mv_size = ENTRY_KEY_LEN;
	k->mv_data = kbuf;
	v->mv_size = len;
	v->mv_data = p;
	return 0;
}

static unsigned
entry_life(const struct tls_scache *sc, unsigned lifetime_s)
{
	unsigned life = TLS_SCACHE_LIFETIME_MAX;

	if (sc->timeout > 0 && (unsigned)sc->timeout < life)
		life = (unsigned)sc->timeout;
	if (lifetime_s > 0 && lifetime_s < life)
		life = lifetime_s;
	return life;
}

/* store_txn(), and after MDB_MAP_FULL a purge and one more try. */
static int
store_guarded(struct tls_scache *sc, const MDB_val *k, const MDB_val *v,
    const struct tls_scache_key *key)
{
	int rc, sig;

	guard_arm();
	if ((sig = sigsetjmp(guard_jump, 1)) != 0) {
		scache_fault(sc, "update", sig);
		return RC_FAULT;
	}
	rc = store_txn(sc, k, v, key, sc->map_pages / 2);
	if (rc == MDB_MAP_FULL && room_txn(sc, sc->map_pages / 4) == 0)
		rc = store_txn(sc, k, v, key, sc->map_pages / 2);
	guard_disarm();
	return rc;
}

int
tls_scache_store(struct tls_scache *sc, const struct tls_scache_key *key,
    const gnutls_datum_t *blob, unsigned lifetime_s)
{
	unsigned char kbuf[ENTRY_KEY_LEN];
	MDB_val k, v;
	int rc;

	if (sc == NULL || sc->broken || !key_valid(key) || blob == NULL || blob->data == NULL
	    || blob->size < BLOB_MIN || blob->size > BLOB_MAX || sc->timeout <= 0
	    || strlen(key->label) > 0xffff)
		return 0;
	if (entry_make(key, blob, time(NULL), entry_life(sc, lifetime_s), kbuf, &k, &v) != 0)
		return 0;
	rc = store_guarded(sc, &k, &v, key);
	free(v.mv_data);
	if (rc == RC_FAULT)
		return 0; /* the fault was reported */
	if (rc == MDB_KEYEXIST)
		return 0; /* the same expiry, pid and random bytes: never mind */
	if (rc == MDB_MAP_FULL) {
		scache_warn(sc, "update",
		    "cache full (lmdb_map_size); expired and old entries removed");
		return 0;
	}
	if (rc != 0) {
		scache_warn(sc, "update", mdb_strerror(rc));
		return 0;
	}
	return 1;
}

/* ------------------------------------------------------------------------
 * Session glue: the one TLS session of this process being set up.
 */
static struct {
	int tried; /* tls_scache_open() was called */
	struct tls_scache *cache;
	gnutls_session_t sess; /* watched session, or NULL */
	struct tls_scache_key key;
	unsigned lifetime; /* from the server's last NewSessionTicket */
	int loud;	   /* smtp_tls_loglevel >= 2 */
} glue;

/* Cache activity: logged at smtp_tls_loglevel >= 2, else only with -v. */
static void glue_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
glue_log(const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	va_start(ap, fmt);
	text_vcut(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (glue.loud)
		log_info("%s", line);
	else
		log_verbose("%s", line);
}

/*
 * NewSessionTicket (TLS 1.3 RFC 8446 4.6.1, TLS 1.2 RFC 5077 3.3): the body
 * starts with the lifetime in seconds (uint32).  The hook runs before
 * GnuTLS parses the message (GNUTLS_HOOK_PRE): afterwards, GnuTLS 3.7
 * passes only the bytes it left unread.
 */
static int
ticket_hook(gnutls_session_t sess, unsigned htype, unsigned when, unsigned incoming,
    const gnutls_datum_t *msg)
{
	if (sess == glue.sess && incoming && msg != NULL && msg->size >= 4)
		glue.lifetime = (unsigned)get_be(msg->data, 4);
	return 0;
}

int
tls_scache_wanted(const struct tlsmtp_config *cfg)
{
	return cfg->tls_session_cache_database != NULL && cfg->tls_session_cache_database[0] != '\0'
	    && cfg->tls_session_cache_timeout > 0;
}

/* A short digest of a blob, so that logs show which ticket went where. */
static void
blob_id(const gnutls_datum_t *blob, char *out, size_t outlen)
{
	unsigned char md[TLS_SCACHE_DIGEST_LEN];

	snprintf(out, outlen, "?");
	if (gnutls_hash_fast(GNUTLS_DIG_SHA256, blob->data, blob->size, md) < 0)
		return;
	for (size_t i = 0; i < 6 && 2 * i + 2 < outlen; i++)
		snprintf(out + 2 * i, outlen - 2 * i, "%02x", md[i]);
}

void
tls_scache_session_begin(const struct tlsmtp_config *cfg, gnutls_session_t sess,
    const struct tls_scache_key *key)
{
	gnutls_datum_t blob;
	char id[16];
	int rc;

	glue.sess = NULL;
	if (!tls_scache_wanted(cfg) || !key_valid(key))
		return;
	if (!glue.tried) {
		glue.tried = 1;
		glue.cache = tls_scache_open(cfg->tls_session_cache_database,
		    cfg->tls_session_cache_timeout, (size_t)cfg->lmdb_map_size);
	}
	if (glue.cache == NULL || glue.cache->broken)
		return;
	glue.sess = sess;
	glue.key = *key;
	glue.lifetime = 0;
	glue.loud = cfg->tls_loglevel >= 2;
	gnutls_handshake_set_hook_function(sess, GNUTLS_HANDSHAKE_NEW_SESSION_TICKET,
	    GNUTLS_HOOK_PRE, ticket_hook);
	if (!tls_scache_take(glue.cache, key, &blob)) {
		glue_log("%s: no cached TLS session", key->label);
		return;
	}
	blob_id(&blob, id, sizeof(id));
	rc = gnutls_session_set_data(sess, blob.data, blob.size);
	gnutls_free(blob.data);
	if (rc < 0)
		glue_log("%s: cached TLS session %s not usable: %s", key->label, id,
		    gnutls_strerror(rc));
	else
		glue_log("%s: offering cached TLS session %s", key->label, id);
}

void
tls_scache_session_ready(gnutls_session_t sess)
{
	gnutls_datum_t data;
	unsigned life;
	char id[16];
	int rc;

	if (sess == NULL || sess != glue.sess || glue.cache == NULL)
		return;
	glue.sess = NULL;
	if ((gnutls_session_get_flags(sess) & GNUTLS_SFLAGS_SESSION_TICKET) == 0) {
		glue_log("%s: the server sent no session ticket", glue.key.label);
		return;
	}
	/* A resumed TLS 1.2 session yields its old, already used ticket. */
	if (gnutls_session_is_resumed(sess) && gnutls_protocol_get_version(sess) != GNUTLS_TLS1_3)
		return;
	if ((rc = gnutls_session_get_data2(sess, &data)) < 0) {
		glue_log("%s: cannot export the TLS session: %s", glue.key.label,
		    gnutls_strerror(rc));
		return;
	}
	life = entry_life(glue.cache, glue.lifetime);
	blob_id(&data, id, sizeof(id));
	if (tls_scache_store(glue.cache, &glue.key, &data, glue.lifetime))
		glue_log("%s: cached TLS session %s for %u s", glue.key.label, id, life);
	gnutls_free(data.data);
}
