/*
 * address.c - envelope addresses from argv, checked before anything else
 * happens, and rewritten into RFC 5321 path syntax.
 *
 * An address reaches us from pipe(8) either quoted by flag q
 * ("john doe"@example.com) or raw (john doe@example.com, a\@b@example.com).
 * Both are decoded to the local part's value and encoded again: as a
 * dot-atom when that is possible, otherwise as a quoted string with '"'
 * and '\' escaped.  Whatever could end a command or add an ESMTP parameter
 * is refused: control characters (CR, LF, TAB, NUL, ESC, DEL), '<' or '>'
 * outside a quoted local part, an already bracketed address.  A non-ASCII
 * local part needs SMTPUTF8; a non-ASCII domain is converted to A-labels.
 * Domain literals [192.0.2.1] and [IPv6:...] are checked with inet_pton.
 *
 * Length: the domain keeps the DNS limits (255 octets, labels of 63), but
 * RFC 5321's 64-octet local part and 256-octet path are NOT applied.
 * VERP, SRS and BATV make longer local parts, Postfix passes them on, and
 * only the receiving server may refuse one (its reply then decides).  The
 * one bound is ADDRESS_MAX octets of encoded address, twice the command
 * line Postfix's smtpd takes by default (line_length_limit = 2048), so a
 * server, not we, refuses any address of a realistic length; a longer one
 * is ADDRESS_DEFER, which the caller defers and never bounces.  Buffers
 * are sized from the input, so nothing is ever cut short.
 *
 * Interface: core.h (section address.c).
 */
#include "config.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gnutls/gnutls.h>

/* core */
#include "core.h"

#define DOMAIN_MAX 255

static int
fail(char *err, size_t errlen, const char *reason)
{
	snprintf(err, errlen, "%s", reason);
	return ADDRESS_MALFORMED;
}

/* RFC 5322 atext, plus UTF-8 bytes (RFC 6531). */
static int
is_atext(unsigned char c)
{
	if (c >= 0x80)
		return 1;
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return 1;
	return c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL;
}

/* Well-formed UTF-8 (no overlongs, no surrogates, at most U+10FFFF). */
static int
utf8_valid(const unsigned char *s, size_t len)
{
	size_t i = 0;

	while (i < len) {
		unsigned char c = s[i];
		size_t n;
		unsigned cp;

		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			n = 1;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			n = 2;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			n = 3;
			cp = c & 0x07;
		} else {
			return 0;
		}
		if (i + n >= len)
			return 0;
		for (size_t k = 1; k <= n; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return 0;
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10ffff
		    || (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		i += n + 1;
	}
	return 1;
}

/*
 * Find the '@' that separates local part and domain: the last one outside
 * a quoted string and not escaped.  Refuses unbalanced quotes and angle
 * brackets outside quotes.  Returns the index, or -1 with err set.
 */
static long
find_separator(const char *addr, size_t len, char *err, size_t errlen)
{
	int quoted = 0;
	long at = -1;

	for (size_t i = 0; i < len; i++) {
		char c = addr[i];

		if (c == '\\') {
			if (i + 1 >= len) {
				fail(err, errlen, "trailing backslash");
				return -1;
			}
			i++;
			continue;
		}
		if (c == '"') {
			quoted = !quoted;
			continue;
		}
		if (quoted)
			continue;
		if (c == '<' || c == '>') {
			fail(err, errlen, "angle bracket in address");
			return -1;
		}
		if (c == '@')
			at = (long)i;
	}
	if (quoted) {
		fail(err, errlen, "unbalanced quote in address");
		return -1;
	}
	if (at < 0)
		fail(err, errlen, "address has no domain");
	return at;
}

/* Remove the quoting of the input local part; returns the value's length. */
static size_t
local_decode(const char *in, size_t len, char *value)
{
	size_t n = 0;

	for (size_t i = 0; i < len; i++) {
		if (in[i] == '"')
			continue;
		if (in[i] == '\\' && i + 1 < len)
			i++;
		value[n++] = in[i];
	}
	return n;
}

static int
is_dot_atom(const char *s, size_t len)
{
	if (len == 0 || s[0] == '.' || s[len - 1] == '.')
		return 0;
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '.') {
			if (s[i + 1] == '.')
				return 0;
			continue;
		}
		if (!is_atext((unsigned char)s[i]))
			return 0;
	}
	return 1;
}

