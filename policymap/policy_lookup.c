/*
 * policy_lookup.c - find the TLS policy for a next-hop across several maps.
 *
 * policy_maps_open_with() also takes the map types that the caller serves
 * (the agent's socketmap:, which needs sockets this library never opens).
 *
 * Map types: lmdb:FILE (FILE.lmdb, Postfix's format), texthash:FILE (the
 * source itself, read at lookup time), inline:{key=value, ...},
 * static:VALUE (every key), and the caller's.  Tables Postfix compiles to
 * other formats (hash:, btree:, cdb:, dbm:, sdbm:) are refused with the
 * fix: compile the same source with tlsmap and name it lmdb:.  The list is
 * split as Postfix splits it: commas and/or white space, except inside
 * braces.
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
 * A trace (policy_maps_set_trace) sees every map asked for every key, in
 * order, with its answer: what tlspolicy explain shows.
 *
 * File maps are opened (texthash: read) on first use and kept; a map that
 * failed to open is tried again at the next lookup.  inline: and static:
 * are parsed, and the caller's maps opened, by policy_maps_open: a syntax
 * error there is a configuration error before any lookup.
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

#define POLICY_MAPS_MAX	    32
#define POLICY_KEYS_MAX	    130 /* a domain has at most 127 labels */
#define POLICY_BACKENDS_MAX 4
#define MAP_SEPARATORS	    ", \t\r\n"

enum map_kind {
	MAP_LMDB,     /* lmdb:FILE -> FILE.lmdb, opened on first use */
	MAP_TEXTHASH, /* texthash:FILE, read on first use */
	MAP_INLINE,   /* inline:{...}, parsed at open */
	MAP_STATIC,   /* static:VALUE, the value for every key */
	MAP_BACKEND   /* a type served by the caller (socketmap:) */
};

struct policy_map {
	enum map_kind kind;
	char *name;		 /* as written: "lmdb:/etc/postfix/tls_policy" */
	char *arg;		 /* the text after "type:" (owned) */
	char path[1024];	 /* lmdb: "FILE.lmdb"; texthash: "FILE" */
	struct lmdb_table *lmdb; /* NULL until opened */
	struct text_table *text; /* texthash: NULL until read; inline */
	const struct policy_map_backend *backend;
	void *handle; /* the backend's */
};

struct policy_maps {
	struct policy_map map[POLICY_MAPS_MAX];
	size_t count;
	struct policy_map_backend backend[POLICY_BACKENDS_MAX];
	size_t nbackends;
	policy_trace_fn trace; /* policy_maps_set_trace(); NULL: none */
	void *trace_ctx;
};

/* Berkeley DB, cdb and dbm tables: the same source compiles to lmdb:. */
static const char *const compiled_types[] = { "hash", "btree", "cdb", "dbm", "sdbm" };

static int
type_is(const char *type, size_t len, const char *name)
{
	return strlen(name) == len && strncasecmp(type, name, len) == 0;
}

/*
 * The reason a type cannot be used, with the fix where there is one
 * (the admin has the source file: tlsmap compiles it).
 */
static void
unsupported_type(const char *spec, size_t len, size_t typelen, char *err, size_t errlen)
{
	const char *rest = spec + typelen + 1;
	int restlen = (int)(len - typelen - 1);

	for (size_t i = 0; i < sizeof(compiled_types) / sizeof(compiled_types[0]); i++) {
		if (type_is(spec, typelen, compiled_types[i])) {
			snprintf(err, errlen,
			    "unsupported table type \"%.*s\" in \"%.*s\": "
			    "compile it with \"tlsmap lmdb:%.*s\" and write \"lmdb:%.*s\"",
			    (int)typelen, spec, (int)len, spec, restlen, rest, restlen, rest);
			return;
		}
	}
	if (type_is(spec, typelen, "proxy")) {
		snprintf(err, errlen,
		    "unsupported table type \"proxy\" in \"%.*s\": "
		    "name the table itself (\"%.*s\")",
		    (int)len, spec, restlen, rest);
		return;
	}
	snprintf(err, errlen,
	    "unsupported table type \"%.*s\" in \"%.*s\" "
	    "(supported: lmdb, texthash, inline, static, socketmap)",
	    (int)typelen, spec, (int)len, spec);
}

static const struct policy_map_backend *
find_backend(const struct policy_maps *m, const char *type, size_t len)
{
	for (size_t i = 0; i < m->nbackends; i++)
		if (type_is(type, len, m->backend[i].type))
			return &m->backend[i];
	return NULL;
}

