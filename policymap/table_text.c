/*
 * table_text.c - policy tables held in memory: texthash: and inline:.
 *
 * Interface (policymap.h): text_table_read_file() reads a postmap source
 * file (texthash:FILE, read at lookup time, no compile step);
 * text_table_parse_inline() parses the text of inline:{ key=value, ... };
 * text_table_get() looks one key up; text_table_free().
 *
 * texthash: uses table_source_read(), so its syntax and key folding are
 * exactly those of the files that tlsmap compiles.  A duplicate key keeps
 * its first value (postmap's and Postfix's texthash: choice).  Unlike
 * Postfix, which skips a malformed line with a warning, any problem in the
 * file refuses the whole table: the skipped line might be the entry for
 * the very next-hop being delivered to, and skipping it would silently
 * fall back to the default level.
 *
 * inline: follows Postfix's inline_table(5): the text between the outer
 * braces is a list of "key=value" elements separated by commas and/or
 * white space; an element in braces, "{ key = value }", may hold commas
 * and white space (a policy value usually does).  White space around key
 * and value is dropped and keys are folded like source keys.  An empty
 * table, an element without '=' or without a key, unbalanced braces and a
 * key given twice are refused (Postfix keeps the last of two; an
 * ambiguous table is better refused than guessed at).
 *
 * Entries are sorted by key (ties in input order) for a binary search.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policymap.h"

#define INLINE_SEPARATORS ", \t\r\n"

struct text_entry {
	char *key;
	char *value;
	size_t order; /* input position: the first of equal keys wins */
};

struct text_table {
	struct text_entry *entry;
	size_t count;
	size_t cap;
};

/* Collects the first problem of a source read. */
struct read_ctx {
	struct text_table *t;
	const char *path;
	char *err;
	size_t errlen;
	int failed;
};

static int
add_entry(struct text_table *t, const char *key, size_t keylen, const char *value, size_t valuelen)
{
	struct text_entry *e;

	if (t->count == t->cap) {
		size_t ncap = t->cap ? t->cap * 2 : 64;
		struct text_entry *n = realloc(t->entry, ncap * sizeof(*n));

		if (n == NULL)
			return -1;
		t->entry = n;
		t->cap = ncap;
	}
	e = &t->entry[t->count];
	if ((e->key = strndup(key, keylen)) == NULL)
		return -1;
	if ((e->value = strndup(value, valuelen)) == NULL) {
		free(e->key);
		return -1;
	}
	e->order = t->count++;
	return 0;
}

static int
entry_cmp(const void *a, const void *b)
{
	const struct text_entry *x = a;
	const struct text_entry *y = b;
	int c = strcmp(x->key, y->key);

	if (c != 0)
		return c;
	return x->order < y->order ? -1 : (x->order > y->order);
}

/* Sort; drop later duplicates (keep_first) or report the first one. */
static int
finish_table(struct text_table *t, int keep_first, char *dup, size_t duplen)
{
	size_t out = 0;

	if (t->count > 1)
		qsort(t->entry, t->count, sizeof(*t->entry), entry_cmp);
	for (size_t i = 0; i < t->count; i++) {
		if (out > 0 && strcmp(t->entry[out - 1].key, t->entry[i].key) == 0) {
			if (!keep_first) {
				snprintf(dup, duplen, "%s", t->entry[i].key);
				return -1;
			}
			free(t->entry[i].key);
			free(t->entry[i].value);
			continue;
		}
		t->entry[out++] = t->entry[i];
	}
	t->count = out;
	return 0;
}

void
text_table_free(struct text_table *t)
{
	if (t == NULL)
		return;
	for (size_t i = 0; i < t->count; i++) {
		free(t->entry[i].key);
		free(t->entry[i].value);
	}
	free(t->entry);
	free(t);
}

static int
on_entry(const struct table_entry *e, void *ctx)
{
	struct read_ctx *rc = ctx;

	if (add_entry(rc->t, e->key, strlen(e->key), e->value, strlen(e->value)) < 0) {
		snprintf(rc->err, rc->errlen, "%s: out of memory", rc->path);
		rc->failed = 1;
		return 1;
	}
	return 0;
}

static void
on_problem(unsigned line, const char *message, void *ctx)
{
	struct read_ctx *rc = ctx;

	if (rc->failed)
		return;
	snprintf(rc->err, rc->errlen, "%s:%u: %s", rc->path, line, message);
	rc->failed = 1;
}