/* Encode a local-part value as RFC 5321 Dot-string or Quoted-string. */
static int
local_encode(const char *value, size_t len, char *out, size_t outlen, size_t *outn)
{
	size_t n = 0;

	if (is_dot_atom(value, len)) {
		if (len >= outlen)
			return -1;
		memcpy(out, value, len);
		*outn = len;
		return 0;
	}
	if (n + 1 >= outlen)
		return -1;
	out[n++] = '"';
	for (size_t i = 0; i < len; i++) {
		if (value[i] == '"' || value[i] == '\\') {
			if (n + 1 >= outlen)
				return -1;
			out[n++] = '\\';
		}
		if (n + 1 >= outlen)
			return -1;
		out[n++] = value[i];
	}
	if (n + 1 >= outlen)
		return -1;
	out[n++] = '"';
	*outn = n;
	return 0;
}

static int
domain_literal_check(const char *dom, size_t len, char *err, size_t errlen)
{
	char inner[DOMAIN_MAX + 1];
	unsigned char bin[16];

	if (len < 3 || dom[len - 1] != ']' || len - 2 >= sizeof(inner))
		return fail(err, errlen, "malformed domain literal");
	memcpy(inner, dom + 1, len - 2);
	inner[len - 2] = '\0';
	if (strncasecmp(inner, "ipv6:", 5) == 0) {
		if (inet_pton(AF_INET6, inner + 5, bin) != 1)
			return fail(err, errlen, "malformed IPv6 address literal");
		return 0;
	}
	if (inet_pton(AF_INET, inner, bin) != 1)
		return fail(err, errlen, "malformed IPv4 address literal");
	return 0;
}

/* LDH labels (and '_', which real names carry), 63 octets each. */
static int
domain_name_check(const char *dom, size_t len, char *err, size_t errlen)
{
	size_t label = 0;

	if (len == 0)
		return fail(err, errlen, "empty domain");
	if (len > DOMAIN_MAX)
		return fail(err, errlen, "domain longer than 255 octets");
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)dom[i];

		if (c == '.') {
			if (label == 0)
				return fail(err, errlen, "empty label in domain");
			label = 0;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
			|| c == '-' || c == '_'))
			return fail(err, errlen, "invalid character in domain");
		if ((label == 0 || i + 1 == len || dom[i + 1] == '.') && c == '-')
			return fail(err, errlen, "domain label starts or ends with a hyphen");
		if (++label > 63)
			return fail(err, errlen, "domain label longer than 63 octets");
	}
	if (label == 0)
		return fail(err, errlen, "domain ends with a dot");
	return 0;
}

/* Checked, ASCII domain into out (A-labels for a non-ASCII input). */
static int
domain_convert(const char *dom, size_t len, char *out, size_t outlen, char *err, size_t errlen)
{
	int ascii = 1;

	for (size_t i = 0; i < len; i++)
		if ((unsigned char)dom[i] >= 0x80)
			ascii = 0;
	if (len > 0 && dom[0] == '[') {
		if (!ascii)
			return fail(err, errlen, "malformed domain literal");
		if (domain_literal_check(dom, len, err, errlen) != 0)
			return -1;
		if (len >= outlen)
			return fail(err, errlen, "domain too long");
		memcpy(out, dom, len);
		out[len] = '\0';
		return 0;
	}
	if (!ascii) {
		gnutls_datum_t alabel = { NULL, 0 };

		if (!utf8_valid((const unsigned char *)dom, len))
			return fail(err, errlen, "domain is not valid UTF-8");
		if (gnutls_idna_map(dom, (unsigned)len, &alabel, 0) != 0)
			return fail(err, errlen, "domain cannot be converted to A-labels");
		if (alabel.size >= outlen || alabel.size > DOMAIN_MAX) {
			gnutls_free(alabel.data);
			return fail(err, errlen, "domain longer than 255 octets");
		}
		memcpy(out, alabel.data, alabel.size);
		out[alabel.size] = '\0';
		len = alabel.size;
		gnutls_free(alabel.data);
	} else {
		if (len >= outlen)
			return fail(err, errlen, "domain longer than 255 octets");
		memcpy(out, dom, len);
		out[len] = '\0';
	}
	return domain_name_check(out, len, err, errlen);
}

