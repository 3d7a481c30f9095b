/*
 * nexthop.c - Postfix next-hop syntax ("example.com", "[mx.example.com]:587",
 * "[192.0.2.1]", "[ipv6:2001:db8::1]") and the smtp_tls_policy_maps keys to
 * try for a next-hop, in order.
 *
 * Lists: since Postfix 3.5 a relayhost or transport next-hop may name
 * several destinations, separated by commas and/or white space, which
 * smtp(8) tries in order.  Empty elements are skipped ("a,,b" is two), as
 * Postfix's argv_split() does; each element is one destination with its
 * own policy key.  Every element is checked before any is used: Postfix
 * stops with a fatal error when it reaches an element it cannot parse,
 * and we refuse the whole list up front instead of finding out only on
 * the day the earlier destinations are down.
 *
 * The policy key is the next-hop as written (Postfix does not turn ":smtp"
 * into ":25" or drop it), folded to lower case, with a domain's trailing dot
 * removed and any UTF-8 labels converted to A-labels, so that it matches
 * keys compiled from a source table by the same rules.  Address literals
 * are checked with inet_pton() but kept as written.  "[2001:db8::1]"
 * without the "ipv6:" tag is accepted too, as Postfix's smtp(8) does.
 *
 * Host names follow Postfix's valid_hostname(): letters, digits, '-' and
 * '_', labels of at most 63 characters, at most 253 in all.  An unbracketed
 * dotted quad is refused: Postfix would look up MX records for it, which is
 * never what an administrator meant.
 *
 * Interface: policymap.h.
 */
#include "config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <gnutls/gnutls.h>

/* policymap */
#include "policymap.h"

#define DNS_NAME_MAX	253
#define DNS_LABEL_MAX	63
#define PORT_NUMBER_MAX 65535

static int fail(char *, size_t, const char *, ...) __attribute__((format(printf, 3, 4)));

static int
fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

static void
lowercase(char *s)
{
	for (; *s != 0; s++)
		*s = (char)tolower((unsigned char)*s);
}

/* Returns the offending byte, or 0 if the text is printable or UTF-8. */
static int
find_bad_byte(const char *text)
{
	for (const unsigned char *cp = (const unsigned char *)text; *cp != 0; cp++)
		if (*cp <= ' ' || *cp == 0x7f)
			return *cp;
	return 0;
}

static int
has_non_ascii(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] >= 0x80)
			return 1;
	return 0;
}

/* An ASCII byte that no host name may hold (letters, digits, '-', '_', '.'). */
static int
bad_ascii_in_name(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (ch < 0x80 && !isalnum(ch) && ch != '-' && ch != '_' && ch != '.')
			return 1;
	}
	return 0;
}

/*
 * Postfix's valid_hostname(), with DNS's 253-character limit.  Returns
 * NULL if the name is acceptable, else why not.
 */
static const char *
hostname_problem(const char *name)
{
	size_t label_len = 0, total = 0;
	int non_numeric = 0;

	if (*name == 0)
		return "empty host name";
	for (const char *cp = name; *cp != 0; cp++, total++) {
		unsigned char ch = (unsigned char)*cp;

		if (isascii(ch) && (isalnum(ch) || ch == '_')) {
			if (!isdigit(ch))
				non_numeric = 1;
		} else if (ch == '.') {
			if (label_len == 0)
				return "empty label in host name";
			label_len = 0;
			continue;
		} else if (ch == '-') {
			non_numeric = 1;
			if (label_len == 0 || cp[1] == 0 || cp[1] == '.')
				return "misplaced '-' in host name";
		} else {
			return "invalid character in host name";
		}
		if (++label_len > DNS_LABEL_MAX)
			return "label longer than 63 characters in host name";
	}
	if (label_len == 0)
		return "empty label in host name";
	if (total > DNS_NAME_MAX)
		return "host name longer than 253 characters";
	if (!non_numeric)
		return "numeric host name (write an IP address as [192.0.2.1])";
	return NULL;
}

/*
 * Copy a host name into out (lower case, A-labels, no trailing dot) and
 * check it.  U-labels go through GnuTLS's IDNA mapping (libidn2 beneath),
 * which also applies UTS #46 case mapping.
 */
static int
normalise_hostname(const char *text, size_t len, char *out, size_t outlen, char *err, size_t errlen)
{
	gnutls_datum_t mapped = { NULL, 0 };
	const char *why;
	int rc;

	if (len > 0 && text[len - 1] == '.')
		len--;
	if (len == 0)
		return fail(err, errlen, "empty host name");
	if (has_non_ascii(text, len)) {
		/* The mapping drops some ASCII punctuation: refuse it first. */
		if (bad_ascii_in_name(text, len))
			return fail(err, errlen, "invalid character in host name: \"%.*s\"",
			    (int)len, text);
		if ((rc = gnutls_idna_map(text, (unsigned)len, &mapped, 0)) < 0)
			return fail(err, errlen,
			    "invalid internationalized domain name \"%.*s\": %s", (int)len, text,
			    gnutls_strerror(rc));
		text = (const char *)mapped.data;
		len = mapped.size;
	}
	if (len >= outlen) {
		gnutls_free(mapped.data);
		return fail(err, errlen, "host name longer than 253 characters");
	}
	memcpy(out, text, len);
	out[len] = 0;
	gnutls_free(mapped.data);
	lowercase(out);
	if ((why = hostname_problem(out)) != NULL)
		return fail(err, errlen, "%s: \"%s\"", why, out);
	return 0;
}

