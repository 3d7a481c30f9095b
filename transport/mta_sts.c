/*
 * mta_sts.c - which MTA-STS policy applies to a policy domain now.
 *
 * RFC 8461 rules, in order:
 * - TXT _mta-sts.DOMAIN (section 3.1): the strings of one record are
 *   joined with no space; records not starting with "v=STSv1;" are
 *   dropped; anything but exactly one left, or a malformed one, is "no
 *   TXT record".  A CNAME chain inside the answer is followed.
 * - A cached, unexpired policy whose id equals the TXT id is used as it is
 *   (no HTTPS).  A new id, or nothing cached, means a fetch
 *   (sts_https.c), unless a fetch for that same id failed less than
 *   BACKOFF_S ago (section 3.3).
 * - Without a usable TXT record, or when the fetch fails, an unexpired
 *   cached policy still applies (sections 3.3, 5.1, 8.3): removing the
 *   record or the web server must not turn a policy off.
 * - Otherwise there is no policy, and one log line says why.
 * - mode none is no policy.
 *
 * Interface: mta_sts.h.
 */
#include "config.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <ares.h>

/* policymap */
#include "policymap.h"
/* core */
#include "core.h"
/* dns */
#include "dns.h"
#include "dns_msg.h"
#include "route.h"
/* tls */
#include "mta_sts.h"
#include "sts_cache.h"
#include "tls_policy.h"
#include "sts_https.h"

#define DNS_TYPE_TXT  16
#define BACKOFF_S     300
#define TXT_MAX	      4096
#define CNAME_LINKS   8
#define CACHE_MAPSIZE (16u << 20)

enum txt_state { TXT_NONE, TXT_ERROR, TXT_OK };

struct txt_answer {
	int done;
	int status;
	unsigned char *buf;
	int len;
};

static void
txt_callback(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
	struct txt_answer *a = arg;

	(void)timeouts;
	a->done = 1;
	a->status = status;
	if (status != ARES_SUCCESS || abuf == NULL || alen <= 0)
		return;
	if ((a->buf = malloc((size_t)alen)) == NULL) {
		a->status = ARES_ENOMEM;
		return;
	}
	memcpy(a->buf, abuf, (size_t)alen);
	a->len = alen;
}

/* The joined strings of one TXT RDATA; -1 when malformed or too long. */
static int
txt_join(const uint8_t *msg, const struct dns_msg_rr *rr, char *out, size_t cap, size_t *outlen)
{
	size_t off = rr->rdata, end = rr->rdata + rr->rdlen, n = 0;

	while (off < end) {
		size_t l = msg[off++];
		if (off + l > end || n + l >= cap)
			return -1;
		memcpy(out + n, msg + off, l);
		n += l;
		off += l;
	}
	out[n] = '\0';
	*outlen = n;
	return 0;
}

static enum txt_state
txt_read(const struct txt_answer *a, const char *qname, char id[STS_ID_MAX + 1], char *why,
    size_t whylen)
{
	struct dns_msg_iter it;
	struct dns_msg_header h;
	struct dns_msg_rr rr;
	char q[DNS_MSG_NAME_TEXT_MAX], owner[DNS_MSG_NAME_TEXT_MAX], txt[TXT_MAX], one[TXT_MAX];
	unsigned qtype, qclass, found = 0;
	size_t len = 0, onelen = 0;
	int rc;

	if (a->status == ARES_ENOTFOUND || a->status == ARES_ENODATA) {
		text_cut(why, whylen, "no TXT record %s", qname);
		return TXT_NONE;
	}
	if (a->status != ARES_SUCCESS || a->buf == NULL) {
		text_cut(why, whylen, "TXT lookup for %s failed: %s", qname,
		    ares_strerror(a->status));
		return TXT_ERROR;
	}
	if (dns_msg_begin(&it, a->buf, (size_t)a->len, &h, q, &qtype, &qclass) != 0
	    || dns_msg_follow_cnames(a->buf, (size_t)a->len, qname, CNAME_LINKS, owner,
		   sizeof(owner))
		!= 0) {
		text_cut(why, whylen, "malformed TXT answer for %s", qname);
		return TXT_ERROR;
	}
	if (h.rcode == DNS_RCODE_NXDOMAIN) {
		text_cut(why, whylen, "no TXT record %s", qname);
		return TXT_NONE;
	}
	while ((rc = dns_msg_next(&it, &rr)) == 1) {
		if (rr.type != DNS_TYPE_TXT || strcasecmp(rr.owner, owner) != 0)
			continue;
		if (txt_join(a->buf, &rr, txt, sizeof(txt), &len) != 0)
			continue;
		if (!sts_txt_is_sts(txt, len))
			continue;
		found++;
		memcpy(one, txt, len + 1);
		onelen = len;
	}
	if (rc < 0) {
		text_cut(why, whylen, "malformed TXT answer for %s", qname);
		return TXT_ERROR;
	}
	if (found != 1) {
		text_cut(why, whylen,
		    found == 0 ? "no STSv1 TXT record %s" : "%s has %u STSv1 records", qname,
		    found);
		return TXT_NONE;
	}
	if (sts_txt_parse(one, onelen, id, why, whylen) != 0)
		return TXT_NONE;
	return TXT_OK;
}

