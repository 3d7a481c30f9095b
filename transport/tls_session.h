/*
 * tls_session.h - the client side of STARTTLS on one stream: handshake
 * under smtp_starttls_timeout, SNI, the check of the peer as the effective
 * level asks (tls_verify.h, or dane.h at the dane levels) and Postfix's
 * "... TLS connection established to H[A]:P" summary line.
 */
#ifndef TLSMTP_TLS_SESSION_H
#define TLSMTP_TLS_SESSION_H

#include <stdint.h>

/* policymap */
#include "policymap.h"
/* core */
#include "core.h"
/* net */
#include "stream.h"
/* tls */
#include "tls_policy.h"
#include "tls_verify.h"

struct dane_session; /* dane.h */

/*
 * What the TLS layer needs to know of one handshake (cf. Postfix's
 * TLS_CLIENT_START_PROPS); the caller keeps each pointer valid for the
 * call.  The SNI name follows from policy->servername, dane, nexthop and
 * host (tls_session.c sni_name()).
 */
struct tls_start_props {
	const struct tlsmtp_config *cfg;    /* credentials, trust anchors, log level,
						 * smtp_starttls_timeout, fingerprint digest */
	const struct tls_effective *policy; /* the next-hop's effective policy */
	const struct dane_session *dane;    /* dane levels: this attempt's TLSA state;
						 * NULL otherwise */
	const struct nexthop *nexthop;	    /* servername=nexthop, match names,
						 * DANE-TA names */
	const char *host;		    /* the server's host name (route_addr.host) */
	const char *addr;		    /* its address and port, for the session */
	unsigned port;			    /* cache key (route_addr.addr, port) */
	const char *peer_label;		    /* "host[addr]:port", for logs and reasons */
	int64_t deadline_ms;		    /* the overall delivery deadline */
};

enum tls_start_result {
	TLS_START_OK = 0,
	TLS_START_CONFIG,      /* our configuration: 4.7.5 client TLS configuration problem */
	TLS_START_HANDSHAKE,   /* handshake failed or timed out */
	TLS_START_NOT_VERIFIED /* handshake done, peer does not satisfy the level */
};

struct tls_info {
	enum tls_peer_status status;
	char protocol[32]; /* "TLSv1.3" */
	char cipher[128];
	unsigned usebits;
	unsigned algbits;
	char detail[OUTCOME_TEXT_MAX]; /* handshake error or verification reason */
};

/*
 * The process's TLS credentials, our client certificates among them
 * (tls_ccert.h), loaded once; tls_session_start() does it too.  Called
 * before connecting, so that a certificate or key that cannot be used
 * defers before anything goes out.  Returns 0, or -1 with the reason
 * (also logged as a warning).
 */
int tls_session_init(const struct tlsmtp_config *cfg, char *why, size_t whylen);

/*
 * Handshake on s (plaintext so far) as props say, verify the peer as the
 * effective level asks, and log the summary line.
 */
enum tls_start_result tls_session_start(struct stream *s, const struct tls_start_props *props,
    struct tls_info *info);

#endif
