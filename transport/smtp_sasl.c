/*
 * smtp_sasl.c - SMTP AUTH to a relay host, as Postfix's smtp(8) does it.
 *
 * Credentials.  smtp_sasl_password_maps is a list of maps (policymap/), so
 * it takes every type smtp_tls_policy_maps takes.  Keys are folded to lower
 * case (Postfix opens the table with DICT_FLAG_FOLD_FIX); the first hit
 * wins, in the order of smtp_sasl_glue.c: the envelope sender when
 * smtp_sender_dependent_authentication = yes (user+ext@domain with
 * recipient_delimiter, user@domain, @domain), the server's host name, the
 * next-hop as given ("[relay.example]:587": brackets and port must be
 * written as in relayhost).  The value is "user:password", split at the
 * first smtp_sasl_password_result_delimiter, so a password may hold ':'.
 * No entry: no AUTH.  A lookup error defers, 4.3.0 "local data error while
 * talking to H[A]", with a warning; the warning never quotes a table value
 * (quoted excerpts in the map's reason are cut).
 *
 * Mechanisms.  The server's AUTH lists (AUTH and the old AUTH= form, all
 * lines of the last EHLO) go through smtp_sasl_mechanism_filter: names,
 * "!name", "type:table" (a match when the lookup finds the name) and
 * "/file" (more patterns), first match wins, as Postfix's string lists.
 * Nothing left: 4.7.0 "SASL authentication failed: server H offered no
 * compatible authentication mechanisms for this type of connection
 * security".  Then the security options of the connection: no TLS,
 * smtp_sasl_security_options; TLS with a matched certificate,
 * smtp_sasl_tls_verified_security_options; other TLS,
 * smtp_sasl_tls_security_options.  No mechanism they allow: 4.7.0
 * "cannot authenticate to server H: no mechanism available" (Cyrus SASL's
 * words, which Postfix passes on).
 *
 * Dialogue.  "AUTH MECH RESPONSE" when the line fits in 512 octets (RFC
 * 4954 4), else "AUTH MECH" and the response after an empty 334; then one
 * response per 334, at most 100; a mechanism error is 4.7.0 "cannot
 * authenticate to server H: why" (a malformed challenge is one), a loop
 * 4.3.0.  A final reply other than 2xx: "SASL authentication failed;
 * server H said: REPLY" with the server's own code, 5 turned into 4 by
 * smtp_sasl_auth_soft_bounce = yes (the default).  Every failure but that
 * hard one lets the caller try the next server, as smtp_sess_fail().
 *
 * Secrecy.  Credentials live in this module only; lines that carry them are
 * logged (with -v) as "AUTH PLAIN [initial response, N bytes]" and "[SASL
 * response, N bytes]"; no text built here contains them; server text that
 * echoes the password or a response is redacted (sasl_redact); everything
 * is wiped when the session ends.
 *
 * Interface: smtp_sasl.h.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* core */
#include "core.h"
/* net */
#include "reply.h"
/* smtp */
#include "sasl_mech.h"
#include "smtp_sasl.h"

#define AUTH_LINE_MAX  512 /* RFC 4954 4: "AUTH mech response" CRLF */
#define SASL_STEPS_MAX 100 /* as Postfix */
#define MECH_NAME_MAX  20  /* RFC 4422 3.1 */
#define MECHS_MAX      32  /* names kept from one EHLO */
#define FILTER_MAX     64  /* smtp_sasl_mechanism_filter patterns */
#define SECRETS_MAX    8   /* strings redacted from server text */
#define SECRET_MIN     4   /* shorter ones would garble any text */
#define SASL_KEY_MAX   (ADDRESS_MAX + 64)

struct filter_pattern {
	int negate;		   /* "!pattern" */
	char *name;		   /* a mechanism name, or NULL */
	struct policy_maps *table; /* a type:table, or NULL */
};

struct sasl_maps {
	const struct tlsmtp_config *cfg;
	struct policy_maps *passwords;
	struct filter_pattern filter[FILTER_MAX];
	size_t nfilter;
};

