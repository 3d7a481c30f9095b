/*
 * tlspolicy.c - which TLS policy a recipient gets, and would it go out now:
 *
 *   tlspolicy explain [-c POSTFIX_CONFIG_DIR] [-C TLSMTP_CONF] [-f SENDER]
 *                     [-v] [--json] RECIPIENT...
 *   tlspolicy probe [-C TLSMTP_CONF] [-o NAME=VALUE]... [-v] [--json]
 *                   DESTINATION|RECIPIENT...
 *   tlspolicy sts-refresh [-C TLSMTP_CONF] [-o NAME=VALUE]... [-v] [--json]
 *                   DOMAIN...
 *
 * explain routes each recipient as Postfix would (tlspolicy_route.c, with
 * Postfix's own postconf and postmap), finds the master.cf service of the
 * transport and, when it is a tlsmtp pipe(8) service, the next-hop and
 * configuration tlsmtp would be given (its argv: -n, -c, -o); then the
 * agent's policy lookup for each destination tlsmtp would try (the
 * next-hop list, then smtp_fallback_relay), and the relay-host trap.
 * probe takes a next-hop (or a recipient, whose domain is the next-hop,
 * as tlsmtp without -n) and runs the agent's route and sessions up to
 * where MAIL FROM would follow (tlspolicy_probe.c).  Both show the
 * built-in MTA-STS state of each destination (tlspolicy_sts.c).
 * sts-refresh fetches the MTA-STS policies of the domains again into the
 * agent's cache, as "tlsmtp-sts-fetch --refresh" does.
 *
 * Exit status: 0 when every lookup succeeded and, for probe, every
 * destination would deliver, with no warning; 1 when a lookup failed, a
 * delivery would defer or bounce, or a warning was raised; 2 for usage
 * errors.  Reports go to stdout; nothing is logged to syslog or
 * maillog_file (the agent's lines are part of the report instead).
 *
 * The layer main, beside tlsmtp.c: it uses the agent's library as the
 * agent does (docs/architecture.md).
 */
#include "config.h"

#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* core */
#include "core.h"
/* dns */
#include "dns.h"
/* net */
#include "socketmap.h"
/* tls */
#include "tls_policy.h"
/* main */
#include "tlspolicy.h"

#define POSTFIX_DEFAULT_DIR "/etc/postfix"
#define OVERRIDES_MAX	    64

struct options {
	int probe;
	int refresh; /* sts-refresh */
	const char *postfix_dir;
	const char *conf;
	const char *sender;
	const char *overrides[OVERRIDES_MAX];
	size_t override_count;
	int json;
	int verbose;
	char **args;
	size_t arg_count;
};

static const char usage_text[] =
    "usage: tlspolicy explain [-c POSTFIX_CONFIG_DIR] [-C TLSMTP_CONF] [-f SENDER] [-v] [--json]\n"
    "                         RECIPIENT...\n"
    "       tlspolicy probe [-C TLSMTP_CONF] [-o NAME=VALUE]... [-v] [--json]\n"
    "                       DESTINATION|RECIPIENT...\n"
    "       tlspolicy sts-refresh [-C TLSMTP_CONF] [-o NAME=VALUE]... [-v] [--json]\n"
    "                       DOMAIN...\n";

/* ------------------------------------------------------------------------
 * Lists and results.
 */
void
tp_list_add(struct tp_list *l, const char *fmt, ...)
{
	char text[TP_TEXT_MAX * 2], **grown;
	va_list ap;

	va_start(ap, fmt);
	text_vcut(text, sizeof(text), fmt, ap);
	va_end(ap);
	if ((grown = realloc(l->item, (l->count + 1) * sizeof(*grown))) == NULL)
		return;
	l->item = grown;
	if ((l->item[l->count] = strdup(text)) != NULL)
		l->count++;
}

void
tp_list_free(struct tp_list *l)
{
	for (size_t i = 0; i < l->count; i++)
		free(l->item[i]);
	free(l->item);
	l->item = NULL;
	l->count = 0;
}

