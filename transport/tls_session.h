/*
 * tls_session.h - the client side of STARTTLS on one stream: handshake
 * under smtp_starttls_timeout, SNI, the check of the peer as the effective
 * level asks (tls_verify.h, or dane.h at the dane levels) and Postfix's
 * "... TLS connection established to H[A]:P" summary line.
 */
#ifndef TLSMTP_TLS_SESSION_H
#define TLSMTP_TLS_SESSION_H

/* core */
#include "core.h"
/* dns */
#include "route.h"
/* net */
#include "stream.h"
/* tls */
#include "tls_verify.h"

/*
 * Until tls_session_start() gets an input struct of its own (issue 10,
 * phase 2) it reads the request of the layer above: declared here, never
 * included (docs/architecture.md lists this one exception).
 */
struct smtp_request;

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
 * Handshake on s (plaintext so far) for this request and address, verify
 * the peer as the effective level asks, and log the summary line.
 */
enum tls_start_result tls_session_start(struct stream *s, const struct smtp_request *req,
    const struct route_addr *a, struct tls_info *info);

#endif
