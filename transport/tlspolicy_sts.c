/*
 * tlspolicy_sts.c - the built-in MTA-STS (RFC 8461) as tlspolicy shows it:
 * whether the agent looks for a policy for a destination, what it finds
 * (the TXT id, the cached or fetched policy, its mode, mx patterns and
 * expiry), which MX hosts the patterns allow, and "tlspolicy
 * sts-refresh".  Every decision is the agent's own code (mta_sts.c:
 * mta_sts_wanted, mta_sts_discover, mta_sts_filter; tls_policy.c:
 * tls_policy_mta_sts), called as tlsmtp.c try_destination() calls it.
 *
 * Precedence, as the agent: a policy table entry for the next-hop wins
 * (then no policy is looked for); DANE with usable TLSA records wins per
 * MX host over an enforce policy (smtp_proto.c); then the policy; then
 * smtp_tls_security_level.
 *
 * Interface: tlspolicy.h.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* policymap */
#include "policymap.h"
/* core */
#include "core.h"
/* dns */
#include "dns.h"
#include "route.h"
/* tls */
#include "mta_sts.h"
#include "tls_policy.h"
/* main */
#include "tlspolicy.h"

static void
decide(const struct tlsmtp_config *cfg, struct tp_dest *d)
{
	const struct mta_sts_result *s = d->sts;
	char source[TLS_POLICY_SOURCE_MAX];

	if (!s->active) {
		text_cut(d->sts_decision, sizeof(d->sts_decision),
		    "no policy applies: the level is %s's", d->level_from);
		return;
	}
	if (s->policy.mode == STS_MODE_TESTING) {
		text_cut(d->sts_decision, sizeof(d->sts_decision),
		    "testing: delivery as without a policy (level %s), failures only logged",
		    tls_level_name(d->level));
		return;
	}
	/* As tlsmtp.c sts_prepare(). */
	text_cut(source, sizeof(source), "MTA-STS policy %s id %s", s->domain, s->id);
	tls_policy_mta_sts(cfg, source, &d->sts_eff);
	if (d->sts_eff.level == TLS_LEVEL_INVALID) {
		text_cut(d->sts_decision, sizeof(d->sts_decision),
		    "enforce, but %s: tlsmtp would defer: 4.7.5 client TLS configuration "
		    "problem",
		    d->sts_eff.invalid_reason);
		d->level = TLS_LEVEL_INVALID;
		return;
	}
	d->sts_enforce = 1;
	text_cut(d->sts_decision, sizeof(d->sts_decision),
	    "enforce: MTA-STS decides the level: %s for MX hosts matching the mx patterns "
	    "(certificate verified for the MX name), unless DNSSEC-validated usable TLSA "
	    "records exist for a host (DANE wins); other MX hosts are not tried",
	    tls_level_name(d->sts_eff.level));
	d->level = d->sts_eff.level;
	snprintf(d->level_from, sizeof(d->level_from), "%s", source);
	tp_lookup_describe(cfg, &d->sts_eff, d);
}

void
tp_sts_lookup(const struct tlsmtp_config *cfg, struct dns_ctx *dns, const struct tls_effective *eff,
    struct tp_dest *d)
{
	int64_t deadline = now_ms() + (int64_t)cfg->delivery_deadline * 1000;

	memset(&d->sts_eff, 0, sizeof(d->sts_eff));
	if (!cfg->tls_mta_sts) {
		snprintf(d->sts_skip, sizeof(d->sts_skip), "smtp_tls_mta_sts = no");
		return;
	}
	if (eff->level == TLS_LEVEL_INVALID)
		return;
	if (!mta_sts_wanted(cfg, &d->nh, eff)) {
		snprintf(d->sts_skip, sizeof(d->sts_skip), "%s",
		    d->nh.kind != NEXTHOP_DOMAIN
			? "not MX routing of a domain: no policy domain (RFC 8461 section 3.4)"
			: "the policy table entry wins: no MTA-STS policy is looked for");
		return;
	}
	if (dns == NULL) {
		snprintf(d->sts_skip, sizeof(d->sts_skip), "dns_servers cannot be used");
		return;
	}
	d->sts_looked = 1;
	if ((d->sts = calloc(1, sizeof(*d->sts))) == NULL)
		return;
	tp_log_into(&d->log);
	if (mta_sts_discover(dns, cfg, d->nh.host, 0, deadline, d->sts) != 0)
		d->sts_fetch_failed = 1;
	tp_log_into(NULL);
	decide(cfg, d);
}

int
tp_sts_host_matches(const struct tp_dest *d, const char *host)
{
	if (d->sts == NULL || !d->sts->active)
		return -1;
	return sts_policy_allows(&d->sts->policy, host) ? 1 : 0;
}

size_t
tp_sts_route(struct tp_dest *d, struct route_list *route)
{
	size_t left;

	if (d->sts == NULL || !d->sts->active)
		return route->count;
	for (size_t i = 0; i < route->count; i++) {
		const struct route_addr *a = &route->addrs[i];
		if (d->sts->policy.mode == STS_MODE_ENFORCE && tp_sts_host_matches(d, a->host) == 0)
			tp_list_add(&d->sts_not_tried, "%s[%s]", a->host, a->addr);
	}
	tp_log_into(&d->log);
	left = mta_sts_filter(d->sts, route);
	tp_log_into(NULL);
	return left;
}

void
tp_sts_free(struct tp_dest *d)
{
	free(d->sts);
	d->sts = NULL;
	tls_effective_free(&d->sts_eff);
	tp_list_free(&d->sts_not_tried);
}

int
tp_sts_refresh(const struct tlsmtp_config *cfg, struct dns_ctx *dns, char **domains, size_t count,
    int json)
{
	struct mta_sts_result **r;
	int *failed, status = TP_EXIT_OK;
	char err[512];

	r = calloc(count, sizeof(*r));
	failed = calloc(count, sizeof(*failed));
	if (r == NULL || failed == NULL) {
		free(r);
		free(failed);
		return TP_EXIT_WARN;
	}
	for (size_t i = 0; i < count; i++) {
		struct nexthop nh;
		int64_t deadline = now_ms() + (int64_t)cfg->tls_mta_sts_fetch_timeout * 2000;

		if ((r[i] = calloc(1, sizeof(*r[i]))) == NULL) {
			failed[i] = 1;
			status = TP_EXIT_WARN;
			continue;
		}
		if (nexthop_parse(domains[i], &nh, err, sizeof(err)) != 0
		    || nh.kind != NEXTHOP_DOMAIN) {
			snprintf(r[i]->domain, sizeof(r[i]->domain), "%s", domains[i]);
			snprintf(r[i]->error, sizeof(r[i]->error), "not a domain");
			failed[i] = 1;
			status = TP_EXIT_WARN;
			continue;
		}
		if (mta_sts_discover(dns, cfg, nh.host, 1, deadline, r[i]) != 0) {
			failed[i] = 1;
			status = TP_EXIT_WARN;
		}
	}
	tp_report_sts(stdout, (const struct mta_sts_result *const *)r, failed, count, json);
	for (size_t i = 0; i < count; i++)
		free(r[i]);
	free(r);
	free(failed);
	return status;
}