static enum txt_state
txt_lookup(struct dns_ctx *dns, const char *domain, int64_t deadline_ms, char id[STS_ID_MAX + 1],
    char *why, size_t whylen)
{
	struct txt_answer a = { 0, ARES_ETIMEOUT, NULL, 0 };
	char qname[300];
	enum txt_state st;

	snprintf(qname, sizeof(qname), "_mta-sts.%s", domain);
	if (dns_query(dns, qname, DNS_TYPE_TXT, txt_callback, &a) != 0) {
		text_cut(why, whylen, "bad policy domain %s", domain);
		return TXT_NONE;
	}
	(void)dns_wait(dns, deadline_ms);
	if (!a.done) {
		text_cut(why, whylen, "TXT lookup for %s timed out", qname);
		free(a.buf);
		return TXT_ERROR;
	}
	st = txt_read(&a, qname, id, why, whylen);
	free(a.buf);
	return st;
}

static void
use_entry(const struct sts_cache_entry *e, int64_t now, int from_cache, struct mta_sts_result *r)
{
	if (e->expires == 0 || e->expires <= now || e->policy.mode == STS_MODE_NONE)
		return;
	r->active = 1;
	r->policy = e->policy;
	snprintf(r->id, sizeof(r->id), "%s", e->id);
	r->expires = e->expires;
	r->from_cache = from_cache;
}

/* smtp_tls_mta_sts_fetch_timeout from now, never past the delivery's deadline. */
static int64_t
step_deadline(const struct tlsmtp_config *cfg, int64_t deadline_ms)
{
	return stage_deadline(cfg->tls_mta_sts_fetch_timeout, deadline_ms);
}

/* Fetch and parse into e; 0, or -1 with a reason in r->error. */
static int
fetch(struct dns_ctx *dns, const struct tlsmtp_config *cfg, const char *domain, int64_t deadline_ms,
    const char *id, int64_t now, struct sts_cache_entry *e, struct mta_sts_result *r)
{
	int64_t limit = step_deadline(cfg, deadline_ms);
	struct sts_policy *p;
	char *body = NULL, why[OUTCOME_TEXT_MAX];
	size_t len = 0;

	if (sts_https_get(dns, cfg, domain, limit, &body, &len, why, sizeof(why)) != 0) {
		text_cut(r->error, sizeof(r->error), "%s", why);
		return -1;
	}
	if ((p = malloc(sizeof(*p))) == NULL
	    || sts_policy_parse(body, len, p, why, sizeof(why)) != 0) {
		text_cut(r->error, sizeof(r->error), "invalid policy: %s",
		    p == NULL ? "out of memory" : why);
		free(p);
		free(body);
		return -1;
	}
	snprintf(e->id, sizeof(e->id), "%s", id);
	e->fetched = now;
	e->expires = now + p->max_age;
	e->last_fail = 0;
	e->fail_id[0] = '\0';
	e->policy = *p;
	memcpy(e->text, body, len);
	e->text[len] = '\0';
	e->textlen = len;
	free(p);
	free(body);
	return 0;
}

