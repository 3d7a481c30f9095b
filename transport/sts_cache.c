/*
 * sts_cache.c - the MTA-STS policy cache (RFC 8461 section 5.1): one LMDB
 * file, smtp_tls_mta_sts_cache = lmdb:/path (the file /path.lmdb and its
 * lock file, mode 0600, owned by the agent's user: lmdb_file.c), keyed by
 * the policy domain in lower case.
 *
 * Value: "STS1 FETCHED EXPIRES LAST_FAIL ID FAIL_ID\n" then the policy
 * text as fetched ("-" for an empty id).  The text is parsed again on
 * every read, so a damaged entry is never believed: it is a miss.  A file
 * that cannot be opened or read is a miss too (one warning per process),
 * and the delivery goes on as if nothing were cached; mdb_reader_check()
 * clears the reader slots of dead processes at open.  Each write is one
 * short transaction.
 *
 * Interface: sts_cache.h.
 */
#include "config.h"

#include <ctype.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <lmdb.h>

/* policymap */
#include "policymap.h"
/* core */
#include "core.h"
/* tls */
#include "lmdb_file.h"
#include "sts_cache.h"

#define MAGIC "STS1"

struct sts_cache {
	MDB_env *env;
	char file[PATH_MAX];
	int broken;
};

static void
cache_warn(struct sts_cache *c, const char *what, const char *why)
{
	if (c != NULL) {
		if (c->broken)
			return;
		c->broken = 1;
	}
	log_warn("MTA-STS cache %s: %s: %s; continuing without it", c != NULL ? c->file : "", what,
	    why);
}

struct sts_cache *
sts_cache_open(const char *spec, size_t map_size)
{
	struct sts_cache *c;
	char lockfile[PATH_MAX + 8];
	const char *why = NULL;
	int rc, fd, dead;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	if (lmdb_file_name(spec, c->file, sizeof(c->file), &why) != 0) {
		snprintf(c->file, sizeof(c->file), "%.200s", spec);
		goto fail;
	}
	snprintf(lockfile, sizeof(lockfile), "%s-lock", c->file);
	if (lmdb_file_check(c->file, -1, &why) != 0 || lmdb_file_check(lockfile, -1, &why) != 0)
		goto fail;
	if ((rc = mdb_env_create(&c->env)) != 0) {
		why = mdb_strerror(rc);
		goto fail;
	}
	if ((rc = mdb_env_set_mapsize(c->env, map_size)) != 0
	    || (rc = mdb_env_open(c->env, c->file, MDB_NOSUBDIR | MDB_NORDAHEAD, 0600)) != 0
	    || (rc = mdb_env_get_fd(c->env, &fd)) != 0) {
		why = mdb_strerror(rc);
		goto fail;
	}
	if (lmdb_file_check(c->file, fd, &why) != 0 || lmdb_file_check(lockfile, -1, &why) != 0
	    || lmdb_file_complete(c->env, fd, &why) != 0)
		goto fail;
	(void)mdb_reader_check(c->env, &dead);
	return c;
fail:
	cache_warn(c, "open", why != NULL ? why : "error");
	if (c->env != NULL)
		mdb_env_close(c->env);
	free(c);
	return NULL;
}

void
sts_cache_close(struct sts_cache *c)
{
	if (c == NULL)
		return;
	mdb_env_close(c->env);
	free(c);
}

static void
fold_key(const char *domain, char *out, size_t outlen)
{
	size_t i;

	for (i = 0; domain[i] != '\0' && i + 1 < outlen; i++)
		out[i] = (char)tolower((unsigned char)domain[i]);
	out[i] = '\0';
	if (i > 0 && out[i - 1] == '.')
		out[i - 1] = '\0';
}

static int
id_ok(const char *id)
{
	size_t n = strlen(id);

	if (n > STS_ID_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)id[i]))
			return 0;
	return 1;
}