/* A port: a number 1..65535, or a service name such as "smtp". */
static int
parse_port(const char *text, struct nexthop *nh, char *err, size_t errlen)
{
	size_t len = strlen(text);
	int letters = 0;
	unsigned long value = 0;

	if (len == 0)
		return fail(err, errlen, "empty port after ':'");
	if (len >= sizeof(nh->port))
		return fail(err, errlen, "port \"%.40s\" is too long", text);
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)text[i];

		if (isascii(ch) && isalpha(ch))
			letters = 1;
		else if (!(isascii(ch) && isdigit(ch)) && ch != '-')
			return fail(err, errlen, "invalid port \"%s\"", text);
	}
	if (!letters) {
		for (size_t i = 0; i < len; i++) {
			if (!isdigit((unsigned char)text[i]))
				return fail(err, errlen, "invalid port \"%s\"", text);
			if ((value = value * 10 + (unsigned long)(text[i] - '0')) > PORT_NUMBER_MAX)
				break;
		}
		if (value < 1 || value > PORT_NUMBER_MAX)
			return fail(err, errlen, "port \"%s\" is out of range 1..65535", text);
	} else if (text[0] == '-' || text[len - 1] == '-') {
		return fail(err, errlen, "invalid port \"%s\"", text);
	}
	memcpy(nh->port, text, len + 1);
	lowercase(nh->port);
	nh->has_port = 1;
	return 0;
}

/* The inside of [...]: an IPv4 or IPv6 literal, or a host name. */
static int
parse_bracketed(const char *inner, size_t len, struct nexthop *nh, char *tag, size_t taglen,
    char *err, size_t errlen)
{
	char addr[NEXTHOP_HOST_MAX];
	unsigned char bin[16];

	tag[0] = 0;
	if (len == 0)
		return fail(err, errlen, "empty host name inside \"[]\"");
	if (len >= 5 && strncasecmp(inner, "ipv6:", 5) == 0) {
		snprintf(tag, taglen, "ipv6:");
		inner += 5;
		len -= 5;
		if (len == 0 || len >= sizeof(addr))
			return fail(err, errlen, "bad IPv6 address literal \"%.*s\"", (int)len,
			    inner);
		memcpy(addr, inner, len);
		addr[len] = 0;
		if (inet_pton(AF_INET6, addr, bin) != 1)
			return fail(err, errlen, "bad IPv6 address literal \"%s\"", addr);
		nh->kind = NEXTHOP_IPV6;
		lowercase(addr);
		memcpy(nh->host, addr, len + 1);
		return 0;
	}
	if (len < sizeof(addr)) {
		memcpy(addr, inner, len);
		addr[len] = 0;
		if (inet_pton(AF_INET, addr, bin) == 1) {
			nh->kind = NEXTHOP_IPV4;
			memcpy(nh->host, addr, len + 1);
			return 0;
		}
		if (memchr(addr, ':', len) != NULL) {
			if (inet_pton(AF_INET6, addr, bin) != 1)
				return fail(err, errlen, "bad IPv6 address literal \"%s\"", addr);
			nh->kind = NEXTHOP_IPV6;
			lowercase(addr);
			memcpy(nh->host, addr, len + 1);
			return 0;
		}
		if (strspn(addr, "0123456789.") == len)
			return fail(err, errlen, "bad IPv4 address literal \"%s\"", addr);
	}
	nh->kind = NEXTHOP_HOST;
	return normalise_hostname(inner, len, nh->host, sizeof(nh->host), err, errlen);
}

