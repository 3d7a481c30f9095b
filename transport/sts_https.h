/*
 * sts_https.h - the one HTTPS request of MTA-STS (RFC 8461 section 3.3):
 * GET https://mta-sts.DOMAIN/.well-known/mta-sts.txt.
 *
 * Interface:
 *   sts_https_get()  resolve mta-sts.DOMAIN (A/AAAA through the agent's
 *                    c-ares channel), connect to port 443, TLS 1.2 or
 *                    newer with SNI, the certificate verified for
 *                    mta-sts.DOMAIN against smtp_tls_CAfile/CApath (the
 *                    system store when both are empty), one HTTP/1.0
 *                    request; status 200 only (no redirect is followed),
 *                    media type text/plain, at most STS_POLICY_MAX bytes,
 *                    a Content-Length that matches, and a close_notify
 *                    at the end: a policy cut short is an error.
 *                    Returns 0 with the malloc'ed body, or -1 with a
 *                    reason.  Never blocks past deadline_ms.
 */
#ifndef TLSMTP_STS_HTTPS_H
#define TLSMTP_STS_HTTPS_H

#include <stddef.h>
#include <stdint.h>

/* core */
#include "core.h"
/* dns */
#include "dns.h"

int sts_https_get(struct dns_ctx *dns, const struct tlsmtp_config *cfg, const char *domain,
    int64_t deadline_ms, char **body, size_t *bodylen, char *err, size_t errlen);

#endif