/* The value into e; 0, or -1 when malformed. */
static int
entry_parse(const char *v, size_t len, struct sts_cache_entry *e)
{
	char head[200], id[40], fid[40], err[200];
	const char *nl = memchr(v, '\n', len < sizeof(head) ? len : sizeof(head));
	int64_t f, x, l;

	if (nl == NULL)
		return -1;
	memcpy(head, v, (size_t)(nl - v));
	head[nl - v] = '\0';
	if (sscanf(head, MAGIC " %" SCNd64 " %" SCNd64 " %" SCNd64 " %39s %39s", &f, &x, &l, id,
		fid)
	    != 5)
		return -1;
	if (strcmp(id, "-") == 0)
		id[0] = '\0';
	if (strcmp(fid, "-") == 0)
		fid[0] = '\0';
	if (!id_ok(id) || !id_ok(fid) || f < 0 || x < 0 || l < 0)
		return -1;
	memset(e, 0, sizeof(*e));
	snprintf(e->id, sizeof(e->id), "%s", id);
	snprintf(e->fail_id, sizeof(e->fail_id), "%s", fid);
	e->fetched = f;
	e->expires = x;
	e->last_fail = l;
	e->textlen = len - (size_t)(nl + 1 - v);
	if (e->textlen > STS_POLICY_MAX)
		return -1;
	memcpy(e->text, nl + 1, e->textlen);
	e->text[e->textlen] = '\0';
	if (e->expires != 0
	    && sts_policy_parse(e->text, e->textlen, &e->policy, err, sizeof(err)) != 0)
		return -1;
	return 0;
}

int
sts_cache_get(struct sts_cache *c, const char *domain, struct sts_cache_entry *e)
{
	char key[256];
	MDB_txn *txn;
	MDB_dbi dbi;
	MDB_val k, v;
	int rc, found = 0;

	if (c == NULL || c->broken)
		return 0;
	fold_key(domain, key, sizeof(key));
	k.mv_data = key;
	k.mv_size = strlen(key);
	if ((rc = mdb_txn_begin(c->env, NULL, MDB_RDONLY, &txn)) != 0) {
		cache_warn(c, "read", mdb_strerror(rc));
		return 0;
	}
	if ((rc = mdb_dbi_open(txn, NULL, 0, &dbi)) == 0 && (rc = mdb_get(txn, dbi, &k, &v)) == 0) {
		if (entry_parse(v.mv_data, v.mv_size, e) == 0)
			found = 1;
		else
			log_warn("MTA-STS cache %s: malformed entry for %s ignored", c->file, key);
	} else if (rc != MDB_NOTFOUND) {
		cache_warn(c, "read", mdb_strerror(rc));
	}
	mdb_txn_abort(txn);
	return found;
}

int
sts_cache_put(struct sts_cache *c, const char *domain, const struct sts_cache_entry *e)
{
	char key[256], head[200], *buf;
	MDB_txn *txn;
	MDB_dbi dbi;
	MDB_val k, v;
	int n, rc;

	if (c == NULL || c->broken)
		return -1;
	fold_key(domain, key, sizeof(key));
	n = snprintf(head, sizeof(head), MAGIC " %" PRId64 " %" PRId64 " %" PRId64 " %s %s\n",
	    e->fetched, e->expires, e->last_fail, e->id[0] != '\0' ? e->id : "-",
	    e->fail_id[0] != '\0' ? e->fail_id : "-");
	if ((buf = malloc((size_t)n + e->textlen)) == NULL)
		return -1;
	memcpy(buf, head, (size_t)n);
	memcpy(buf + n, e->text, e->textlen);
	k.mv_data = key;
	k.mv_size = strlen(key);
	v.mv_data = buf;
	v.mv_size = (size_t)n + e->textlen;
	if ((rc = mdb_txn_begin(c->env, NULL, 0, &txn)) != 0) {
		free(buf);
		cache_warn(c, "write", mdb_strerror(rc));
		return -1;
	}
	if ((rc = mdb_dbi_open(txn, NULL, 0, &dbi)) != 0
	    || (rc = mdb_put(txn, dbi, &k, &v, 0)) != 0)
		mdb_txn_abort(txn);
	else
		rc = mdb_txn_commit(txn); /* frees txn whatever it returns */
	free(buf);
	if (rc != 0) {
		cache_warn(c, "write", mdb_strerror(rc));
		return -1;
	}
	return 0;
}
