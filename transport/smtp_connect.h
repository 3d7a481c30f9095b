/*
 * smtp_connect.h - a TCP connection to one route address.
 *
 * The connect is non-blocking and bounded by smtp_connect_timeout (0 = the
 * system's own limit) and by the overall delivery deadline; the source
 * address comes from smtp_bind_address / smtp_bind_address6.
 */
#ifndef TLSMTP_SMTP_CONNECT_H
#define TLSMTP_SMTP_CONNECT_H

#include <stdint.h>

/* core */
#include "core.h"
/* dns */
#include "route.h"

/*
 * Connect to a; returns a connected fd (non-blocking, TCP_NODELAY) or -1
 * with *out set to 4.4.1 "connect to H[A]:P: reason".
 */
int smtp_connect(const struct tlsmtp_config *cfg, const struct route_addr *a, int64_t overall_ms,
    struct outcome *out);
/* Port of a as a number (host order). */
unsigned route_addr_port(const struct route_addr *a);

#endif