/* Local part (decoded, then encoded) and domain, in buffers sized from len. */
static int
address_parts(const char *addr, size_t len, size_t at, char **local, size_t *llen, char **domain,
    int *utf8, char *err, size_t errlen)
{
	char *value;
	size_t vlen;

	*local = *domain = NULL;
	if ((value = malloc(at + 1)) == NULL || (*local = malloc(2 * at + 3)) == NULL
	    || (*domain = malloc(len - at + DOMAIN_MAX + 1)) == NULL) {
		free(value);
		free(*local);
		*local = NULL;
		snprintf(err, errlen, "out of memory");
		return ADDRESS_DEFER;
	}
	vlen = local_decode(addr, at, value);
	if (vlen == 0) {
		free(value);
		return fail(err, errlen, "empty local part");
	}
	if (local_encode(value, vlen, *local, 2 * at + 3, llen) != 0) {
		/* Cannot happen: quoting at most doubles the octets. */
		free(value);
		snprintf(err, errlen, "internal error: encoded local part does not fit");
		return ADDRESS_DEFER;
	}
	for (size_t i = 0; i < vlen; i++)
		if ((unsigned char)value[i] >= 0x80)
			*utf8 = 1;
	free(value);
	return domain_convert(addr + at + 1, len - at - 1, *domain, len - at + DOMAIN_MAX + 1, err,
	    errlen);
}

int
address_check(const char *addr, char *out, size_t outlen, int *utf8, char *err, size_t errlen)
{
	char *local = NULL, *domain = NULL;
	size_t len, llen = 0, dlen;
	long at;
	int needs_utf8 = 0, rc;

	if (utf8 != NULL)
		*utf8 = 0;
	if (outlen > 0)
		out[0] = '\0';
	if (addr == NULL || addr[0] == '\0')
		return fail(err, errlen, "empty address");
	len = strlen(addr);
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)addr[i];

		if (c < 0x20 || c == 0x7f)
			return fail(err, errlen, "control character in address");
	}
	if (addr[0] == '<')
		return fail(err, errlen, "address must not be enclosed in angle brackets");
	if (!utf8_valid((const unsigned char *)addr, len))
		return fail(err, errlen, "address is not valid UTF-8");
	if ((at = find_separator(addr, len, err, errlen)) < 0)
		return ADDRESS_MALFORMED;
	rc = address_parts(addr, len, (size_t)at, &local, &llen, &domain, &needs_utf8, err, errlen);
	if (rc != 0)
		goto out;
	dlen = strlen(domain);
	if (llen + 1 + dlen > ADDRESS_MAX) {
		snprintf(err, errlen,
		    "address of %zu octets is longer than %d, the most this client "
		    "sends",
		    llen + 1 + dlen, ADDRESS_MAX);
		rc = ADDRESS_DEFER;
		goto out;
	}
	if (llen + 1 + dlen + 1 > outlen) {
		rc = fail(err, errlen, "address too long for the buffer");
		goto out;
	}
	memcpy(out, local, llen);
	out[llen] = '@';
	memcpy(out + llen + 1, domain, dlen + 1);
	if (utf8 != NULL)
		*utf8 = needs_utf8;
out:
	free(local);
	free(domain);
	return rc;
}

const char *
address_domain(const char *addr)
{
	const char *at = NULL;
	int quoted = 0;

	for (const char *p = addr; *p != '\0'; p++) {
		if (*p == '\\' && p[1] != '\0') {
			p++;
			continue;
		}
		if (*p == '"')
			quoted = !quoted;
		else if (*p == '@' && !quoted)
			at = p;
	}
	return at != NULL ? at + 1 : "";
}