/* The kind of the map and its file, or -1 with the reason. */
static int
set_kind(struct policy_maps *m, struct policy_map *pm, const char *spec, size_t len, size_t typelen,
    char *err, size_t errlen)
{
	const char *arg = spec + typelen + 1;
	size_t arglen = len - typelen - 1;

	if (type_is(spec, typelen, "lmdb") || type_is(spec, typelen, "texthash")) {
		pm->kind = type_is(spec, typelen, "lmdb") ? MAP_LMDB : MAP_TEXTHASH;
		if (arglen == 0) {
			snprintf(err, errlen, "table \"%.*s\": missing file name", (int)len, spec);
			return -1;
		}
		if (arglen + 5 >= sizeof(pm->path)) {
			snprintf(err, errlen, "table \"%.100s...\": name too long", spec);
			return -1;
		}
		snprintf(pm->path, sizeof(pm->path), "%.*s%s", (int)arglen, arg,
		    pm->kind == MAP_LMDB ? ".lmdb" : "");
		return 0;
	}
	if (type_is(spec, typelen, "inline")) {
		pm->kind = MAP_INLINE;
		return 0;
	}
	if (type_is(spec, typelen, "static")) {
		pm->kind = MAP_STATIC;
		return 0;
	}
	if ((pm->backend = find_backend(m, spec, typelen)) != NULL) {
		pm->kind = MAP_BACKEND;
		return 0;
	}
	unsupported_type(spec, len, typelen, err, errlen);
	return -1;
}

/*
 * static:VALUE, or static:{VALUE} when the value holds commas or white
 * space (Postfix 3.2 and later): the braces and the white space inside
 * them go.
 */
static char *
static_value(const char *arg)
{
	size_t len = strlen(arg);

	if (len >= 2 && arg[0] == '{' && arg[len - 1] == '}') {
		arg++;
		len -= 2;
		while (len > 0 && strchr(" \t\r\n", *arg) != NULL) {
			arg++;
			len--;
		}
		while (len > 0 && strchr(" \t\r\n", arg[len - 1]) != NULL)
			len--;
	}
	return strndup(arg, len);
}

/* Work that needs only the text: inline: and static: are ready at open. */
static int
prepare_map(struct policy_map *pm, char *err, size_t errlen)
{
	char detail[512];

	switch (pm->kind) {
	case MAP_INLINE:
		if (text_table_parse_inline(pm->arg, &pm->text, detail, sizeof(detail)) < 0) {
			snprintf(err, errlen, "table \"%.200s\": %s", pm->name, detail);
			return -1;
		}
		return 0;
	case MAP_BACKEND:
		if (pm->backend->open(pm->arg, pm->backend->ctx, &pm->handle, detail,
			sizeof(detail))
		    < 0) {
			snprintf(err, errlen, "table \"%.200s\": %s", pm->name, detail);
			return -1;
		}
		return 0;
	default:
		return 0;
	}
}

