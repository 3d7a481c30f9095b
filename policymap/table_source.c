/*
 * table_source.c - read a postmap(1)-style source table.
 *
 * Logical lines follow postmap: blank lines and lines whose first
 * non-blank character is '#' are dropped wherever they appear; a line that
 * starts with whitespace continues the previous logical line (the newline
 * goes, the leading whitespace stays).  The key is the first token, where
 * double quotes and backslashes protect whitespace and are kept as part of
 * the key; the value is the rest, trimmed.  A trailing CR is trimmed like
 * any other whitespace; a CR in the middle of a continued value stays, as
 * postmap stores it (it is a token separator for the policy parser).
 *
 * Differences from postmap, all deliberate: every problem is reported to
 * the caller (who refuses the table), logical lines longer than
 * TABLE_SOURCE_LINE_MAX are refused instead of growing without bound, a
 * NUL byte is refused, and a non-ASCII domain key is converted to its
 * IDNA A-label form (lower case) instead of being UTF-8 case-folded.
 *
 * Interface: policymap.h.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gnutls/gnutls.h>

/* policymap */
#include "policymap.h"

#define TABLE_SOURCE_LINE_MAX 65536	/* bytes per logical line; see line_problem() */
#define SOURCE_SPACE	      " \t\r\n" /* postmap's key/value separators */

struct source_reader {
	FILE *fp;
	char *buf; /* the logical line being assembled */
	size_t len;
	size_t cap;
	unsigned lineno;     /* physical lines read so far */
	unsigned first_line; /* where the current logical line starts */
	int too_long;	     /* text was dropped from the logical line */
	int has_nul;	     /* a NUL byte was seen in the logical line */
};

/* Postfix's ISSPACE: ASCII white space only. */
static int
is_space(int ch)
{
	return (ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == '\v' || ch == '\f');
}

static int
append_byte(struct source_reader *r, int ch)
{
	char *nbuf;
	size_t ncap;

	if (r->len >= TABLE_SOURCE_LINE_MAX) {
		r->too_long = 1;
		return 0;
	}
	if (r->len + 1 >= r->cap) {
		ncap = r->cap ? r->cap * 2 : 256;
		if (ncap > TABLE_SOURCE_LINE_MAX + 1)
			ncap = TABLE_SOURCE_LINE_MAX + 1;
		if ((nbuf = realloc(r->buf, ncap)) == NULL)
			return -1;
		r->buf = nbuf;
		r->cap = ncap;
	}
	r->buf[r->len++] = (char)ch;
	return 0;
}

/*
 * Read one physical line and append it to the logical line.  Returns the
 * character that ended it ('\n' or EOF), or -2 when memory runs out.
 * *kind is set to 0 for content, 1 for a blank or comment line.
 */
static int
read_physical(struct source_reader *r, int *kind)
{
	size_t start = r->len;
	int too_long = r->too_long;
	int has_nul = r->has_nul;
	int first = -1;
	int any = 0;
	int ch;

	while ((ch = getc_unlocked(r->fp)) != EOF && ch != '\n') {
		any = 1;
		if (first < 0 && !is_space(ch))
			first = ch;
		if (ch == 0)
			r->has_nul = 1;
		if (append_byte(r, ch) < 0)
			return -2;
	}
	if (ch == '\n' || any)
		r->lineno++;
	if (first < 0 || first == '#') {
		/* Dropped lines must not taint the logical line. */
		r->len = start;
		r->too_long = too_long;
		r->has_nul = has_nul;
		*kind = 1;
	} else {
		if (start == 0)
			r->first_line = r->lineno;
		*kind = 0;
	}
	return ch;
}

/*
 * Assemble the next logical line.  Returns 1 with r->buf holding it
 * (NUL-terminated), 0 at end of input, -1 on an I/O or memory error.
 */
