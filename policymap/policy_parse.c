/*
 * policy_parse.c - one smtp_tls_policy_maps value -> struct tls_policy.
 *
 * The rules are Postfix 3.7's (smtp_tls_policy.c): tokens are separated by
 * whitespace and/or commas, the first is the security level, the rest are
 * name=value attributes with case-insensitive names.  The first error ends
 * the parse, with Postfix's warning text (without its "smtp_tls_policy_maps,
 * next-hop destination" prefix, which the caller knows how to add).
 *
 * Where Postfix defers the problem until a TLS session starts, we reject
 * the value here instead, so a table compiler can refuse it:
 *   - protocols= and ciphers= values are checked (policy_proto.c);
 *   - exclude= tokens must look like cipher names or properties;
 *   - match= names for verify/secure must be DNS names or strategies;
 *   - every fingerprint digest must be well-formed hex of 16..64 bytes
 *     (Postfix warns and skips a bad one; we refuse the whole value).
 *
 * enable_rpk= is a Postfix 3.9 attribute (RFC 7250 raw public keys) that
 * issue 2 asks us to accept.  Its value must be yes or no at every level.
 * It only has an effect where the certificate is not verified through a
 * CA: at may, encrypt and fingerprint it is stored; at dane it is stored
 * too, because Postfix applies it when dane falls back to may/encrypt; at
 * dane-only, verify and secure it is ignored with a note.
 *
 * servername= accepts what Postfix's valid_hostname() accepts: letters,
 * digits, '-' and '_' (Postfix tolerates the underscore), labels of at most
 * 63 characters, no leading/trailing hyphen or dot, not all-numeric (so no
 * IPv4 address), at most 253 characters.  The special values "hostname"
 * and "nexthop" pass the same test and are kept exactly as written, since
 * Postfix compares them case-sensitively.
 *
 * Interface: policymap.h.
 */
#include "config.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* policymap */
#include "policymap.h"

#define POLICY_SEPARATORS ", \t\r\n" /* Postfix CHARS_COMMA_SP */
#define DNS_NAME_MAX	  253
#define DNS_LABEL_MAX	  63
#define DIGEST_MIN_BYTES  16 /* MD5 */
#define DIGEST_MAX_BYTES  64 /* SHA-512, EVP_MAX_MD_SIZE */
#define NOTES_MAX	  (sizeof(((struct tls_policy *)0)->notes) / sizeof(char *))

static const struct {
	const char *name;
	enum tls_level level;
} level_names[] = {
	{ "none", TLS_LEVEL_NONE },
	{ "may", TLS_LEVEL_MAY },
	{ "encrypt", TLS_LEVEL_ENCRYPT },
	{ "fingerprint", TLS_LEVEL_FINGERPRINT },
	{ "halfdane", TLS_LEVEL_HALF_DANE }, /* output only, never parsed */
	{ "dane", TLS_LEVEL_DANE },
	{ "dane-only", TLS_LEVEL_DANE_ONLY },
	{ "verify", TLS_LEVEL_VERIFY },
	{ "secure", TLS_LEVEL_SECURE },
};

#define LEVEL_COUNT (sizeof(level_names) / sizeof(level_names[0]))

enum tls_level
tls_level_from_name(const char *name)
{
	if (name == NULL)
		return TLS_LEVEL_INVALID;
	for (size_t i = 0; i < LEVEL_COUNT; i++) {
		if (level_names[i].level == TLS_LEVEL_HALF_DANE)
			continue;
		if (strcasecmp(level_names[i].name, name) == 0)
			return level_names[i].level;
	}
	return TLS_LEVEL_INVALID;
}

const char *
tls_level_name(enum tls_level level)
{
	for (size_t i = 0; i < LEVEL_COUNT; i++)
		if (level_names[i].level == level)
			return level_names[i].name;
	return "invalid";
}