int
mta_sts_discover(struct dns_ctx *dns, const struct tlsmtp_config *cfg, const char *domain,
    int force, int64_t deadline_ms, struct mta_sts_result *r)
{
	struct sts_cache *cache = NULL;
	struct sts_cache_entry *e;
	char why[OUTCOME_TEXT_MAX];
	int64_t now = (int64_t)time(NULL);
	enum txt_state txt;
	int have = 0, rc = 0;

	memset(r, 0, sizeof(*r));
	snprintf(r->domain, sizeof(r->domain), "%s", domain);
	if ((e = calloc(1, sizeof(*e))) == NULL) {
		text_cut(r->error, sizeof(r->error), "out of memory");
		return -1;
	}
	if (cfg->tls_mta_sts_cache != NULL && cfg->tls_mta_sts_cache[0] != '\0')
		cache = sts_cache_open(cfg->tls_mta_sts_cache, CACHE_MAPSIZE);
	have = sts_cache_get(cache, domain, e);
	txt = txt_lookup(dns, domain, step_deadline(cfg, deadline_ms), r->txt_id, why, sizeof(why));
	if (txt != TXT_OK) {
		r->txt_id[0] = '\0';
		log_verbose("MTA-STS %s: %s", domain, why);
		if (have)
			use_entry(e, now, 1, r);
		goto out;
	}
	if (!force && have && e->expires > now && strcmp(e->id, r->txt_id) == 0) {
		use_entry(e, now, 1, r);
		goto out;
	}
	if (!force && have && e->last_fail > now - BACKOFF_S && e->last_fail <= now
	    && strcmp(e->fail_id, r->txt_id) == 0) {
		log_verbose("MTA-STS %s: last fetch for id %s failed %lds ago; not retrying yet",
		    domain, r->txt_id, (long)(now - e->last_fail));
		use_entry(e, now, 1, r);
		goto out;
	}
	if (fetch(dns, cfg, domain, deadline_ms, r->txt_id, now, e, r) == 0) {
		use_entry(e, now, 0, r);
		(void)sts_cache_put(cache, domain, e);
		goto out;
	}
	rc = -1;
	log_warn("MTA-STS policy fetch for %s (id %s) failed: %s%s", domain, r->txt_id, r->error,
	    have && e->expires > now ? "; using the cached policy" : "; no policy applies");
	if (!have) {
		memset(e, 0, sizeof(*e));
		snprintf(e->id, sizeof(e->id), "%s", "");
	}
	e->last_fail = now;
	snprintf(e->fail_id, sizeof(e->fail_id), "%s", r->txt_id);
	(void)sts_cache_put(cache, domain, e);
	use_entry(e, now, 1, r);
out:
	sts_cache_close(cache);
	free(e);
	return rc;
}

/*
 * MTA-STS (RFC 8461) is looked at only for a domain next-hop (MX routing:
 * the next-hop's domain is the policy domain, section 3.4, never a
 * parent) that no policy table entry names: an explicit entry wins.
 * tls_policy_resolve() names main.cf's level as the source then.
 */
int
mta_sts_wanted(const struct tlsmtp_config *cfg, const struct nexthop *nh,
    const struct tls_effective *eff)
{
	return cfg->tls_mta_sts && nh->kind == NEXTHOP_DOMAIN
	    && strcmp(eff->source, "smtp_tls_security_level") == 0;
}

/*
 * Section 4.1: under enforce only the MX hosts that match a pattern are
 * tried (the others are dropped, never contacted); under testing they are
 * logged and kept.  Returns the number of addresses left.
 */
size_t
mta_sts_filter(const struct mta_sts_result *sts, struct route_list *route)
{
	size_t kept = 0;

	for (size_t i = 0; i < route->count; i++) {
		const struct route_addr *a = &route->addrs[i];
		if (sts_policy_allows(&sts->policy, a->host)) {
			route->addrs[kept++] = *a;
			continue;
		}
		log_info("MTA-STS policy for %s (%s, id %s): MX host %s matches no mx pattern%s",
		    sts->domain, sts_mode_name(sts->policy.mode), sts->id, a->host,
		    sts->policy.mode == STS_MODE_ENFORCE ? "; not tried"
							 : "; testing: tried anyway");
		if (sts->policy.mode != STS_MODE_ENFORCE)
			route->addrs[kept++] = *a;
	}
	route->count = kept;
	return kept;
}