static int
read_logical(struct source_reader *r)
{
	int ch;
	int next;
	int kind;

	r->len = 0;
	r->too_long = 0;
	r->has_nul = 0;
	r->first_line = 0;
	for (;;) {
		if ((ch = read_physical(r, &kind)) == -2)
			return -1;
		if (ch == EOF)
			break;
		if (r->len > 0) {
			next = getc_unlocked(r->fp);
			if (next != EOF)
				ungetc(next, r->fp);
			if (next != '#' && !is_space(next))
				break;
		}
	}
	if (ferror(r->fp))
		return -1;
	if (r->len == 0)
		return 0;
	if (append_byte(r, 0) < 0)
		return -1;
	r->len--;
	r->buf[r->len] = 0;
	return 1;
}

/* Strict UTF-8: no overlong forms, no surrogates, nothing past U+10FFFF. */
static int
valid_utf8(const unsigned char *s, size_t len)
{
	size_t i = 0;

	while (i < len) {
		unsigned c = s[i];
		unsigned need;
		unsigned cp;

		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			need = 1;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			need = 2;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			need = 3;
			cp = c & 0x07;
		} else {
			return 0;
		}
		if (len - i <= need)
			return 0;
		for (unsigned k = 1; k <= need; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return 0;
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		if ((need == 2 && cp < 0x800) || (need == 3 && (cp < 0x10000 || cp > 0x10ffff))
		    || (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		i += need + 1;
	}
	return 1;
}

static int
all_ascii(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] & 0x80)
			return 0;
	return 1;
}

static void
fold_ascii(char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (s[i] >= 'A' && s[i] <= 'Z')
			s[i] = (char)(s[i] - 'A' + 'a');
}

/* Append len bytes to out; -1 when out is full. */
static int
put_bytes(char *out, size_t outlen, size_t *pos, const char *s, size_t len)
{
	if (*pos + len >= outlen)
		return -1;
	memcpy(out + *pos, s, len);
	*pos += len;
	out[*pos] = 0;
	return 0;
}

/*
 * Convert the host part of a key to A-labels.  Which part is the host:
 * after a leading '.', inside "[...]", or before a ":port".  Quoted keys
 * are not domains and are left alone.
 */
static int
fold_idn_key(const char *key, char *out, size_t outlen, char *err, size_t errlen)
{
	const char *host = key;
	const char *end;
	size_t pos = 0;
	gnutls_datum_t alabel = { NULL, 0 };
	int rc;

	out[0] = 0;
	if (*host == '.' || *host == '[')
		host++;
	if (key[0] == '[')
		end = strchr(host, ']');
	else
		end = strchr(host, ':');
	if (end == NULL)
		end = host + strlen(host);
	if (host == end) {
		snprintf(err, errlen, "invalid internationalized domain name in key \"%s\"", key);
		return -1;
	}
	rc = gnutls_idna_map(host, (unsigned)(end - host), &alabel, 0);
	if (rc < 0) {
		snprintf(err, errlen, "invalid internationalized domain name in key \"%s\": %s",
		    key, gnutls_strerror(rc));
		return -1;
	}
	rc = put_bytes(out, outlen, &pos, key, (size_t)(host - key));
	if (rc == 0)
		rc = put_bytes(out, outlen, &pos, (const char *)alabel.data, alabel.size);
	if (rc == 0)
		rc = put_bytes(out, outlen, &pos, end, strlen(end));
	gnutls_free(alabel.data);
	if (rc < 0) {
		snprintf(err, errlen, "key \"%s\" is too long", key);
		return -1;
	}
	return 0;
}

int
table_source_fold_key(const char *key, unsigned flags, char *out, size_t outlen, char *err,
    size_t errlen)
{
	size_t len = strlen(key);

	if (outlen == 0)
		return -1;
	if (all_ascii(key, len) || key[0] == '"') {
		if (len >= outlen) {
			snprintf(err, errlen, "key \"%.100s...\" is too long", key);
			return -1;
		}
		memcpy(out, key, len + 1);
	} else if (fold_idn_key(key, out, outlen, err, errlen) < 0) {
		return -1;
	}
	if (flags & TABLE_SOURCE_FOLD)
		fold_ascii(out, strlen(out));
	return 0;
}

/*
 * Find the end of the key: the first white space outside double quotes;
 * a backslash protects the next character.  Returns NULL when a quote is
 * left open.
 */