static void
dest_free(struct tp_dest *d)
{
	for (size_t i = 0; i < d->lookup_count; i++) {
		free(d->lookups[i].map);
		free(d->lookups[i].key);
		free(d->lookups[i].value);
	}
	free(d->lookups);
	free(d->entry);
	tp_list_free(&d->keys);
	tp_list_free(&d->match);
	tp_list_free(&d->log);
	for (size_t i = 0; i < d->addr_count; i++) {
		smtp_probe_free(&d->addrs[i].probe);
		tp_list_free(&d->addrs[i].log);
	}
	free(d->addrs);
	tp_sts_free(d);
}

void
tp_result_free(struct tp_result *r)
{
	for (size_t i = 0; i < r->dest_count; i++)
		dest_free(&r->dests[i]);
	free(r->dests);
	free(r->recipient);
	free(r->argument);
	free(r->sender);
	tp_list_free(&r->route);
	tp_list_free(&r->warnings);
	tp_list_free(&r->notes);
	memset(r, 0, sizeof(*r));
}

/* ------------------------------------------------------------------------
 * Options.
 */
static void
usage(const char *why)
{
	if (why != NULL)
		fprintf(stderr, "tlspolicy: %s\n", why);
	fputs(usage_text, stderr);
	exit(TP_EXIT_USAGE);
}

