/*
 * dns.h - the process's one c-ares channel, driven by a deadline.
 *
 * Interface:
 *   dns_open()      create the channel; "servers" is dns_servers from the
 *                   configuration ("127.0.0.1:5353, [::1]:53"), NULL or ""
 *                   for the system resolver.  Queries ask for the AD bit
 *                   (and set DO) so that DANE can trust validated answers.
 *   dns_wait()      run the event loop until every outstanding query has
 *                   completed or the deadline (CLOCK_MONOTONIC ms) passes;
 *                   on deadline, outstanding queries are cancelled.
 *   dns_channel()   the ares_channel, for modules that start queries.
 *   dns_ad_trusted() 1 when every server is on loopback, so that the AD
 *                   bit of its answers may be believed (else route.c
 *                   reports nothing as DNSSEC-validated).
 *   dns_query()     start one query (RD, AD and DO set) on the channel; the
 *                   callback gets the raw answer for dns_msg.h to read.
 *   dns_close()
 */
#ifndef TLSMTP_DNS_H
#define TLSMTP_DNS_H

#include <stddef.h>
#include <stdint.h>

struct dns_ctx;

int dns_open(struct dns_ctx **out, const char *servers, char *err, size_t errlen);
/* Returns 0 when all queries completed, -1 when the deadline cut them off. */
int dns_wait(struct dns_ctx *ctx, int64_t deadline_ms);
void *dns_channel(struct dns_ctx *ctx); /* ares_channel */
int dns_ad_trusted(const struct dns_ctx *ctx);
/*
 * Same signature as c-ares' ares_callback: status is an ARES_* code; with
 * ARES_SUCCESS, abuf holds the answer (any RCODE except SERVFAIL, NOTIMP
 * and REFUSED, which c-ares turns into ARES_ESERVFAIL ... after trying every
 * server).  After a deadline, pending callbacks see ARES_ECANCELLED.
 */
typedef void dns_answer_fn(void *arg, int status, int timeouts, unsigned char *abuf, int alen);
/* Returns 0, or -1 when name is not a valid host name (nothing was sent). */
int dns_query(struct dns_ctx *ctx, const char *name, unsigned type, dns_answer_fn *cb, void *arg);
void dns_close(struct dns_ctx *ctx);

#endif