static int
parse_text(const char *text, struct nexthop *nh, char *tag, size_t taglen, char *err, size_t errlen)
{
	const char *close, *colon;

	if (text[0] == '[') {
		if ((close = strchr(text, ']')) == NULL)
			return fail(err, errlen, "missing \"]\" in \"%s\"", text);
		if (memchr(text + 1, '[', (size_t)(close - text - 1)) != NULL
		    || strchr(close + 1, '[') != NULL || strchr(close + 1, ']') != NULL)
			return fail(err, errlen, "unbalanced brackets in \"%s\"", text);
		if (close[1] != 0 && close[1] != ':')
			return fail(err, errlen, "garbage after \"]\" in \"%s\"", text);
		if (parse_bracketed(text + 1, (size_t)(close - text - 1), nh, tag, taglen, err,
			errlen)
		    != 0)
			return -1;
		return close[1] == ':' ? parse_port(close + 2, nh, err, errlen) : 0;
	}
	if (strchr(text, '[') != NULL || strchr(text, ']') != NULL)
		return fail(err, errlen, "unbalanced brackets in \"%s\"", text);
	tag[0] = 0;
	nh->kind = NEXTHOP_DOMAIN;
	if ((colon = strchr(text, ':')) == NULL)
		return normalise_hostname(text, strlen(text), nh->host, sizeof(nh->host), err,
		    errlen);
	if (strchr(colon + 1, ':') != NULL)
		return fail(err, errlen,
		    "too many ':' in \"%s\" (write an IPv6 address as "
		    "[ipv6:2001:db8::1])",
		    text);
	if (normalise_hostname(text, (size_t)(colon - text), nh->host, sizeof(nh->host), err,
		errlen)
	    != 0)
		return -1;
	return parse_port(colon + 1, nh, err, errlen);
}

int
nexthop_parse(const char *text, struct nexthop *nh, char *err, size_t errlen)
{
	char tag[8];
	int bad, len;

	memset(nh, 0, sizeof(*nh));
	if (errlen > 0)
		err[0] = 0;
	if (text == NULL || *text == 0)
		return fail(err, errlen, "empty next-hop destination");
	if (strlen(text) >= NEXTHOP_KEY_MAX)
		return fail(err, errlen, "next-hop destination longer than %d characters",
		    NEXTHOP_KEY_MAX - 1);
	if ((bad = find_bad_byte(text)) == ' ')
		return fail(err, errlen, "next-hop destination contains a space");
	if (bad != 0)
		return fail(err, errlen, "next-hop destination contains control character 0x%02x",
		    bad);
	if (parse_text(text, nh, tag, sizeof(tag), err, errlen) != 0) {
		memset(nh, 0, sizeof(*nh));
		return -1;
	}
	if (nh->kind == NEXTHOP_DOMAIN)
		len = snprintf(nh->key, sizeof(nh->key), "%s%s%s", nh->host,
		    nh->has_port ? ":" : "", nh->port);
	else
		len = snprintf(nh->key, sizeof(nh->key), "[%s%s]%s%s", tag, nh->host,
		    nh->has_port ? ":" : "", nh->port);
	if (len < 0 || (size_t)len >= sizeof(nh->key)) {
		memset(nh, 0, sizeof(*nh));
		return fail(err, errlen, "next-hop destination longer than %d characters",
		    NEXTHOP_KEY_MAX - 1);
	}
	return 0;
}

/* Postfix's CHARS_COMMA_SP: the separators of a destination list. */
#define LIST_SEPARATORS ", \t\r\n"

int
nexthop_list_parse(const char *text, struct nexthop *out, size_t max, char *err, size_t errlen)
{
	char one[NEXTHOP_KEY_MAX], why[256];
	size_t count = 0, total = 0, len;
	const char *p;

	if (errlen > 0)
		err[0] = 0;
	if (text == NULL)
		return 0;
	/* Count first, so that an error can say whether there was a list. */
	for (p = text + strspn(text, LIST_SEPARATORS); *p != 0;
	     p += len, p += strspn(p, LIST_SEPARATORS)) {
		len = strcspn(p, LIST_SEPARATORS);
		total++;
	}
	if (total > max)
		return fail(err, errlen, "more than %zu next-hop destinations", max);
	for (p = text + strspn(text, LIST_SEPARATORS); *p != 0;
	     p += len, p += strspn(p, LIST_SEPARATORS)) {
		len = strcspn(p, LIST_SEPARATORS);
		if (len >= sizeof(one)) {
			snprintf(why, sizeof(why), "next-hop destination longer than %d characters",
			    NEXTHOP_KEY_MAX - 1);
		} else {
			memcpy(one, p, len);
			one[len] = 0;
			if (nexthop_parse(one, &out[count], why, sizeof(why)) == 0) {
				count++;
				continue;
			}
		}
		if (total == 1)
			return fail(err, errlen, "%s", why);
		return fail(err, errlen, "destination %zu of %zu in the list \"%.*s\": %s",
		    count + 1, total, (int)(len < 80 ? len : 80), p, why);
	}
	return (int)count;
}

size_t
nexthop_lookup_keys(const struct nexthop *nh, char keys[][NEXTHOP_KEY_MAX], size_t max)
{
	size_t count = 0;
	const char *dot;

	if (max == 0 || nh->key[0] == 0)
		return 0;
	snprintf(keys[count++], NEXTHOP_KEY_MAX, "%s", nh->key);
	if (nh->kind != NEXTHOP_DOMAIN || nh->has_port)
		return count;
	for (dot = strchr(nh->host, '.'); dot != NULL && count < max; dot = strchr(dot + 1, '.'))
		snprintf(keys[count++], NEXTHOP_KEY_MAX, "%s", dot);
	return count;
}
