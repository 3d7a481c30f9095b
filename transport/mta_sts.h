/*
 * mta_sts.h - the MTA-STS policy of a policy domain (RFC 8461): TXT
 * discovery through the agent's c-ares channel, the LMDB cache, and a
 * fetch over HTTPS only when the cache has nothing usable for the id.
 *
 * Interface:
 *   mta_sts_discover()  fills r; r->active is 1 for an unexpired policy of
 *                       mode enforce or testing that applies now.  force
 *                       (tlsmtp-sts-fetch --refresh) fetches whenever the
 *                       TXT record is valid, ignoring the cache and the
 *                       back-off.  Never blocks past deadline_ms; each
 *                       fetch is also capped by smtp_tls_mta_sts_fetch_timeout.
 *                       Returns 0, or -1 when a fetch was due and failed
 *                       (r then holds what still applies: the cached policy
 *                       or none), with the reason in r->error.
 *   mta_sts_wanted()    1 when the agent looks for a policy at all: the
 *                       feature on, a domain next-hop (MX routing), and no
 *                       policy table entry for it (eff came from main.cf)
 *   mta_sts_filter()    drops (enforce) or logs (testing) the addresses of
 *                       MX hosts that match no mx pattern; the number left
 */
#ifndef TLSMTP_MTA_STS_H
#define TLSMTP_MTA_STS_H

#include <stddef.h>
#include <stdint.h>

/* policymap */
#include "policymap.h"
/* core */
#include "core.h"
/* dns */
#include "dns.h"
#include "route.h"
/* tls */
#include "tls_policy.h"

struct mta_sts_result {
	int active;		     /* mode enforce or testing, unexpired */
	struct sts_policy policy;    /* when active */
	char id[STS_ID_MAX + 1];     /* of the policy in use */
	char txt_id[STS_ID_MAX + 1]; /* of the TXT record seen now, "" = none */
	int64_t expires;	     /* time() seconds */
	int from_cache;		     /* the policy came from the cache */
	char domain[256];
	char error[OUTCOME_TEXT_MAX];
};

int mta_sts_discover(struct dns_ctx *dns, const struct tlsmtp_config *cfg, const char *domain,
    int force, int64_t deadline_ms, struct mta_sts_result *r);
int mta_sts_wanted(const struct tlsmtp_config *cfg, const struct nexthop *nh,
    const struct tls_effective *eff);
size_t mta_sts_filter(const struct mta_sts_result *sts, struct route_list *route);

#endif
