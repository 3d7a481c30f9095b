/*
 * sts_policy.c - MTA-STS (RFC 8461) text: the _mta-sts TXT record, the
 * policy file, and the matching of MX host names against its patterns.
 *
 * TXT (section 3.1): "v=STSv1" first, then ";"-separated key=value
 * fields; id is 1-32 letters and digits; an unknown field is ignored; a
 * repeated field keeps its first value.  The caller joins the strings of
 * one record (no space) and drops records not starting with "v=STSv1;"
 * before asking here (sts_txt_is_sts()); more than one left is no policy.
 *
 * Policy (section 3.2): "key: value" lines ending in LF or CRLF (erratum
 * 6253); version STSv1, mode and max_age are required, mx at least once
 * unless mode is none; max_age is at most 31557600; unknown keys are
 * ignored; a repeated non-mx key keeps its first value.  A pattern is
 * ["*."] host name.  Anything else refuses the whole policy: a policy
 * read wrongly could allow the wrong servers.
 *
 * Matching (section 4.1, RFC 6125): case-insensitive, a trailing dot of
 * the host ignored, "*." standing for exactly one left-most label.
 *
 * Interface: policymap.h (sts_txt_parse, sts_policy_parse, sts_mx_match,
 * sts_policy_allows).  Knows nothing of DNS, HTTP or the cache.
 */
#include "config.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* policymap */
#include "policymap.h"

static int
is_wsp(int c)
{
	return c == ' ' || c == '\t';
}

int
sts_txt_is_sts(const char *txt, size_t len)
{
	return len >= 8 && memcmp(txt, "v=STSv1;", 8) == 0;
}

/* [p, end) without leading and trailing white space. */
static void
trim(const char **p, const char **end)
{
	while (*p < *end && is_wsp((unsigned char)**p))
		(*p)++;
	while (*end > *p && is_wsp((unsigned char)(*end)[-1]))
		(*end)--;
}

static int
ext_name_ok(const char *p, size_t n)
{
	if (n < 1 || n > 32 || !isalnum((unsigned char)p[0]))
		return 0;
	for (size_t i = 1; i < n; i++)
		if (!isalnum((unsigned char)p[i]) && p[i] != '_' && p[i] != '-' && p[i] != '.')
			return 0;
	return 1;
}

static int
ext_value_ok(const char *p, size_t n)
{
	if (n < 1)
		return 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];
		if (c < 0x21 || c > 0x7e || c == '=' || c == ';')
			return 0;
	}
	return 1;
}

int
sts_txt_parse(const char *txt, size_t len, char id[STS_ID_MAX + 1], char *err, size_t errlen)
{
	const char *p = txt, *end = txt + len;
	int first = 1, have_id = 0;

	id[0] = '\0';
	while (p < end) {
		const char *f = p, *fe = memchr(p, ';', (size_t)(end - p)), *eq;
		if (fe == NULL)
			fe = end;
		p = fe < end ? fe + 1 : end;
		trim(&f, &fe);
		if (f == fe && !first && p >= end)
			break; /* a trailing ";" */
		if ((eq = memchr(f, '=', (size_t)(fe - f))) == NULL) {
			snprintf(err, errlen, "malformed field in TXT record");
			return -1;
		}
		if (!ext_name_ok(f, (size_t)(eq - f))
		    || !ext_value_ok(eq + 1, (size_t)(fe - eq - 1))) {
			snprintf(err, errlen, "malformed field in TXT record");
			return -1;
		}
		if (first) {
			if (eq - f != 1 || f[0] != 'v' || fe - eq - 1 != 5
			    || memcmp(eq + 1, "STSv1", 5) != 0) {
				snprintf(err, errlen, "TXT record does not begin with v=STSv1");
				return -1;
			}
			first = 0;
			continue;
		}
		if (eq - f == 2 && memcmp(f, "id", 2) == 0 && !have_id) {
			size_t n = (size_t)(fe - eq - 1);
			if (n < 1 || n > STS_ID_MAX) {
				snprintf(err, errlen, "bad id in TXT record");
				return -1;
			}
			for (size_t i = 0; i < n; i++)
				if (!isalnum((unsigned char)eq[1 + i])) {
					snprintf(err, errlen, "bad id in TXT record");
					return -1;
				}
			memcpy(id, eq + 1, n);
			id[n] = '\0';
			have_id = 1;
		}
	}
	if (first) {
		snprintf(err, errlen, "TXT record does not begin with v=STSv1");
		return -1;
	}
	if (!have_id) {
		snprintf(err, errlen, "TXT record has no id");
		return -1;
	}
	return 0;
}

/* A host name (letters, digits, '-', '_'; labels 1-63; at most 253). */
static int
host_ok(const char *p, size_t n)
{
	size_t label = 0;

	if (n == 0 || n > 253)
		return 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];
		if (c == '.') {
			if (label == 0)
				return 0;
			label = 0;
			continue;
		}
		if (!isalnum(c) && c != '-' && c != '_')
			return 0;
		if (++label > 63)
			return 0;
	}
	return label > 0;
}

static int
pattern_ok(const char *p, size_t n)
{
	if (n >= 2 && p[0] == '*' && p[1] == '.')
		return host_ok(p + 2, n - 2);
	return host_ok(p, n);
}

static int
key_is(const char *k, size_t kn, const char *want)
{
	return kn == strlen(want) && memcmp(k, want, kn) == 0;
}