struct sasl_session {
	const struct tlsmtp_config *cfg;
	struct sasl_maps *maps;
	struct sasl_peer peer;
	int looked_up;
	int found; /* 1 credentials, 0 none, -1 lookup error */
	char *user;
	char *pass;
	char key[SASL_KEY_MAX]; /* the key that matched, for the log */
	char map[256];
	int offered;	  /* the last EHLO had an AUTH keyword */
	int filter_error; /* a filter table could not be read */
	char mechs[MECHS_MAX][MECH_NAME_MAX + 1];
	size_t nmechs;
	int authenticated;
	char *secrets[SECRETS_MAX];
	size_t nsecrets;
};

/* ------------------------------------------------------------------------
 * Small helpers.
 */
static void
wipe_free(char *s)
{
	if (s == NULL)
		return;
	explicit_bzero(s, strlen(s));
	free(s);
}

static void
fold(char *s)
{
	for (; *s != '\0'; s++)
		*s = (char)tolower((unsigned char)*s);
}

/*
 * A map's reason for a warning: cut at the first double quote, where
 * table readers quote the line (which, here, may hold a password).
 */
static void
scrub_detail(char *detail)
{
	char *q = strchr(detail, '"');

	if (q != NULL)
		snprintf(q, strlen(q) + 1, "...");
}

/* ------------------------------------------------------------------------
 * Opening the tables and the filter.
 */
static int
add_pattern(struct sasl_maps *m, const char *text, size_t len,
    const struct policy_map_backend *b, size_t nb, int depth, char *err, size_t errlen);

/* "/file": its words are more patterns (comments start with '#'). */
static int
add_file_patterns(struct sasl_maps *m, const char *path, const struct policy_map_backend *b,
    size_t nb, char *err, size_t errlen)
{
	char line[1024];
	FILE *fp;
	int rc = 0;

	if ((fp = fopen(path, "re")) == NULL) {
		snprintf(err, errlen, "smtp_sasl_mechanism_filter: open %s: %s", path,
		    strerror(errno));
		return -1;
	}
	while (rc == 0 && fgets(line, sizeof(line), fp) != NULL) {
		char *p = line, *hash = strchr(line, '#');

		if (hash != NULL)
			*hash = '\0';
		while (rc == 0 && *p != '\0') {
			size_t n;

			p += strspn(p, ", \t\r\n");
			if ((n = strcspn(p, ", \t\r\n")) == 0)
				break;
			rc = add_pattern(m, p, n, b, nb, 1, err, errlen);
			p += n;
		}
	}
	fclose(fp);
	return rc;
}

static int
add_pattern(struct sasl_maps *m, const char *text, size_t len, const struct policy_map_backend *b,
    size_t nb, int depth, char *err, size_t errlen)
{
	struct filter_pattern *f;
	char *spec;
	int negate = 0, rc = 0;

	if (len > 0 && text[0] == '!') {
		negate = 1;
		text++;
		len--;
	}
	if (len == 0 || (spec = strndup(text, len)) == NULL) {
		snprintf(err, errlen,
		    len == 0 ? "smtp_sasl_mechanism_filter: empty pattern" : "out of memory");
		return -1;
	}
	if (spec[0] == '/' && !negate) {
		if (depth > 0)
			snprintf(err, errlen,
			    "smtp_sasl_mechanism_filter: %s: a file inside a file", spec);
		rc = depth > 0 ? -1 : add_file_patterns(m, spec, b, nb, err, errlen);
		free(spec);
		return rc;
	}
	if (m->nfilter == FILTER_MAX) {
		free(spec);
		snprintf(err, errlen, "smtp_sasl_mechanism_filter: more than %d patterns",
		    FILTER_MAX);
		return -1;
	}
	f = &m->filter[m->nfilter];
	f->negate = negate;
	if (strchr(spec, ':') != NULL) {
		rc = policy_maps_open_with(spec, b, nb, &f->table, err, errlen);
		free(spec);
	} else {
		fold(spec);
		f->name = spec;
	}
	if (rc == 0)
		m->nfilter++;
	return rc;
}