void
tls_policy_init(struct tls_policy *p)
{
	memset(p, 0, sizeof(*p));
	p->level = TLS_LEVEL_INVALID;
	p->cipher_grade = TLS_GRADE_INVALID;
	p->connection_reuse = -1;
	p->enable_rpk = -1;
}

void
tls_policy_free(struct tls_policy *p)
{
	free(p->ciphers);
	free(p->protocols);
	free(p->exclude);
	free(p->servername);
	for (size_t i = 0; i < p->match_count; i++)
		free(p->match[i]);
	for (size_t i = 0; i < p->tafile_count; i++)
		free(p->tafile[i]);
	for (size_t i = 0; i < p->note_count; i++)
		free(p->notes[i]);
	tls_policy_init(p);
}

/* ------------------------------------------------------------------------
 * Small helpers.
 */

static char *
dup_string(const char *s, size_t len)
{
	char *copy;

	if ((copy = malloc(len + 1)) == NULL)
		return NULL;
	memcpy(copy, s, len);
	copy[len] = 0;
	return copy;
}

static int fail(char *, size_t, const char *, ...) __attribute__((format(printf, 3, 4)));
static void add_note(struct tls_policy *, const char *, ...) __attribute__((format(printf, 2, 3)));

static int
fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

static int
fail_nomem(char *err, size_t errlen)
{
	return fail(err, errlen, "out of memory");
}

/* Notes beyond the array's capacity are dropped: they are advisory only. */
static void
add_note(struct tls_policy *p, const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	if (p->note_count >= NOTES_MAX)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if ((p->notes[p->note_count] = dup_string(buf, strlen(buf))) != NULL)
		p->note_count++;
}

/* Store a copy of value into *slot. */
static int
store_string(char **slot, const char *value, char *err, size_t errlen)
{
	if ((*slot = dup_string(value, strlen(value))) == NULL)
		return fail_nomem(err, errlen);
	return 0;
}

static void
lowercase(char *s)
{
	for (; *s != 0; s++)
		*s = (char)tolower((unsigned char)*s);
}

/*
 * Postfix's valid_hostname() rules, with the DNS limit of 253 characters.
 * allow_numeric admits all-numeric names, which are harmless as match=
 * patterns but would be an IPv4 address as a servername.
 */
static int
valid_dns_name(const char *name, int allow_numeric)
{
	size_t label_len = 0, total = 0;
	int non_numeric = 0;
	const char *cp;

	if (*name == 0)
		return 0;
	for (cp = name; *cp != 0; cp++, total++) {
		unsigned char ch = (unsigned char)*cp;

		if (isascii(ch) && (isalnum(ch) || ch == '_')) {
			if (++label_len > DNS_LABEL_MAX)
				return 0;
			if (!isdigit(ch))
				non_numeric = 1;
		} else if (ch == '.') {
			if (label_len == 0 || cp[1] == 0)
				return 0;
			label_len = 0;
		} else if (ch == '-') {
			non_numeric = 1;
			if (label_len == 0 || cp[1] == 0 || cp[1] == '.')
				return 0;
			if (++label_len > DNS_LABEL_MAX)
				return 0;
		} else {
			return 0;
		}
	}
	if (total > DNS_NAME_MAX)
		return 0;
	return non_numeric || allow_numeric;
}

static int
parse_yes_no(const char *name, const char *value, int *out, char *err, size_t errlen)
{
	if (strcasecmp(value, "yes") == 0)
		*out = 1;
	else if (strcasecmp(value, "no") == 0)
		*out = 0;
	else
		return fail(err, errlen, "attribute \"%s\" has bad value: \"%s\"", name, value);
	return 0;
}

/*
 * Postfix's split_nameval(): the name ends at the first '=', the value is
 * everything after it (it may itself contain '=', as in ">=TLSv1.2").
 * Tokens never contain whitespace here, so no trimming is needed.
 */
