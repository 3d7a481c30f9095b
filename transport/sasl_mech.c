/*
 * sasl_mech.c - SASL client mechanisms, base64 and security properties.
 *
 * The properties are Cyrus SASL's, because smtp_sasl_security_options means
 * what Postfix (linked with Cyrus) makes of it: PLAIN and LOGIN send the
 * password itself, so "noplaintext" (in Postfix's default) refuses them,
 * over TLS too unless smtp_sasl_tls_security_options says otherwise;
 * CRAM-MD5 is refused by "noactive", "nodictionary" and "mutual_auth";
 * SCRAM only by "nodictionary".  This client never authenticates
 * anonymously, so "noanonymous" refuses nothing it has.
 *
 * PLAIN sends "\0user\0password" as its initial response (no authorization
 * identity) and expects no challenge.  LOGIN answers the first challenge
 * with the user name and the second with the password, whatever prompt
 * text they carry (servers word them differently), and refuses a third.
 * CRAM-MD5 and SCRAM come from GNU SASL (sasl_gsasl.c); the challenges are
 * decoded here, with the same strict decoder, before the library sees them.
 *
 * Interface: sasl_mech.h.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* core */
#include "core.h"
/* smtp */
#include "sasl_gsasl.h"
#include "sasl_mech.h"

#define SASL_CREDENTIAL_MAX 1024 /* bytes of a user name or a password */

enum mech_kind {
	MECH_PLAIN,
	MECH_LOGIN,
	MECH_LIBRARY /* GNU SASL */
};

struct mech_info {
	const char *name;
	unsigned props; /* SASL_SEC_* this mechanism has */
	enum mech_kind kind;
};

#define SCRAM_PROPS \
	(SASL_SEC_NOPLAINTEXT | SASL_SEC_NOACTIVE | SASL_SEC_NOANONYMOUS | SASL_SEC_MUTUAL_AUTH)

/* In order of preference. */
static const struct mech_info mech_table[] = {
	{ "SCRAM-SHA-256", SCRAM_PROPS, MECH_LIBRARY },
	{ "SCRAM-SHA-1", SCRAM_PROPS, MECH_LIBRARY },
	{ "CRAM-MD5", SASL_SEC_NOPLAINTEXT | SASL_SEC_NOANONYMOUS, MECH_LIBRARY },
	{ "PLAIN", SASL_SEC_NOANONYMOUS, MECH_PLAIN },
	{ "LOGIN", SASL_SEC_NOANONYMOUS, MECH_LOGIN },
};

#define MECH_COUNT (sizeof(mech_table) / sizeof(mech_table[0]))

static const struct {
	const char *word;
	unsigned prop;
} security_words[] = {
	{ "noplaintext", SASL_SEC_NOPLAINTEXT },
	{ "noactive", SASL_SEC_NOACTIVE },
	{ "nodictionary", SASL_SEC_NODICTIONARY },
	{ "noanonymous", SASL_SEC_NOANONYMOUS },
	{ "mutual_auth", SASL_SEC_MUTUAL_AUTH },
};

struct sasl_mech {
	const struct mech_info *info;
	char *user;
	char *pass;
	unsigned challenges; /* answered so far */
	int complete;	     /* GNU SASL said the exchange is over */
	struct sasl_gsasl *lib;
};

/* ------------------------------------------------------------------------
 * Security properties and the choice of a mechanism.
 */
unsigned
sasl_security_mask(const char *options)
{
	unsigned mask = 0;

	for (const char *p = options; p != NULL && *p != '\0';) {
		size_t len;

		p += strspn(p, ", \t");
		if ((len = strcspn(p, ", \t")) == 0)
			break;
		for (size_t i = 0; i < sizeof(security_words) / sizeof(security_words[0]); i++)
			if (strlen(security_words[i].word) == len
			    && strncasecmp(p, security_words[i].word, len) == 0)
				mask |= security_words[i].prop;
		p += len;
	}
	return mask;
}

static const struct mech_info *
find_mech(const char *name)
{
	for (size_t i = 0; i < MECH_COUNT; i++)
		if (strcasecmp(mech_table[i].name, name) == 0)
			return &mech_table[i];
	return NULL;
}

int
sasl_mech_known(const char *name)
{
	const struct mech_info *m = find_mech(name);

	return m != NULL && (m->kind != MECH_LIBRARY || sasl_gsasl_built());
}

static int
offered(const char *name, const char *const *names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strcasecmp(names[i], name) == 0)
			return 1;
	return 0;
}