int
sasl_maps_open(const struct tlsmtp_config *cfg, const struct policy_map_backend *backends,
    size_t nbackends, struct sasl_maps **out, char *err, size_t errlen)
{
	struct sasl_maps *m;
	char detail[512];

	*out = NULL;
	if (!cfg->sasl_auth_enable)
		return 0;
	if ((m = calloc(1, sizeof(*m))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	m->cfg = cfg;
	if (policy_maps_open_with(cfg->sasl_password_maps, backends, nbackends, &m->passwords,
		detail, sizeof(detail))
	    != 0) {
		/* Only a type's name and the table's name are quoted there: no value. */
		if (strncmp(detail, "unsupported table type", 22) != 0)
			scrub_detail(detail);
		snprintf(err, errlen, "smtp_sasl_password_maps: %s%s", detail,
		    strstr(detail, "tlsmap lmdb:") != NULL
			? " (a password table compiles with "
			  "\"tlsmap -P lmdb:FILE\" or \"postmap lmdb:FILE\")"
			: "");
		sasl_maps_close(m);
		return -1;
	}
	for (const char *p = cfg->sasl_mechanism_filter; *p != '\0';) {
		size_t n;

		p += strspn(p, ", \t\r\n");
		if ((n = policy_list_element_length(p)) == 0)
			break;
		if (add_pattern(m, p, n, backends, nbackends, 0, err, errlen) != 0) {
			sasl_maps_close(m);
			return -1;
		}
		p += n;
	}
	*out = m;
	return 0;
}

void
sasl_maps_close(struct sasl_maps *m)
{
	if (m == NULL)
		return;
	policy_maps_close(m->passwords);
	for (size_t i = 0; i < m->nfilter; i++) {
		free(m->filter[i].name);
		policy_maps_close(m->filter[i].table);
	}
	free(m);
}

/* ------------------------------------------------------------------------
 * Sessions and credentials.
 */
struct sasl_session *
sasl_session_new(const struct tlsmtp_config *cfg, struct sasl_maps *maps,
    const struct sasl_peer *peer)
{
	struct sasl_session *s = calloc(1, sizeof(*s));

	if (s == NULL)
		return NULL;
	s->cfg = cfg;
	s->maps = maps;
	s->peer = *peer;
	return s;
}

void
sasl_session_free(struct sasl_session *s)
{
	if (s == NULL)
		return;
	wipe_free(s->user);
	wipe_free(s->pass);
	for (size_t i = 0; i < s->nsecrets; i++)
		wipe_free(s->secrets[i]);
	explicit_bzero(s, sizeof(*s));
	free(s);
}

/* One key in every password map: 1 found, 0 not, -1 error (logged). */
static int
lookup_key(struct sasl_session *s, const char *key, char **value)
{
	char folded[SASL_KEY_MAX], detail[1024];
	const char *map = NULL;
	int rc;

	if (snprintf(folded, sizeof(folded), "%s", key) >= (int)sizeof(folded))
		return 0;
	fold(folded);
	rc = policy_maps_find(s->maps->passwords, folded, value, &map, detail, sizeof(detail));
	if (rc < 0) {
		scrub_detail(detail);
		log_warn("smtp_sasl_password_maps lookup error: %s", detail);
		return -1;
	}
	if (rc > 0) {
		snprintf(s->key, sizeof(s->key), "%s", folded);
		snprintf(s->map, sizeof(s->map), "%s", map);
	}
	return rc;
}

/*
 * The sender's keys, as Postfix's mail_addr_find(): the address, without
 * its extension when recipient_delimiter is set and the local part has
 * one, then "@domain".
 */
static int
lookup_sender(struct sasl_session *s, char **value)
{
	const char *sender = s->peer.sender, *at = strrchr(sender, '@');
	const char *delims = s->cfg->recipient_delimiter;
	char key[SASL_KEY_MAX];
	int rc;

	if ((rc = lookup_key(s, sender, value)) != 0 || at == NULL)
		return rc;
	if (delims != NULL && delims[0] != '\0') {
		size_t local = strcspn(sender, delims);

		if (local < (size_t)(at - sender) && local > 0) {
			snprintf(key, sizeof(key), "%.*s%s", (int)local, sender, at);
			if ((rc = lookup_key(s, key, value)) != 0)
				return rc;
		}
	}
	return lookup_key(s, at, value);
}

/* "user:password" at the first delimiter; the value is consumed. */
static int
take_value(struct sasl_session *s, char *value)
{
	char *delim = strchr(value, s->cfg->sasl_password_result_delimiter[0]);

	if (delim != NULL)
		*delim = '\0';
	s->user = strdup(value);
	s->pass = strdup(delim != NULL ? delim + 1 : "");
	if (delim != NULL)
		explicit_bzero(delim + 1, strlen(delim + 1));
	wipe_free(value);
	if (s->user == NULL || s->pass == NULL) {
		log_warn("out of memory while reading smtp_sasl_password_maps");
		return -1;
	}
	return 1;
}

int
sasl_credentials(struct sasl_session *s)
{
	char *value = NULL;
	int rc = 0;

	if (s->looked_up)
		return s->found;
	s->looked_up = 1;
	if (s->cfg->sender_dependent_authentication && s->peer.sender[0] != '\0')
		rc = lookup_sender(s, &value);
	if (rc == 0)
		rc = lookup_key(s, s->peer.host, &value);
	if (rc == 0)
		rc = lookup_key(s, s->peer.nexthop, &value);
	if (rc > 0)
		rc = take_value(s, value);
	s->found = rc;
	if (rc > 0)
		log_verbose("%s: SASL credentials for %s from %s (user %s)", s->peer.namaddr,
		    s->key, s->map, s->user);
	else if (rc == 0)
		log_verbose("%s: no SASL credentials (sender <%s>, host %s, next-hop %s)",
		    s->peer.namaddr, s->peer.sender, s->peer.host, s->peer.nexthop);
	return rc;
}

/* ------------------------------------------------------------------------
 * The server's mechanisms.
 */

/* 1 the filter allows name, 0 not, -1 a table error (logged). */
static int
filter_allows(struct sasl_session *s, const char *name)
{
	const struct sasl_maps *m = s->maps;
	char folded[MECH_NAME_MAX + 1], detail[512];

	if (m->nfilter == 0)
		return 1;
	snprintf(folded, sizeof(folded), "%s", name);
	fold(folded);
	for (size_t i = 0; i < m->nfilter; i++) {
		const struct filter_pattern *f = &m->filter[i];
		int hit;

		if (f->name != NULL) {
			hit = strcmp(f->name, folded) == 0;
		} else {
			char *value = NULL;
			const char *map;

			hit = policy_maps_find(f->table, folded, &value, &map, detail,
			    sizeof(detail));
			free(value);
			if (hit < 0) {
				log_warn("smtp_sasl_mechanism_filter lookup error: %s", detail);
				return -1;
			}
		}
		if (hit)
			return !f->negate;
	}
	return 0;
}

static int
valid_mech_name(const char *w, size_t len)
{
	if (len == 0 || len > MECH_NAME_MAX)
		return 0;
	for (size_t i = 0; i < len; i++)
		if (!isupper((unsigned char)w[i]) && !islower((unsigned char)w[i])
		    && !isdigit((unsigned char)w[i]) && w[i] != '-' && w[i] != '_')
			return 0;
	return 1;
}

static void
add_mech(struct sasl_session *s, const char *w, size_t len)
{
	int allowed;

	if (!valid_mech_name(w, len) || s->nmechs == MECHS_MAX)
		return;
	for (size_t i = 0; i < s->nmechs; i++)
		if (strlen(s->mechs[i]) == len && strncasecmp(s->mechs[i], w, len) == 0)
			return;
	memcpy(s->mechs[s->nmechs], w, len);
	s->mechs[s->nmechs][len] = '\0';
	if ((allowed = filter_allows(s, s->mechs[s->nmechs])) < 0)
		s->filter_error = 1;
	if (allowed > 0)
		s->nmechs++;
}

/* One EHLO line after the first: "AUTH PLAIN LOGIN" or "AUTH=PLAIN LOGIN". */
static void
ehlo_line(struct sasl_session *s, const char *line, size_t len, char *offered, size_t offcap)
{
	size_t i = 0, o = strlen(offered);

	while (i < len && (line[i] == ' ' || line[i] == '\t'))
		i++;
	if (len - i < 4 || strncasecmp(line + i, "AUTH", 4) != 0
	    || (len - i > 4 && line[i + 4] != ' ' && line[i + 4] != '=' && line[i + 4] != '\t'))
		return;
	s->offered = 1;
	for (i += 5; i < len;) {
		size_t w = i;

		while (w < len && line[w] != ' ' && line[w] != '\t')
			w++;
		if (w > i) {
			add_mech(s, line + i, w - i);
			if (o + (w - i) + 2 < offcap) {
				o += (size_t)snprintf(offered + o, offcap - o, "%s%.*s",
				    o ? " " : "", (int)(w - i), line + i);
			}
		}
		i = w + 1;
	}
}

void
sasl_ehlo(struct sasl_session *s, const struct smtp_reply *ehlo)
{
	char offered[256] = "";

	if (s == NULL)
		return;
	s->offered = 0;
	s->filter_error = 0;
	s->nmechs = 0;
	if (ehlo == NULL)
		return;
	for (const char *p = ehlo->text, *nl; p != NULL && *p != '\0'; p = nl ? nl + 1 : NULL) {
		nl = strchr(p, '\n');
		/* The first line is the server's name. */
		if (p != ehlo->text)
			ehlo_line(s, p, nl != NULL ? (size_t)(nl - p) : strlen(p), offered,
			    sizeof(offered));
	}
	if (s->offered && s->nmechs == 0 && !s->filter_error) {
		char shown[300];

		if (offered[0] != '\0')
			log_warn("%s offered no supported AUTH mechanisms: '%s'", s->peer.namaddr,
			    outcome_quote_text(offered, strlen(offered), shown, sizeof(shown)));
		else
			log_warn("%s offered null AUTH mechanism list", s->peer.namaddr);
	}
}

/* ------------------------------------------------------------------------
 * The dialogue.
 */

/* Keep a string that must not show up in server text we quote or log. */
static void
keep_secret(struct sasl_session *s, const char *secret)
{
	if (secret == NULL || strlen(secret) < SECRET_MIN || s->nsecrets == SECRETS_MAX)
		return;
	if ((s->secrets[s->nsecrets] = strdup(secret)) != NULL)
		s->nsecrets++;
}

int
sasl_redact(const struct sasl_session *s, char *text)
{
	int count = 0;

	if (s == NULL)
		return 0;
	for (size_t i = 0; i < s->nsecrets + 1; i++) {
		const char *secret = i < s->nsecrets ? s->secrets[i] : s->pass;
		size_t n;
		char *hit;

		if (secret == NULL || (n = strlen(secret)) < SECRET_MIN)
			continue;
		while ((hit = strstr(text, secret)) != NULL) {
			*hit = '*';
			memmove(hit + 1, hit + n, strlen(hit + n) + 1);
			count++;
		}
	}
	return count;
}

/* The challenge of a 334: its first line, without the blanks around it. */
static const char *
challenge_of(const struct smtp_reply *r, size_t *len)
{
	const char *p = r->text, *end;

	while (*p == ' ' || *p == '\t')
		p++;
	end = strchr(p, '\n');
	if (end == NULL)
		end = p + strlen(p);
	while (end > p && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	*len = (size_t)(end - p);
	return p;
}

static int
failed(char *dsn, size_t dsnlen, char *text, size_t textlen, const char *code,
    const char *fmt, ...) __attribute__((format(printf, 6, 7)));

static int
failed(char *dsn, size_t dsnlen, char *text, size_t textlen, const char *code, const char *fmt, ...)
{
	va_list ap;

	snprintf(dsn, dsnlen, "%s", code);
	va_start(ap, fmt);
	text_vcut(text, textlen, fmt, ap);
	va_end(ap);
	return SASL_RESULT_FAILED;
}

/* Send a response (base64) to the server, shown redacted. */
static int
respond(struct sasl_session *s, const struct sasl_io *io, const char *response,
    const struct smtp_reply **reply)
{
	char shown[64];

	keep_secret(s, response);
	snprintf(shown, sizeof(shown), "[SASL response, %zu bytes]", strlen(response));
	return io->exchange(io->ctx, response, shown, reply);
}

/* The AUTH command, with the initial response when it fits. */
static int
send_auth(struct sasl_session *s, const struct sasl_io *io, const char *mech, const char *initial,
    int *deferred, const struct smtp_reply **reply)
{
	char *line;
	char shown[128];
	size_t len;
	int rc;

	*deferred = 0;
	if (initial == NULL
	    || strlen("AUTH  \r\n") + strlen(mech) + strlen(initial) > AUTH_LINE_MAX) {
		*deferred = initial != NULL;
		snprintf(shown, sizeof(shown), "AUTH %s", mech);
		return io->exchange(io->ctx, shown, shown, reply);
	}
	keep_secret(s, initial);
	len = strlen(mech) + strlen(initial) + 8;
	if ((line = malloc(len)) == NULL)
		return -2;
	snprintf(line, len, "AUTH %s %s", mech, initial[0] != '\0' ? initial : "=");
	snprintf(shown, sizeof(shown), "AUTH %s [initial response, %zu bytes]", mech,
	    strlen(initial));
	rc = io->exchange(io->ctx, line, shown, reply);
	explicit_bzero(line, len);
	free(line);
	return rc;
}

/* Mechanism names offered and allowed, as an array for sasl_mech_choose(). */
static size_t
mech_names(const struct sasl_session *s, const char **names)
{
	for (size_t i = 0; i < s->nmechs; i++)
		names[i] = s->mechs[i];
	return s->nmechs;
}

static unsigned
required_properties(const struct sasl_session *s, enum sasl_channel channel, const char **param)
{
	const struct tlsmtp_config *cfg = s->cfg;

	switch (channel) {
	case SASL_CHANNEL_TLS_VERIFIED:
		*param = "smtp_sasl_tls_verified_security_options";
		return sasl_security_mask(cfg->sasl_tls_verified_security_options);
	case SASL_CHANNEL_TLS:
		*param = "smtp_sasl_tls_security_options";
		return sasl_security_mask(cfg->sasl_tls_security_options);
	case SASL_CHANNEL_PLAIN:
		break;
	}
	*param = "smtp_sasl_security_options";
	return sasl_security_mask(cfg->sasl_security_options);
}

/* The final reply was not 2xx: the server's code, soft unless told otherwise. */
static int
refused(struct sasl_session *s, const struct smtp_reply *r, char *dsn, size_t dsnlen, char *text,
    size_t textlen)
{
	char raw[OUTCOME_TEXT_MAX], quoted[OUTCOME_TEXT_MAX];

	reply_quote(r, raw, sizeof(raw));
	sasl_redact(s, raw);
	outcome_quote_text(raw, strlen(raw), quoted, sizeof(quoted));
	reply_dsn(r, dsn, dsnlen);
	if (s->cfg->sasl_auth_soft_bounce && dsn[0] == '5')
		dsn[0] = '4';
	text_cut(text, textlen, "SASL authentication failed; server %s said: %s", s->peer.namaddr,
	    quoted);
	return SASL_RESULT_FAILED;
}

/* After AUTH: one response per 334 until the server's final reply. */
static int
dialogue(struct sasl_session *s, struct sasl_mech *mech, const struct sasl_io *io,
    const char *initial, int deferred, const struct smtp_reply *r, char *dsn, size_t dsnlen,
    char *text, size_t textlen)
{
	char why[256];
	const char *challenge;
	size_t len;
	int steps = 0, rc;

	while (r->code / 100 == 3) {
		char *response = NULL;

		if (++steps > SASL_STEPS_MAX)
			return failed(dsn, dsnlen, text, textlen, "4.3.0",
			    "SASL authentication failed; "
			    "authentication protocol loop with server %s",
			    s->peer.namaddr);
		challenge = challenge_of(r, &len);
		if (deferred) {
			/* The initial response did not fit on the AUTH line. */
			deferred = 0;
			if (len != 0)
				return failed(dsn, dsnlen, text, textlen, "4.7.0",
				    "SASL authentication "
				    "failed; cannot authenticate to server %s: protocol error: non-empty "
				    "challenge while the initial response was deferred",
				    s->peer.namaddr);
			rc = respond(s, io, initial, &r);
		} else {
			if (sasl_mech_step(mech, challenge, len, &response, why, sizeof(why)) != 0)
				return failed(dsn, dsnlen, text, textlen, "4.7.0",
				    "SASL authentication "
				    "failed; cannot authenticate to server %s: %s",
				    s->peer.namaddr, why);
			rc = respond(s, io, response, &r);
			wipe_free(response);
		}
		if (rc != 0)
			return rc == -2
			    ? failed(dsn, dsnlen, text, textlen, "4.3.0", "out of memory")
			    : SASL_RESULT_IO;
	}
	if (r->code / 100 != 2)
		return refused(s, r, dsn, dsnlen, text, textlen);
	return SASL_RESULT_OK;
}

enum sasl_result
sasl_login(struct sasl_session *s, enum sasl_channel channel, const struct sasl_io *io, char *dsn,
    size_t dsnlen, char *text, size_t textlen)
{
	const char *names[MECHS_MAX], *mech, *param;
	const struct smtp_reply *r;
	struct sasl_mech *m = NULL;
	char *initial = NULL, why[256];
	unsigned required;
	int deferred, rc;

	if (s == NULL || !s->offered)
		return SASL_RESULT_OK;
	if ((rc = sasl_credentials(s)) == 0)
		return SASL_RESULT_OK;
	if (rc < 0 || s->filter_error)
		return failed(dsn, dsnlen, text, textlen, "4.3.0",
		    "local data error while talking "
		    "to %s",
		    s->peer.namaddr);
	if (s->nmechs == 0)
		return failed(dsn, dsnlen, text, textlen, "4.7.0",
		    "SASL authentication failed: "
		    "server %s offered no compatible authentication mechanisms for this type of "
		    "connection security",
		    s->peer.namaddr);
	required = required_properties(s, channel, &param);
	if ((mech = sasl_mech_choose(names, mech_names(s, names), required)) == NULL) {
		log_verbose(
		    "%s: no SASL mechanism of the server's that %s allows is available here",
		    s->peer.namaddr, param);
		return failed(dsn, dsnlen, text, textlen, "4.7.0",
		    "SASL authentication failed; "
		    "cannot authenticate to server %s: no mechanism available",
		    s->peer.namaddr);
	}
	log_verbose("%s: SASL mechanism %s (%s)", s->peer.namaddr, mech, param);
	if (sasl_mech_start(mech, s->user, s->pass, &m, &initial, why, sizeof(why)) != 0)
		return failed(dsn, dsnlen, text, textlen, "4.7.0",
		    "SASL authentication failed; "
		    "cannot authenticate to server %s: %s",
		    s->peer.namaddr, why);
	rc = send_auth(s, io, mech, initial, &deferred, &r);
	if (rc == 0)
		rc = dialogue(s, m, io, initial, deferred, r, dsn, dsnlen, text, textlen);
	else
		rc = rc == -2 ? failed(dsn, dsnlen, text, textlen, "4.3.0", "out of memory")
			      : SASL_RESULT_IO;
	wipe_free(initial);
	sasl_mech_free(m);
	if (rc == SASL_RESULT_OK) {
		s->authenticated = 1;
		log_info("%s: authenticated as %s with %s", s->peer.namaddr, s->user, mech);
	}
	return (enum sasl_result)rc;
}

int
sasl_authenticated(const struct sasl_session *s)
{
	return s != NULL && s->authenticated;
}