static int
add_map(struct policy_maps *m, const char *spec, size_t len, char *err, size_t errlen)
{
	struct policy_map *pm;
	const char *colon = memchr(spec, ':', len);

	if (colon == NULL) {
		snprintf(err, errlen, "table \"%.*s\": missing \"type:\" (expected lmdb:/path)",
		    (int)len, spec);
		return -1;
	}
	if (m->count == POLICY_MAPS_MAX) {
		snprintf(err, errlen, "too many tables (at most %d)", POLICY_MAPS_MAX);
		return -1;
	}
	pm = &m->map[m->count];
	memset(pm, 0, sizeof(*pm));
	if (set_kind(m, pm, spec, len, (size_t)(colon - spec), err, errlen) < 0)
		return -1;
	if ((pm->name = strndup(spec, len)) == NULL
	    || (pm->arg = strndup(colon + 1, (size_t)(spec + len - colon - 1))) == NULL) {
		free(pm->name);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	m->count++;
	if (pm->kind == MAP_STATIC) {
		char *v = static_value(pm->arg);

		if (v == NULL) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		free(pm->arg);
		pm->arg = v;
	}
	return prepare_map(pm, err, errlen);
}

size_t
policy_list_element_length(const char *cp)
{
	int depth = 0;
	size_t i;

	for (i = 0; cp[i] != 0; i++) {
		if (cp[i] == '{')
			depth++;
		else if (cp[i] == '}' && depth > 0)
			depth--;
		else if (depth == 0 && strchr(MAP_SEPARATORS, cp[i]) != NULL)
			break;
	}
	return i;
}

int
policy_maps_open_with(const char *spec, const struct policy_map_backend *backends, size_t nbackends,
    struct policy_maps **out, char *err, size_t errlen)
{
	struct policy_maps *m;
	const char *cp = spec;
	size_t len;

	*out = NULL;
	if (nbackends > POLICY_BACKENDS_MAX) {
		snprintf(err, errlen, "too many table types");
		return -1;
	}
	if ((m = calloc(1, sizeof(*m))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (size_t i = 0; i < nbackends; i++)
		m->backend[i] = backends[i];
	m->nbackends = nbackends;
	for (;;) {
		cp += strspn(cp, MAP_SEPARATORS);
		if (*cp == 0)
			break;
		len = policy_list_element_length(cp);
		if (add_map(m, cp, len, err, errlen) < 0) {
			policy_maps_close(m);
			return -1;
		}
		cp += len;
	}
	*out = m;
	return 0;
}

int
policy_maps_open(const char *spec, struct policy_maps **out, char *err, size_t errlen)
{
	return policy_maps_open_with(spec, NULL, 0, out, err, errlen);
}

void
policy_maps_close(struct policy_maps *m)
{
	if (m == NULL)
		return;
	for (size_t i = 0; i < m->count; i++) {
		struct policy_map *pm = &m->map[i];

		lmdb_table_close(pm->lmdb);
		text_table_free(pm->text);
		if (pm->handle != NULL)
			pm->backend->close(pm->handle);
		free(pm->name);
		free(pm->arg);
	}
	free(m);
}

void
policy_maps_set_trace(struct policy_maps *m, policy_trace_fn fn, void *ctx)
{
	m->trace = fn;
	m->trace_ctx = ctx;
}

int
policy_map_source(const char *map, char *out, size_t outlen)
{
	const char *colon = strchr(map, ':');
	size_t typelen;

	if (colon == NULL || colon[1] == 0)
		return 0;
	typelen = (size_t)(colon - map);
	if (!type_is(map, typelen, "lmdb") && !type_is(map, typelen, "texthash"))
		return 0;
	if ((size_t)snprintf(out, outlen, "%s", colon + 1) >= outlen)
		return 0;
	return 1;
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
	gnutls_datum_t u = { NULL, 0 };
	int n;

	if (strstr(key, "xn--") == NULL)
		return 0;
	if (*host == '.' || *host == '[')
		host++;
	end = (key[0] == '[') ? strchr(host, ']') : strchr(host, ':');
	if (end == NULL)
		end = host + strlen(host);
	if (gnutls_idna_reverse_map(host, (unsigned)(end - host), &u, 0) < 0)
		return 0;
	n = snprintf(out, outlen, "%.*s%.*s%s", (int)(host - key), key, (int)u.size,
	    (const char *)u.data, end);
	gnutls_free(u.data);
	if (n < 0 || (size_t)n >= outlen || strcmp(out, key) == 0)
		return 0;
	return 1;
}

/*
 * One map, one key.  Returns 1 found (*value malloc'ed), 0 not found, -1
 * error (detail filled).  A file that cannot be opened or read is tried
 * again at the next lookup.
 */
static int
map_get(struct policy_map *pm, const char *key, char **value, char *detail, size_t len)
{
	*value = NULL;
	switch (pm->kind) {
	case MAP_LMDB:
		if (pm->lmdb == NULL && lmdb_table_open(pm->path, &pm->lmdb, detail, len) < 0)
			return -1;
		return lmdb_table_get(pm->lmdb, key, value, detail, len);
	case MAP_TEXTHASH:
		if (pm->text == NULL && text_table_read_file(pm->path, &pm->text, detail, len) < 0)
			return -1;
		/* FALLTHROUGH */
	case MAP_INLINE:
		if (text_table_get(pm->text, key, value) < 0) {
			snprintf(detail, len, "out of memory");
			return -1;
		}
		return *value != NULL;
	case MAP_STATIC:
		if ((*value = strdup(pm->arg)) == NULL) {
			snprintf(detail, len, "out of memory");
			return -1;
		}
		return 1;
	case MAP_BACKEND:
		return pm->backend->lookup(pm->handle, key, value, detail, len);
	}
	snprintf(detail, len, "internal error: unknown map kind");
	return -1;
}

int
policy_maps_find(struct policy_maps *m, const char *key, char **value, const char **map, char *err,
    size_t errlen)
{
	char detail[512];

	*value = NULL;
	for (size_t i = 0; i < m->count; i++) {
		struct policy_map *pm = &m->map[i];
		int rc;

		*map = pm->name;
		detail[0] = 0;
		rc = map_get(pm, key, value, detail, sizeof(detail));
		if (m->trace != NULL)
			m->trace(pm->name, key, rc,
			    rc > 0	 ? *value
				: rc < 0 ? detail
					 : NULL,
			    m->trace_ctx);
		if (rc < 0) {
			snprintf(err, errlen, "%.300s: %s", pm->name, detail);
			return -1;
		}
		if (rc > 0)
			return 1;
	}
	*map = NULL;
	return 0;
}

/*
 * Look KEY up in every map.  Returns 1 found (result filled), 0 not found,
 * -1 lookup error (err filled).
 */
static int
lookup_key(struct policy_maps *m, const char *key, struct policy_result *result, char *err,
    size_t errlen)
{
	char detail[1024];
	const char *map = NULL;
	int rc;

	snprintf(result->key, sizeof(result->key), "%s", key);
	rc = policy_maps_find(m, key, &result->value, &map, detail, sizeof(detail));
	if (map != NULL)
		snprintf(result->map, sizeof(result->map), "%s", map);
	if (rc < 0)
		snprintf(err, errlen, "policy table lookup error: %s", detail);
	return rc;
}

enum policy_lookup_status
policy_lookup(struct policy_maps *m, const struct nexthop *nh, struct policy_result *result,
    char *err, size_t errlen)
{
	char(*keys)[NEXTHOP_KEY_MAX];
	char ukey[NEXTHOP_KEY_MAX];
	size_t nkeys;
	int rc = 0;

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
