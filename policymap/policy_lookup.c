/*
 * policy_lookup.c - find the TLS policy for a next-hop across several maps.
 *
 * Order, as Postfix's smtp client: each key from nexthop_lookup_keys()
 * (the next-hop verbatim, then dotted parents for a bare domain), and for
 * each key every map in order; the first hit wins.  A map that cannot be
 * opened or read is a lookup error at that point, never "not found": the
 * caller must defer rather than fall back to the default level.
 *
 * Internationalised names: our keys are A-labels (tlsmap stores A-labels,
 * nexthop_parse produces them).  A table built by postmap from UTF-8
 * source holds the UTF-8 form instead, so when a key contains A-labels
 * and no map has it, the same key in U-label form is tried next, again
 * through every map.  postmap folds UTF-8 with full Unicode case folding
 * while IDNA maps to lower case; the two differ for a few letters (German
 * sharp s, final sigma), and keys with those are found only in A-label
 * form.
 *
 * Maps are opened on first use and kept open; a map that failed to open is
 * tried again at the next lookup.
 *
 * Interface: policymap.h.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <gnutls/gnutls.h>

/* policymap */
#include "policymap.h"

#define POLICY_MAPS_MAX		32
#define POLICY_KEYS_MAX		130	/* a domain has at most 127 labels */
#define MAP_SEPARATORS		", \t\r\n"

struct policy_map {
	char    name[1024];		/* "lmdb:/etc/postfix/tls_policy" */
	char    path[1024];		/* "/etc/postfix/tls_policy.lmdb" */
	struct lmdb_table *table;	/* NULL until opened */
};

struct policy_maps {
	struct policy_map map[POLICY_MAPS_MAX];
	size_t  count;
};

static int
add_map(struct policy_maps *m, const char *spec, size_t len, char *err, size_t errlen)
{
	struct policy_map *pm;
	const char *colon = memchr(spec, ':', len);

	if (colon == NULL) {
		snprintf(err, errlen, "table \"%.*s\": missing \"type:\" (expected lmdb:/path)",
		    (int) len, spec);
		return -1;
	}
	if ((size_t) (colon - spec) != 4 || strncasecmp(spec, "lmdb", 4) != 0) {
		snprintf(err, errlen, "table \"%.*s\": unsupported table type \"%.*s\" (only lmdb: is supported)",
		    (int) len, spec, (int) (colon - spec), spec);
		return -1;
	}
	if (colon + 1 == spec + len) {
		snprintf(err, errlen, "table \"%.*s\": missing file name", (int) len, spec);
		return -1;
	}
	if (m->count == POLICY_MAPS_MAX) {
		snprintf(err, errlen, "too many tables (at most %d)", POLICY_MAPS_MAX);
		return -1;
	}
	pm = &m->map[m->count];
	if (len >= sizeof(pm->name) || (size_t) (spec + len - colon) + 5 >= sizeof(pm->path)) {
		snprintf(err, errlen, "table \"%.100s...\": name too long", spec);
		return -1;
	}
	snprintf(pm->name, sizeof(pm->name), "lmdb:%.*s", (int) (spec + len - colon - 1), colon + 1);
	snprintf(pm->path, sizeof(pm->path), "%.*s.lmdb", (int) (spec + len - colon - 1), colon + 1);
	pm->table = NULL;
	m->count++;
	return 0;
}