static const char *
split_nameval(char *token, char **name, char **value)
{
	char *eq;

	if (*token == 0 || *token == '=')
		return "missing attribute name";
	if ((eq = strchr(token, '=')) == NULL)
		return "missing '=' after attribute name";
	*eq = 0;
	*name = token;
	*value = eq + 1;
	return NULL;
}

/* ------------------------------------------------------------------------
 * Attribute handlers.  Each follows the order of Postfix's checks, so the
 * first message reported is the one Postfix would log.
 */

static int
attr_ciphers(struct tls_policy *p, const char *name, const char *value, char *err, size_t errlen)
{
	if (*value == 0)
		return fail(err, errlen, "attribute \"%s\" has empty value", name);
	if (p->ciphers != NULL)
		return fail(err, errlen, "attribute \"%s\" is specified multiple times", name);
	if ((p->cipher_grade = tls_cipher_grade_from_name(value)) == TLS_GRADE_INVALID)
		return fail(err, errlen, "invalid cipher grade \"%s\"", value);
	return store_string(&p->ciphers, value, err, errlen);
}

static int
attr_protocols(struct tls_policy *p, const char *name, const char *value, char *err, size_t errlen)
{
	char why[256];

	if (p->protocols != NULL)
		return fail(err, errlen, "attribute \"%s\" is specified multiple times", name);
	if (tls_protocols_parse(value, &p->protocol_mask, why, sizeof(why)) != 0)
		return fail(err, errlen, "invalid TLS protocol list \"%s\": %s", value, why);
	return store_string(&p->protocols, value, err, errlen);
}

/* A cipher name or property as OpenSSL/GnuTLS spell them: "3DES", "aNULL". */
static int
valid_exclusion(const char *token, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)token[i];

		if (!(isascii(ch) && isalnum(ch)) && strchr("+_.-", ch) == NULL)
			return 0;
	}
	return 1;
}

static int
attr_exclude(struct tls_policy *p, const char *name, const char *value, char *err, size_t errlen)
{
	const char *cp = value;
	size_t len;

	if (p->exclude != NULL)
		return fail(err, errlen, "attribute \"%s\" is specified multiple times", name);
	while (*cp != 0) {
		cp += strspn(cp, ":");
		len = strcspn(cp, ":");
		if (len > 0 && !valid_exclusion(cp, len))
			return fail(err, errlen, "invalid cipher exclusion \"%.*s\" in \"%s=%s\"",
			    (int)len, cp, name, value);
		cp += len;
	}
	return store_string(&p->exclude, value, err, errlen);
}

static int
attr_servername(struct tls_policy *p, const char *name, const char *value, char *err, size_t errlen)
{
	if (p->servername != NULL)
		return fail(err, errlen, "attribute \"%s\" is specified multiple times", name);
	if (!valid_dns_name(value, 0))
		return fail(err, errlen, "\"%s=%s\" specifies an invalid hostname", name, value);
	return store_string(&p->servername, value, err, errlen);
}

static int
attr_connection_reuse(struct tls_policy *p, const char *name, const char *value, char *err,
    size_t errlen)
{
	return parse_yes_no(name, value, &p->connection_reuse, err, errlen);
}

static int
attr_enable_rpk(struct tls_policy *p, const char *name, const char *value, char *err, size_t errlen)
{
	int yes_no = -1;

	if (parse_yes_no(name, value, &yes_no, err, errlen) != 0)
		return -1;
	switch (p->level) {
	case TLS_LEVEL_DANE_ONLY:
	case TLS_LEVEL_VERIFY:
	case TLS_LEVEL_SECURE:
		add_note(p, "ignoring attribute \"%s\" at security level \"%s\"", name,
		    tls_level_name(p->level));
		return 0;
	default:
		p->enable_rpk = yes_no;
		return 0;
	}
}

