/*
 * smtp_sasl.h - SMTP AUTH to a relay host (RFC 4954) as Postfix's smtp(8)
 * does it with smtp_sasl_auth_enable = yes: credentials from
 * smtp_sasl_password_maps, the server's AUTH list through
 * smtp_sasl_mechanism_filter, a mechanism the security options for the
 * connection allow (sasl_mech.h), the dialogue, and Postfix's failure
 * classes and wording.
 *
 * smtp_proto.c drives it: sasl_ehlo() with every EHLO reply (the last one
 * counts, so a list seen before STARTTLS is forgotten), sasl_login() after
 * the final EHLO, sasl_authenticated() for MAIL FROM's AUTH=<>, and
 * sasl_credentials() to forbid the plaintext retry at "may" once
 * credentials apply.  The dialogue's I/O is the caller's (struct sasl_io),
 * so that commands and replies go through its one stream, deadlines and
 * log, with every client line that carries a credential shown redacted.
 */
#ifndef TLSMTP_SMTP_SASL_H
#define TLSMTP_SMTP_SASL_H

#include <stddef.h>

/* core */
#include "core.h"
/* net */
#include "reply.h"

/* smtp_sasl_password_maps and smtp_sasl_mechanism_filter, once per process. */
struct sasl_maps;

/*
 * Open the tables (policymap's list of maps: lmdb:, texthash:, inline:,
 * static: and the caller's types, e.g. socketmap:) and parse the filter.
 * *out is NULL when smtp_sasl_auth_enable = no.  Returns 0, or -1 with the
 * reason (a configuration error; the reason never quotes a table value).
 */
int sasl_maps_open(const struct tlsmtp_config *cfg, const struct policy_map_backend *backends,
    size_t nbackends, struct sasl_maps **out, char *err, size_t errlen);
void sasl_maps_close(struct sasl_maps *m);

/* Who this session talks to, for the password lookup and the texts. */
struct sasl_peer {
	const char *sender;  /* envelope sender, "" for the null sender */
	const char *host;    /* the server's name: "relay.example", "mx1.example.com" */
	const char *nexthop; /* the next-hop as given: "[relay.example]:587" */
	const char *namaddr; /* "host[addr]" */
};

struct sasl_session;

/* One SMTP session's AUTH state; the peer's strings must outlive it. NULL: no memory. */
struct sasl_session *sasl_session_new(const struct tlsmtp_config *cfg, struct sasl_maps *maps,
    const struct sasl_peer *peer);
/* Frees it; the password and every response sent are wiped first. */
void sasl_session_free(struct sasl_session *s);

/*
 * Whether credentials apply to this server, looked up once, in Postfix's
 * order: the envelope sender when smtp_sender_dependent_authentication =
 * yes (user+ext@domain, user@domain, @domain), then the server's host
 * name, then the next-hop exactly as given.  1 yes, 0 no, -1 lookup error
 * (logged).
 */
int sasl_credentials(struct sasl_session *s);

/* The AUTH keyword of an EHLO reply (NULL: forget what an earlier one said). */
void sasl_ehlo(struct sasl_session *s, const struct smtp_reply *ehlo);

/* The connection the credentials would travel over (the security options to apply). */
enum sasl_channel {
	SASL_CHANNEL_PLAIN,	  /* smtp_sasl_security_options */
	SASL_CHANNEL_TLS,	  /* smtp_sasl_tls_security_options */
	SASL_CHANNEL_TLS_VERIFIED /* smtp_sasl_tls_verified_security_options */
};

/*
 * Send one line (shown is what -v logs instead) and read the complete
 * reply.  Returns 0 with *reply set, or -1 after an I/O or protocol error
 * that the caller has already turned into the session's outcome.
 */
struct sasl_io {
	int (*exchange)(void *ctx, const char *line, const char *shown,
	    const struct smtp_reply **reply);
	void *ctx;
};

enum sasl_result {
	SASL_RESULT_OK,	    /* authenticated, or no AUTH for this server */
	SASL_RESULT_FAILED, /* dsn and text say why, in Postfix's words */
	SASL_RESULT_IO	    /* the exchange failed: the caller's outcome stands */
};

/*
 * After the final EHLO: AUTH when the server offered it and credentials
 * apply, else nothing ("talk to each other like strangers").  On
 * SASL_RESULT_FAILED, dsn is 4.x.x unless the server refused with 5xx and
 * smtp_sasl_auth_soft_bounce = no, and the text never holds a credential.
 */
enum sasl_result sasl_login(struct sasl_session *s, enum sasl_channel channel,
    const struct sasl_io *io, char *dsn, size_t dsnlen, char *text, size_t textlen);
/* 1 after a 235: MAIL FROM gets AUTH=<> (as Postfix). */
int sasl_authenticated(const struct sasl_session *s);
/*
 * Replace, in place, every copy of the password and of each response
 * sent (4 characters or more) in server text that echoes them with "*".
 * Returns the number of replacements (0 for a NULL s).
 */
int sasl_redact(const struct sasl_session *s, char *text);

#endif