int
text_table_read_file(const char *path, struct text_table **out, char *err, size_t errlen)
{
	struct read_ctx rc;
	struct text_table *t;
	FILE *fp;
	int rd;

	*out = NULL;
	if ((fp = fopen(path, "re")) == NULL) {
		snprintf(err, errlen, "open %s: %s", path, strerror(errno));
		return -1;
	}
	if ((t = calloc(1, sizeof(*t))) == NULL) {
		fclose(fp);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	memset(&rc, 0, sizeof(rc));
	rc.t = t;
	rc.path = path;
	rc.err = err;
	rc.errlen = errlen;
	rd = table_source_read(fp, TABLE_SOURCE_FOLD, on_entry, on_problem, &rc);
	if (rd < 0 && !rc.failed)
		snprintf(err, errlen, "read %s: %s", path, strerror(errno));
	fclose(fp);
	if (rd < 0 || rc.failed || finish_table(t, 1, NULL, 0) < 0) {
		text_table_free(t);
		return -1;
	}
	*out = t;
	return 0;
}

/* Trimmed [start, end) of a string, as pointer and length. */
static void
trim(const char **start, size_t *len)
{
	while (*len > 0 && strchr(" \t\r\n", **start) != NULL) {
		(*start)++;
		(*len)--;
	}
	while (*len > 0 && strchr(" \t\r\n", (*start)[*len - 1]) != NULL)
		(*len)--;
}

/*
 * Length of the element at cp: up to the next separator outside braces.
 * Returns 0 (and sets err) on an unbalanced brace.
 */
static size_t
element_length(const char *cp, size_t left, char *err, size_t errlen)
{
	int depth = 0;
	size_t i;

	for (i = 0; i < left; i++) {
		if (cp[i] == '{')
			depth++;
		else if (cp[i] == '}' && --depth < 0)
			break;
		else if (depth == 0 && strchr(INLINE_SEPARATORS, cp[i]) != NULL)
			return i;
	}
	if (depth != 0) {
		snprintf(err, errlen, "unbalanced '{' or '}' in \"%.*s\"",
		    (int)(i < left ? i + 1 : left), cp);
		return 0;
	}
	return i;
}

/* One "key=value" or "{ key = value }" element into t. */
static int
add_inline_element(struct text_table *t, const char *el, size_t len, char *err, size_t errlen)
{
	const char *eq;
	const char *key;
	const char *value;
	size_t keylen;
	size_t valuelen;
	char raw[NEXTHOP_KEY_MAX];
	char folded[NEXTHOP_KEY_MAX];
	char why[512];

	if (el[0] == '{') {
		if (len < 2 || el[len - 1] != '}') {
			snprintf(err, errlen, "syntax error after '}' in \"%.*s\"", (int)len, el);
			return -1;
		}
		el++;
		len -= 2;
	}
	if ((eq = memchr(el, '=', len)) == NULL) {
		snprintf(err, errlen, "missing '=' after attribute name in \"%.*s\"", (int)len, el);
		return -1;
	}
	key = el;
	keylen = (size_t)(eq - el);
	value = eq + 1;
	valuelen = len - keylen - 1;
	trim(&key, &keylen);
	trim(&value, &valuelen);
	if (keylen == 0) {
		snprintf(err, errlen, "missing attribute name in \"%.*s\"", (int)len, el);
		return -1;
	}
	if (keylen >= sizeof(raw)) {
		snprintf(err, errlen, "key \"%.100s...\" is too long", key);
		return -1;
	}
	memcpy(raw, key, keylen);
	raw[keylen] = 0;
	if (table_source_fold_key(raw, TABLE_SOURCE_FOLD, folded, sizeof(folded), why, sizeof(why))
	    < 0) {
		snprintf(err, errlen, "%s", why);
		return -1;
	}
	if (add_entry(t, folded, strlen(folded), value, valuelen) < 0) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	return 0;
}

int
text_table_parse_inline(const char *text, struct text_table **out, char *err, size_t errlen)
{
	struct text_table *t;
	size_t len = strlen(text);
	size_t pos = 1;
	char dup[NEXTHOP_KEY_MAX];

	*out = NULL;
	if (len < 2 || text[0] != '{' || text[len - 1] != '}') {
		snprintf(err, errlen,
		    "bad syntax: \"inline:%.200s\"; need \"inline:{name=value...}\"", text);
		return -1;
	}
	if ((t = calloc(1, sizeof(*t))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	len--; /* the closing brace */
	while (pos < len) {
		size_t el;

		pos += strspn(text + pos, INLINE_SEPARATORS);
		if (pos >= len)
			break;
		el = element_length(text + pos, len - pos, err, errlen);
		if (el == 0 || add_inline_element(t, text + pos, el, err, errlen) < 0) {
			if (el == 0 && err[0] == 0)
				snprintf(err, errlen, "syntax error in \"inline:%.200s\"", text);
			text_table_free(t);
			return -1;
		}
		pos += el;
	}
	if (t->count == 0) {
		snprintf(err, errlen, "empty table");
		text_table_free(t);
		return -1;
	}
	if (finish_table(t, 0, dup, sizeof(dup)) < 0) {
		snprintf(err, errlen, "duplicate key \"%s\"", dup);
		text_table_free(t);
		return -1;
	}
	*out = t;
	return 0;
}

int
text_table_get(const struct text_table *t, const char *key, char **value)
{
	size_t lo = 0;
	size_t hi = t->count;

	*value = NULL;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(key, t->entry[mid].key);

		if (c == 0) {
			if ((*value = strdup(t->entry[mid].value)) == NULL)
				return -1;
			return 1;
		}
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return 0;
}