static int
attr_tafile(struct tls_policy *p, const char *name, const char *value, char *err, size_t errlen)
{
	if (!TLS_LEVEL_MUST_PKIX(p->level))
		return fail(err, errlen, "attribute \"%s\" invalid at security level \"%s\"", name,
		    tls_level_name(p->level));
	if (*value == 0)
		return fail(err, errlen, "attribute \"%s\" has empty value", name);
	if (p->tafile_count >= TLS_POLICY_MAX_LIST)
		return fail(err, errlen, "too many \"%s\" attributes (at most %d)", name,
		    TLS_POLICY_MAX_LIST);
	if (store_string(&p->tafile[p->tafile_count], value, err, errlen) != 0)
		return -1;
	p->tafile_count++;
	return 0;
}

static int
append_match(struct tls_policy *p, char *element, char *err, size_t errlen)
{
	if (p->match_count >= TLS_POLICY_MAX_LIST) {
		free(element);
		return fail(err, errlen, "too many \"match\" entries (at most %d)",
		    TLS_POLICY_MAX_LIST);
	}
	p->match[p->match_count++] = element;
	return 0;
}

/*
 * One verify/secure match element: a strategy or a DNS name, optionally
 * with a leading dot meaning "any subdomain of".
 */
static int
add_name_match(struct tls_policy *p, const char *text, size_t len, char *err, size_t errlen)
{
	char *element;
	const char *name;

	if ((element = dup_string(text, len)) == NULL)
		return fail_nomem(err, errlen);
	lowercase(element);
	name = element[0] == '.' ? element + 1 : element;
	if (strlen(element) > DNS_NAME_MAX + 1 || !valid_dns_name(name, 1)) {
		fail(err, errlen,
		    "invalid match pattern \"%.*s\": not a DNS name, "
		    "\".\"-prefixed DNS name, nexthop, dot-nexthop or hostname",
		    (int)len, text);
		free(element);
		return -1;
	}
	return append_match(p, element, err, errlen);
}

/*
 * One fingerprint digest: hex pairs, optionally separated by single
 * colons, stored as lower-case hex without colons.
 */
static int
add_digest_match(struct tls_policy *p, const char *text, size_t len, char *err, size_t errlen)
{
	char hex[2 * DIGEST_MAX_BYTES + 1];
	size_t nhex = 0, i = 0;
	char *element;

	while (i < len) {
		if (i + 1 >= len || !isxdigit((unsigned char)text[i])
		    || !isxdigit((unsigned char)text[i + 1]))
			return fail(err, errlen,
			    "malformed fingerprint value: \"%.*s\": "
			    "expected pairs of hexadecimal digits, optionally separated by ':'",
			    (int)len, text);
		if (nhex + 2 > 2 * DIGEST_MAX_BYTES)
			return fail(err, errlen,
			    "malformed fingerprint value: \"%.*s\": "
			    "longer than %d bytes",
			    (int)len, text, DIGEST_MAX_BYTES);
		hex[nhex++] = (char)tolower((unsigned char)text[i]);
		hex[nhex++] = (char)tolower((unsigned char)text[i + 1]);
		i += 2;
		if (i < len && text[i] == ':') {
			if (i + 1 == len)
				return fail(err, errlen,
				    "malformed fingerprint value: \"%.*s\": "
				    "trailing ':'",
				    (int)len, text);
			i++;
		}
	}
	if (nhex < 2 * DIGEST_MIN_BYTES)
		return fail(err, errlen,
		    "malformed fingerprint value: \"%.*s\": "
		    "%zu bytes, expected %d to %d",
		    (int)len, text, nhex / 2, DIGEST_MIN_BYTES, DIGEST_MAX_BYTES);
	if ((element = dup_string(hex, nhex)) == NULL)
		return fail_nomem(err, errlen);
	return append_match(p, element, err, errlen);
}

