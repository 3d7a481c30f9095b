/*
 * tlspolicy_probe.c - probe one destination the way a delivery would go.
 *
 * The destination's effective policy comes from tlspolicy_lookup.c (the
 * agent's tls_policy_resolve()).  Then, as tlsmtp.c try_destination()
 * and try_addresses() do: route_resolve() (MX order, addresses, the loop
 * rule; TLSA records are looked up per address by the session at the
 * dane levels), and for each address up to smtp_mx_address_limit one
 * smtp_attempt() in probe mode (smtp.h): greeting, EHLO, STARTTLS, the
 * handshake and the peer check under the effective policy, EHLO again,
 * then QUIT where MAIL FROM would follow.  At "may", a failed handshake
 * is followed by a new plaintext connection, as try_addresses() does, and
 * the report keeps the TLS attempt's details.  Unlike a delivery, every
 * address is probed, not only until one succeeds; the destination's
 * verdict is the one a delivery would reach: the first address that would
 * deliver, else the last address's reason.
 *
 * Verdicts use the agent's own outcome: "would deliver over Verified TLS",
 * "would deliver without TLS", "would defer: 4.7.5 Server certificate not
 * verified", "would bounce: 5.4.6 ...".
 *
 * Interface: tlspolicy.h (section tlspolicy_probe.c).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* core */
#include "core.h"
/* dns */
#include "route.h"
/* net */
#include "smtp_connect.h"
/* tls */
#include "tls_policy.h"
#include "tls_verify.h"
/* smtp */
#include "smtp.h"
/* main */
#include "tlspolicy.h"

/* Never sent: a probe stops before MAIL FROM and RCPT TO. */
#define PROBE_RECIPIENT "probe@tlspolicy.invalid"

/* The route options of a delivery (as tlsmtp.c route_options_from()). */
static void
route_options(const struct tlsmtp_config *cfg, int64_t deadline, struct route_options *ro)
{
	memset(ro, 0, sizeof(*ro));
	ro->port = (unsigned)strtoul(cfg->tcp_port, NULL, 10);
	ro->mx_address_limit = (unsigned)cfg->mx_address_limit;
	ro->address_preference = strcmp(cfg->address_preference, "ipv4") == 0 ? ROUTE_PREF_IPV4
	    : strcmp(cfg->address_preference, "ipv6") == 0		      ? ROUTE_PREF_IPV6
									      : ROUTE_PREF_ANY;
	ro->randomize = cfg->randomize_addresses;
	ro->myhostname = cfg->myhostname;
	ro->deadline_ms = deadline;
}

static void
set_verdict(struct tp_address *a)
{
	const struct outcome *o = &a->out;

	if (o->exit_code == TLSMTP_EX_OK) {
		a->delivered = 1;
		if (a->plaintext_retry)
			text_cut(a->verdict, sizeof(a->verdict),
			    "would deliver without TLS (on a new "
			    "connection, after: %s)",
			    a->tls_failure);
		else if (a->probe.tls_active)
			text_cut(a->verdict, sizeof(a->verdict), "would deliver over %s TLS",
			    tls_peer_status_name(a->probe.tls.status));
		else
			text_cut(a->verdict, sizeof(a->verdict), "would deliver without TLS");
		return;
	}
	text_cut(a->verdict, sizeof(a->verdict), "would %s: %s %s",
	    o->exit_code == TLSMTP_EX_TEMPFAIL ? "defer" : "bounce", o->dsn, o->text);
}