static void
parse_options(int argc, char **argv, struct options *opt)
{
	static const struct option longopts[] = { { "json", no_argument, NULL, 'J' },
		{ "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 } };
	const char *shortopts;
	int c;

	memset(opt, 0, sizeof(*opt));
	if (argc < 2)
		usage(NULL);
	if (strcmp(argv[1], "explain") == 0)
		opt->probe = 0;
	else if (strcmp(argv[1], "probe") == 0)
		opt->probe = 1;
	else if (strcmp(argv[1], "sts-refresh") == 0)
		opt->refresh = 1;
	else if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)
		usage(NULL);
	else
		usage("the command is explain, probe or sts-refresh");
	shortopts = opt->probe || opt->refresh ? "+:C:o:v" : "+:c:C:f:v";
	opterr = 0;
	optind = 2;
	while ((c = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
		switch (c) {
		case 'c':
			opt->postfix_dir = optarg;
			break;
		case 'C':
			opt->conf = optarg;
			break;
		case 'f':
			opt->sender = optarg;
			break;
		case 'o':
			if (opt->override_count == OVERRIDES_MAX)
				usage("too many -o options");
			opt->overrides[opt->override_count++] = optarg;
			break;
		case 'v':
			opt->verbose++;
			break;
		case 'J':
			opt->json = 1;
			break;
		case 'h':
			usage(NULL);
			break;
		case ':':
			usage("an option needs a value");
			break;
		default:
			usage("unknown option");
		}
	}
	opt->args = argv + optind;
	opt->arg_count = (size_t)(argc - optind);
	if (opt->arg_count == 0)
		usage(opt->refresh ? "no domain" : opt->probe ? "no destination" : "no recipient");
}

/* ------------------------------------------------------------------------
 * The agent's configuration and maps, opened as tlsmtp.c deliver() does.
 */
struct agent {
	struct tlsmtp_config cfg;
	int cfg_loaded;
	struct socketmap_settings sockmap;
	struct policy_map_backend sockmap_type;
	struct policy_maps *maps;
};

static int
agent_open(const char *conf, const char *const *overrides, size_t count, struct agent *ag,
    struct tp_result *r)
{
	char err[OUTCOME_TEXT_MAX];

	memset(ag, 0, sizeof(*ag));
	snprintf(r->conf, sizeof(r->conf), "%s",
	    conf != NULL ? conf : SYSCONFDIR "/tlsmtp.conf (the default)");
	if (config_load(&ag->cfg, conf, (char *const *)overrides, count, err, sizeof(err)) != 0) {
		tp_list_add(&r->warnings,
		    "tlsmtp configuration: %s: tlsmtp would defer: 4.3.5 mail "
		    "system configuration error",
		    err);
		r->failed = 1;
		return -1;
	}
	ag->cfg_loaded = 1;
	ag->sockmap.timeout_s = ag->cfg.socketmap_timeout;
	ag->sockmap.max_reply = (size_t)ag->cfg.socketmap_max_reply;
	ag->sockmap.deadline_ms = now_ms() + (int64_t)ag->cfg.delivery_deadline * 1000;
	socketmap_backend(&ag->sockmap, &ag->sockmap_type);
	if (ag->cfg.tls_policy_maps[0] != '\0'
	    && policy_maps_open_with(ag->cfg.tls_policy_maps, &ag->sockmap_type, 1, &ag->maps, err,
		   sizeof(err))
		!= 0) {
		tp_list_add(&r->warnings,
		    "smtp_tls_policy_maps: %s: tlsmtp would defer: 4.7.5 "
		    "client TLS configuration problem",
		    err);
		r->failed = 1;
		return -1;
	}
	return 0;
}

static void
agent_close(struct agent *ag)
{
	policy_maps_close(ag->maps);
	if (ag->cfg_loaded)
		config_free(&ag->cfg);
	memset(ag, 0, sizeof(*ag));
}

/*
 * The destinations tlsmtp would try for next-hop text, then the fallback
 * relays (as tlsmtp.c choose_destinations()).  -1 with a warning.
 */
static int
destinations(const struct tlsmtp_config *cfg, const char *text, struct tp_result *r)
{
	struct nexthop *list;
	char err[512];
	int n, m;

	if ((list = calloc(TP_DESTINATIONS_MAX, sizeof(*list))) == NULL)
		return -1;
	if ((n = nexthop_list_parse(text, list, TP_DESTINATIONS_MAX, err, sizeof(err))) <= 0
	    || (m = nexthop_list_parse(cfg->fallback_relay, list + n,
		    TP_DESTINATIONS_MAX - (size_t)n, err, sizeof(err)))
		< 0) {
		tp_list_add(&r->warnings,
		    "next-hop \"%s\": %s: tlsmtp would defer: 4.3.5 mail system "
		    "configuration error",
		    text, n == 0 ? "empty next-hop destination" : err);
		r->failed = 1;
		free(list);
		return -1;
	}
	if ((r->dests = calloc((size_t)(n + m), sizeof(*r->dests))) == NULL) {
		free(list);
		return -1;
	}
	for (int i = 0; i < n + m; i++) {
		r->dests[i].nh = list[i];
		r->dests[i].fallback = i >= n;
	}
	r->dest_count = (size_t)(n + m);
	free(list);
	return 0;
}

/* ------------------------------------------------------------------------
 * explain
 */

/* The transport's service: is it tlsmtp, and what will tlsmtp be given? */
static int
explain_service(const struct pf_conf *pf, const char *rcpt, struct tp_service *svc,
    struct tp_result *r)
{
	char given[sizeof(r->nexthop)];
	const char *at;

	tp_service_find(pf, r->transport, svc);
	if (!svc->found) {
		tp_list_add(&r->warnings,
		    "transport %s has no unix service in master.cf (postconf "
		    "-c %s -M): Postfix defers this mail (mail transport unavailable)",
		    r->transport, pf_conf_dir(pf));
		return -1;
	}
	text_cut(r->service, sizeof(r->service), "master.cf %s/unix: %s(8)%s%s", r->transport,
	    svc->command, svc->agent[0] ? " running " : "", svc->agent);
	if (!svc->tlsmtp) {
		tp_list_add(&r->warnings,
		    "transport %s is not tlsmtp: master.cf runs %s(8)%s%s for "
		    "it, so tlsmtp's policy table is not consulted; %s",
		    r->transport, svc->command, svc->agent[0] ? " with " : "", svc->agent,
		    strcmp(svc->command, "smtp") == 0 || strcmp(svc->command, "lmtp") == 0
			? "smtp(8)'s own smtp_tls_* settings apply instead"
			: "no SMTP TLS policy applies");
		if (strcmp(svc->command, "smtp") == 0)
			tp_list_add(&r->notes,
			    "main.cf: smtp_tls_security_level = %s, "
			    "smtp_tls_policy_maps = %s (master.cf -o options may change them)",
			    pf_param(pf, "smtp_tls_security_level"),
			    pf_param(pf, "smtp_tls_policy_maps"));
		return -1;
	}
	r->tlsmtp = 1;
	snprintf(given, sizeof(given), "%s", r->nexthop);
	if (svc->nexthop_arg[0] != '\0') {
		tp_service_nexthop(svc, given, rcpt, r->nexthop, sizeof(r->nexthop));
		return 0;
	}
	/* tlsmtp without -n delivers to the recipient's domain (tlsmtp.c). */
	at = strrchr(rcpt, '@');
	snprintf(r->nexthop, sizeof(r->nexthop), "%s", at != NULL ? at + 1 : rcpt);
	if (strcasecmp(r->nexthop, given) != 0)
		tp_list_add(&r->warnings,
		    "master.cf runs tlsmtp without -n ${nexthop}: it delivers "
		    "to the recipient's domain %s, not to Postfix's next-hop %s",
		    r->nexthop, given);
	return 0;
}

static void
explain_one(const struct options *opt, const struct pf_conf *pf, const char *rcpt,
    struct tp_result *r)
{
	struct tp_service svc;
	struct agent ag;
	struct tls_effective eff;
	struct dns_ctx *dns = NULL;
	char err[OUTCOME_TEXT_MAX];

	r->recipient = strdup(rcpt);
	r->sender = opt->sender != NULL ? strdup(opt->sender) : NULL;
	if (tp_route_recipient(pf, rcpt, opt->sender, r) != 0 || r->transport[0] == '\0')
		return;
	if (explain_service(pf, rcpt, &svc, r) != 0) {
		tp_service_free(&svc);
		return;
	}
	if (agent_open(opt->conf != NULL ? opt->conf
		    : svc.conf[0]	 ? svc.conf
					 : NULL,
		(const char *const *)svc.overrides, svc.override_count, &ag, r)
		== 0
	    && destinations(&ag.cfg, r->nexthop, r) == 0) {
		/* MTA-STS needs the agent's resolver: its TXT record and cache. */
		if (ag.cfg.tls_mta_sts && dns_open(&dns, ag.cfg.dns_servers, err, sizeof(err)) != 0)
			tp_list_add(&r->warnings, "dns_servers: %s: no MTA-STS state shown", err);
		for (size_t i = 0; i < r->dest_count; i++) {
			tp_lookup_destination(&ag.cfg, ag.maps, &r->dests[i], &eff, r);
			tp_sts_lookup(&ag.cfg, dns, &eff, &r->dests[i]);
			tls_effective_free(&eff);
		}
		tp_lookup_trap(ag.maps, rcpt, r);
	}
	dns_close(dns);
	agent_close(&ag);
	tp_service_free(&svc);
}

/* ------------------------------------------------------------------------
 * probe
 */
static void
probe_one(const struct options *opt, struct agent *ag, struct dns_ctx *dns, const char *arg,
    struct tp_result *r)
{
	const char *at = strrchr(arg, '@');
	struct tls_effective eff;
	int primary_ok = 0;

	r->argument = strdup(arg);
	snprintf(r->transport, sizeof(r->transport), "tlsmtp");
	snprintf(r->service, sizeof(r->service), "the agent's own code, run by tlspolicy");
	r->tlsmtp = 1;
	snprintf(r->conf, sizeof(r->conf), "%s",
	    opt->conf != NULL ? opt->conf : SYSCONFDIR "/tlsmtp.conf (the default)");
	if (at != NULL)
		r->recipient = strdup(arg);
	/* A recipient goes to its domain, as tlsmtp without -n. */
	snprintf(r->nexthop, sizeof(r->nexthop), "%s", at != NULL ? at + 1 : arg);
	if (destinations(&ag->cfg, r->nexthop, r) != 0) {
		snprintf(r->verdict, sizeof(r->verdict),
		    "would defer: 4.3.5 mail system "
		    "configuration error");
		return;
	}
	for (size_t i = 0; i < r->dest_count; i++) {
		struct tp_dest *d = &r->dests[i];

		tp_lookup_destination(&ag->cfg, ag->maps, d, &eff, r);
		tp_sts_lookup(&ag->cfg, dns, &eff, d);
		/* Fallback relays are tried only when no next-hop would deliver. */
		if (!d->fallback || !primary_ok)
			tp_probe_destination(&ag->cfg, dns, &eff, d, opt->verbose);
		tls_effective_free(&eff);
		if (d->deliverable && !d->fallback)
			primary_ok = 1;
	}
	/* A delivery takes the first destination that works, else the last one's reason. */
	for (size_t i = 0; i < r->dest_count; i++) {
		const struct tp_dest *d = &r->dests[i];

		if (d->deliverable) {
			text_cut(r->verdict, sizeof(r->verdict), "%s%s%s", d->verdict,
			    r->dest_count > 1 ? " via " : "", r->dest_count > 1 ? d->nh.key : "");
			return;
		}
		if (d->probed)
			snprintf(r->verdict, sizeof(r->verdict), "%s", d->verdict);
	}
	r->failed = 1;
}

static int
run_probe(const struct options *opt, struct tp_result **results)
{
	struct agent ag;
	struct dns_ctx *dns = NULL;
	struct tp_result scratch;
	char err[OUTCOME_TEXT_MAX];
	int rc = 0;

	memset(&scratch, 0, sizeof(scratch));
	if (agent_open(opt->conf, opt->overrides, opt->override_count, &ag, &scratch) != 0) {
		fprintf(stderr, "tlspolicy: %s\n",
		    scratch.warnings.count > 0 ? scratch.warnings.item[0]
					       : "cannot load the configuration");
		tp_result_free(&scratch);
		agent_close(&ag);
		return -1;
	}
	tp_result_free(&scratch);
	if (dns_open(&dns, ag.cfg.dns_servers, err, sizeof(err)) != 0) {
		fprintf(stderr, "tlspolicy: dns_servers: %s\n", err);
		agent_close(&ag);
		return -1;
	}
	if (opt->refresh)
		rc = tp_sts_refresh(&ag.cfg, dns, opt->args, opt->arg_count, opt->json);
	else
		for (size_t i = 0; i < opt->arg_count; i++)
			probe_one(opt, &ag, dns, opt->args[i], results[i]);
	dns_close(dns);
	agent_close(&ag);
	return rc;
}

static int
run_explain(const struct options *opt, struct tp_result **results)
{
	struct pf_conf *pf;
	char err[OUTCOME_TEXT_MAX];

	if (pf_conf_open(opt->postfix_dir != NULL ? opt->postfix_dir : POSTFIX_DEFAULT_DIR, &pf,
		err, sizeof(err))
	    != 0) {
		fprintf(stderr, "tlspolicy: %s\n", err);
		return -1;
	}
	for (size_t i = 0; i < opt->arg_count; i++)
		explain_one(opt, pf, opt->args[i], results[i]);
	pf_conf_close(pf);
	return 0;
}

int
main(int argc, char **argv)
{
	struct options opt;
	struct tp_result **results;
	int status = TP_EXIT_OK, rc;

	(void)signal(SIGPIPE, SIG_IGN);
	parse_options(argc, argv, &opt);
	if ((results = calloc(opt.arg_count, sizeof(*results))) == NULL) {
		fprintf(stderr, "tlspolicy: out of memory\n");
		return TP_EXIT_WARN;
	}
	for (size_t i = 0; i < opt.arg_count; i++)
		if ((results[i] = calloc(1, sizeof(**results))) == NULL) {
			fprintf(stderr, "tlspolicy: out of memory\n");
			return TP_EXIT_WARN;
		}
	log_to_sink(tp_log_sink, NULL, opt.verbose);
	rc = opt.probe || opt.refresh ? run_probe(&opt, results) : run_explain(&opt, results);
	if (opt.refresh) {
		/* run_probe() printed the policies; nothing else to report. */
		for (size_t i = 0; i < opt.arg_count; i++)
			free(results[i]);
		free(results);
		if (fflush(stdout) != 0)
			rc = TP_EXIT_WARN;
		return rc != 0 ? TP_EXIT_WARN : TP_EXIT_OK;
	}
	if (rc != 0)
		status = TP_EXIT_WARN;
	for (size_t i = 0; rc == 0 && i < opt.arg_count; i++) {
		if (!opt.json)
			tp_report_text(stdout, results[i], opt.probe);
		if (results[i]->failed || results[i]->warnings.count > 0)
			status = TP_EXIT_WARN;
	}
	if (rc == 0 && opt.json)
		tp_report_json(stdout, (const struct tp_result *const *)results, opt.arg_count,
		    opt.probe);
	for (size_t i = 0; i < opt.arg_count; i++) {
		tp_result_free(results[i]);
		free(results[i]);
	}
	free(results);
	if (fflush(stdout) != 0)
		status = TP_EXIT_WARN;
	return status;
}