int
policy_maps_open(const char *spec, struct policy_maps **out, char *err, size_t errlen)
{
	struct policy_maps *m;
	const char *cp = spec;
	size_t  len;

	*out = NULL;
	if ((m = calloc(1, sizeof(*m))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (;;) {
		cp += strspn(cp, MAP_SEPARATORS);
		if (*cp == 0)
			break;
		len = strcspn(cp, MAP_SEPARATORS);
		if (add_map(m, cp, len, err, errlen) < 0) {
			policy_maps_close(m);
			return -1;
		}
		cp += len;
	}
	*out = m;
	return 0;
}

void
policy_maps_close(struct policy_maps *m)
{
	if (m == NULL)
		return;
	for (size_t i = 0; i < m->count; i++)
		lmdb_table_close(m->map[i].table);
	free(m);
}

void
policy_result_free(struct policy_result *r)
{
	free(r->value);
	r->value = NULL;
	tls_policy_free(&r->policy);
}

/*
 * The U-label form of KEY when it holds A-labels; 0 when there is none.
 * The domain part is after a leading '.', inside brackets, or before a
 * ":port", as in the source reader.
 */
static int
ulabel_key(const char *key, char *out, size_t outlen)
{
	const char *host = key;
	const char *end;
	gnutls_datum_t u = {NULL, 0};
	int     n;

	if (strstr(key, "xn--") == NULL)
		return 0;
	if (*host == '.' || *host == '[')
		host++;
	end = (key[0] == '[') ? strchr(host, ']') : strchr(host, ':');
	if (end == NULL)
		end = host + strlen(host);
	if (gnutls_idna_reverse_map(host, (unsigned) (end - host), &u, 0) < 0)
		return 0;
	n = snprintf(out, outlen, "%.*s%.*s%s", (int) (host - key), key, (int) u.size,
	    (const char *) u.data, end);
	gnutls_free(u.data);
	if (n < 0 || (size_t) n >= outlen || strcmp(out, key) == 0)
		return 0;
	return 1;
}

/*
 * Look KEY up in every map.  Returns 1 found (result filled), 0 not found,
 * -1 lookup error (err filled).
 */
static int
lookup_key(struct policy_maps *m, const char *key, struct policy_result *result,
    char *err, size_t errlen)
{
	char    detail[512];

	for (size_t i = 0; i < m->count; i++) {
		struct policy_map *pm = &m->map[i];
		int     rc;

		snprintf(result->map, sizeof(result->map), "%s", pm->name);
		snprintf(result->key, sizeof(result->key), "%s", key);
		if (pm->table == NULL
		    && lmdb_table_open(pm->path, &pm->table, detail, sizeof(detail)) < 0) {
			snprintf(err, errlen, "policy table lookup error: %s: %s", pm->name, detail);
			return -1;
		}
		rc = lmdb_table_get(pm->table, key, &result->value, detail, sizeof(detail));
		if (rc < 0) {
			snprintf(err, errlen, "policy table lookup error: %s: %s", pm->name, detail);
			return -1;
		}
		if (rc > 0)
			return 1;
	}
	return 0;
}

enum policy_lookup_status
policy_lookup(struct policy_maps *m, const struct nexthop *nh,
    struct policy_result *result, char *err, size_t errlen)
{
	char    (*keys)[NEXTHOP_KEY_MAX];
	char    ukey[NEXTHOP_KEY_MAX];
	size_t  nkeys;
	int     rc = 0;

	memset(result, 0, sizeof(*result));
	tls_policy_init(&result->policy);
	if (err != NULL && errlen > 0)
		err[0] = 0;
	if ((keys = malloc(POLICY_KEYS_MAX * sizeof(*keys))) == NULL) {
		snprintf(err, errlen, "policy table lookup error: out of memory");
		return POLICY_LOOKUP_ERROR;
	}
	nkeys = nexthop_lookup_keys(nh, keys, POLICY_KEYS_MAX);
	for (size_t i = 0; i < nkeys && rc == 0; i++) {
		rc = lookup_key(m, keys[i], result, err, errlen);
		if (rc == 0 && ulabel_key(keys[i], ukey, sizeof(ukey)))
			rc = lookup_key(m, ukey, result, err, errlen);
	}
	free(keys);
	if (rc < 0)
		return POLICY_LOOKUP_ERROR;
	if (rc == 0) {
		result->map[0] = 0;
		result->key[0] = 0;
		return POLICY_NOT_FOUND;
	}
	if (tls_policy_parse(result->value, &result->policy, err, errlen) < 0)
		return POLICY_INVALID;
	return POLICY_FOUND;
}
