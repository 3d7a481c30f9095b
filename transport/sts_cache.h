/*
 * sts_cache.h - the MTA-STS policy cache shared by all agent processes
 * and tlsmtp-sts-fetch (LMDB, smtp_tls_mta_sts_cache).
 *
 * Interface:
 *   sts_cache_open()   NULL when the cache cannot be used (one warning);
 *                      the caller then works without a cache
 *   sts_cache_get()    1 with the entry of a policy domain, 0 when there
 *                      is none or it is malformed (a miss)
 *   sts_cache_put()    store or replace; 0, or -1 (warned)
 *   sts_cache_close()
 * An entry is the TXT id, the fetch time, the expiry (fetch + max_age),
 * the time of the last failed fetch (back-off) and the policy text as
 * fetched, which is parsed again when read: a damaged entry is a miss.
 */
#ifndef TLSMTP_STS_CACHE_H
#define TLSMTP_STS_CACHE_H

#include <stddef.h>
#include <stdint.h>

/* policymap */
#include "policymap.h"

struct sts_cache;

struct sts_cache_entry {
	char id[STS_ID_MAX + 1];
	int64_t fetched;	      /* time(), seconds */
	int64_t expires;	      /* fetched + max_age; 0 = no policy (only a failure) */
	int64_t last_fail;	      /* last failed fetch, 0 = none */
	char fail_id[STS_ID_MAX + 1]; /* the TXT id that failure was for */
	struct sts_policy policy;     /* valid when expires != 0 */
	char text[STS_POLICY_MAX + 1];
	size_t textlen;
};

struct sts_cache *sts_cache_open(const char *spec, size_t map_size);
int sts_cache_get(struct sts_cache *c, const char *domain, struct sts_cache_entry *e);
int sts_cache_put(struct sts_cache *c, const char *domain, const struct sts_cache_entry *e);
void sts_cache_close(struct sts_cache *c);

#endif