const char *
sasl_mech_choose(const char *const *names, size_t n, unsigned required)
{
	for (size_t i = 0; i < MECH_COUNT; i++) {
		const struct mech_info *m = &mech_table[i];

		if ((m->props & required) != required || !offered(m->name, names, n))
			continue;
		/* Only here, for a mechanism about to be used, is the library loaded. */
		if (m->kind == MECH_LIBRARY && !sasl_gsasl_usable(m->name))
			continue;
		return m->name;
	}
	return NULL;
}

/* ------------------------------------------------------------------------
 * base64.
 */
static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t
sasl_b64_encode(const unsigned char *in, size_t len, char *out, size_t cap)
{
	size_t o = 0;

	if (cap < SASL_B64_LEN(len) + 1) {
		if (cap > 0)
			out[0] = '\0';
		return 0;
	}
	for (size_t i = 0; i < len; i += 3) {
		unsigned v = (unsigned)in[i] << 16;

		if (i + 1 < len)
			v |= (unsigned)in[i + 1] << 8;
		if (i + 2 < len)
			v |= in[i + 2];
		out[o++] = b64_alphabet[(v >> 18) & 63];
		out[o++] = b64_alphabet[(v >> 12) & 63];
		out[o++] = i + 1 < len ? b64_alphabet[(v >> 6) & 63] : '=';
		out[o++] = i + 2 < len ? b64_alphabet[v & 63] : '=';
	}
	out[o] = '\0';
	return o;
}

static int
b64_value(char c)
{
	const char *p;

	if (c == '\0' || (p = strchr(b64_alphabet, c)) == NULL)
		return -1;
	return (int)(p - b64_alphabet);
}

int
sasl_b64_decode(const char *in, size_t len, unsigned char *out, size_t cap, size_t *outlen)
{
	size_t o = 0;

	*outlen = 0;
	if (len % 4 != 0)
		return -1;
	for (size_t i = 0; i < len; i += 4) {
		int last = i + 4 == len;
		int pad = 0;
		int v[4];

		for (int k = 0; k < 4; k++) {
			if (in[i + k] == '=' && last && k >= 2) {
				v[k] = 0;
				pad++;
				continue;
			}
			/* '=' anywhere else, or a character after padding */
			if (pad > 0 || (v[k] = b64_value(in[i + k])) < 0)
				return -1;
		}
		/* Padding hides bits that must be zero (RFC 4648 3.5, canonical). */
		if ((pad == 1 && (v[2] & 3) != 0) || (pad == 2 && (v[1] & 15) != 0))
			return -1;
		if (o + 3 - (size_t)pad > cap)
			return -1;
		out[o++] = (unsigned char)((v[0] << 2) | (v[1] >> 4));
		if (pad < 2)
			out[o++] = (unsigned char)(((v[1] & 15) << 4) | (v[2] >> 2));
		if (pad < 1)
			out[o++] = (unsigned char)(((v[2] & 3) << 6) | v[3]);
	}
	*outlen = o;
	return 0;
}

/* raw bytes -> malloc'ed base64 */
static char *
b64_dup(const unsigned char *raw, size_t len)
{
	size_t cap = SASL_B64_LEN(len) + 1;
	char *out = malloc(cap);

	if (out != NULL)
		(void)sasl_b64_encode(raw, len, out, cap);
	return out;
}

/* ------------------------------------------------------------------------
 * The mechanisms.
 */
static void
wipe_free(char *s)
{
	if (s == NULL)
		return;
	explicit_bzero(s, strlen(s));
	free(s);
}

/* PLAIN: "\0user\0password" (RFC 4616, no authorization identity). */
static char *
plain_response(const struct sasl_mech *m)
{
	size_t ulen = strlen(m->user), plen = strlen(m->pass);
	size_t len = ulen + plen + 2;
	unsigned char *raw = malloc(len);
	char *b64;

	if (raw == NULL)
		return NULL;
	raw[0] = '\0';
	memcpy(raw + 1, m->user, ulen);
	raw[1 + ulen] = '\0';
	memcpy(raw + 2 + ulen, m->pass, plen);
	b64 = b64_dup(raw, len);
	explicit_bzero(raw, len);
	free(raw);
	return b64;
}

/* GNU SASL's first turn: what it sends before any challenge, if anything. */
static int
library_initial(struct sasl_mech *m, char **initial, char *why, size_t whylen)
{
	unsigned char *out;
	size_t outlen;
	int rc;

	if ((rc = sasl_gsasl_step(m->lib, NULL, 0, &out, &outlen, why, whylen)) < 0)
		return -1;
	m->complete = rc == 0;
	if (outlen > 0 && (*initial = b64_dup(out, outlen)) == NULL) {
		snprintf(why, whylen, "out of memory");
		rc = -1;
	}
	explicit_bzero(out, outlen);
	free(out);
	return rc < 0 ? -1 : 0;
}