static int
fail(char *err, size_t errlen, const char *why, unsigned line)
{
	snprintf(err, errlen, "%s (line %u)", why, line);
	return -1;
}

/* One "key: value" line; *seen records the first-wins keys. */
static int
policy_line(const char *k, size_t kn, const char *v, size_t vn, struct sts_policy *p,
    unsigned *seen, unsigned line, char *err, size_t errlen)
{
	enum { SEEN_VERSION = 1, SEEN_MODE = 2, SEEN_MAX_AGE = 4 };

	if (key_is(k, kn, "mx")) {
		if (!pattern_ok(v, vn))
			return fail(err, errlen, "malformed mx pattern", line);
		if (p->mx_count >= STS_MX_MAX)
			return fail(err, errlen, "too many mx patterns", line);
		for (size_t i = 0; i < vn; i++)
			p->mx[p->mx_count][i] = (char)tolower((unsigned char)v[i]);
		p->mx[p->mx_count][vn] = '\0';
		p->mx_count++;
		return 0;
	}
	if (key_is(k, kn, "version")) {
		if (*seen & SEEN_VERSION)
			return 0;
		if (vn != 5 || memcmp(v, "STSv1", 5) != 0)
			return fail(err, errlen, "version is not STSv1", line);
		*seen |= SEEN_VERSION;
		return 0;
	}
	if (key_is(k, kn, "mode")) {
		if (*seen & SEEN_MODE)
			return 0;
		if (key_is(v, vn, "enforce"))
			p->mode = STS_MODE_ENFORCE;
		else if (key_is(v, vn, "testing"))
			p->mode = STS_MODE_TESTING;
		else if (key_is(v, vn, "none"))
			p->mode = STS_MODE_NONE;
		else
			return fail(err, errlen, "unknown mode", line);
		*seen |= SEEN_MODE;
		return 0;
	}
	if (key_is(k, kn, "max_age")) {
		long age = 0;
		if (*seen & SEEN_MAX_AGE)
			return 0;
		if (vn < 1 || vn > 10)
			return fail(err, errlen, "malformed max_age", line);
		for (size_t i = 0; i < vn; i++) {
			if (!isdigit((unsigned char)v[i]))
				return fail(err, errlen, "malformed max_age", line);
			age = age * 10 + (v[i] - '0');
		}
		if (age > STS_MAX_AGE_MAX)
			return fail(err, errlen, "max_age above 31557600", line);
		p->max_age = age;
		*seen |= SEEN_MAX_AGE;
		return 0;
	}
	if (!ext_name_ok(k, kn))
		return fail(err, errlen, "malformed key", line);
	return 0; /* an extension: ignored */
}

int
sts_policy_parse(const char *text, size_t len, struct sts_policy *p, char *err, size_t errlen)
{
	const char *s = text, *end = text + len;
	unsigned seen = 0, line = 0;

	memset(p, 0, sizeof(*p));
	while (s < end) {
		const char *nl = memchr(s, '\n', (size_t)(end - s)), *le, *colon, *v;
		line++;
		le = nl != NULL ? nl : end;
		if (le > s && le[-1] == '\r')
			le--;
		if (memchr(s, '\0', (size_t)(le - s)) != NULL
		    || memchr(s, '\r', (size_t)(le - s)) != NULL)
			return fail(err, errlen, "control character", line);
		if (le == s) {
			/* An empty line: only at the end (a final newline). */
			s = nl != NULL ? nl + 1 : end;
			continue;
		}
		if ((colon = memchr(s, ':', (size_t)(le - s))) == NULL)
			return fail(err, errlen, "line without ':'", line);
		v = colon + 1;
		trim(&v, &le);
		if (policy_line(s, (size_t)(colon - s), v, (size_t)(le - v), p, &seen, line, err,
			errlen)
		    != 0)
			return -1;
		s = nl != NULL ? nl + 1 : end;
	}
	if ((seen & 1) == 0) {
		snprintf(err, errlen, "no version: STSv1");
		return -1;
	}
	if ((seen & 2) == 0) {
		snprintf(err, errlen, "no mode");
		return -1;
	}
	if ((seen & 4) == 0) {
		snprintf(err, errlen, "no max_age");
		return -1;
	}
	if (p->mode != STS_MODE_NONE && p->mx_count == 0) {
		snprintf(err, errlen, "no mx pattern");
		return -1;
	}
	return 0;
}

int
sts_mx_match(const char *pattern, const char *host)
{
	size_t hn = strlen(host), pn = strlen(pattern);
	const char *dot;

	if (hn > 0 && host[hn - 1] == '.')
		hn--;
	if (pn >= 2 && pattern[0] == '*' && pattern[1] == '.') {
		/* Exactly one left-most label, not empty, then the rest. */
		if ((dot = memchr(host, '.', hn)) == NULL || dot == host)
			return 0;
		return (size_t)(hn - (size_t)(dot + 1 - host)) == pn - 2
		    && strncasecmp(dot + 1, pattern + 2, pn - 2) == 0;
	}
	return hn == pn && strncasecmp(host, pattern, pn) == 0;
}

int
sts_policy_allows(const struct sts_policy *p, const char *host)
{
	for (size_t i = 0; i < p->mx_count; i++)
		if (sts_mx_match(p->mx[i], host))
			return 1;
	return 0;
}

const char *
sts_mode_name(enum sts_mode m)
{
	return m == STS_MODE_ENFORCE ? "enforce" : m == STS_MODE_TESTING ? "testing" : "none";
}
