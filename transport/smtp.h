/*
 * smtp.h - one SMTP session with one address: smtp_attempt().
 *
 * tlsmtp.c builds a smtp_request once per message, resolves the effective
 * TLS policy once per next-hop (tls_policy.h), then calls smtp_attempt()
 * for each address of the route until an attempt settles the delivery.
 */
#ifndef TLSMTP_SMTP_H
#define TLSMTP_SMTP_H

#include <stddef.h>
#include <stdint.h>

/* core */
#include "core.h"
/* dns */
#include "dns.h"
#include "route.h"
#include "tlsa.h"
/* tls */
#include "tls_policy.h"
#include "tls_session.h"

struct sasl_maps;  /* smtp_sasl.h */
struct smtp_probe; /* below */

enum rcpt_state {
	RCPT_PENDING = 0,
	RCPT_ACCEPTED, /* 2xx to RCPT in the current transaction */
	RCPT_DONE,     /* 2xx to end of data: delivered */
	RCPT_SOFT,     /* 4xx */
	RCPT_HARD      /* 5xx */
};

struct smtp_rcpt {
	const char *addr; /* checked path content, no angle brackets */
	enum rcpt_state state;
	char dsn[OUTCOME_DSN_MAX];
	char reply[OUTCOME_TEXT_MAX]; /* sanitised server reply for the log */
};

struct smtp_request {
	const struct tlsmtp_config *cfg;
	const struct nexthop *nexthop;
	const char *queue_id;
	const char *sender; /* "" for the null sender */
	int need_smtputf8;
	struct smtp_rcpt *rcpts;
	size_t rcpt_count;
	struct spool *msg;
	const struct tls_effective *tls;
	/* MTA-STS enforce (tlsmtp.c): the policy of an address without usable
	 * DANE records, NULL = none; the summary then says "MTA-STS". */
	const struct tls_effective *sts;
	int sts_last;	     /* set by smtp_attempt: its policy was req->sts */
	int64_t deadline_ms; /* overall delivery deadline */
	int verbose;
	/* smtp_attempt adds 1 for each session that completed EHLO (and TLS,
	 * when used); tlsmtp.c stops at smtp_mx_session_limit. */
	unsigned sessions;
	/* DANE (dane.h): the channel for TLSA lookups. */
	struct dns_ctx *dns;
	int mx_secure; /* route_list.mx_secure of this next-hop */
	int best_pref; /* the route's best preference (its first address) */
	/* Set by smtp_attempt when a refused recipient held the whole batch
	 * back (no DATA); the advice about it has then been logged once. */
	int held_back;
	/* A next-hop list: the destination being tried, for the success
	 * summary, when the server's name does not show it (an MX host of a
	 * domain); NULL otherwise. */
	const char *via;
	/* smtp_sasl_auth_enable = yes: the password tables and the mechanism
	 * filter (smtp_sasl.h), opened once; NULL otherwise. */
	struct sasl_maps *sasl;
	/* tlspolicy probe (below): no mail transaction; NULL for a delivery. */
	struct smtp_probe *probe;
	/* Deliveries made on the connection of the last attempt, this one
	 * included (Postfix's conn_use): 1 on a new connection, more when
	 * reused (conn_cache.h); 0 before any session. */
	unsigned conn_use;
};

/*
 * tlspolicy probe: smtp_attempt() with req->probe set runs the session as
 * a delivery does up to the EHLO after STARTTLS (greeting, EHLO, STARTTLS,
 * handshake and verification under the effective policy), then QUIT:
 * never MAIL, RCPT or DATA.  The request carries one recipient, which is
 * never sent; it ends RCPT_DONE when the session would have gone on to
 * MAIL.  What the session saw is left here (free with smtp_probe_free).
 */
#define SMTP_PROBE_CHAIN_MAX 16

struct smtp_probe {
	int tls_active;				    /* a handshake completed */
	struct tls_info tls;			    /* protocol, cipher, peer status, reason */
	gnutls_datum_t chain[SMTP_PROBE_CHAIN_MAX]; /* peer certificates, DER, leaf first */
	unsigned chain_count;
	/* dane and dane-only: the TLSA lookup and the level it gave the session */
	int dane;
	enum tls_level dane_level;
	enum tlsa_status tlsa_status;
	size_t tlsa_count, tlsa_usable;
	char tlsa_base[256];
};

void smtp_probe_free(struct smtp_probe *p);

enum attempt_status {
	ATTEMPT_SETTLED,  /* delivered, or a permanent refusal: stop */
	ATTEMPT_TRY_NEXT, /* soft failure: the next address may succeed */
};

/*
 * One SMTP session with one address.  tls_off forces plaintext (the "may"
 * retry after a failed handshake).  On return *out holds this attempt's
 * outcome (for logging and, if it is the last, for the exit status) and
 * *retry_plain is set when a "may" handshake failed and a new plaintext
 * connection to the same address is allowed.  On success, summary holds a
 * short line for pipe(8), under 100 characters: the server's 250 text
 * (cut short first when space is tight), the server as "host[addr]:port",
 * " via " and the destination when req->via is set, and the TLS protocol
 * and peer status word (never cut), e.g.
 *   250 2.0.0 Ok: queued as 4ABC (mx.example[192.0.2.1]:25, TLSv1.3 Verified)
 */
enum attempt_status smtp_attempt(struct smtp_request *req, const struct route_addr *addr,
    int tls_off, struct outcome *out, int *retry_plain, char *summary, size_t summarylen);

/*
 * The same delivery over a connection that an earlier delivery of this
 * next-hop under an identical policy (req->nexthop, req->tls) left open
 * (conn_cache.h), proven alive with RSET first.  *fresh is set when there
 * was none, or it failed before the message body (nothing was sent): the
 * caller then delivers as usual, over a new connection.  Otherwise the
 * result is as smtp_attempt's, except that a soft failure settles the
 * delivery (a deferral); relay gets the server's "host[addr]:port".
 */
enum attempt_status smtp_attempt_reuse(struct smtp_request *req, struct outcome *out, char *summary,
    size_t summarylen, char *relay, size_t relaylen, int *fresh);

#endif