/* One address: one session in probe mode (and the "may" plaintext retry). */
static void
probe_address(const struct tlsmtp_config *cfg, struct dns_ctx *dns, const struct tls_effective *eff,
    struct tp_dest *d, const struct route_list *route, const struct route_addr *addr,
    int64_t deadline, int verbose, struct tp_address *a)
{
	struct smtp_rcpt rcpt;
	struct smtp_request req;
	struct smtp_probe second;
	char summary[128];
	int retry_plain = 0, unused;
	enum attempt_status st;

	snprintf(a->label, sizeof(a->label), "%s[%s]:%u", addr->host, addr->addr,
	    route_addr_port(addr));
	memset(&rcpt, 0, sizeof(rcpt));
	rcpt.addr = PROBE_RECIPIENT;
	memset(&req, 0, sizeof(req));
	req.cfg = cfg;
	req.nexthop = &d->nh;
	req.queue_id = "";
	req.sender = "";
	req.rcpts = &rcpt;
	req.rcpt_count = 1;
	req.tls = eff;
	/* As tlsmtp.c: an enforce policy for addresses without usable DANE. */
	req.sts = d->sts_enforce ? &d->sts_eff : NULL;
	a->sts_match = tp_sts_host_matches(d, addr->host);
	req.deadline_ms = deadline;
	req.verbose = verbose;
	req.dns = dns;
	req.mx_secure = route->mx_secure;
	req.best_pref = route->addrs[0].pref;
	req.probe = &a->probe;
	tp_log_into(&a->log);
	st = smtp_attempt(&req, addr, 0, &a->out, &retry_plain, summary, sizeof(summary));
	if (st == ATTEMPT_TRY_NEXT && retry_plain) {
		/* As tlsmtp.c try_addresses(): a new plaintext connection. */
		log_info("%s[%s]: %s; trying again without TLS", addr->host, addr->addr,
		    a->out.text);
		snprintf(a->tls_failure, sizeof(a->tls_failure), "%s", a->out.text);
		memset(&second, 0, sizeof(second));
		memset(&rcpt, 0, sizeof(rcpt));
		rcpt.addr = PROBE_RECIPIENT;
		req.probe = &second;
		(void)smtp_attempt(&req, addr, 1, &a->out, &unused, summary, sizeof(summary));
		smtp_probe_free(&second);
		a->plaintext_retry = 1;
	}
	tp_log_into(NULL);
	a->sts_used = req.sts_last;
	set_verdict(a);
	/* As tlsmtp.c: the policy is named (an enforce failure defers with it). */
	if (a->sts_used && d->sts != NULL
	    && (a->delivered || strncmp(a->out.dsn, "4.7.", 4) == 0)) {
		size_t n = strlen(a->verdict);
		snprintf(a->verdict + n, sizeof(a->verdict) - n, " (MTA-STS policy of %s: enforce)",
		    d->sts->domain);
	}
}

void
tp_probe_destination(const struct tlsmtp_config *cfg, struct dns_ctx *dns,
    const struct tls_effective *eff, struct tp_dest *d, int verbose)
{
	struct route_options ro;
	struct route_list route = { NULL, 0, 0, 0 };
	struct route_error rerr;
	int64_t deadline = now_ms() + (int64_t)cfg->delivery_deadline * 1000;
	size_t limit;

	d->probed = 1;
	if (eff->level == TLS_LEVEL_INVALID) {
		snprintf(d->verdict, sizeof(d->verdict),
		    "would defer: 4.7.5 client TLS "
		    "configuration problem");
		return;
	}
	route_options(cfg, deadline, &ro);
	tp_log_into(&d->log);
	if (route_resolve(dns, &d->nh, &ro, &route, &rerr) != 0) {
		if (rerr.warning[0] != '\0')
			log_warn("%s", rerr.warning);
		tp_log_into(NULL);
		snprintf(d->route_error, sizeof(d->route_error), "%s %s", rerr.dsn, rerr.text);
		text_cut(d->verdict, sizeof(d->verdict), "would %s: %s %s",
		    rerr.dsn[0] == '5' ? "bounce" : "defer", rerr.dsn, rerr.text);
		return;
	}
	tp_log_into(NULL);
	if (tp_sts_route(d, &route) == 0) {
		/* As tlsmtp.c try_destination(). */
		text_cut(d->verdict, sizeof(d->verdict),
		    "would defer: 4.7.5 MTA-STS policy for %s: no MX host matches the policy's mx "
		    "patterns",
		    d->sts->domain);
		route_list_free(&route);
		return;
	}
	limit = route.count;
	if (cfg->mx_address_limit > 0 && limit > (size_t)cfg->mx_address_limit)
		limit = (size_t)cfg->mx_address_limit;
	if ((d->addrs = calloc(limit, sizeof(*d->addrs))) == NULL) {
		snprintf(d->verdict, sizeof(d->verdict), "would defer: 4.3.0 out of memory");
		route_list_free(&route);
		return;
	}
	d->addr_count = limit;
	for (size_t i = 0; i < limit; i++)
		probe_address(cfg, dns, eff, d, &route, &route.addrs[i], deadline, verbose,
		    &d->addrs[i]);
	for (size_t i = 0; i < limit && !d->deliverable; i++) {
		if (d->addrs[i].delivered) {
			d->deliverable = 1;
			text_cut(d->verdict, sizeof(d->verdict), "%s (%s)", d->addrs[i].verdict,
			    d->addrs[i].label);
		}
	}
	if (!d->deliverable)
		snprintf(d->verdict, sizeof(d->verdict), "%s", d->addrs[limit - 1].verdict);
	route_list_free(&route);
}