int
sasl_mech_start(const char *name, const char *user, const char *pass, struct sasl_mech **out,
    char **initial, char *why, size_t whylen)
{
	const struct mech_info *info = find_mech(name);
	struct sasl_mech *m;

	*out = NULL;
	*initial = NULL;
	if (info == NULL) {
		snprintf(why, whylen, "unknown mechanism");
		return -1;
	}
	if (strlen(user) > SASL_CREDENTIAL_MAX || strlen(pass) > SASL_CREDENTIAL_MAX) {
		snprintf(why, whylen, "user name or password longer than %d bytes",
		    SASL_CREDENTIAL_MAX);
		return -1;
	}
	if ((m = calloc(1, sizeof(*m))) == NULL || (m->user = strdup(user)) == NULL
	    || (m->pass = strdup(pass)) == NULL) {
		sasl_mech_free(m);
		snprintf(why, whylen, "out of memory");
		return -1;
	}
	m->info = info;
	switch (info->kind) {
	case MECH_PLAIN:
		if ((*initial = plain_response(m)) == NULL) {
			snprintf(why, whylen, "out of memory");
			sasl_mech_free(m);
			return -1;
		}
		break;
	case MECH_LOGIN:
		break;
	case MECH_LIBRARY:
		if (sasl_gsasl_start(info->name, user, pass, &m->lib, why, whylen) != 0
		    || library_initial(m, initial, why, whylen) != 0) {
			sasl_mech_free(m);
			return -1;
		}
		break;
	}
	*out = m;
	return 0;
}

/* The challenge's bytes (malloc'ed), or NULL when it is not strict base64. */
static unsigned char *
decode_challenge(const char *challenge, size_t len, size_t *rawlen, char *why, size_t whylen)
{
	unsigned char *raw = malloc(len / 4 * 3 + 1);

	if (raw == NULL) {
		snprintf(why, whylen, "out of memory");
		return NULL;
	}
	if (sasl_b64_decode(challenge, len, raw, len / 4 * 3 + 1, rawlen) != 0) {
		free(raw);
		snprintf(why, whylen, "malformed server challenge (not base64)");
		return NULL;
	}
	return raw;
}

static int
library_step(struct sasl_mech *m, const unsigned char *raw, size_t rawlen, char **response,
    char *why, size_t whylen)
{
	unsigned char *out;
	size_t outlen;
	int rc;

	if (m->complete) {
		snprintf(why, whylen, "unexpected server challenge after the %s exchange completed",
		    m->info->name);
		return -1;
	}
	if ((rc = sasl_gsasl_step(m->lib, raw, rawlen, &out, &outlen, why, whylen)) < 0)
		return -1;
	m->complete = rc == 0;
	*response = b64_dup(out, outlen);
	explicit_bzero(out, outlen);
	free(out);
	if (*response == NULL) {
		snprintf(why, whylen, "out of memory");
		return -1;
	}
	return 0;
}

int
sasl_mech_step(struct sasl_mech *m, const char *challenge, size_t len, char **response, char *why,
    size_t whylen)
{
	unsigned char *raw;
	size_t rawlen;
	int rc = -1;

	*response = NULL;
	if ((raw = decode_challenge(challenge, len, &rawlen, why, whylen)) == NULL)
		return -1;
	m->challenges++;
	switch (m->info->kind) {
	case MECH_PLAIN:
		snprintf(why, whylen, "unexpected server challenge after the PLAIN response");
		break;
	case MECH_LOGIN:
		if (m->challenges > 2) {
			snprintf(why, whylen, "unexpected third LOGIN challenge");
			break;
		}
		*response = m->challenges == 1
		    ? b64_dup((const unsigned char *)m->user, strlen(m->user))
		    : b64_dup((const unsigned char *)m->pass, strlen(m->pass));
		if (*response == NULL)
			snprintf(why, whylen, "out of memory");
		else
			rc = 0;
		break;
	case MECH_LIBRARY:
		rc = library_step(m, raw, rawlen, response, why, whylen);
		break;
	}
	explicit_bzero(raw, rawlen);
	free(raw);
	return rc;
}

void
sasl_mech_free(struct sasl_mech *m)
{
	if (m == NULL)
		return;
	wipe_free(m->user);
	wipe_free(m->pass);
	sasl_gsasl_free(m->lib);
	free(m);
}
