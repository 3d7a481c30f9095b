/*
 * conn_cache.h - connection reuse between deliveries, with no daemon.
 *
 * After a delivery that succeeded, the agent may fork a holder
 * (conn_cache_hold) that detaches, keeps the SMTP connection (TLS and all)
 * and listens on a unix socket in smtp_connection_cache_directory, named
 * after the reuse key.  The next agent for the same key connects
 * (conn_cache_take) and speaks plaintext SMTP to the holder, which relays
 * it through its TLS session: the reusing agent never starts GnuTLS.
 *
 *   conn_cache_key_make()  the reuse key: next-hop, port and the whole
 *                          effective policy (files by path and stat(2))
 *   conn_cache_take()      a held connection for the key, or NULL
 *   conn_cache_release()   give it back after a finished transaction
 *   conn_cache_hold()      fork a holder for a connection just used
 *
 * Held connections are reachable only by processes of the same user: the
 * directory must be ours and mode 0700, and each side checks the other's
 * uid (SO_PEERCRED).  The holder compares nothing: the agent compares the
 * holder's full key with its own, byte for byte, before using it.
 */
#ifndef TLSMTP_CONN_CACHE_H
#define TLSMTP_CONN_CACHE_H

#include <stddef.h>
#include <stdint.h>

/* core */
#include "core.h"
/* dns */
#include "route.h"
/* net */
#include "reply.h"
#include "stream.h"
/* tls */
#include "tls_policy.h"
#include "tls_session.h"

#define CONN_CACHE_KEY_MAX   4096
#define CONN_CACHE_TOKEN_LEN 32 /* hex characters */

struct conn_cache_key {
	char text[CONN_CACHE_KEY_MAX];
	size_t len;
	uint64_t hash; /* names the socket; the text is what is compared */
};

/* What the holder says of its connection, and how to give it back. */
struct conn_cache_lease {
	struct stream *stream; /* plaintext to the holder */
	struct route_addr addr;
	int tls_active;
	struct tls_info tls; /* protocol and status only */
	struct ehlo_features feat;
	unsigned uses; /* deliveries made on it so far */
	char token[CONN_CACHE_TOKEN_LEN + 1];
};

/* 0 and a key when connections of this next-hop and policy may be reused. */
int conn_cache_key_make(const struct tlsmtp_config *cfg, const struct nexthop *nh,
    const struct tls_effective *eff, struct conn_cache_key *key);

/* A held connection for key (lease filled), or 0 when there is none. */
int conn_cache_take(const struct tlsmtp_config *cfg, const struct conn_cache_key *key,
    struct conn_cache_lease *lease);
/* After a finished transaction: the holder keeps the connection. */
void conn_cache_release(struct conn_cache_lease *lease, int64_t deadline_ms);
/* Close the lease's stream (the holder then ends the connection). */
void conn_cache_lease_free(struct conn_cache_lease *lease);

/*
 * Fork a holder for s, whose last transaction finished (2xx to the dot).
 * Returns 1 when the holder has it (the caller frees s without a QUIT),
 * 0 when the caller must end the session itself.  The holder frees its
 * copy of msg at once: an unlinked spool file must not outlive the agent.
 */
int conn_cache_hold(const struct tlsmtp_config *cfg, const struct conn_cache_key *key,
    struct stream *s, const struct route_addr *addr, int tls_active, const struct tls_info *tls,
    const struct ehlo_features *feat, unsigned uses, struct spool *msg);

#endif
