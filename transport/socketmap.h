/*
 * socketmap.h - Postfix socketmap: client (socketmap_table(5)) for the
 * policy maps.  Net layer: uses the core (deadline) and nothing of TLS or
 * SMTP.  See socketmap.c.
 */
#ifndef TLSMTP_SOCKETMAP_H
#define TLSMTP_SOCKETMAP_H

#include <stddef.h>
#include <stdint.h>

/* core */
#include "core.h"

struct socketmap_settings {
	int timeout_s;	     /* socketmap_timeout: one lookup, connect to reply */
	size_t max_reply;    /* socketmap_max_reply: reply bytes, without the netstring frame */
	int64_t deadline_ms; /* the delivery deadline (0 = none); no wait goes past it */
};

struct socketmap;

/*
 * Parse "inet:HOST:PORT:NAME" or "unix:PATH:NAME" (HOST: an IPv4 or
 * IPv6 address, "[...]" allowed, or "localhost"; PORT: a number).  Does
 * not connect.  s must outlive the map.  Returns 0, or -1 with the reason.
 */
int socketmap_open(const char *arg, const struct socketmap_settings *s, struct socketmap **out,
    char *err, size_t errlen);
/*
 * One request "NAME KEY", one reply.  Returns 1 found (*value malloc'ed),
 * 0 not found, -1 error with the reason (connect failure, timeout, lost
 * connection, malformed or oversized reply, TEMP/TIMEOUT/PERM or an
 * unknown status from the server).
 */
int socketmap_lookup(struct socketmap *sm, const char *key, char **value, char *err, size_t errlen);
void socketmap_close(struct socketmap *sm);

/* The socketmap: type for policy_maps_open_with(); ctx is s. */
void socketmap_backend(struct socketmap_settings *s, struct policy_map_backend *b);

#endif