static int
attr_match(struct tls_policy *p, const char *name, const char *value, char *err, size_t errlen)
{
	const char *separator, *cp = value;
	size_t len;
	int rc;

	if (*value == 0)
		return fail(err, errlen, "attribute \"%s\" has empty value", name);
	switch (p->level) {
	case TLS_LEVEL_FINGERPRINT:
		separator = "|";
		break;
	case TLS_LEVEL_VERIFY:
	case TLS_LEVEL_SECURE:
		separator = ":";
		break;
	default:
		return fail(err, errlen, "attribute \"%s\" invalid at security level \"%s\"", name,
		    tls_level_name(p->level));
	}
	/* Empty elements ("a::b", "|x") are skipped, as Postfix's argv_split does. */
	while (*cp != 0) {
		cp += strspn(cp, separator);
		if ((len = strcspn(cp, separator)) == 0)
			break;
		if (p->level == TLS_LEVEL_FINGERPRINT)
			rc = add_digest_match(p, cp, len, err, errlen);
		else
			rc = add_name_match(p, cp, len, err, errlen);
		if (rc != 0)
			return -1;
		cp += len;
	}
	return 0;
}

typedef int (*attr_handler)(struct tls_policy *, const char *, const char *, char *, size_t);

static const struct {
	const char *name;
	attr_handler handler;
} attributes[] = {
	{ "ciphers", attr_ciphers },
	{ "protocols", attr_protocols },
	{ "servername", attr_servername },
	{ "match", attr_match },
	{ "exclude", attr_exclude },
	{ "tafile", attr_tafile },
	{ "connection_reuse", attr_connection_reuse },
	{ "enable_rpk", attr_enable_rpk },
};

static int
parse_attribute(struct tls_policy *p, char *token, char *err, size_t errlen)
{
	const char *why;
	char *name, *value;

	if ((why = split_nameval(token, &name, &value)) != NULL)
		return fail(err, errlen, "malformed attribute/value pair \"%s\": %s", token, why);
	for (size_t i = 0; i < sizeof(attributes) / sizeof(attributes[0]); i++)
		if (strcasecmp(attributes[i].name, name) == 0)
			return attributes[i].handler(p, name, value, err, errlen);
	return fail(err, errlen, "invalid attribute name: \"%s\"", name);
}

/* Next token of *cursor (destructive, like Postfix's mystrtok()). */
static char *
next_token(char **cursor)
{
	char *start = *cursor + strspn(*cursor, POLICY_SEPARATORS);
	char *end;

	if (*start == 0) {
		*cursor = start;
		return NULL;
	}
	end = start + strcspn(start, POLICY_SEPARATORS);
	if (*end != 0)
		*end++ = 0;
	*cursor = end;
	return start;
}

static int
parse_tokens(char *text, struct tls_policy *p, char *err, size_t errlen)
{
	char *cursor = text, *token;

	if ((token = next_token(&cursor)) == NULL)
		return fail(err, errlen, "invalid empty policy");
	if ((p->level = tls_level_from_name(token)) == TLS_LEVEL_INVALID)
		return fail(err, errlen, "invalid security level \"%s\"", token);
	if (p->level == TLS_LEVEL_NONE) {
		while ((token = next_token(&cursor)) != NULL)
			add_note(p, "ignoring attribute \"%s\" with TLS disabled", token);
		return 0;
	}
	while ((token = next_token(&cursor)) != NULL)
		if (parse_attribute(p, token, err, errlen) != 0)
			return -1;
	if (p->level == TLS_LEVEL_FINGERPRINT && p->match_count == 0)
		return fail(err, errlen,
		    "configured at fingerprint security level, "
		    "but with no fingerprints to match");
	return 0;
}

int
tls_policy_parse(const char *value, struct tls_policy *p, char *err, size_t errlen)
{
	char *copy;
	int rc;

	tls_policy_init(p);
	if (errlen > 0)
		err[0] = 0;
	if (value == NULL)
		return fail(err, errlen, "invalid empty policy");
	if ((copy = dup_string(value, strlen(value))) == NULL)
		return fail_nomem(err, errlen);
	rc = parse_tokens(copy, p, err, errlen);
	free(copy);
	if (rc != 0)
		p->level = TLS_LEVEL_INVALID;
	return rc;
}
