/*
 * policy_proto.c - TLS protocol expressions and cipher grade names.
 *
 * The protocol grammar follows Postfix 3.7 (tls_proto_mask_lims()): terms
 * are separated by ':', ',' or whitespace; a term is a lower bound ">=V",
 * an upper bound "<=V", an exclusion "!NAME" or an inclusion "NAME".  V is
 * a protocol name or a hexadecimal wire version ("0x0303" or "303").  When
 * any inclusion is present, protocols not included are excluded.  Names
 * are matched case-insensitively, as Postfix's name_code() does; a bound
 * may also be "None" (no bound), as in Postfix's version table.
 *
 * Postfix finds a bad list only when a TLS session starts; we reject it
 * here, and we also reject an expression that leaves no protocol at all,
 * because such a policy could never deliver.
 *
 * Interface: policymap.h.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* policymap */
#include "policymap.h"

struct proto_name {
	const char *name;
	unsigned bit;
	unsigned version; /* TLS wire version, as used by bounds */
	int bound_ok;	  /* usable in ">=" / "<=" (Postfix: not SSLv2) */
};

static const struct proto_name proto_names[] = {
	{ "SSLv2", TLS_PROTO_SSLv2, 0x0002, 0 },
	{ "SSLv3", TLS_PROTO_SSLv3, 0x0300, 1 },
	{ "TLSv1", TLS_PROTO_TLSv1, 0x0301, 1 },
	{ "TLSv1.1", TLS_PROTO_TLSv1_1, 0x0302, 1 },
	{ "TLSv1.2", TLS_PROTO_TLSv1_2, 0x0303, 1 },
	{ "TLSv1.3", TLS_PROTO_TLSv1_3, 0x0304, 1 },
};

#define PROTO_COUNT	 (sizeof(proto_names) / sizeof(proto_names[0]))
#define PROTO_SEPARATORS ": \t\r\n,"
#define PROTO_TERM_MAX	 64

static const struct proto_name *
proto_lookup(const char *name)
{
	for (size_t i = 0; i < PROTO_COUNT; i++)
		if (strcasecmp(proto_names[i].name, name) == 0)
			return &proto_names[i];
	return NULL;
}

/*
 * A bound's version: a name, or a hexadecimal number as Postfix accepts
 * with strtoul(..., 16).  An empty bound is refused: Postfix would read
 * it as "no bound", which is never what the writer meant.
 */
static int
parse_bound(const char *text, unsigned *version, char *err, size_t errlen)
{
	const struct proto_name *p;
	unsigned long value;
	char *end;

	if (*text == 0) {
		snprintf(err, errlen, "missing protocol version after \">=\" or \"<=\"");
		return -1;
	}
	/* "None" is Postfix's explicit "no bound". */
	if (strcasecmp(text, "None") == 0) {
		*version = 0;
		return 0;
	}
	if ((p = proto_lookup(text)) != NULL && p->bound_ok) {
		*version = p->version;
		return 0;
	}
	if (!isxdigit((unsigned char)text[0])) {
		snprintf(err, errlen, "invalid TLS version: \"%s\"", text);
		return -1;
	}
	errno = 0;
	value = strtoul(text, &end, 16);
	if (*end != 0 || errno == ERANGE || value > 0xffff) {
		snprintf(err, errlen, "invalid TLS version: \"%s\"", text);
		return -1;
	}
	*version = (unsigned)value;
	return 0;
}

/* Bits of every known protocol whose version lies within [lowest, highest]. */
static unsigned
mask_in_range(unsigned lowest, unsigned highest)
{
	unsigned mask = 0;

	for (size_t i = 0; i < PROTO_COUNT; i++) {
		if (lowest != 0 && proto_names[i].version < lowest)
			continue;
		if (highest != 0 && proto_names[i].version > highest)
			continue;
		mask |= proto_names[i].bit;
	}
	return mask;
}

static int
parse_term(const char *term, unsigned *include, unsigned *exclude, unsigned *lowest,
    unsigned *highest, char *err, size_t errlen)
{
	const struct proto_name *p;

	if (strncmp(term, ">=", 2) == 0)
		return parse_bound(term + 2, lowest, err, errlen);
	if (strncmp(term, "<=", 2) == 0)
		return parse_bound(term + 2, highest, err, errlen);
	if (term[0] == '!') {
		if ((p = proto_lookup(term + 1)) == NULL) {
			snprintf(err, errlen, "unknown protocol \"%s\"", term + 1);
			return -1;
		}
		*exclude |= p->bit;
		return 0;
	}
	if ((p = proto_lookup(term)) == NULL) {
		snprintf(err, errlen, "unknown protocol \"%s\"", term);
		return -1;
	}
	*include |= p->bit;
	return 0;
}

int
tls_protocols_parse(const char *expr, unsigned *mask, char *err, size_t errlen)
{
	unsigned include = 0, exclude = 0, lowest = 0, highest = 0;
	char term[PROTO_TERM_MAX];
	const char *cp = expr;
	size_t len;
	unsigned allowed;

	if (errlen > 0)
		err[0] = 0;
	while (*cp != 0) {
		cp += strspn(cp, PROTO_SEPARATORS);
		if ((len = strcspn(cp, PROTO_SEPARATORS)) == 0)
			break;
		if (len >= sizeof(term)) {
			snprintf(err, errlen, "protocol term too long: \"%.*s...\"",
			    (int)(sizeof(term) - 1), cp);
			return -1;
		}
		memcpy(term, cp, len);
		term[len] = 0;
		cp += len;
		if (parse_term(term, &include, &exclude, &lowest, &highest, err, errlen) != 0)
			return -1;
	}
	allowed = TLS_PROTO_ALL & ~exclude;
	if (include != 0)
		allowed &= include;
	allowed &= mask_in_range(lowest, highest);
	if (allowed == 0) {
		snprintf(err, errlen, "no TLS protocol version is left enabled");
		return -1;
	}
	*mask = allowed;
	return 0;
}

enum tls_cipher_grade
tls_cipher_grade_from_name(const char *name)
{
	static const struct {
		const char *name;
		enum tls_cipher_grade grade;
	} grades[] = {
		{ "export", TLS_GRADE_EXPORT },
		{ "low", TLS_GRADE_LOW },
		{ "medium", TLS_GRADE_MEDIUM },
		{ "high", TLS_GRADE_HIGH },
		{ "null", TLS_GRADE_NULL },
	};

	if (name == NULL)
		return TLS_GRADE_INVALID;
	for (size_t i = 0; i < sizeof(grades) / sizeof(grades[0]); i++)
		if (strcasecmp(grades[i].name, name) == 0)
			return grades[i].grade;
	return TLS_GRADE_INVALID;
}