static char *
key_end(char *line)
{
	int in_quotes = 0;
	char *cp;

	for (cp = line; *cp != 0; cp++) {
		if (*cp == '\\') {
			if (cp[1] == 0)
				break;
			cp++;
		} else if (*cp == '"') {
			in_quotes = !in_quotes;
		} else if (!in_quotes && strchr(SOURCE_SPACE, *cp) != NULL) {
			return cp;
		}
	}
	return in_quotes ? NULL : cp;
}

static void diag(table_diag_cb, void *, unsigned, const char *, ...)
    __attribute__((format(printf, 4, 5)));

static void
diag(table_diag_cb diag_cb, void *ctx, unsigned line, const char *fmt, ...)
{
	char msg[768];
	va_list ap;

	if (diag_cb == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	diag_cb(line, msg, ctx);
}

/* Show at most 60 bytes of a line in a message, with a marker when cut. */
static void
excerpt(const char *line, char *out, size_t outlen)
{
	size_t len = strlen(line);
	size_t i;
	size_t o = 0;

	for (i = 0; i < len && i < 60 && o + 2 < outlen; i++) {
		unsigned char c = (unsigned char)line[i];

		out[o++] = (c < 0x20 || c >= 0x7f) ? '?' : (char)c;
	}
	out[o] = 0;
	if (i < len && o + 4 < outlen)
		memcpy(out + o, "...", 4);
}

/* Why a logical line cannot be used at all; NULL when it can. */
static const char *
line_problem(const struct source_reader *r)
{
	if (r->too_long)
		return "logical line longer than 65536 bytes";
	if (r->has_nul)
		return "NUL character in input";
	if (!valid_utf8((const unsigned char *)r->buf, r->len))
		return "non-UTF-8 input";
	return NULL;
}

/*
 * Split and check one logical line, then hand it on.  Returns the entry
 * callback's result, or 0 when the line was refused.
 */
static int
handle_line(struct source_reader *r, unsigned flags, table_entry_cb entry_cb, table_diag_cb diag_cb,
    void *ctx)
{
	char shown[80];
	char key[NEXTHOP_KEY_MAX];
	char err[512];
	char *line = r->buf;
	char *end;
	char *value;
	const char *problem;
	struct table_entry entry;

	if ((problem = line_problem(r)) != NULL) {
		excerpt(line, shown, sizeof(shown));
		diag(diag_cb, ctx, r->first_line, "%s \"%s\" -- ignoring this line", problem,
		    shown);
		return 0;
	}
	if ((end = key_end(line)) == NULL) {
		excerpt(line, shown, sizeof(shown));
		diag(diag_cb, ctx, r->first_line, "unbalanced '\"' in '%s' -- ignoring this line",
		    shown);
		return 0;
	}
	value = end;
	if (*value != 0)
		*value++ = 0;
	while (is_space((unsigned char)*value))
		value++;
	for (end = value + strlen(value); end > value && is_space((unsigned char)end[-1]); end--)
		/* void */;
	*end = 0;
	if (*line == 0 || *value == 0) {
		diag(diag_cb, ctx, r->first_line, "expected format: key whitespace value");
		return 0;
	}
	if (table_source_fold_key(line, flags, key, sizeof(key), err, sizeof(err)) < 0) {
		diag(diag_cb, ctx, r->first_line, "%s", err);
		return 0;
	}
	entry.key = key;
	entry.value = value;
	entry.line = r->first_line;
	return entry_cb(&entry, ctx);
}

int
table_source_read(FILE *fp, unsigned flags, table_entry_cb entry_cb, table_diag_cb diag_cb,
    void *ctx)
{
	struct source_reader r;
	char shown[80];
	int rc;

	memset(&r, 0, sizeof(r));
	r.fp = fp;
	while ((rc = read_logical(&r)) > 0) {
		if (is_space((unsigned char)r.buf[0])) {
			excerpt(r.buf, shown, sizeof(shown));
			diag(diag_cb, ctx, r.first_line,
			    "logical line must not start with whitespace: \"%s\"", shown);
			continue;
		}
		if (handle_line(&r, flags, entry_cb, diag_cb, ctx) != 0)
			break;
	}
	free(r.buf);
	return rc < 0 ? -1 : 0;
}
